/**
 * Building blocks for synthesised file systems (procfs, sysfs): directories
 * whose entries are computed at lookup, files whose contents are computed
 * at open, and symlinks (including magic links that lead to an open file).
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import {
  type DirEntry,
  dtOf,
  FileSystem,
  Inode,
  OpenFile,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  type SetAttr,
  type Stat,
} from "./inode.ts";

const inos = new Map<string, bigint>();
let nextIno = 1n;

/**
 * A stable inode number for a synthesised path.
 *
 * @param key The path (or any unique key).
 * @returns Its number.
 */
export function synthIno(key: string): bigint {
  let n = inos.get(key);
  if (n === undefined) inos.set(key, n = nextIno++);
  return n;
}

/** Owner of synthesised files. */
export interface SynthOwner {
  uid: number;
  gid: number;
}

/** A synthesised file system. */
export class SynthFs extends FileSystem {
  readonly type: string;
  readonly dev: bigint;
  #root: Inode | null = null;

  /**
   * Makes one.
   *
   * @param type Its type name (`proc`, `sysfs`).
   * @param dev Its device number.
   */
  constructor(type: string, dev: bigint) {
    super();
    this.type = type;
    this.dev = dev;
  }

  /** Sets the root (after construction, since it refers to the fs). */
  setRoot(root: Inode): void {
    this.#root = root;
  }

  root(): Inode {
    if (!this.#root) throw new LinuxError("ENOENT");
    return this.#root;
  }
}

abstract class SynthNode extends Inode {
  readonly fs: SynthFs;
  readonly key: string;
  readonly owner: () => SynthOwner;
  readonly mode: number;

  constructor(fs: SynthFs, key: string, mode: number, owner?: () => SynthOwner) {
    super();
    this.fs = fs;
    this.key = key;
    this.mode = mode;
    this.owner = owner ?? (() => ({ uid: 0, gid: 0 }));
  }

  /** The file type, without computing attributes (a directory's link count walks its entries). */
  override get type(): number {
    return this.mode & 0o170000;
  }

  stat(): Stat {
    const o = this.owner();
    const now = BigInt(Date.now()) * 1_000_000n;
    return {
      dev: this.fs.dev,
      ino: synthIno(this.key),
      mode: this.mode,
      nlink: (this.mode & 0o170000) === S_IFDIR ? 2 : 1,
      uid: o.uid,
      gid: o.gid,
      rdev: 0n,
      size: 0n,
      blksize: 1024,
      blocks: 0n,
      atimeNs: now,
      mtimeNs: now,
      ctimeNs: now,
      btimeNs: 0n,
    };
  }
}

/** A directory whose entries are computed when looked at. */
export class SynthDir extends SynthNode {
  readonly #entries: () => Map<string, () => Inode>;
  /** Its names never change (a fixed tree): lookups may be cached, and mounted on. */
  fixed = false;

  /**
   * Makes one.
   *
   * @param fs The file system.
   * @param key A unique key (its path).
   * @param entries The entries now, by name.
   * @param mode Permission bits.
   * @param owner Its owner.
   */
  constructor(
    fs: SynthFs,
    key: string,
    entries: () => Map<string, () => Inode>,
    mode = 0o555,
    owner?: () => SynthOwner,
  ) {
    super(fs, key, S_IFDIR | mode, owner);
    this.#entries = entries;
  }

  /** As Linux: a directory's link count is 2 plus its subdirectories (/proc: plus its processes). */
  override stat(): Stat {
    let dirs = 0;
    for (const make of this.#entries().values()) if (make().type === S_IFDIR) dirs++;
    return { ...super.stat(), nlink: 2 + dirs };
  }

  override lookup(name: string): Inode {
    const make = this.#entries().get(name);
    if (!make) throw new LinuxError("ENOENT");
    return make();
  }

  override readdir(): DirEntry[] {
    return [...this.#entries()].map(([name, make]) => {
      const st = make().stat();
      return { name, ino: st.ino, type: dtOf(st.mode) };
    });
  }

  override cacheChildren(): boolean {
    return this.fixed;
  }

  open(flags: number): OpenFile {
    return new OpenFile(this, flags);
  }
}

/** A file whose contents are computed at open (and optionally written). */
export class SynthFile extends SynthNode {
  readonly #read: () => string | Uint8Array;
  readonly #write: ((data: Uint8Array) => void) | null;

  /**
   * Makes one.
   *
   * @param fs The file system.
   * @param key A unique key.
   * @param read Its contents now.
   * @param write Accepts a write (none: read-only).
   * @param mode Permission bits.
   * @param owner Its owner.
   */
  constructor(
    fs: SynthFs,
    key: string,
    read: () => string | Uint8Array,
    write: ((data: Uint8Array) => void) | null = null,
    mode?: number,
    owner?: () => SynthOwner,
  ) {
    super(fs, key, S_IFREG | (mode ?? (write ? 0o644 : 0o444)), owner);
    this.#read = read;
    this.#write = write;
  }

  override setattr(attrs: SetAttr): void {
    if (attrs.size !== undefined && this.#write) return; // O_TRUNC before a write
    throw new LinuxError("EPERM");
  }

  open(flags: number): OpenFile {
    if ((flags & 3) !== 0 && !this.#write) throw new LinuxError("EACCES");
    return new SynthOpenFile(this, flags, this.#read, this.#write);
  }
}

class SynthOpenFile extends OpenFile {
  #data: Uint8Array | null = null;
  readonly #read: () => string | Uint8Array;
  readonly #write: ((data: Uint8Array) => void) | null;

  constructor(
    inode: Inode,
    flags: number,
    read: () => string | Uint8Array,
    write: ((data: Uint8Array) => void) | null,
  ) {
    super(inode, flags);
    this.#read = read;
    this.#write = write;
  }

  #contents(): Uint8Array {
    if (!this.#data) {
      const c = this.#read();
      this.#data = typeof c === "string" ? new TextEncoder().encode(c) : c;
    }
    return this.#data;
  }

  override get seekable(): boolean {
    return true;
  }

  override seek(offset: bigint, whence: number): bigint {
    if (whence === 2) {
      this.offset = BigInt(this.#contents().length) + offset;
      return this.offset;
    }
    return super.seek(offset, whence);
  }

  protected override readAt(buf: Uint8Array, offset: bigint): number {
    const data = this.#contents();
    if (offset >= BigInt(data.length)) return 0;
    const at = Number(offset);
    const n = Math.min(buf.length, data.length - at);
    buf.set(data.subarray(at, at + n));
    return n;
  }

  protected override writeAt(data: Uint8Array, _offset: bigint): number {
    if (!this.#write) throw new LinuxError("EIO");
    this.#write(data);
    this.#data = null;
    return data.length;
  }
}

/** A symlink with a computed target, or a magic link to a place or an open file. */
export class SynthLink extends SynthNode {
  readonly #target: () => string;
  readonly #magic: (() => { path: unknown; file?: OpenFile } | null) | null;

  /**
   * Makes one.
   *
   * @param fs The file system.
   * @param key A unique key.
   * @param target Its text now.
   * @param magic Where it really leads (magic links).
   * @param owner Its owner.
   */
  constructor(
    fs: SynthFs,
    key: string,
    target: () => string,
    magic: (() => { path: unknown; file?: OpenFile } | null) | null = null,
    owner?: () => SynthOwner,
  ) {
    super(fs, key, S_IFLNK | 0o777, owner);
    this.#target = target;
    this.#magic = magic;
  }

  override readlink(): string {
    return this.#target();
  }

  override followMagic(): { path: unknown; file?: OpenFile } | null {
    return this.#magic ? this.#magic() : null;
  }

  open(): OpenFile {
    throw new LinuxError("ELOOP");
  }
}

/** A read-only tree of synthetic files: a name is a directory or a file's contents, computed at open. */
export type SynthTree = { [name: string]: SynthTree | (() => string) };

/**
 * Makes a read-only directory from a tree.
 *
 * @param fs The file system.
 * @param key Its key (a path unique in `fs`).
 * @param tree Its entries.
 * @returns The directory.
 */
export function synthTree(fs: SynthFs, key: string, tree: SynthTree): SynthDir {
  const dir = new SynthDir(fs, key, () => {
    const m = new Map<string, () => Inode>();
    for (const [name, v] of Object.entries(tree)) {
      const at = `${key === "/" ? "" : key}/${name}`;
      m.set(name, () => typeof v === "function" ? new SynthFile(fs, at, v) : synthTree(fs, at, v));
    }
    return m;
  });
  dir.fixed = true;
  return dir;
}
