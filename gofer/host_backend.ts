/**
 * The gofer's file operations on the host: everything beneath one root
 * directory, resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) so no symlink, ".." or magic link ever leads out
 * of it. Handles are paths relative to the root, each re-resolved that way.
 *
 * @module
 */
import { closeQuietly, O } from "../platform/fd.ts";
import { AT, FileCalls, listDirectory, statfsFd } from "../platform/files.ts";
import { Errno } from "../platform/errno.ts";
import type { BackendNode, FsBackend, Owner } from "../core/vfs/backend.ts";
import type { DirEntry, SetAttr, Stat } from "../core/vfs/inode.ts";
import { ftruncateFd } from "../platform/files.ts";

const O_PATH = 0o10000000;

/** A single path component (not "", "." or ".."); EINVAL otherwise. */
function oneName(name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    throw new Errno(22, `name ${name}`);
  }
  return name;
}

/**
 * Serves a host directory.
 *
 * @example
 * ```ts
 * import { HostBackend } from "./host_backend.ts";
 * using fs = new HostBackend("/", { readOnly: true });
 * const etc = fs.walk(fs.root().handle, "etc");
 * if ((etc.stat.mode & 0o170000) !== 0o040000) throw new Error();
 * ```
 */
export class HostBackend implements FsBackend {
  readonly readOnly: boolean;
  readonly #calls = new FileCalls();
  readonly #rootFd: number;
  /**
   * The served root beneath #rootFd: "" for a directory; for a single file
   * (a file bind mount), its name in the directory #rootFd holds. Nothing
   * can be walked from a file, so its siblings stay out of reach.
   */
  readonly #rootPath: string;
  readonly #paths = new Map<number, string>();
  #nextHandle = 1;

  /**
   * Opens the root.
   *
   * @param root The host directory to serve: a path, or a descriptor of it
   *   (owned from then on) opened before the gofer confined itself.
   * @param options `readOnly`: refuse every change.
   * @throws {Errno} If the root cannot be opened.
   */
  constructor(root: string | number, options: { readOnly: boolean; fileName?: string }) {
    this.readOnly = options.readOnly;
    this.#rootFd = typeof root === "number"
      ? root
      : this.#calls.openBeneath(-100, root, O_PATH | O.DIRECTORY, 0, 0);
    this.#rootPath = options.fileName === undefined ? "" : oneName(options.fileName);
  }

  #handle(path: string): number {
    const h = this.#nextHandle++;
    this.#paths.set(h, path);
    return h;
  }

  #path(handle: number): string {
    const p = this.#paths.get(handle);
    if (p === undefined) throw new Errno(9, `handle ${handle}`);
    return p;
  }

  #child(dir: number, name: string): string {
    oneName(name);
    const p = this.#path(dir);
    return p === "" ? name : `${p}/${name}`;
  }

  #writable(): void {
    if (this.readOnly) throw new Errno(30, "read-only");
  }

  /** Opens a path as O_PATH (never following anything). */
  #openPath(path: string, extra = 0): number {
    return this.#calls.openBeneath(this.#rootFd, path, O_PATH | extra);
  }

  #statPath(path: string): Stat {
    return path === "" ? this.#calls.statFd(this.#rootFd) : this.#calls.statAt(this.#rootFd, path);
  }

  root(): BackendNode {
    return { handle: this.#handle(this.#rootPath), stat: this.#statPath(this.#rootPath) };
  }

  walk(dir: number, name: string): BackendNode {
    const path = this.#child(dir, name);
    // statx of one more component beneath a directory this server resolved;
    // checking the parent with openat2 first keeps a swapped-in symlink out.
    const parent = this.#openPath(this.#path(dir), O.DIRECTORY);
    try {
      const stat = this.#calls.statAt(parent, name);
      return { handle: this.#handle(path), stat };
    } finally {
      closeQuietly(parent);
    }
  }

  stat(handle: number): Stat {
    return this.#statPath(this.#path(handle));
  }

  readlink(handle: number): string {
    const fd = this.#openPath(this.#path(handle), O.NOFOLLOW);
    try {
      return this.#calls.readlinkAt(fd, "");
    } finally {
      closeQuietly(fd);
    }
  }

  open(handle: number, flags: number): number {
    const writing = (flags & O.ACCMODE) !== O.RDONLY || (flags & O.TRUNC);
    if (writing) this.#writable();
    const keep = O.ACCMODE | O.APPEND | O.TRUNC | O.DIRECTORY | O.NONBLOCK;
    return this.#calls.openBeneath(
      this.#rootFd,
      this.#path(handle) || ".",
      (flags & keep) | O.NOFOLLOW | O.NOCTTY,
    );
  }

  readdir(handle: number): DirEntry[] {
    const fd = this.#calls.openBeneath(
      this.#rootFd,
      this.#path(handle) || ".",
      O.RDONLY | O.DIRECTORY,
    );
    try {
      return listDirectory(fd);
    } finally {
      closeQuietly(fd);
    }
  }

  #inDir<T>(dir: number, fn: (dirfd: number) => T): T {
    const fd = this.#openPath(this.#path(dir), O.DIRECTORY);
    try {
      return fn(fd);
    } finally {
      closeQuietly(fd);
    }
  }

  #chown(path: string, owner: Owner): void {
    const fd = this.#openPath(path, O.NOFOLLOW);
    try {
      this.#calls.fchown(fd, owner.uid, owner.gid);
    } catch (e) {
      // Unprivileged gofers keep their own ids.
      if (!(e instanceof Errno && e.code === "EPERM")) throw e;
    } finally {
      closeQuietly(fd);
    }
  }

  create(
    dir: number,
    name: string,
    flags: number,
    mode: number,
    owner: Owner,
  ): { node: BackendNode; fd: number } {
    this.#writable();
    const path = this.#child(dir, name);
    const keep = O.ACCMODE | O.APPEND | O.TRUNC | O.NONBLOCK;
    const fd = this.#calls.openBeneath(
      this.#rootFd,
      path,
      (flags & keep) | O.CREAT | O.EXCL | O.NOFOLLOW,
      mode & 0o7777,
    );
    this.#chown(path, owner);
    return { node: { handle: this.#handle(path), stat: this.#calls.statFd(fd) }, fd };
  }

  mkdir(dir: number, name: string, mode: number, owner: Owner): BackendNode {
    this.#writable();
    const path = this.#child(dir, name);
    this.#inDir(dir, (fd) => this.#calls.mkdirAt(fd, name, mode & 0o7777));
    this.#chown(path, owner);
    return { handle: this.#handle(path), stat: this.#statPath(path) };
  }

  mknod(dir: number, name: string, mode: number, dev: bigint, owner: Owner): BackendNode {
    this.#writable();
    const path = this.#child(dir, name);
    this.#inDir(dir, (fd) => this.#calls.mknodAt(fd, name, mode, dev));
    this.#chown(path, owner);
    return { handle: this.#handle(path), stat: this.#statPath(path) };
  }

  symlink(dir: number, name: string, target: string, owner: Owner): BackendNode {
    this.#writable();
    const path = this.#child(dir, name);
    this.#inDir(dir, (fd) => this.#calls.symlinkAt(target, fd, name));
    this.#chown(path, owner);
    return { handle: this.#handle(path), stat: this.#statPath(path) };
  }

  link(dir: number, name: string, target: number): BackendNode {
    this.#writable();
    const path = this.#child(dir, name);
    const src = this.#openPath(this.#path(target), O.NOFOLLOW);
    try {
      this.#inDir(dir, (fd) => this.#calls.linkFd(src, fd, name));
    } finally {
      closeQuietly(src);
    }
    return { handle: this.#handle(path), stat: this.#statPath(path) };
  }

  unlink(dir: number, name: string, rmdir: boolean): void {
    this.#writable();
    this.#child(dir, name);
    this.#inDir(dir, (fd) => this.#calls.unlinkAt(fd, name, rmdir ? AT.REMOVEDIR : 0));
  }

  rename(oldDir: number, oldName: string, newDir: number, newName: string, flags: number): void {
    this.#writable();
    this.#child(oldDir, oldName);
    const newPath = this.#child(newDir, newName);
    const oldPath = this.#child(oldDir, oldName);
    this.#inDir(
      oldDir,
      (a) => this.#inDir(newDir, (b) => this.#calls.renameAt(a, oldName, b, newName, flags)),
    );
    // Handles below the old name now live under the new one (and with
    // RENAME_EXCHANGE, those below the new name under the old one).
    const exchange = (flags & 2) !== 0;
    for (const [h, p] of this.#paths) {
      if (p === oldPath || p.startsWith(oldPath + "/")) {
        this.#paths.set(h, newPath + p.slice(oldPath.length));
      } else if (exchange && (p === newPath || p.startsWith(newPath + "/"))) {
        this.#paths.set(h, oldPath + p.slice(newPath.length));
      }
    }
  }

  setattr(handle: number, attrs: SetAttr): void {
    this.#writable();
    const path = this.#path(handle) || ".";
    if (attrs.size !== undefined) {
      const fd = this.#calls.openBeneath(this.#rootFd, path, O.WRONLY | O.NOFOLLOW);
      try {
        ftruncateFd(fd, attrs.size);
      } finally {
        closeQuietly(fd);
      }
    }
    if (attrs.mode !== undefined) {
      const st = this.#statPath(path === "." ? "" : path);
      if ((st.mode & 0o170000) === 0o120000) throw new Errno(95, "chmod of a symlink");
      const fd = this.#calls.openBeneath(this.#rootFd, path, O.RDONLY | O.NOFOLLOW | O.NONBLOCK);
      try {
        this.#calls.fchmod(fd, attrs.mode & 0o7777);
      } finally {
        closeQuietly(fd);
      }
    }
    if (attrs.uid !== undefined || attrs.gid !== undefined) {
      const fd = this.#openPath(path, O.NOFOLLOW);
      try {
        this.#calls.fchown(fd, attrs.uid ?? -1, attrs.gid ?? -1);
      } finally {
        closeQuietly(fd);
      }
    }
    if (attrs.atimeNs !== undefined || attrs.mtimeNs !== undefined) {
      const fd = this.#openPath(path, O.NOFOLLOW);
      try {
        this.#calls.utimens(fd, attrs.atimeNs ?? null, attrs.mtimeNs ?? null);
      } finally {
        closeQuietly(fd);
      }
    }
  }

  statfs(handle: number): Uint8Array {
    const fd = this.#openPath(this.#path(handle) || ".");
    try {
      return statfsFd(fd);
    } finally {
      closeQuietly(fd);
    }
  }

  release(handle: number): void {
    this.#paths.delete(handle);
  }

  /** Closes the root and frees buffers. */
  [Symbol.dispose](): void {
    closeQuietly(this.#rootFd);
    this.#calls[Symbol.dispose]();
  }
}
