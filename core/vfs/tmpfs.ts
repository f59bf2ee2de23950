/**
 * tmpfs: a file system in the Sentry's memory. Used for /tmp and /dev/shm
 * mounts, as the upper layer of the root overlay, and for devfs's tree.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import { closeQuietly } from "../../platform/fd.ts";
import { ftruncateFd, preadFd, pwriteFd } from "../../platform/files.ts";
import { memfdCreate } from "../../platform/memfd.ts";

/** File seals (`F_ADD_SEALS`): what may no longer happen to a file's data. */
export const SEAL = {
  SEAL: 1,
  SHRINK: 2,
  GROW: 4,
  WRITE: 8,
  FUTURE_WRITE: 0x10,
  EXEC: 0x20,
} as const;

/** The largest piece of a file's data kept as one buffer. */
const DATA_CHUNK = 1 << 16;

/** Closes a mapped file's memfd once its node is gone. */
const memfds = new FinalizationRegistry<number>((fd) => closeQuietly(fd));

/** File data held by every tmpfs of the sandbox (/proc/meminfo's Shmem). */
let allBytes = 0;

/**
 * Bytes of file data every tmpfs (memfds included) holds now.
 *
 * @returns The sum.
 *
 * @example
 * ```ts
 * import { tmpfsBytes } from "./tmpfs.ts";
 * if (tmpfsBytes() < 0) throw new Error();
 * ```
 */
export function tmpfsBytes(): number {
  return allBytes;
}
import { openDevice } from "./devices.ts";
import {
  type DirEntry,
  dtOf,
  FileSystem,
  type FsCreds,
  Inode,
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

let nextDev = 0x100n;

/** Size limits of a tmpfs (`size=`, `nr_inodes=`). */
export interface TmpFsLimits {
  /** Most bytes of file data, or Infinity. */
  maxBytes: number;
  /** Most inodes, or Infinity. */
  maxInodes: number;
}

/** An in-memory file system. */
export class TmpFs extends FileSystem {
  readonly type: string;
  readonly dev: bigint = nextDev++;
  /** Limits. */
  readonly limits: TmpFsLimits;
  /** Bytes of file data held. */
  usedBytes = 0;
  /** Inodes held. */
  usedInodes = 0;
  #nextIno = 1n;
  readonly #root: TmpNode;

  /**
   * Makes an empty file system whose root has this mode and owner.
   *
   * @param options Root mode and owner, limits, and the type name shown in /proc/mounts.
   */
  constructor(
    options: {
      mode?: number;
      uid?: number;
      gid?: number;
      limits?: Partial<TmpFsLimits>;
      type?: string;
    } = {},
  ) {
    super();
    this.type = options.type ?? "tmpfs";
    this.limits = { maxBytes: Infinity, maxInodes: Infinity, ...options.limits };
    this.#root = new TmpNode(
      this,
      S_IFDIR | (options.mode ?? 0o1777),
      options.uid ?? 0,
      options.gid ?? 0,
    );
  }

  /** @returns The root directory. */
  root(): TmpNode {
    return this.#root;
  }

  /** @internal A new inode number, counting against nr_inodes. */
  allocIno(): bigint {
    if (this.usedInodes + 1 > this.limits.maxInodes) throw new LinuxError("ENOSPC");
    this.usedInodes++;
    return this.#nextIno++;
  }

  /** @returns statfs with the limits as the totals. */
  override statfs(): Uint8Array {
    const buf = super.statfs();
    const v = new DataView(buf.buffer);
    const blocks = Number.isFinite(this.limits.maxBytes)
      ? BigInt(Math.ceil(this.limits.maxBytes / 4096))
      : 1n << 20n;
    const used = BigInt(Math.ceil(this.usedBytes / 4096));
    v.setBigUint64(16, blocks, true);
    v.setBigUint64(24, blocks > used ? blocks - used : 0n, true);
    v.setBigUint64(32, blocks > used ? blocks - used : 0n, true);
    const files = Number.isFinite(this.limits.maxInodes)
      ? BigInt(this.limits.maxInodes)
      : 1n << 20n;
    v.setBigUint64(40, files, true);
    v.setBigUint64(48, files - BigInt(this.usedInodes), true);
    return buf;
  }
}

const now = () => BigInt(Date.now()) * 1_000_000n;

/** A tmpfs inode of any kind. */
export class TmpNode extends Inode {
  readonly fs: TmpFs;
  readonly ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  nlink = 1;
  rdev = 0n;
  atimeNs = now();
  mtimeNs = this.atimeNs;
  ctimeNs = this.atimeNs;
  /**
   * Regular file data until the file is mapped, in chunks of up to
   * DATA_CHUNK bytes: growing a file never copies what it holds, and a
   * missing chunk (or the part past a chunk's end) is a hole, read as zeros.
   */
  #chunks: (Uint8Array | undefined)[] = [];
  /** Regular file size. */
  size = 0;
  /** Once the file was mapped: a host memfd holding its data (`data` is then unused). */
  #memfd = -1;
  /** Open descriptions of it: a file with no names is freed when the last one closes. */
  opens = 0;
  /** Directory entries. */
  readonly entries = new Map<string, TmpNode>();
  /** Symlink target. */
  target = "";
  /** FIFO buffer, shared by every opener. */
  fifo: Pipe | null = null;
  /**
   * Seals (SEAL bits). A tmpfs file is sealed against sealing; memfd_create
   * with MFD_ALLOW_SEALING clears that.
   */
  seals: number = SEAL.SEAL;

  /**
   * Makes an inode.
   *
   * @param fs Its file system.
   * @param mode Type and permission bits.
   * @param uid Owner.
   * @param gid Group.
   */
  constructor(fs: TmpFs, mode: number, uid: number, gid: number) {
    super();
    this.fs = fs;
    this.ino = fs.allocIno();
    this.mode = mode;
    this.uid = uid;
    this.gid = gid;
    if ((mode & S_IFMT) === S_IFDIR) this.nlink = 2;
  }

  /** As Linux's shmem: whole pages for file data, a page for a symlink of 128 bytes or more. */
  #blocks(size: bigint): bigint {
    const type = this.mode & S_IFMT;
    if (type === S_IFREG) return ((size + 4095n) / 4096n) * 8n;
    if (type === S_IFLNK && size >= 128n) return 8n;
    return 0n;
  }

  stat(): Stat {
    const isDir = (this.mode & S_IFMT) === S_IFDIR;
    // As Linux's shmem: a directory's size is 20 bytes per entry, "." and ".." included.
    const size = isDir
      ? BigInt(20 * (this.entries.size + 2))
      : (this.mode & S_IFMT) === S_IFLNK
      ? BigInt(new TextEncoder().encode(this.target).length)
      : BigInt(this.size);
    return {
      dev: this.fs.dev,
      ino: this.ino,
      mode: this.mode,
      nlink: this.nlink,
      uid: this.uid,
      gid: this.gid,
      rdev: this.rdev,
      size,
      blksize: 4096,
      blocks: this.#blocks(size),
      atimeNs: this.atimeNs,
      mtimeNs: this.mtimeNs,
      ctimeNs: this.ctimeNs,
      btimeNs: this.ctimeNs,
    };
  }

  #dir(): Map<string, TmpNode> {
    if ((this.mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
    return this.entries;
  }

  override lookup(name: string): TmpNode {
    const child = this.#dir().get(name);
    if (!child) throw new LinuxError("ENOENT");
    return child;
  }

  override readdir(): DirEntry[] {
    return [...this.#dir()].map(([name, n]) => ({ name, ino: n.ino, type: dtOf(n.mode) }));
  }

  #add(name: string, node: TmpNode): TmpNode {
    const dir = this.#dir();
    if (dir.has(name)) throw new LinuxError("EEXIST");
    dir.set(name, node);
    this.mtimeNs = this.ctimeNs = now();
    return node;
  }

  override mknod(name: string, mode: number, creds: FsCreds, dev = 0n): TmpNode {
    const type = mode & S_IFMT || S_IFREG;
    const node = new TmpNode(this.fs, type | (mode & 0o7777), creds.fsuid, this.#newGid(creds));
    node.rdev = dev;
    return this.#add(name, node);
  }

  override mkdir(name: string, mode: number, creds: FsCreds): TmpNode {
    const node = this.#add(
      name,
      new TmpNode(
        this.fs,
        S_IFDIR | (mode & 0o7777) | (this.mode & 0o2000),
        creds.fsuid,
        this.#newGid(creds),
      ),
    );
    this.nlink++;
    return node;
  }

  override symlink(name: string, target: string, creds: FsCreds): TmpNode {
    const node = new TmpNode(this.fs, S_IFLNK | 0o777, creds.fsuid, this.#newGid(creds));
    node.target = target;
    return this.#add(name, node);
  }

  /** A new file's group: the directory's with the setgid bit, else the creator's. */
  #newGid(creds: FsCreds): number {
    return this.mode & 0o2000 ? this.gid : creds.fsgid;
  }

  override link(name: string, target: Inode): void {
    if (!(target instanceof TmpNode) || target.fs !== this.fs) throw new LinuxError("EXDEV");
    if ((target.mode & S_IFMT) === S_IFDIR) throw new LinuxError("EPERM");
    this.#add(name, target);
    target.nlink++;
    target.ctimeNs = now();
  }

  override unlink(name: string): void {
    const child = this.lookup(name);
    if ((child.mode & S_IFMT) === S_IFDIR) throw new LinuxError("EISDIR");
    this.#dir().delete(name);
    child.nlink--;
    child.ctimeNs = this.mtimeNs = this.ctimeNs = now();
    child.#maybeFree();
  }

  override rmdir(name: string): void {
    const child = this.lookup(name);
    if ((child.mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
    if (child.entries.size) throw new LinuxError("ENOTEMPTY");
    this.#dir().delete(name);
    this.nlink--;
    child.nlink = 0;
    this.mtimeNs = this.ctimeNs = now();
    child.#maybeFree();
  }

  override rename(oldName: string, newDir: Inode, newName: string, flags: number): void {
    if (!(newDir instanceof TmpNode) || newDir.fs !== this.fs) throw new LinuxError("EXDEV");
    const moving = this.lookup(oldName);
    const there = newDir.#dir().get(newName);
    const NOREPLACE = 1;
    const EXCHANGE = 2;
    if (flags & EXCHANGE) {
      if (!there) throw new LinuxError("ENOENT");
      this.entries.set(oldName, there);
      newDir.entries.set(newName, moving);
      return;
    }
    if (there === moving) return;
    if (there) {
      if (flags & NOREPLACE) throw new LinuxError("EEXIST");
      const movingDir = (moving.mode & S_IFMT) === S_IFDIR;
      const thereDir = (there.mode & S_IFMT) === S_IFDIR;
      if (movingDir && !thereDir) throw new LinuxError("ENOTDIR");
      if (!movingDir && thereDir) throw new LinuxError("EISDIR");
      if (thereDir && there.entries.size) throw new LinuxError("ENOTEMPTY");
      there.nlink = thereDir ? 0 : there.nlink - 1;
      if (thereDir) newDir.nlink--;
      there.#maybeFree();
    }
    this.entries.delete(oldName);
    newDir.entries.set(newName, moving);
    if ((moving.mode & S_IFMT) === S_IFDIR && newDir !== this) {
      this.nlink--;
      newDir.nlink++;
    }
    this.mtimeNs =
      this.ctimeNs =
      newDir.mtimeNs =
      newDir.ctimeNs =
      moving.ctimeNs =
        now();
  }

  /** Frees the inode of a file with no names left, and its data once nothing has it open. */
  #maybeFree(): void {
    if (this.nlink > 0) return;
    this.fs.usedInodes--;
    this.freeData();
  }

  /** Drops the data of a file with no names that nothing has open (its space is free again). */
  freeData(): void {
    if (this.nlink > 0 || this.opens > 0 || (this.mode & S_IFMT) !== S_IFREG) return;
    this.fs.usedBytes -= this.size;
    allBytes -= this.size;
    this.size = 0;
    this.#chunks = [];
    if (this.#memfd >= 0) {
      memfds.unregister(this);
      closeQuietly(this.#memfd);
      this.#memfd = -1;
    }
  }

  override readlink(): string {
    if ((this.mode & S_IFMT) !== S_IFLNK) throw new LinuxError("EINVAL");
    this.atimeNs = now();
    return this.target;
  }

  override setattr(attrs: SetAttr): void {
    if (
      attrs.mode !== undefined && (this.seals & SEAL.EXEC) &&
      ((attrs.mode ^ this.mode) & 0o111)
    ) {
      throw new LinuxError("EPERM");
    }
    if (attrs.mode !== undefined) this.mode = (this.mode & S_IFMT) | (attrs.mode & 0o7777);
    if (attrs.uid !== undefined) this.uid = attrs.uid;
    if (attrs.gid !== undefined) this.gid = attrs.gid;
    if (attrs.size !== undefined) {
      if ((this.mode & S_IFMT) === S_IFDIR) throw new LinuxError("EISDIR");
      if ((this.mode & S_IFMT) !== S_IFREG) throw new LinuxError("EINVAL");
      this.resize(Number(attrs.size));
      this.mtimeNs = now();
    }
    if (attrs.atimeNs !== undefined) this.atimeNs = attrs.atimeNs;
    if (attrs.mtimeNs !== undefined) this.mtimeNs = attrs.mtimeNs;
    this.ctimeNs = now();
  }

  /**
   * The file's data as a host descriptor, made at the first mapping (the
   * stub maps it; reads and writes go through it from then on, so they
   * and the mapping see each other). Closed when the node is collected.
   *
   * @returns The memfd.
   */
  hostData(): number {
    if (this.#memfd >= 0) return this.#memfd;
    const fd = memfdCreate("dvisor-tmpfs");
    try {
      ftruncateFd(fd, BigInt(this.size));
      this.#chunks.forEach((chunk, i) => {
        if (chunk && pwriteFd(fd, chunk, BigInt(i * DATA_CHUNK)) !== chunk.length) {
          throw new LinuxError("EIO", "short write to a memfd");
        }
      });
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    this.#memfd = fd;
    this.#chunks = [];
    memfds.register(this, fd, this);
    return fd;
  }

  /**
   * Reads file data.
   *
   * @param buf Where to.
   * @param at The offset (within the size).
   * @returns Bytes read.
   */
  readData(buf: Uint8Array, at: number): number {
    const len = Math.min(buf.length, this.size - at);
    if (len <= 0) return 0;
    if (this.#memfd >= 0) return preadFd(this.#memfd, buf.subarray(0, len), BigInt(at));
    for (let done = 0; done < len;) {
      const off = (at + done) % DATA_CHUNK;
      const n = Math.min(DATA_CHUNK - off, len - done);
      const chunk = this.#chunks[Math.floor((at + done) / DATA_CHUNK)];
      const have = chunk ? Math.max(0, Math.min(n, chunk.length - off)) : 0;
      if (have > 0) buf.set(chunk!.subarray(off, off + have), done);
      if (have < n) buf.fill(0, done + have, done + n);
      done += n;
    }
    return len;
  }

  /**
   * Writes file data, growing the file.
   *
   * @param data The bytes.
   * @param at The offset.
   */
  writeData(data: Uint8Array, at: number): void {
    if (this.seals & (SEAL.WRITE | SEAL.FUTURE_WRITE)) throw new LinuxError("EPERM");
    const end = at + data.length;
    if (end > this.size) this.resize(end);
    if (this.#memfd >= 0) {
      if (pwriteFd(this.#memfd, data, BigInt(at)) !== data.length) {
        throw new LinuxError("EIO", "short write to a memfd");
      }
      return;
    }
    for (let done = 0; done < data.length;) {
      const index = Math.floor((at + done) / DATA_CHUNK);
      const off = (at + done) % DATA_CHUNK;
      const n = Math.min(DATA_CHUNK - off, data.length - done);
      let chunk = this.#chunks[index];
      if (!chunk || chunk.length < off + n) {
        // Small files stay small: a chunk grows by doubling up to DATA_CHUNK.
        const next = new Uint8Array(
          Math.min(DATA_CHUNK, Math.max(off + n, (chunk?.length ?? 0) * 2)),
        );
        if (chunk) next.set(chunk);
        chunk = this.#chunks[index] = next;
      }
      chunk.set(data.subarray(done, done + n), off);
      done += n;
    }
  }

  /**
   * Sets a regular file's size, zero-filling growth.
   *
   * @param size The new size.
   */
  resize(size: number): void {
    if (size > Number.MAX_SAFE_INTEGER || size < 0) throw new LinuxError("EFBIG");
    const grow = size - this.size;
    if ((grow > 0 && (this.seals & SEAL.GROW)) || (grow < 0 && (this.seals & SEAL.SHRINK))) {
      throw new LinuxError("EPERM");
    }
    if (grow > 0 && this.fs.usedBytes + grow > this.fs.limits.maxBytes) {
      throw new LinuxError("ENOSPC");
    }
    if (this.#memfd >= 0) {
      ftruncateFd(this.#memfd, BigInt(size));
    } else if (size < this.size) {
      // Growth is a hole; shrinking drops whole chunks and zeroes the last one's tail.
      this.#chunks.length = Math.min(this.#chunks.length, Math.ceil(size / DATA_CHUNK));
      const last = this.#chunks[this.#chunks.length - 1];
      if (last && size % DATA_CHUNK) last.fill(0, size % DATA_CHUNK);
    }
    this.fs.usedBytes += grow;
    allBytes += grow;
    this.size = size;
  }

  open(flags: number): OpenFile {
    switch (this.mode & S_IFMT) {
      case S_IFREG:
        return new TmpFile(this, flags);
      case S_IFDIR:
        return new OpenFile(this, flags);
      case S_IFIFO:
        this.fifo ??= new Pipe();
        return new PipeEnd(this, this.fifo, flags);
      case S_IFCHR:
        return openDevice(this, this.rdev, flags);
    }
    throw new LinuxError("ENXIO");
  }
}

/** An open regular tmpfs file. */
class TmpFile extends OpenFile {
  readonly #node: TmpNode;

  constructor(node: TmpNode, flags: number) {
    super(node, flags);
    this.#node = node;
    node.opens++;
  }

  protected override release(): void {
    this.#node.opens--;
    this.#node.freeData();
  }

  /** @returns The file's memfd: a mapping shares its pages with reads and writes. */
  /** @returns True: writes copy into the file's chunks or memfd. */
  override get copiesWrites(): boolean {
    return true;
  }

  override mappableFd(): number {
    return this.#node.hostData();
  }

  protected override readAt(buf: Uint8Array, offset: bigint): number {
    const n = this.#node;
    if (offset >= BigInt(n.size)) return 0;
    return n.readData(buf, Number(offset));
  }

  protected override writeAt(data: Uint8Array, offset: bigint): number {
    const n = this.#node;
    n.writeData(data, Number(offset));
    n.mtimeNs = n.ctimeNs = now();
    return data.length;
  }
}
