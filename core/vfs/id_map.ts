/**
 * A container's user namespace id mappings (`linux.uidMappings` and
 * `gidMappings`): ids inside the container against ids on the host, and a
 * file server whose owners are translated across them, so a file the
 * container's root creates on a host directory belongs to the mapped host
 * uid, and a host file owned by an unmapped id shows as the overflow id
 * (65534), as in a Linux user namespace.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { BackendNode, FsBackend, Owner } from "./backend.ts";
import type { DirEntry, SetAttr, Stat } from "./inode.ts";

/** One line of a uid or gid map. */
export interface IdRange {
  containerId: number;
  hostId: number;
  size: number;
}

/** A container's uid and gid maps. */
export interface IdMappings {
  uid: IdRange[];
  gid: IdRange[];
}

/**
 * A container's mappings as a rootless gofer sees file owners: the gofer
 * runs in a user namespace of its own where dvisor's user is 0 (`0 UID 1`),
 * so only that user's files have an owner it can name, and they show as 0.
 * Each range keeps the part that covers the user, now mapped from 0.
 *
 * @param m The container's mappings (host ids on the right).
 * @param uid dvisor's uid.
 * @param gid dvisor's gid.
 * @returns The mappings from the gofer's ids.
 *
 * @example
 * ```ts
 * import { throughOwnNamespace } from "./id_map.ts";
 * const m = throughOwnNamespace({ uid: [{ containerId: 0, hostId: 1001, size: 1 }], gid: [] }, 1001, 1001);
 * if (m.uid[0]?.hostId !== 0 || m.uid[0]?.containerId !== 0 || m.gid.length) throw new Error();
 * ```
 */
export function throughOwnNamespace(m: IdMappings, uid: number, gid: number): IdMappings {
  const through = (ranges: IdRange[], id: number): IdRange[] =>
    ranges.filter((r) => id >= r.hostId && id < r.hostId + r.size)
      .map((r) => ({ containerId: r.containerId + (id - r.hostId), hostId: 0, size: 1 }));
  return { uid: through(m.uid, uid), gid: through(m.gid, gid) };
}

/** What an id outside every range shows as (/proc/sys/kernel/overflowuid). */
export const OVERFLOW_ID = 65534;

/**
 * An id inside the container as the host's.
 *
 * @param map The ranges.
 * @param id The container's id.
 * @returns The host's id, or null when the map does not cover it.
 *
 * @example
 * ```ts
 * import { toHost } from "./id_map.ts";
 * if (toHost([{ containerId: 0, hostId: 100000, size: 10 }], 3) !== 100003) throw new Error();
 * ```
 */
export function toHost(map: IdRange[], id: number): number | null {
  const r = map.find((r) => id >= r.containerId && id < r.containerId + r.size);
  return r ? r.hostId + (id - r.containerId) : null;
}

/**
 * A host id as the container sees it.
 *
 * @param map The ranges.
 * @param id The host's id.
 * @returns The container's id, or the overflow id.
 *
 * @example
 * ```ts
 * import { toContainer } from "./id_map.ts";
 * const m = [{ containerId: 0, hostId: 100000, size: 10 }];
 * if (toContainer(m, 100003) !== 3 || toContainer(m, 0) !== 65534) throw new Error();
 * ```
 */
export function toContainer(map: IdRange[], id: number): number {
  const r = map.find((r) => id >= r.hostId && id < r.hostId + r.size);
  return r ? r.containerId + (id - r.hostId) : OVERFLOW_ID;
}

/**
 * The text of /proc/PID/uid_map or gid_map.
 *
 * @param map The ranges (none: the initial namespace's identity map).
 * @returns The file's text.
 *
 * @example
 * ```ts
 * import { mapText } from "./id_map.ts";
 * if (mapText(null) !== "         0          0 4294967295\n") throw new Error();
 * ```
 */
export function mapText(map: IdRange[] | null): string {
  const ranges = map ?? [{ containerId: 0, hostId: 0, size: 4294967295 }];
  const col = (n: number) => String(n).padStart(10);
  return ranges.map((r) => `${col(r.containerId)} ${col(r.hostId)} ${col(r.size)}\n`).join("");
}

/** A file server seen through a container's id mappings. */
export class IdMappedBackend implements FsBackend {
  readonly #inner: FsBackend;
  readonly #map: IdMappings;

  /**
   * Wraps a file server.
   *
   * @param inner The server (host ids).
   * @param map The container's mappings.
   */
  constructor(inner: FsBackend, map: IdMappings) {
    this.#inner = inner;
    this.#map = map;
  }

  get readOnly(): boolean {
    return this.#inner.readOnly;
  }

  #stat(st: Stat): Stat {
    return {
      ...st,
      uid: toContainer(this.#map.uid, st.uid),
      gid: toContainer(this.#map.gid, st.gid),
    };
  }

  #node(n: BackendNode): BackendNode {
    return { handle: n.handle, stat: this.#stat(n.stat) };
  }

  /** A container owner as the host's (EINVAL for an id the map lacks, as chown). */
  #owner(o: Owner): Owner {
    const uid = toHost(this.#map.uid, o.uid);
    const gid = toHost(this.#map.gid, o.gid);
    if (uid === null || gid === null) throw new LinuxError("EINVAL");
    return { uid, gid };
  }

  root(): BackendNode {
    return this.#node(this.#inner.root());
  }

  walk(dir: number, name: string): BackendNode {
    return this.#node(this.#inner.walk(dir, name));
  }

  stat(handle: number): Stat {
    return this.#stat(this.#inner.stat(handle));
  }

  readlink(handle: number): string {
    return this.#inner.readlink(handle);
  }

  open(handle: number, flags: number): number {
    return this.#inner.open(handle, flags);
  }

  readdir(handle: number): DirEntry[] {
    return this.#inner.readdir(handle);
  }

  create(
    dir: number,
    name: string,
    flags: number,
    mode: number,
    owner: Owner,
  ): { node: BackendNode; fd: number } {
    const r = this.#inner.create(dir, name, flags, mode, this.#owner(owner));
    return { node: this.#node(r.node), fd: r.fd };
  }

  mkdir(dir: number, name: string, mode: number, owner: Owner): BackendNode {
    return this.#node(this.#inner.mkdir(dir, name, mode, this.#owner(owner)));
  }

  mknod(dir: number, name: string, mode: number, dev: bigint, owner: Owner): BackendNode {
    return this.#node(this.#inner.mknod(dir, name, mode, dev, this.#owner(owner)));
  }

  symlink(dir: number, name: string, target: string, owner: Owner): BackendNode {
    return this.#node(this.#inner.symlink(dir, name, target, this.#owner(owner)));
  }

  link(dir: number, name: string, target: number): BackendNode {
    return this.#node(this.#inner.link(dir, name, target));
  }

  unlink(dir: number, name: string, rmdir: boolean): void {
    this.#inner.unlink(dir, name, rmdir);
  }

  rename(oldDir: number, oldName: string, newDir: number, newName: string, flags: number): void {
    this.#inner.rename(oldDir, oldName, newDir, newName, flags);
  }

  setattr(handle: number, attrs: SetAttr): void {
    const out: SetAttr = { ...attrs };
    if (attrs.uid !== undefined) {
      const uid = toHost(this.#map.uid, attrs.uid);
      if (uid === null) throw new LinuxError("EINVAL");
      out.uid = uid;
    }
    if (attrs.gid !== undefined) {
      const gid = toHost(this.#map.gid, attrs.gid);
      if (gid === null) throw new LinuxError("EINVAL");
      out.gid = gid;
    }
    this.#inner.setattr(handle, out);
  }

  statfs(handle: number): Uint8Array {
    return this.#inner.statfs(handle);
  }

  release(handle: number): void {
    this.#inner.release(handle);
  }
}
