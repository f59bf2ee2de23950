/**
 * An overlay of a read-only lower file system (the container's root from
 * the gofer) and a writable upper one in the sandbox's memory (a tmpfs),
 * so that a container can write anywhere while the host's files stay
 * untouched (`--overlay`, `dvisor do`).
 *
 * As Linux's overlayfs: a file is copied up on its first change; removing
 * a lower file leaves a whiteout; a directory made where a lower one was
 * removed is opaque; renaming a directory that exists below fails with
 * EXDEV (callers copy instead).
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import {
  type DirEntry,
  FileSystem,
  type FsCreds,
  Inode,
  O,
  OpenFile,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  type SetAttr,
  type Stat,
} from "./inode.ts";
import type { TmpFs, TmpNode } from "./tmpfs.ts";

let nextDev = 0x2000n;
const ROOT: FsCreds = { fsuid: 0, fsgid: 0, groups: [], capable: () => true };

/** Lower and upper layers seen as one. */
export class OverlayFs extends FileSystem {
  readonly type = "overlay";
  readonly dev: bigint = nextDev++;
  /** The read-only layer. */
  readonly lower: FileSystem;
  /** The writable layer. */
  readonly upper: TmpFs;
  /** Names removed from below, per upper directory. */
  readonly whiteouts = new WeakMap<TmpNode, Set<string>>();
  /** Upper directories that hide everything below them. */
  readonly opaque = new WeakSet<TmpNode>();
  readonly #root: OverlayInode;

  /**
   * Layers two file systems.
   *
   * @param lower The read-only layer.
   * @param upper The writable layer (empty).
   */
  constructor(lower: FileSystem, upper: TmpFs) {
    super();
    this.lower = lower;
    this.upper = upper;
    const lroot = lower.root();
    const uroot = upper.root();
    const st = lroot.stat();
    uroot.setattr({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    this.#root = new OverlayInode(this, null, "/", uroot, lroot);
  }

  /** @returns The merged root. */
  root(): OverlayInode {
    return this.#root;
  }

  /** @returns The upper layer's statistics (where writes go). */
  override statfs(): Uint8Array {
    return this.upper.statfs();
  }
}

/** A file seen through the overlay. */
export class OverlayInode extends Inode {
  readonly fs: OverlayFs;
  /** The parent directory (null for the root). */
  readonly parent: OverlayInode | null;
  /** Its name in the parent. */
  name: string;
  /** The upper copy, once made. */
  upper: TmpNode | null;
  /** The lower file, if any. */
  readonly lower: Inode | null;

  /**
   * Makes one.
   *
   * @param fs The overlay.
   * @param parent The parent.
   * @param name The name.
   * @param upper The upper copy.
   * @param lower The lower file.
   */
  constructor(
    fs: OverlayFs,
    parent: OverlayInode | null,
    name: string,
    upper: TmpNode | null,
    lower: Inode | null,
  ) {
    super();
    this.fs = fs;
    this.parent = parent;
    this.name = name;
    this.upper = upper;
    this.lower = lower;
  }

  stat(): Stat {
    const st = (this.upper ?? this.lower!).stat();
    // Keep the lower inode number across copy-up, as overlayfs does.
    return { ...st, dev: this.fs.dev, ino: this.lower ? this.lower.stat().ino : st.ino };
  }

  #isDir(): boolean {
    return (this.stat().mode & S_IFMT) === S_IFDIR;
  }

  #whiteouts(): Set<string> | undefined {
    return this.upper ? this.fs.whiteouts.get(this.upper) : undefined;
  }

  #lowerVisible(): boolean {
    return !!this.lower && !(this.upper && this.fs.opaque.has(this.upper));
  }

  override lookup(name: string): Inode {
    if (!this.#isDir()) throw new LinuxError("ENOTDIR");
    let up: TmpNode | null = null;
    if (this.upper) {
      try {
        up = this.upper.lookup(name);
      } catch (e) {
        if (!(e instanceof LinuxError) || e.errno !== 2) throw e;
      }
    }
    if (this.#whiteouts()?.has(name) && !up) throw new LinuxError("ENOENT");
    let low: Inode | null = null;
    const upIsDir = up ? (up.mode & S_IFMT) === S_IFDIR : true;
    if (this.#lowerVisible() && upIsDir && !this.#whiteouts()?.has(name)) {
      try {
        low = this.lower!.lookup(name);
      } catch (e) {
        if (!(e instanceof Error) || (e as { errno?: number }).errno !== 2) throw e;
      }
      if (up && low && (low.stat().mode & S_IFMT) !== S_IFDIR) low = null;
    }
    if (!up && !low) throw new LinuxError("ENOENT");
    return new OverlayInode(this.fs, this, name, up, low);
  }

  override readdir(): DirEntry[] {
    if (!this.#isDir()) throw new LinuxError("ENOTDIR");
    const out = new Map<string, DirEntry>();
    const hidden = this.#whiteouts() ?? new Set<string>();
    if (this.#lowerVisible()) {
      for (const e of this.lower!.readdir()) if (!hidden.has(e.name)) out.set(e.name, e);
    }
    for (const e of this.upper?.readdir() ?? []) out.set(e.name, e);
    return [...out.values()];
  }

  /** Makes sure this file has an upper copy (copying the lower one up). */
  copyUp(): TmpNode {
    if (this.upper) return this.upper;
    const parentUpper = this.parent!.copyUp();
    const src = this.lower!;
    const st = src.stat();
    let node: TmpNode;
    switch (st.mode & S_IFMT) {
      case S_IFDIR:
        node = parentUpper.mkdir(this.name, st.mode & 0o7777, ROOT);
        break;
      case S_IFLNK:
        node = parentUpper.symlink(this.name, src.readlink(), ROOT);
        break;
      case S_IFREG: {
        node = parentUpper.mknod(this.name, S_IFREG | (st.mode & 0o7777), ROOT);
        const f = src.open(O.RDONLY);
        try {
          const buf = new Uint8Array(1 << 20);
          let off = 0n;
          for (;;) {
            const n = f.read(buf, off);
            if (n === 0) break;
            node.writeData(buf.subarray(0, n), Number(off));
            off += BigInt(n);
          }
        } finally {
          f.unref();
        }
        break;
      }
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
      case S_IFSOCK:
        node = parentUpper.mknod(this.name, st.mode, ROOT, st.rdev);
        break;
      default:
        throw new LinuxError("EIO");
    }
    node.setattr({ uid: st.uid, gid: st.gid, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs });
    this.upper = node;
    return node;
  }

  /** Creates `name` in the upper copy of this directory, clearing a whiteout. */
  #create<T>(name: string, make: (dir: TmpNode) => T, dir = false): T {
    if (!this.#isDir()) throw new LinuxError("ENOTDIR");
    let exists = true;
    try {
      this.lookup(name);
    } catch {
      exists = false;
    }
    if (exists) throw new LinuxError("EEXIST");
    const up = this.copyUp();
    const whiteouts = this.fs.whiteouts.get(up);
    const hadWhiteout = whiteouts?.delete(name) ?? false;
    const made = make(up);
    if (dir && hadWhiteout) this.fs.opaque.add(up.lookup(name));
    return made;
  }

  override mknod(name: string, mode: number, creds: FsCreds, dev = 0n): Inode {
    this.#create(name, (d) => d.mknod(name, mode, creds, dev));
    return this.lookup(name);
  }

  override mkdir(name: string, mode: number, creds: FsCreds): Inode {
    this.#create(name, (d) => d.mkdir(name, mode, creds), true);
    return this.lookup(name);
  }

  override symlink(name: string, target: string, creds: FsCreds): Inode {
    this.#create(name, (d) => d.symlink(name, target, creds));
    return this.lookup(name);
  }

  override link(name: string, target: Inode): void {
    if (!(target instanceof OverlayInode) || target.fs !== this.fs) throw new LinuxError("EXDEV");
    const t = target.copyUp();
    this.#create(name, (d) => d.link(name, t));
  }

  #whiteout(up: TmpNode, name: string): void {
    let set = this.fs.whiteouts.get(up);
    if (!set) this.fs.whiteouts.set(up, set = new Set());
    set.add(name);
  }

  override unlink(name: string): void {
    const child = this.lookup(name) as OverlayInode;
    if ((child.stat().mode & S_IFMT) === S_IFDIR) throw new LinuxError("EISDIR");
    const up = this.copyUp();
    if (child.upper) up.unlink(name);
    if (child.lower) this.#whiteout(up, name);
  }

  override rmdir(name: string): void {
    const child = this.lookup(name) as OverlayInode;
    if ((child.stat().mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
    if (child.readdir().length) throw new LinuxError("ENOTEMPTY");
    const up = this.copyUp();
    if (child.upper) {
      // Its whiteouts go with it.
      for (const n of [...child.upper.entries.keys()]) child.upper.unlink(n);
      up.rmdir(name);
    }
    if (child.lower) this.#whiteout(up, name);
  }

  override rename(oldName: string, newDir: Inode, newName: string, flags: number): void {
    if (!(newDir instanceof OverlayInode) || newDir.fs !== this.fs) throw new LinuxError("EXDEV");
    if (flags & 2) {
      this.#exchange(oldName, newDir, newName);
      return;
    }
    const moving = this.lookup(oldName) as OverlayInode;
    const isDir = (moving.stat().mode & S_IFMT) === S_IFDIR;
    if (isDir && moving.lower) throw new LinuxError("EXDEV");
    let there: OverlayInode | null = null;
    try {
      there = newDir.lookup(newName) as OverlayInode;
    } catch {
      there = null;
    }
    if (there) {
      if (flags & 1) throw new LinuxError("EEXIST");
      const thereDir = (there.stat().mode & S_IFMT) === S_IFDIR;
      if (isDir && !thereDir) throw new LinuxError("ENOTDIR");
      if (!isDir && thereDir) throw new LinuxError("EISDIR");
      if (thereDir && there.readdir().length) throw new LinuxError("ENOTEMPTY");
      if (thereDir) newDir.rmdir(newName);
      else newDir.unlink(newName);
    }
    moving.copyUp();
    const fromUp = this.copyUp();
    const toUp = newDir.copyUp();
    this.fs.whiteouts.get(toUp)?.delete(newName);
    fromUp.rename(oldName, toUp, newName, 0);
    if (moving.lower) this.#whiteout(fromUp, oldName);
  }

  /**
   * RENAME_EXCHANGE: both copied up and swapped in the upper layer. A
   * directory may only take part while no lower layer has a directory of
   * either name (its contents would merge into it): EXDEV, as overlayfs
   * without redirect_dir.
   */
  #exchange(aName: string, bDir: OverlayInode, bName: string): void {
    const a = this.lookup(aName) as OverlayInode;
    const b = bDir.lookup(bName) as OverlayInode;
    const isDir = (x: OverlayInode) => (x.stat().mode & S_IFMT) === S_IFDIR;
    if ((isDir(a) || isDir(b)) && (this.#lowerDir(aName) || bDir.#lowerDir(bName))) {
      throw new LinuxError("EXDEV");
    }
    a.copyUp();
    b.copyUp();
    const aUp = this.copyUp();
    const bUp = bDir.copyUp();
    aUp.rename(aName, bUp, bName, 2);
  }

  /** Whether the lower layer shows a directory of this name here. */
  #lowerDir(name: string): boolean {
    if (!this.#lowerVisible() || this.#whiteouts()?.has(name)) return false;
    try {
      return (this.lower!.lookup(name).stat().mode & S_IFMT) === S_IFDIR;
    } catch {
      return false;
    }
  }

  override readlink(): string {
    return (this.upper ?? this.lower!).readlink();
  }

  override setattr(attrs: SetAttr): void {
    this.copyUp().setattr(attrs);
  }

  open(flags: number): OpenFile {
    const acc = flags & O.ACCMODE;
    const writes = acc !== O.RDONLY || (flags & O.TRUNC) !== 0;
    const type = this.stat().mode & S_IFMT;
    if (type === S_IFDIR) return new OpenFile(this, flags);
    const layer = writes && type === S_IFREG ? this.copyUp() : (this.upper ?? this.lower!);
    const f = layer.open(flags);
    // Pipes and devices are what they are; files and directories show the overlay's inode.
    return type === S_IFREG || type === S_IFDIR ? f.presentAs(this) : f;
  }
}
