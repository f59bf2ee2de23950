/**
 * Host file system calls relative to a directory descriptor, for the gofer
 * (which serves a container's root from the host) and for the Sentry's
 * file descriptors that are host files (stdio, donated files).
 *
 * Every path here is resolved with `openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)` or is a single component
 * under a directory descriptor with `AT_SYMLINK_NOFOLLOW`, so nothing ever
 * follows a symlink or `..` out of the directory it starts from.
 *
 * @module
 */
import { Arena } from "./arena_unsafe.ts";
import { bytesArg, cString, fdArg, intArg, u64Arg } from "./checks.ts";
import { addressOf } from "./native_unsafe.ts";
import { checked, checkedBig, syscall, syscallBuffer } from "./syscall.ts";
import { SYS } from "./sysno.ts";

/** `AT_*` flags. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  SYMLINK_FOLLOW: 0x400,
  EMPTY_PATH: 0x1000,
} as const;

/** `RESOLVE_*` flags of openat2. */
export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
} as const;

/** The resolution every gofer lookup uses: stay beneath, follow nothing. */
export const RESOLVE_STRICT = RESOLVE.BENEATH | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_SYMLINKS;

/** File metadata (`statx` fields dvisor uses). */
export interface Stat {
  /** Device of the file system (major << 8 | minor, old encoding not used: see devMajor). */
  dev: bigint;
  /** Inode number. */
  ino: bigint;
  /** Type and permission bits (`S_IF*` | mode). */
  mode: number;
  /** Hard links. */
  nlink: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Device number for character and block devices. */
  rdev: bigint;
  /** Size in bytes. */
  size: bigint;
  /** Preferred I/O size. */
  blksize: number;
  /** 512-byte blocks allocated. */
  blocks: bigint;
  /** Access time in nanoseconds since the epoch. */
  atimeNs: bigint;
  /** Modification time in nanoseconds. */
  mtimeNs: bigint;
  /** Status change time in nanoseconds. */
  ctimeNs: bigint;
  /** Birth time in nanoseconds (0 if unknown). */
  btimeNs: bigint;
}

/** File type bits. */
export const S = {
  IFMT: 0o170000,
  IFSOCK: 0o140000,
  IFLNK: 0o120000,
  IFREG: 0o100000,
  IFBLK: 0o060000,
  IFDIR: 0o040000,
  IFCHR: 0o020000,
  IFIFO: 0o010000,
} as const;

const STATX_BASIC_STATS_BTIME = 0xfffn;
const STATX_SIZE = 256;

/**
 * A per-thread set of buffers for these calls (paths, statx, open_how).
 * Each thread that calls into this module owns one; functions take it as
 * their first argument so hot paths allocate nothing.
 *
 * @example
 * ```ts
 * import { FileCalls } from "./files.ts";
 * using calls = new FileCalls();
 * const st = calls.statAt(-100, "/");
 * if ((st.mode & 0o170000) !== 0o040000) throw new Error();
 * ```
 */
export class FileCalls {
  #arena = new Arena(64 * 1024);
  #statx: number;
  #how: number;
  #path: number;
  #path2: number;

  /** Allocates the buffers. */
  constructor() {
    this.#statx = this.#arena.alloc(STATX_SIZE);
    this.#how = this.#arena.alloc(24);
    this.#path = this.#arena.alloc(4096, 1);
    this.#path2 = this.#arena.alloc(4096, 1);
  }

  #str(s: string, what: string, second = false): bigint {
    const bytes = cString(s, what, 4095);
    const at = second ? this.#path2 : this.#path;
    this.#arena.bytes.set(bytes, at);
    return this.#arena.addr(at);
  }

  /**
   * Opens a path beneath a directory without following any symlink or
   * leaving the directory (`openat2` with {@linkcode RESOLVE_STRICT}).
   *
   * @param dirfd The directory (or AT.FDCWD).
   * @param path A relative path ("" or "." for the directory itself).
   * @param flags `O.*` flags; O_CLOEXEC is always added.
   * @param mode Mode for a created file.
   * @param resolve RESOLVE_* flags (default strict).
   * @returns The descriptor.
   * @throws {Errno} ELOOP for a symlink, EXDEV for an escape, ENOENT, EACCES...
   */
  openBeneath(
    dirfd: number,
    path: string,
    flags: number,
    mode = 0,
    resolve: number = RESOLVE_STRICT,
  ): number {
    intArg(flags, 0, 0x7fffffff, "open flags");
    intArg(mode, 0, 0o7777, "file mode");
    intArg(resolve, 0, 0x3f, "resolve flags");
    const v = this.#arena.view;
    v.setBigUint64(this.#how, BigInt((flags | 0o2000000) >>> 0), true);
    v.setBigUint64(this.#how + 8, BigInt(mode), true);
    v.setBigUint64(this.#how + 16, BigInt(resolve), true);
    const p = this.#str(path === "" ? "." : path, "path");
    return checked(
      syscall(SYS.openat2, BigInt(dirfd), p, this.#arena.addr(this.#how), 24n),
      `openat2 ${path}`,
    );
  }

  /**
   * Stats a path relative to a directory, never following a final symlink.
   *
   * @param dirfd The directory (or AT.FDCWD).
   * @param path The path ("" with AT.EMPTY_PATH for `dirfd` itself).
   * @param flags Extra AT_* flags.
   * @returns The metadata.
   * @throws {Errno} If statx fails.
   */
  statAt(dirfd: number, path: string, flags = 0): Stat {
    const p = this.#str(path, "path");
    const f = BigInt((flags | AT.SYMLINK_NOFOLLOW | (path === "" ? AT.EMPTY_PATH : 0)) >>> 0);
    checked(
      syscall(
        SYS.statx,
        BigInt(dirfd),
        p,
        f,
        STATX_BASIC_STATS_BTIME,
        this.#arena.addr(this.#statx),
      ),
      `statx ${path}`,
    );
    return this.#decodeStatx();
  }

  /**
   * Stats an open descriptor.
   *
   * @param fd The descriptor.
   * @returns The metadata.
   */
  statFd(fd: number): Stat {
    fdArg(fd);
    return this.statAt(fd, "", AT.EMPTY_PATH);
  }

  #decodeStatx(): Stat {
    const v = this.#arena.view;
    const at = this.#statx;
    const ts = (o: number) =>
      v.getBigInt64(at + o, true) * 1_000_000_000n + BigInt(v.getUint32(at + o + 8, true));
    const devMajor = v.getUint32(at + 0x88, true);
    const devMinor = v.getUint32(at + 0x8c, true);
    const rdevMajor = v.getUint32(at + 0x80, true);
    const rdevMinor = v.getUint32(at + 0x84, true);
    return {
      dev: makedev(devMajor, devMinor),
      ino: v.getBigUint64(at + 0x20, true),
      mode: v.getUint16(at + 0x1c, true),
      nlink: v.getUint32(at + 0x10, true),
      uid: v.getUint32(at + 0x14, true),
      gid: v.getUint32(at + 0x18, true),
      rdev: makedev(rdevMajor, rdevMinor),
      size: v.getBigUint64(at + 0x28, true),
      blksize: v.getUint32(at + 0x04, true),
      blocks: v.getBigUint64(at + 0x30, true),
      atimeNs: ts(0x40),
      btimeNs: ts(0x50),
      ctimeNs: ts(0x60),
      mtimeNs: ts(0x70),
    };
  }

  /**
   * Reads a symlink relative to a directory.
   *
   * @param dirfd The directory.
   * @param path The link ("" for an O_PATH descriptor of the link itself).
   * @returns Its target.
   */
  readlinkAt(dirfd: number, path: string): string {
    const p = this.#str(path, "path");
    const out = this.#path2;
    const n = checked(
      syscall(SYS.readlinkat, BigInt(dirfd), p, this.#arena.addr(out), 4096n),
      `readlinkat ${path}`,
    );
    return new TextDecoder().decode(this.#arena.bytes.subarray(out, out + n));
  }

  /**
   * Makes a directory.
   *
   * @param dirfd The parent.
   * @param name Its name (one component).
   * @param mode Permission bits.
   */
  mkdirAt(dirfd: number, name: string, mode: number): void {
    intArg(mode, 0, 0o7777, "mode");
    checked(
      syscall(SYS.mkdirat, BigInt(dirfd), this.#str(name, "name"), BigInt(mode)),
      `mkdirat ${name}`,
    );
  }

  /**
   * Makes a node (regular file, FIFO, socket, device).
   *
   * @param dirfd The parent.
   * @param name Its name.
   * @param mode Type and permission bits.
   * @param dev Device number for devices.
   */
  mknodAt(dirfd: number, name: string, mode: number, dev = 0n): void {
    checked(
      syscall(
        SYS.mknodat,
        BigInt(dirfd),
        this.#str(name, "name"),
        BigInt(mode >>> 0),
        u64Arg(dev, "device"),
      ),
      `mknodat ${name}`,
    );
  }

  /**
   * Removes a name (a directory with AT.REMOVEDIR).
   *
   * @param dirfd The parent.
   * @param name The name.
   * @param flags 0 or AT.REMOVEDIR.
   */
  unlinkAt(dirfd: number, name: string, flags: number): void {
    checked(
      syscall(SYS.unlinkat, BigInt(dirfd), this.#str(name, "name"), BigInt(flags)),
      `unlinkat ${name}`,
    );
  }

  /**
   * Renames (renameat2).
   *
   * @param oldDir Old parent.
   * @param oldName Old name.
   * @param newDir New parent.
   * @param newName New name.
   * @param flags RENAME_NOREPLACE (1), RENAME_EXCHANGE (2).
   */
  renameAt(oldDir: number, oldName: string, newDir: number, newName: string, flags = 0): void {
    checked(
      syscall(
        SYS.renameat2,
        BigInt(oldDir),
        this.#str(oldName, "name"),
        BigInt(newDir),
        this.#str(newName, "name", true),
        BigInt(flags),
      ),
      `renameat2 ${oldName} ${newName}`,
    );
  }

  /**
   * Makes a symlink.
   *
   * @param target What it points to (stored as is).
   * @param dirfd The parent.
   * @param name Its name.
   */
  symlinkAt(target: string, dirfd: number, name: string): void {
    checked(
      syscall(
        SYS.symlinkat,
        this.#str(target, "target"),
        BigInt(dirfd),
        this.#str(name, "name", true),
      ),
      `symlinkat ${name}`,
    );
  }

  /**
   * Makes a hard link to an open file (by descriptor, with AT_EMPTY_PATH).
   *
   * @param fd The file (an O_PATH descriptor works).
   * @param dirfd The new parent.
   * @param name The new name.
   */
  linkFd(fd: number, dirfd: number, name: string): void {
    checked(
      syscall(
        SYS.linkat,
        BigInt(fd),
        this.#str("", "path"),
        BigInt(dirfd),
        this.#str(name, "name", true),
        BigInt(AT.EMPTY_PATH),
      ),
      `linkat ${name}`,
    );
  }

  /**
   * Changes permission bits of an open file (a real descriptor, not O_PATH).
   *
   * @param fd The file.
   * @param mode The bits.
   */
  fchmod(fd: number, mode: number): void {
    checked(syscall(SYS.fchmod, fdArg(fd), intArg(mode, 0, 0o7777, "mode")), "fchmod");
  }

  /**
   * Changes ownership of a file by descriptor (O_PATH works), never following a symlink.
   *
   * @param fd The file.
   * @param uid New owner, or -1 to keep.
   * @param gid New group, or -1 to keep.
   */
  fchown(fd: number, uid: number, gid: number): void {
    checked(
      syscall(
        SYS.fchownat,
        fdArg(fd),
        this.#str("", "path"),
        BigInt(uid),
        BigInt(gid),
        BigInt(AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW),
      ),
      "fchownat",
    );
  }

  /**
   * Sets access and modification times of a descriptor's file.
   *
   * @param fd The file (O_PATH works).
   * @param atimeNs Access time, or null to keep it.
   * @param mtimeNs Modification time, or null to keep it.
   */
  utimens(fd: number, atimeNs: bigint | null, mtimeNs: bigint | null): void {
    const UTIME_OMIT = (1n << 30n) - 2n;
    const t = new BigInt64Array(4);
    const set = (i: number, ns: bigint | null) => {
      t[i * 2] = ns === null ? 0n : ns / 1_000_000_000n;
      t[i * 2 + 1] = ns === null ? UTIME_OMIT : ns % 1_000_000_000n;
    };
    set(0, atimeNs);
    set(1, mtimeNs);
    checked(
      syscall(
        SYS.utimensat,
        fdArg(fd),
        this.#str("", "path"),
        addressOf(t),
        BigInt(AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW),
      ),
      "utimensat",
    );
  }

  /** Frees the buffers. */
  [Symbol.dispose](): void {
    this.#arena.dispose();
  }
}

/**
 * Reads at an offset (`pread64`), retrying EINTR.
 *
 * @param fd The file.
 * @param buf Where to read to.
 * @param offset The file offset.
 * @returns Bytes read (0 at end of file).
 *
 * @example
 * ```ts
 * import { preadFd } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/dev/zero", O.RDONLY);
 * if (preadFd(fd, new Uint8Array(4), 0n) !== 4) throw new Error();
 * closeFd(fd);
 * ```
 */
export function preadFd(fd: number, buf: Uint8Array, offset: bigint): number {
  bytesArg(buf, "read buffer");
  for (;;) {
    const r = syscallBuffer(
      SYS.pread64,
      fdArg(fd),
      buf,
      BigInt(buf.length),
      u64Arg(offset, "offset"),
    );
    if (r !== -4n) return checked(r, `pread ${fd}`);
  }
}

/**
 * Writes at an offset (`pwrite64`), retrying EINTR.
 *
 * @param fd The file.
 * @param buf What to write.
 * @param offset The file offset.
 * @returns Bytes written.
 *
 * @example
 * ```ts
 * import { pwriteFd } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/dev/null", O.WRONLY);
 * if (pwriteFd(fd, new Uint8Array(3), 0n) !== 3) throw new Error();
 * closeFd(fd);
 * ```
 */
export function pwriteFd(fd: number, buf: Uint8Array, offset: bigint): number {
  bytesArg(buf, "write buffer");
  for (;;) {
    const r = syscallBuffer(
      SYS.pwrite64,
      fdArg(fd),
      buf,
      BigInt(buf.length),
      u64Arg(offset, "offset"),
    );
    if (r !== -4n) return checked(r, `pwrite ${fd}`);
  }
}

/**
 * Truncates or extends an open file.
 *
 * @param fd The file (open for writing).
 * @param size The new size.
 *
 * @example
 * ```ts
 * import { ftruncateFd } from "./files.ts";
 * import { memfdCreate } from "./memfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = memfdCreate("t");
 * ftruncateFd(fd, 100n);
 * closeFd(fd);
 * ```
 */
export function ftruncateFd(fd: number, size: bigint): void {
  checked(syscall(SYS.ftruncate, fdArg(fd), u64Arg(size, "size")), "ftruncate");
}

/**
 * Flushes a file to storage.
 *
 * @param fd The file.
 * @param dataOnly fdatasync instead of fsync.
 *
 * @example
 * ```ts
 * import { fsyncFd } from "./files.ts";
 * import { memfdCreate } from "./memfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = memfdCreate("t");
 * fsyncFd(fd, false);
 * closeFd(fd);
 * ```
 */
export function fsyncFd(fd: number, dataOnly: boolean): void {
  checked(syscall(dataOnly ? SYS.fdatasync : SYS.fsync, fdArg(fd)), "fsync");
}

/** One directory entry. */
export interface DirEntry {
  /** Inode number. */
  ino: bigint;
  /** `DT_*` type. */
  type: number;
  /** Name. */
  name: string;
}

/**
 * Lists a directory (`getdents64`), without "." and "..".
 *
 * @param fd A directory opened for reading (the listing starts where its
 *   offset is; this reads to the end).
 * @returns The entries.
 *
 * @example
 * ```ts
 * import { listDirectory } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/", O.RDONLY | O.DIRECTORY);
 * if (!listDirectory(fd).some((e) => e.name === "proc")) throw new Error();
 * closeFd(fd);
 * ```
 */
export function listDirectory(fd: number): DirEntry[] {
  const buf = new Uint8Array(32768);
  const view = new DataView(buf.buffer);
  const out: DirEntry[] = [];
  const decoder = new TextDecoder();
  for (;;) {
    const n = checked(
      syscallBuffer(SYS.getdents64, fdArg(fd), buf, BigInt(buf.length)),
      "getdents64",
    );
    if (n === 0) return out;
    for (let at = 0; at < n;) {
      const reclen = view.getUint16(at + 16, true);
      const type = view.getUint8(at + 18);
      let end = at + 19;
      while (buf[end] !== 0) end++;
      const name = decoder.decode(buf.subarray(at + 19, end));
      if (name !== "." && name !== "..") out.push({ ino: view.getBigUint64(at, true), type, name });
      at += reclen;
    }
  }
}

/**
 * Reports a file system's statistics (`fstatfs`).
 *
 * @param fd Any descriptor on it.
 * @returns The raw 120-byte `struct statfs`.
 *
 * @example
 * ```ts
 * import { statfsFd } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/", O.RDONLY);
 * if (statfsFd(fd).length !== 120) throw new Error();
 * closeFd(fd);
 * ```
 */
export function statfsFd(fd: number): Uint8Array {
  const buf = new Uint8Array(120);
  checked(syscall(SYS.fstatfs, fdArg(fd), addressOf(buf)), "fstatfs");
  return buf;
}

/**
 * Moves a file offset (`lseek`).
 *
 * @param fd The file.
 * @param offset The offset.
 * @param whence 0 SEEK_SET, 1 SEEK_CUR, 2 SEEK_END, 3 SEEK_DATA, 4 SEEK_HOLE.
 * @returns The new offset.
 *
 * @example
 * ```ts
 * import { seekFd } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/dev/null", O.RDONLY);
 * seekFd(fd, 0n, 0);
 * closeFd(fd);
 * ```
 */
export function seekFd(fd: number, offset: bigint, whence: number): bigint {
  return checkedBig(
    syscall(SYS.lseek, fdArg(fd), BigInt.asUintN(64, offset), intArg(whence, 0, 4, "whence")),
    "lseek",
  );
}

/**
 * Combines a major and minor device number the way Linux encodes `dev_t`.
 *
 * @param major The major number.
 * @param minor The minor number.
 * @returns The encoded number.
 *
 * @example
 * ```ts
 * import { makedev } from "./files.ts";
 * if (makedev(1, 3) !== 0x103n) throw new Error();
 * ```
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

let inodeCalls: FileCalls | null = null;

/**
 * The host inode number of an open descriptor (how the host's
 * /proc/PID/maps names what is mapped from it).
 *
 * @param fd The descriptor.
 * @returns Its inode number.
 * @throws {Errno} If statx fails.
 *
 * @example
 * ```ts
 * import { hostInode } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/", O.RDONLY);
 * if (hostInode(fd) !== BigInt(Deno.statSync("/").ino!)) throw new Error();
 * closeFd(fd);
 * ```
 */
export function hostInode(fd: number): bigint {
  return hostStat(fd).ino;
}

/**
 * The host's attributes of an open descriptor (a memfd's allocated blocks,
 * say).
 *
 * @param fd The descriptor.
 * @returns Its attributes.
 * @throws {Errno} If statx fails.
 *
 * @example
 * ```ts
 * import { hostStat } from "./files.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const fd = openFile("/", O.RDONLY);
 * if (hostStat(fd).blocks < 0n) throw new Error();
 * closeFd(fd);
 * ```
 */
export function hostStat(fd: number): Stat {
  inodeCalls ??= new FileCalls();
  return inodeCalls.statFd(fd);
}
