/**
 * Dentries (names in the tree), mounts, and the mount namespace's tree.
 *
 * A {@linkcode VPath} is a place in the tree: a dentry seen through a mount.
 * Dentries are cached per parent so that the same directory is the same
 * object (mount points are found by identity); file systems whose contents
 * change behind the VFS's back (procfs) opt out of caching.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { FileSystem, Inode } from "./inode.ts";

/** A name in the tree. */
export class Dentry {
  /** The name in its parent ("/" for a root). */
  readonly name: string;
  /** The parent, or null for a file system's root. */
  readonly parent: Dentry | null;
  /** The file. */
  readonly inode: Inode;
  /** Cached children by name. */
  readonly children: Map<string, Dentry> = new Map();
  /** Removed from its parent (unlinked or renamed away). */
  dead = false;

  /**
   * Makes a dentry.
   *
   * @param name Its name.
   * @param parent Its parent.
   * @param inode Its file.
   */
  constructor(name: string, parent: Dentry | null, inode: Inode) {
    this.name = name;
    this.parent = parent;
    this.inode = inode;
  }
}

/** Mount flags the VFS enforces. */
export interface MountFlags {
  /** Writes fail with EROFS. */
  readOnly: boolean;
  /** Set-id bits are ignored on exec. */
  nosuid: boolean;
  /** Device nodes cannot be opened. */
  nodev: boolean;
  /** Nothing can be executed. */
  noexec: boolean;
}

let nextMountId = 1;

/** A file system mounted somewhere (or the root). */
export class Mount {
  /** Unique id (/proc/PID/mountinfo). */
  readonly id: number = nextMountId++;
  /** The file system. */
  readonly fs: FileSystem;
  /** Its root dentry (a bind mount: a subtree). */
  readonly root: Dentry;
  /** The mount it is mounted on, or null for the namespace root. */
  parent: Mount | null = null;
  /** Where in `parent`. */
  mountpoint: Dentry | null = null;
  /** Flags. */
  flags: MountFlags;
  /** What /proc/mounts shows as the source. */
  source: string;
  /** Options for /proc/mounts beyond rw/ro. */
  options: string;

  /**
   * Makes a mount.
   *
   * @param fs The file system.
   * @param root Its root (the file system's root, or a subtree for a bind).
   * @param flags Flags.
   * @param source The source name.
   * @param options Extra options text.
   */
  constructor(
    fs: FileSystem,
    root: Dentry,
    flags: Partial<MountFlags>,
    source: string,
    options = "",
  ) {
    this.fs = fs;
    this.root = root;
    this.flags = { readOnly: false, nosuid: false, nodev: false, noexec: false, ...flags };
    this.source = source;
    this.options = options;
  }
}

/** A place in the tree. */
export interface VPath {
  /** The mount it is seen through. */
  mount: Mount;
  /** The dentry. */
  dentry: Dentry;
}

/**
 * Whether two paths are the same place.
 *
 * @param a One.
 * @param b The other.
 * @returns True if so.
 */
export function samePath(a: VPath, b: VPath): boolean {
  return a.mount === b.mount && a.dentry === b.dentry;
}

/**
 * A mount namespace: the mount tree and the dentry cache.
 *
 * @example
 * ```ts ignore
 * const ns = new MountNamespace(new Mount(rootfs, rootDentry, {}, "rootfs"));
 * ns.mount(procDir, new Mount(procfs, procRoot, { nosuid: true }, "proc"));
 * ```
 */
export class MountNamespace {
  /** The root mount. */
  readonly rootMount: Mount;
  readonly #mounted = new Map<Mount, Map<Dentry, Mount>>();
  /**
   * Mount points in directories that do not cache their children (procfs,
   * sysfs): a later lookup of the name must find the same dentry.
   */
  readonly #uncachedPoints = new Map<Dentry, Map<string, Dentry>>();

  /**
   * Makes a namespace.
   *
   * @param root The root mount.
   */
  constructor(root: Mount) {
    this.rootMount = root;
  }

  /** The root of the tree. */
  get root(): VPath {
    return { mount: this.rootMount, dentry: this.rootMount.root };
  }

  /**
   * Mounts `mount` on a directory (on top of anything already there).
   *
   * @param at The directory.
   * @param mount The new mount.
   */
  mount(at: VPath, mount: Mount): void {
    const top = this.crossMounts(at);
    if (
      (top.dentry.inode.stat().mode & 0o170000) !== 0o040000 &&
      (mount.root.inode.stat().mode & 0o170000) === 0o040000
    ) {
      throw new LinuxError("ENOTDIR");
    }
    mount.parent = top.mount;
    mount.mountpoint = top.dentry;
    const parent = top.dentry.parent;
    if (parent && !parent.inode.cacheChildren()) {
      let names = this.#uncachedPoints.get(parent);
      if (!names) this.#uncachedPoints.set(parent, names = new Map());
      names.set(top.dentry.name, top.dentry);
    }
    let byDentry = this.#mounted.get(top.mount);
    if (!byDentry) this.#mounted.set(top.mount, byDentry = new Map());
    byDentry.set(top.dentry, mount);
  }

  /**
   * Removes the topmost mount at `at` (which must be a mount's root).
   *
   * @param at The mount's root.
   * @param detach Also remove mounts below it (MNT_DETACH).
   */
  unmount(at: VPath, detach: boolean): void {
    const m = at.mount;
    if (at.dentry !== m.root || !m.parent || !m.mountpoint) throw new LinuxError("EINVAL");
    const below = this.#mounted.get(m);
    if (below && below.size && !detach) throw new LinuxError("EBUSY");
    this.#mounted.get(m.parent)?.delete(m.mountpoint);
    if (detach) this.#dropTree(m);
  }

  #dropTree(m: Mount): void {
    const below = this.#mounted.get(m);
    this.#mounted.delete(m);
    for (const child of below?.values() ?? []) this.#dropTree(child);
  }

  /**
   * The dentry a mount was made on, in a directory that does not cache its
   * children.
   *
   * @param parent The directory.
   * @param name The name.
   * @returns The dentry, or undefined.
   */
  mountPointIn(parent: Dentry, name: string): Dentry | undefined {
    return this.#uncachedPoints.get(parent)?.get(name);
  }

  /**
   * Follows mounts stacked on a place down to the topmost.
   *
   * @param p A place.
   * @returns The root of the topmost mount there, or `p`.
   */
  crossMounts(p: VPath): VPath {
    let cur = p;
    for (;;) {
      const m = this.#mounted.get(cur.mount)?.get(cur.dentry);
      if (!m) return cur;
      cur = { mount: m, dentry: m.root };
    }
  }

  /**
   * Every mount, parents before children (/proc/mounts order).
   *
   * @returns The mounts.
   */
  mounts(): Mount[] {
    const out: Mount[] = [];
    const visit = (m: Mount) => {
      out.push(m);
      for (const child of this.#mounted.get(m)?.values() ?? []) visit(child);
    };
    visit(this.rootMount);
    return out;
  }

  /**
   * The parent of a place, not above `root` (a process's root directory).
   *
   * @param p A place.
   * @param root The caller's root.
   * @returns Its parent.
   */
  parentOf(p: VPath, root: VPath): VPath {
    let cur = p;
    for (;;) {
      if (samePath(cur, root)) return cur;
      if (cur.dentry === cur.mount.root) {
        if (!cur.mount.parent || !cur.mount.mountpoint) return cur;
        cur = { mount: cur.mount.parent, dentry: cur.mount.mountpoint };
        continue;
      }
      return { mount: cur.mount, dentry: cur.dentry.parent ?? cur.dentry };
    }
  }

  /**
   * The absolute path of a place as seen from `root`.
   *
   * @param p A place.
   * @param root The caller's root.
   * @returns The path; a place outside `root` or removed is marked the way
   *   Linux marks it (" (deleted)").
   */
  pathOf(p: VPath, root: VPath): string {
    const parts: string[] = [];
    let cur = p;
    const deleted = p.dentry.dead;
    for (let guard = 0; guard < 4096; guard++) {
      if (samePath(cur, root)) break;
      if (cur.dentry === cur.mount.root) {
        if (!cur.mount.parent || !cur.mount.mountpoint) break;
        cur = { mount: cur.mount.parent, dentry: cur.mount.mountpoint };
        continue;
      }
      parts.push(cur.dentry.name);
      if (!cur.dentry.parent) break;
      cur = { mount: cur.mount, dentry: cur.dentry.parent };
    }
    const path = "/" + parts.reverse().join("/");
    return deleted ? `${path} (deleted)` : path;
  }
}
