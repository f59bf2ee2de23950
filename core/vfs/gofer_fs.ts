/**
 * A file system served by a gofer (or, in-process, by a host backend): the
 * container's root and bind mounts. Names are walked through the backend;
 * opened files are host descriptors the backend donated, read and written
 * here directly.
 *
 * @module
 */
import { closeQuietly } from "../../platform/fd.ts";
import { ftruncateFd, preadFd, pwriteFd } from "../../platform/files.ts";
import { LinuxError } from "../errors.ts";
import type { FsBackend } from "./backend.ts";
import { openDevice } from "./devices.ts";
import {
  type DirEntry,
  FileSystem,
  type FsCreds,
  Inode,
  O,
  OpenFile,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type SetAttr,
  type Stat,
} from "./inode.ts";
import { Pipe, PipeEnd } from "./pipe.ts";
import { HostFdCache, type SharedFd } from "./host_fd_cache.ts";

let nextDev = 0x1000n;
/** Idle donated descriptors a gofer file system keeps open. */
const IDLE_FDS = 128;
/** Open flags that need a descriptor of their own. */
const UNSHARED = O.SYNC | O.DSYNC | O.DIRECT;

/** A gofer-backed file system. */
export class GoferFs extends FileSystem {
  readonly type = "9p";
  readonly dev: bigint = nextDev++;
  /** The server. */
  readonly backend: FsBackend;
  readonly #root: GoferInode;
  /** FIFOs by host inode: every opener shares one buffer. */
  readonly fifos = new Map<bigint, Pipe>();
  /** Donated descriptors shared by opens of the same file (keys: `handle:accessMode`). */
  readonly fds = new HostFdCache(IDLE_FDS);

  /**
   * Mounts what a backend serves.
   *
   * @param backend The server.
   */
  constructor(backend: FsBackend) {
    super();
    this.backend = backend;
    const root = backend.root();
    this.#root = new GoferInode(this, root.handle, root.stat);
  }

  /** @returns The root directory. */
  root(): GoferInode {
    return this.#root;
  }

  /** @returns The backend's statfs. */
  override statfs(): Uint8Array {
    return this.backend.statfs(this.#root.handle);
  }
}

/** A file the gofer walked to. */
export class GoferInode extends Inode {
  readonly fs: GoferFs;
  /** The backend's handle. */
  readonly handle: number;
  #stat: Stat;
  #link: string | null = null;

  /**
   * Wraps a backend node.
   *
   * @param fs The file system.
   * @param handle The backend's handle.
   * @param stat Its attributes.
   */
  constructor(fs: GoferFs, handle: number, stat: Stat) {
    super();
    this.fs = fs;
    this.handle = handle;
    this.#stat = stat;
  }

  stat(): Stat {
    return { ...this.#stat, dev: this.fs.dev };
  }

  /** Re-reads attributes from the server (after a change). */
  refresh(): void {
    this.#stat = this.fs.backend.stat(this.handle);
  }

  /**
   * Notes a size the Sentry caused (a write through a donated descriptor).
   *
   * @param end The end of the write.
   */
  grew(end: bigint): void {
    if (end > this.#stat.size) this.#stat = { ...this.#stat, size: end };
    this.#stat = { ...this.#stat, mtimeNs: BigInt(Date.now()) * 1_000_000n };
  }

  #dir(): void {
    if ((this.#stat.mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
  }

  override lookup(name: string): Inode {
    this.#dir();
    const n = this.fs.backend.walk(this.handle, name);
    return new GoferInode(this.fs, n.handle, n.stat);
  }

  override readdir(): DirEntry[] {
    this.#dir();
    return this.fs.backend.readdir(this.handle);
  }

  #created(node: { handle: number; stat: Stat }): GoferInode {
    this.refresh();
    return new GoferInode(this.fs, node.handle, node.stat);
  }

  override mknod(name: string, mode: number, creds: FsCreds, dev = 0n): Inode {
    this.#dir();
    const owner = { uid: creds.fsuid, gid: this.#newGid(creds) };
    if ((mode & S_IFMT) === S_IFREG || (mode & S_IFMT) === 0) {
      const { node, fd } = this.fs.backend.create(this.handle, name, O.RDWR, mode & 0o7777, owner);
      // The open that usually follows a create finds this descriptor.
      this.fs.fds.adopt(`${node.handle}:${O.RDWR}`, fd);
      return this.#created(node);
    }
    return this.#created(this.fs.backend.mknod(this.handle, name, mode, dev, owner));
  }

  override mkdir(name: string, mode: number, creds: FsCreds): Inode {
    this.#dir();
    const m = (mode & 0o7777) | (this.#stat.mode & 0o2000);
    return this.#created(
      this.fs.backend.mkdir(this.handle, name, m, { uid: creds.fsuid, gid: this.#newGid(creds) }),
    );
  }

  override symlink(name: string, target: string, creds: FsCreds): Inode {
    this.#dir();
    return this.#created(
      this.fs.backend.symlink(this.handle, name, target, {
        uid: creds.fsuid,
        gid: this.#newGid(creds),
      }),
    );
  }

  #newGid(creds: FsCreds): number {
    return this.#stat.mode & 0o2000 ? this.#stat.gid : creds.fsgid;
  }

  override link(name: string, target: Inode): void {
    this.#dir();
    if (!(target instanceof GoferInode) || target.fs !== this.fs) throw new LinuxError("EXDEV");
    this.fs.backend.link(this.handle, name, target.handle);
    target.refresh();
    this.refresh();
  }

  override unlink(name: string): void {
    this.#dir();
    this.fs.backend.unlink(this.handle, name, false);
    this.refresh();
  }

  override rmdir(name: string): void {
    this.#dir();
    this.fs.backend.unlink(this.handle, name, true);
    this.refresh();
  }

  override rename(oldName: string, newDir: Inode, newName: string, flags: number): void {
    this.#dir();
    if (!(newDir instanceof GoferInode) || newDir.fs !== this.fs) throw new LinuxError("EXDEV");
    this.fs.backend.rename(this.handle, oldName, newDir.handle, newName, flags);
    this.refresh();
    if (newDir !== this) newDir.refresh();
  }

  override readlink(): string {
    if ((this.#stat.mode & S_IFMT) !== S_IFLNK) throw new LinuxError("EINVAL");
    this.#link ??= this.fs.backend.readlink(this.handle);
    return this.#link;
  }

  /** O_TRUNC on a shared descriptor: locally when it can write, else through the gofer. */
  #truncate(shared: SharedFd, access: number): void {
    if (this.#stat.size === 0n) return;
    if (access === O.RDONLY && !shared.key.endsWith(`:${O.RDWR}`)) {
      this.setattr({ size: 0n });
      return;
    }
    ftruncateFd(shared.fd, 0n);
    const now = BigInt(Date.now()) * 1_000_000n;
    this.#stat = { ...this.#stat, size: 0n, mtimeNs: now, ctimeNs: now };
  }

  override setattr(attrs: SetAttr): void {
    this.fs.backend.setattr(this.handle, attrs);
    this.refresh();
  }

  open(flags: number): OpenFile {
    switch (this.#stat.mode & S_IFMT) {
      case S_IFREG: {
        if (flags & UNSHARED) {
          const fd = this.fs.backend.open(this.handle, flags);
          if (flags & O.TRUNC) this.refresh();
          return new GoferFile(this, { fd, key: "", refs: 1 }, flags);
        }
        const access = flags & O.ACCMODE;
        const keys = [`${this.handle}:${access}`];
        if (access !== O.RDWR) keys.push(`${this.handle}:${O.RDWR}`);
        const shared = this.fs.fds.acquire(keys, () => this.fs.backend.open(this.handle, access));
        if (flags & O.TRUNC) {
          try {
            this.#truncate(shared, access);
          } catch (e) {
            this.fs.fds.release(shared);
            throw e;
          }
        }
        return new GoferFile(this, shared, flags);
      }
      case S_IFDIR:
        return new OpenFile(this, flags);
      case S_IFCHR:
        return openDevice(this, this.#stat.rdev, flags);
      case S_IFIFO: {
        let pipe = this.fs.fifos.get(this.#stat.ino);
        if (!pipe) this.fs.fifos.set(this.#stat.ino, pipe = new Pipe());
        return new PipeEnd(this, pipe, flags);
      }
    }
    throw new LinuxError("ENXIO");
  }
}

/** An open regular file: a host descriptor the gofer donated, maybe shared. */
export class GoferFile extends OpenFile {
  readonly #shared: SharedFd;
  readonly #node: GoferInode;

  /**
   * Wraps a donated descriptor.
   *
   * @param node The file.
   * @param shared The descriptor (its `key` is empty when not cached).
   * @param flags Open flags.
   */
  constructor(node: GoferInode, shared: SharedFd, flags: number) {
    super(node, flags);
    this.#node = node;
    this.#shared = shared;
  }

  /** The host descriptor. */
  get fd(): number {
    return this.#shared.fd;
  }

  /** @returns The donated descriptor: mappings of the file share the host's pages. */
  /** @returns True: writes go to the donated descriptor at once. */
  override get copiesWrites(): boolean {
    return true;
  }

  override mappableFd(): number {
    return this.fd;
  }

  protected override readAt(buf: Uint8Array, offset: bigint): number {
    return preadFd(this.fd, buf, offset);
  }

  protected override writeAt(data: Uint8Array, offset: bigint): number {
    const n = pwriteFd(this.fd, data, offset);
    this.#node.grew(offset + BigInt(n));
    return n;
  }

  protected override release(): void {
    if (this.#shared.key === "") closeQuietly(this.fd);
    else this.#node.fs.fds.release(this.#shared);
  }
}
