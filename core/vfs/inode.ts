/**
 * The VFS's objects: file systems, inodes (files as the file system knows
 * them) and open files (file descriptions: an inode opened with flags and
 * an offset). Every file system kind (host via the gofer, tmpfs, devfs,
 * procfs, pipes) implements these.
 *
 * A method a kind does not support throws the errno Linux gives for it:
 * the defaults here are ENOTDIR for directory operations on non-directories,
 * EINVAL for readlink of a non-symlink, and so on.
 *
 * @module
 */
import type { Stat } from "../../platform/files.ts";
import { LinuxError, type WaitQueue } from "../errors.ts";

export type { Stat };

/** File type bits (`S_IF*`). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** `DT_*` directory entry types. */
export const DT = {
  UNKNOWN: 0,
  FIFO: 1,
  CHR: 2,
  DIR: 4,
  BLK: 6,
  REG: 8,
  LNK: 10,
  SOCK: 12,
} as const;

/**
 * The `DT_*` type of a mode.
 *
 * @param mode `S_IF*` | permissions.
 * @returns The directory entry type.
 */
export function dtOf(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return DT.DIR;
    case S_IFREG:
      return DT.REG;
    case S_IFLNK:
      return DT.LNK;
    case S_IFCHR:
      return DT.CHR;
    case S_IFBLK:
      return DT.BLK;
    case S_IFIFO:
      return DT.FIFO;
    case S_IFSOCK:
      return DT.SOCK;
  }
  return DT.UNKNOWN;
}

/** A directory entry. */
export interface DirEntry {
  /** Name (no "/" or NUL). */
  name: string;
  /** Inode number. */
  ino: bigint;
  /** `DT_*` type. */
  type: number;
}

/** Who does something, for ownership of new files and permission checks. */
export interface FsCreds {
  /** File system uid. */
  fsuid: number;
  /** File system gid. */
  fsgid: number;
  /** Supplementary groups. */
  groups: readonly number[];
  /** Whether the caller has a capability (CAP_DAC_OVERRIDE, CAP_FOWNER, ...). */
  capable(cap: number): boolean;
}

/** Attributes to change (`chmod`, `chown`, `truncate`, `utimensat`). */
export interface SetAttr {
  /** New permission bits. */
  mode?: number;
  /** New owner. */
  uid?: number;
  /** New group. */
  gid?: number;
  /** New size. */
  size?: bigint;
  /** New access time (ns). */
  atimeNs?: bigint;
  /** New modification time (ns). */
  mtimeNs?: bigint;
}

/** A mounted file system's identity and statistics. */
export abstract class FileSystem {
  /** Type name, as /proc/mounts shows it (`tmpfs`, `proc`). */
  abstract readonly type: string;
  /** Device number of the file system. */
  abstract readonly dev: bigint;
  /** The root inode. */
  abstract root(): Inode;

  /**
   * Statistics for statfs: 120-byte `struct statfs`.
   *
   * @returns The raw struct.
   */
  statfs(): Uint8Array {
    const buf = new Uint8Array(120);
    const v = new DataView(buf.buffer);
    v.setBigInt64(0, BigInt(FS_MAGIC[this.type] ?? 0x01021994), true);
    v.setBigInt64(8, 4096n, true);
    v.setBigInt64(64, 255n, true); // namelen
    v.setBigInt64(72, 4096n, true); // frsize
    return buf;
  }
}

/**
 * A file system that is never mounted, for files without a place: pipes
 * (`pipefs`), sockets (`sockfs`), host descriptors.
 *
 * @example
 * ```ts
 * import { PseudoFs } from "./inode.ts";
 * const fs = new PseudoFs("pipefs", 0x0dn);
 * if (fs.type !== "pipefs") throw new Error();
 * ```
 */
export class PseudoFs extends FileSystem {
  /**
   * Makes one.
   *
   * @param type Its name.
   * @param dev Its device number.
   */
  constructor(readonly type: string, readonly dev: bigint) {
    super();
  }

  /** @returns Nothing: it has no root (EINVAL). */
  root(): Inode {
    throw new LinuxError("EINVAL");
  }
}

/**
 * The metadata of a pseudo file (a pipe, a socket): one link, no size,
 * its times all its creation.
 *
 * @param fs Its file system.
 * @param ino Its inode number.
 * @param mode Type and permission bits.
 * @param owner Its owner.
 * @param createdNs When it was made (ns since the epoch).
 * @returns The stat.
 */
export function pseudoStat(
  fs: FileSystem,
  ino: bigint,
  mode: number,
  owner: { uid: number; gid: number },
  createdNs: bigint,
): Stat {
  return {
    dev: fs.dev,
    ino,
    mode,
    nlink: 1,
    uid: owner.uid,
    gid: owner.gid,
    rdev: 0n,
    size: 0n,
    blksize: 4096,
    blocks: 0n,
    atimeNs: createdNs,
    mtimeNs: createdNs,
    ctimeNs: createdNs,
    btimeNs: 0n,
  };
}

const FS_MAGIC: Record<string, number> = {
  tmpfs: 0x01021994,
  proc: 0x9fa0,
  devpts: 0x1cd1,
  sysfs: 0x62656572,
  overlay: 0x794c7630,
  mqueue: 0x19800202,
};

/** A file as its file system knows it. */
export abstract class Inode {
  /** The file system. */
  abstract readonly fs: FileSystem;

  /**
   * Current attributes.
   *
   * @returns The metadata.
   */
  abstract stat(): Stat;

  /** The file's type bits (`S_IF*`). */
  get type(): number {
    return this.stat().mode & S_IFMT;
  }

  /**
   * Finds a child.
   *
   * @param _name One path component (not "." or "..").
   * @returns The child.
   * @throws {LinuxError} ENOENT, ENOTDIR.
   */
  lookup(_name: string): Inode {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Lists a directory.
   *
   * @returns Its entries, without "." and "..".
   */
  readdir(): DirEntry[] {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Creates a regular file, FIFO, socket or device node.
   *
   * @param _name Its name.
   * @param _mode Type and permission bits (after umask).
   * @param _creds The creator.
   * @param _dev Device number for devices.
   * @returns The new inode.
   */
  mknod(_name: string, _mode: number, _creds: FsCreds, _dev = 0n): Inode {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Creates a directory.
   *
   * @param _name Its name.
   * @param _mode Permission bits (after umask).
   * @param _creds The creator.
   * @returns The new inode.
   */
  mkdir(_name: string, _mode: number, _creds: FsCreds): Inode {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Creates a symlink.
   *
   * @param _name Its name.
   * @param _target What it points to.
   * @param _creds The creator.
   * @returns The new inode.
   */
  symlink(_name: string, _target: string, _creds: FsCreds): Inode {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Adds a hard link to `target` in this directory.
   *
   * @param _name The new name.
   * @param _target The file (same file system).
   */
  link(_name: string, _target: Inode): void {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Removes a non-directory entry.
   *
   * @param _name The name.
   */
  unlink(_name: string): void {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Removes an empty directory.
   *
   * @param _name The name.
   */
  rmdir(_name: string): void {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Moves an entry (same file system).
   *
   * @param _oldName Name here.
   * @param _newDir Destination directory.
   * @param _newName Name there.
   * @param _flags RENAME_NOREPLACE (1), RENAME_EXCHANGE (2).
   */
  rename(_oldName: string, _newDir: Inode, _newName: string, _flags: number): void {
    throw new LinuxError("ENOTDIR");
  }

  /**
   * Reads a symlink.
   *
   * @returns Its target.
   */
  readlink(): string {
    throw new LinuxError("EINVAL");
  }

  /**
   * Changes attributes. Permission checks are the caller's.
   *
   * @param _attrs What to change.
   */
  setattr(_attrs: SetAttr): void {
    throw new LinuxError("EPERM");
  }

  /**
   * Opens the file.
   *
   * @param flags `O_*` flags as the application gave them.
   * @returns The open file.
   */
  abstract open(flags: number): OpenFile;

  /**
   * For /proc/PID/fd, exe, cwd and root: where the link really leads (an
   * open file or a place), followed instead of its text. Null for ordinary
   * symlinks.
   *
   * @returns The place or open file, or null.
   */
  followMagic(): { path: unknown; file?: OpenFile } | null {
    return null;
  }

  /**
   * Whether the VFS may cache this directory's children (false for
   * synthesised directories such as /proc, whose entries come and go).
   *
   * @returns True to cache.
   */
  cacheChildren(): boolean {
    return true;
  }
}

/** `O_*` flags the VFS looks at. */
export const O = {
  ACCMODE: 3,
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DSYNC: 0o10000,
  DIRECT: 0o40000,
  LARGEFILE: 0o100000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  NOATIME: 0o1000000,
  CLOEXEC: 0o2000000,
  SYNC: 0o4010000,
  PATH: 0o10000000,
  TMPFILE: 0o20200000,
} as const;

/** poll(2) bits. */
export const POLL = {
  IN: 0x1,
  PRI: 0x2,
  OUT: 0x4,
  ERR: 0x8,
  HUP: 0x10,
  NVAL: 0x20,
  RDNORM: 0x40,
  RDBAND: 0x80,
  WRNORM: 0x100,
  RDHUP: 0x2000,
} as const;

let nextAnonIno = 1n;

/** The inode of an anonymous event file (`anon_inode:[eventpoll]`, `[eventfd]`). */
export class AnonInode extends Inode {
  readonly #ino = nextAnonIno++;
  readonly #created = BigInt(Date.now()) * 1_000_000n;

  /**
   * Makes one.
   *
   * @param fs Its pseudo file system (named as /proc/PID/fd shows it).
   */
  constructor(readonly fs: PseudoFs) {
    super();
  }

  /** @returns Mode 0600, no file type (as Linux's anonymous inodes). */
  stat(): Stat {
    return pseudoStat(this.fs, this.#ino, 0o600, { uid: 0, gid: 0 }, this.#created);
  }

  /** Not opened by path. */
  open(_flags: number): OpenFile {
    throw new LinuxError("ENXIO");
  }

  /** @returns `anon_inode:[NAME]`. */
  override readlink(): string {
    return `anon_inode:${this.fs.type}`;
  }
}

/**
 * A file description: an inode opened with flags and an offset, shared by
 * every descriptor dup'ed from it.
 */
export class OpenFile {
  /**
   * The file as the process sees it (fstat, /proc): the opened inode, or
   * the overlay inode in front of it (see {@linkcode OpenFile.presentAs}).
   */
  inode: Inode;
  /** Status flags (`O_*`): access mode, O_APPEND, O_NONBLOCK... */
  flags: number;
  /** The file offset. */
  offset = 0n;
  /** Where the file was opened, as a path: set by the VFS (/proc/PID/fd). */
  path: string | null = null;
  /** Where the file was opened, as a place (a VPath): set by the VFS (openat with a dirfd, fchdir). */
  location: unknown = null;
  /** A directory's listing, taken at the first getdents. */
  listing: DirEntry[] | null = null;
  #refs = 1;

  /**
   * Opens an inode.
   *
   * @param inode The file.
   * @param flags The open flags.
   */
  constructor(inode: Inode, flags: number) {
    this.inode = inode;
    this.flags = flags & ~(O.CREAT | O.EXCL | O.NOCTTY | O.TRUNC | O.CLOEXEC);
  }

  /** Whether reading is allowed by the access mode. */
  get readable(): boolean {
    return (this.flags & O.ACCMODE) !== O.WRONLY && (this.flags & O.PATH) === 0;
  }

  /** Whether writing is allowed by the access mode. */
  get writable(): boolean {
    return (this.flags & O.ACCMODE) !== O.RDONLY && (this.flags & O.PATH) === 0;
  }

  /** Whether the offset means anything (pipes and sockets: no). */
  get seekable(): boolean {
    const t = this.inode.type;
    return t === S_IFREG || t === S_IFDIR || t === S_IFBLK;
  }

  /**
   * Reads at `offset`, or at the file offset (and advances it) when null.
   *
   * @param buf Where to read to.
   * @param offset An explicit offset (pread) or null.
   * @returns Bytes read; 0 at end of file.
   * @throws {WouldBlock} When nothing can be read yet.
   */
  read(buf: Uint8Array, offset: bigint | null): number {
    const at = offset ?? this.offset;
    const n = this.readAt(buf, at);
    if (offset === null) this.offset = at + BigInt(n);
    if (n > 0) OpenFile.ioHook?.(this, false);
    return n;
  }

  /**
   * Writes at `offset`, or at the file offset (the end with O_APPEND).
   *
   * @param data What to write.
   * @param offset An explicit offset (pwrite) or null.
   * @returns Bytes written.
   * @throws {WouldBlock} When nothing can be written yet.
   */
  write(data: Uint8Array, offset: bigint | null): number {
    let at = offset ?? this.offset;
    if (offset === null && (this.flags & O.APPEND)) at = this.inode.stat().size;
    const n = this.writeAt(data, at);
    if (offset === null) this.offset = at + BigInt(n);
    if (n > 0) OpenFile.ioHook?.(this, true);
    return n;
  }

  /**
   * Reads at a position; file kinds override this.
   *
   * @param _buf Where to read to.
   * @param _offset The position.
   * @returns Bytes read.
   */
  protected readAt(_buf: Uint8Array, _offset: bigint): number {
    throw new LinuxError(this.inode.type === S_IFDIR ? "EISDIR" : "EINVAL");
  }

  /**
   * Writes at a position; file kinds override this.
   *
   * @param _data What to write.
   * @param _offset The position.
   * @returns Bytes written.
   */
  protected writeAt(_data: Uint8Array, _offset: bigint): number {
    throw new LinuxError(this.inode.type === S_IFDIR ? "EISDIR" : "EINVAL");
  }

  /**
   * Makes the file report another inode (an overlay's, in front of the
   * layer's file that does the I/O): fstat then agrees with stat.
   *
   * @param inode The inode to show.
   * @returns This file.
   */
  presentAs(inode: Inode): this {
    this.inode = inode;
    return this;
  }

  /**
   * Whether write() is done with the buffer it is given when it returns
   * (file data copied, a host descriptor written), so a caller may reuse
   * it; pipes and sockets keep the buffer they are given.
   */
  get copiesWrites(): boolean {
    return false;
  }

  /**
   * A host descriptor the file's pages can be mapped from (a gofer file),
   * or null when its data lives in the Sentry (then a mapping is a copy).
   *
   * @returns The descriptor, owned by the file.
   */
  mappableFd(): number | null {
    return null;
  }

  /**
   * Moves the offset (lseek).
   *
   * @param offset The offset.
   * @param whence 0 SET, 1 CUR, 2 END.
   * @returns The new offset.
   */
  seek(offset: bigint, whence: number): bigint {
    if (!this.seekable) throw new LinuxError("ESPIPE");
    let base: bigint;
    if (whence === 0) base = 0n;
    else if (whence === 1) base = this.offset;
    else if (whence === 2) base = this.inode.stat().size;
    else throw new LinuxError("EINVAL");
    const next = base + offset;
    if (next < 0n) throw new LinuxError("EINVAL");
    this.offset = next;
    return next;
  }

  /**
   * Readiness for poll: `POLL.*` bits, and the queue that is notified when
   * they may change.
   *
   * @returns The ready bits and the queue (null: always ready).
   */
  poll(): { events: number; queue: WaitQueue | null } {
    return { events: POLL.IN | POLL.OUT | POLL.RDNORM | POLL.WRNORM, queue: null };
  }

  /**
   * Device-specific control; the syscall layer copies memory.
   *
   * @param _request The request.
   * @param _arg The raw argument.
   * @param _memory Access to the caller's memory.
   * @returns The result.
   */
  ioctl(_request: number, _arg: bigint, _memory: UserMemory): bigint {
    throw new LinuxError("ENOTTY");
  }

  /** How many references the description has (descriptors, messages in flight, queues). */
  get refs(): number {
    return this.#refs;
  }

  /** Takes a reference (a new descriptor for this description). */
  ref(): void {
    this.#refs++;
  }

  /** Drops a reference; the last one releases the file. */
  unref(): void {
    if (--this.#refs !== 0) return;
    this.release();
    for (const hook of OpenFile.closeHooks) hook(this);
  }

  /**
   * Called for every file description whose last reference goes (file
   * locks, which belong to descriptions, are dropped there).
   */
  static readonly closeHooks: Array<(f: OpenFile) => void> = [];

  /**
   * Called after a read (`wrote` false) or write that moved bytes: inotify
   * (`inotify.ts`) raises IN_ACCESS and IN_MODIFY from here, for every
   * file system.
   */
  static ioHook: ((f: OpenFile, wrote: boolean) => void) | null = null;

  /** Called when the last descriptor is closed. */
  protected release(): void {}

  /**
   * What /proc/PID/fdinfo shows for this kind of file after the common
   * lines (an eventfd's count, an epoll's interests...), each line ended.
   *
   * @returns The lines ("" for most files).
   */
  fdinfo(): string {
    return "";
  }
}

/**
 * A file's identity for locks: its device and inode number, whatever
 * path, mount or overlay it was opened through.
 *
 * @param f An open file.
 * @returns `dev:ino`.
 */
export function fileIdentity(f: OpenFile): string {
  const st = f.inode.stat();
  return `${st.dev}:${st.ino}`;
}

/** Access to the calling task's memory, for ioctls and the like. */
export interface UserMemory {
  /**
   * Reads bytes.
   *
   * @param addr The address.
   * @param length How many.
   * @returns The bytes.
   */
  read(addr: bigint, length: number): Uint8Array;
  /**
   * Writes bytes.
   *
   * @param addr The address.
   * @param data The bytes.
   */
  write(addr: bigint, data: Uint8Array): void;
}
