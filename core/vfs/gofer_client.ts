/**
 * The Sentry's side of the gofer protocol: a file backend whose every
 * operation is a request to the gofer process over a socket. Opened files
 * arrive as donated host descriptors.
 *
 * @module
 */
import { closeQuietly } from "../../platform/fd.ts";
import { Channel } from "../../gofer/channel.ts";
import { MSG, Reader, SETATTR, Writer } from "../../gofer/protocol.ts";
import { FileServerLost, LinuxError } from "../errors.ts";
import type { BackendNode, FsBackend, Owner } from "./backend.ts";
import type { DirEntry, SetAttr, Stat } from "./inode.ts";

/** A gofer connection as a file backend. */
export class GoferClient implements FsBackend {
  readonly readOnly: boolean;
  readonly #channel: Channel;
  readonly #root: BackendNode;
  #closed = false;

  /**
   * Connects: sends MOUNT and learns the root.
   *
   * @param fd The connected socket (owned).
   * @throws {FileServerLost} When the gofer does not answer.
   */
  constructor(fd: number) {
    this.#channel = new Channel(fd);
    const r = this.#call(MSG.MOUNT, new Writer());
    this.#root = { handle: Number(r.reader.u64()), stat: r.reader.stat() };
    this.readOnly = r.reader.u8() === 1;
  }

  /**
   * Disconnects (the gofer then ends): what is still asked fails with EIO,
   * for the processes of a destroyed container that are not gone yet.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.close();
  }

  #call(id: number, w: Writer): { reader: Reader; fds: number[] } {
    if (this.#closed) throw new LinuxError("EIO", "the container's files are gone");
    let reply;
    try {
      this.#channel.send(id, w.done());
      reply = this.#channel.receive();
    } catch (e) {
      throw new FileServerLost(e instanceof Error ? e.message : String(e));
    }
    if (!reply) throw new FileServerLost("connection closed");
    const reader = new Reader(reply.payload);
    if (reply.id === MSG.ERROR) {
      reply.fds.forEach(closeQuietly);
      throw new LinuxError(reader.u32());
    }
    if (reply.id !== id) {
      reply.fds.forEach(closeQuietly);
      throw new LinuxError("EIO", `gofer answered ${reply.id} to ${id}`);
    }
    return { reader, fds: reply.fds };
  }

  #node(r: Reader): BackendNode {
    return { handle: Number(r.u64()), stat: r.stat() };
  }

  #oneFd(fds: number[]): number {
    if (fds.length !== 1) {
      fds.forEach(closeQuietly);
      throw new LinuxError("EIO", "the gofer did not donate a descriptor");
    }
    return fds[0]!;
  }

  root(): BackendNode {
    return this.#root;
  }

  walk(dir: number, name: string): BackendNode {
    return this.#node(this.#call(MSG.WALK, new Writer().u64(BigInt(dir)).str(name)).reader);
  }

  stat(handle: number): Stat {
    return this.#call(MSG.STAT, new Writer().u64(BigInt(handle))).reader.stat();
  }

  readlink(handle: number): string {
    return this.#call(MSG.READLINK, new Writer().u64(BigInt(handle))).reader.str();
  }

  open(handle: number, flags: number): number {
    return this.#oneFd(this.#call(MSG.OPEN, new Writer().u64(BigInt(handle)).u32(flags)).fds);
  }

  readdir(handle: number): DirEntry[] {
    const out: DirEntry[] = [];
    for (;;) {
      const r = this.#call(MSG.READDIR, new Writer().u64(BigInt(handle)).u32(out.length)).reader;
      const count = r.u32();
      const more = r.u8() === 1;
      for (let i = 0; i < count; i++) {
        const ino = r.u64();
        const type = r.u8();
        out.push({ ino, type, name: r.str() });
      }
      if (!more || count === 0) return out;
    }
  }

  create(
    dir: number,
    name: string,
    flags: number,
    mode: number,
    owner: Owner,
  ): { node: BackendNode; fd: number } {
    const r = this.#call(
      MSG.CREATE,
      new Writer().u64(BigInt(dir)).str(name).u32(flags).u32(mode).u32(owner.uid).u32(owner.gid),
    );
    return { node: this.#node(r.reader), fd: this.#oneFd(r.fds) };
  }

  mkdir(dir: number, name: string, mode: number, owner: Owner): BackendNode {
    return this.#node(
      this.#call(
        MSG.MKDIR,
        new Writer().u64(BigInt(dir)).str(name).u32(mode).u32(owner.uid).u32(owner.gid),
      ).reader,
    );
  }

  mknod(dir: number, name: string, mode: number, dev: bigint, owner: Owner): BackendNode {
    return this.#node(
      this.#call(
        MSG.MKNOD,
        new Writer().u64(BigInt(dir)).str(name).u32(mode).u64(dev).u32(owner.uid).u32(owner.gid),
      )
        .reader,
    );
  }

  symlink(dir: number, name: string, target: string, owner: Owner): BackendNode {
    return this.#node(
      this.#call(
        MSG.SYMLINK,
        new Writer().u64(BigInt(dir)).str(name).str(target).u32(owner.uid).u32(owner.gid),
      ).reader,
    );
  }

  link(dir: number, name: string, target: number): BackendNode {
    return this.#node(
      this.#call(MSG.LINK, new Writer().u64(BigInt(dir)).str(name).u64(BigInt(target))).reader,
    );
  }

  unlink(dir: number, name: string, rmdir: boolean): void {
    this.#call(MSG.UNLINK, new Writer().u64(BigInt(dir)).str(name).u8(rmdir ? 1 : 0));
  }

  rename(oldDir: number, oldName: string, newDir: number, newName: string, flags: number): void {
    this.#call(
      MSG.RENAME,
      new Writer().u64(BigInt(oldDir)).str(oldName).u64(BigInt(newDir)).str(newName).u32(flags),
    );
  }

  setattr(handle: number, attrs: SetAttr): void {
    let mask = 0;
    if (attrs.mode !== undefined) mask |= SETATTR.MODE;
    if (attrs.uid !== undefined) mask |= SETATTR.UID;
    if (attrs.gid !== undefined) mask |= SETATTR.GID;
    if (attrs.size !== undefined) mask |= SETATTR.SIZE;
    if (attrs.atimeNs !== undefined) mask |= SETATTR.ATIME;
    if (attrs.mtimeNs !== undefined) mask |= SETATTR.MTIME;
    this.#call(
      MSG.SETATTR,
      new Writer().u64(BigInt(handle)).u32(mask).u32(attrs.mode ?? 0).u32(attrs.uid ?? 0).u32(
        attrs.gid ?? 0,
      )
        .u64(attrs.size ?? 0n).i64(attrs.atimeNs ?? 0n).i64(attrs.mtimeNs ?? 0n),
    );
  }

  statfs(handle: number): Uint8Array {
    return this.#call(MSG.STATFS, new Writer().u64(BigInt(handle))).reader.bytes(120);
  }

  release(handle: number): void {
    try {
      this.#call(MSG.RELEASE, new Writer().u64(BigInt(handle)));
    } catch {
      // A handle of a gone gofer needs no release.
    }
  }
}
