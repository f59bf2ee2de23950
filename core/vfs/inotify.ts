/**
 * inotify: instances (an anonymous file that queues events), the watch
 * registry, and the hooks the VFS calls when it changes a file.
 *
 * Watches are keyed on the file's identity (device and inode number), so
 * hard links, other paths and overlay copies of one file share a watch.
 * The VFS reports what happens through the `notify*` functions here, from
 * the operations in `ops.ts` (create, remove, rename, link, attributes,
 * open) and from {@linkcode OpenFile} itself (reads, writes, close), so
 * every file system (tmpfs, overlay, gofer files, procfs) raises events
 * the same way, as Linux's fsnotify hooks in the VFS. Changes the host
 * makes to a gofer's files behind the sandbox's back are not seen.
 *
 * Events follow Linux: a directory's watch hears of its children's
 * events with their names; an identical event right after the last unread
 * one is dropped; a full queue (16384 events) ends with one
 * IN_Q_OVERFLOW; removing a watch (rm_watch, IN_ONESHOT, the file
 * deleted) queues IN_IGNORED; a file unlinked while open is deleted, for
 * IN_DELETE_SELF, at its last close.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import {
  AnonInode,
  type Inode,
  O,
  OpenFile,
  POLL,
  PseudoFs,
  S_IFDIR,
  S_IFMT,
  type SetAttr,
  type Stat,
  type UserMemory,
} from "./inode.ts";
import type { Dentry, VPath } from "./mount.ts";

/** inotify's bits: events, watch flags and init flags. */
export const IN = {
  ACCESS: 0x1,
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  CLOSE_NOWRITE: 0x10,
  OPEN: 0x20,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  UNMOUNT: 0x2000,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ONLYDIR: 0x01000000,
  DONT_FOLLOW: 0x02000000,
  EXCL_UNLINK: 0x04000000,
  MASK_CREATE: 0x10000000,
  MASK_ADD: 0x20000000,
  ISDIR: 0x40000000,
  ONESHOT: 0x80000000,
  /** Every event a watch can ask for. */
  ALL_EVENTS: 0xfff,
  /** inotify_init1's flags. */
  NONBLOCK: O.NONBLOCK,
  CLOEXEC: O.CLOEXEC,
} as const;

/** Every bit inotify_add_watch accepts (others: EINVAL). */
export const ALL_INOTIFY_BITS = (IN.ALL_EVENTS | IN.UNMOUNT | IN.Q_OVERFLOW | IN.IGNORED |
  IN.ONLYDIR | IN.DONT_FOLLOW | IN.EXCL_UNLINK | IN.MASK_CREATE | IN.MASK_ADD | IN.ISDIR |
  IN.ONESHOT) >>> 0;

/** Limits, as /proc/sys/fs/inotify shows them. */
export const INOTIFY_LIMITS = {
  /** Events one instance queues before IN_Q_OVERFLOW. */
  maxQueuedEvents: 16384,
  /** Instances one user may have (more: EMFILE). */
  maxUserInstances: 128,
  /** Watches one user may have (more: ENOSPC). */
  maxUserWatches: 524288,
} as const;

const INOTIFY_FS = new PseudoFs("inotify", 0x14n);
const FIONREAD = 0x541b;
const EVENT_SIZE = 16;
const encoder = new TextEncoder();

/** A queued event. */
interface QueuedEvent {
  wd: number;
  mask: number;
  cookie: number;
  name: string | null;
  /** The name's bytes, or null. */
  bytes: Uint8Array | null;
  /** The name's length with its NUL padding (0 without a name). */
  len: number;
}

/**
 * One watch: an instance's interest in one file.
 *
 * @example
 * ```ts
 * import { IN, InotifyFile } from "./inotify.ts";
 * const f = new InotifyFile(0, 0);
 * if (f.addWatch("1:2", IN.MODIFY) !== 1) throw new Error("the first wd is 1");
 * f.unref();
 * ```
 */
export class Watch {
  /**
   * Makes one.
   *
   * @param owner The instance.
   * @param wd Its descriptor in the instance.
   * @param key The file's identity.
   * @param mask Events and flags (IN_ONESHOT, IN_EXCL_UNLINK).
   */
  constructor(
    readonly owner: InotifyFile,
    readonly wd: number,
    readonly key: string,
    public mask: number,
  ) {}
}

/** Every live watch, by file identity. */
const registry = new Map<string, Set<Watch>>();
/** Instances and watches by user (euid of the instance's creator). */
const instancesOf = new Map<number, number>();
const watchesOf = new Map<number, number>();

function bump(m: Map<number, number>, uid: number, by: number): void {
  const n = (m.get(uid) ?? 0) + by;
  if (n) m.set(uid, n);
  else m.delete(uid);
}

/**
 * A file's identity for watches: its device and inode number.
 *
 * @param inode The file.
 * @param st Its stat, when the caller has it.
 * @returns `dev:ino`.
 */
function keyOf(inode: Inode, st: Stat = inode.stat()): string {
  return `${st.dev}:${st.ino}`;
}

function isDir(inode: Inode): boolean {
  return (inode.stat().mode & S_IFMT) === S_IFDIR;
}

/**
 * An inotify instance (`inotify_init1`): its watches and its queue of
 * events, read as `struct inotify_event` records.
 *
 * @example
 * ```ts
 * import { InotifyFile, IN } from "./inotify.ts";
 * const f = new InotifyFile(IN.NONBLOCK, 0);
 * try {
 *   f.read(new Uint8Array(64), null);
 *   throw new Error("nothing was queued");
 * } catch (e) {
 *   if ((e as { errno?: number }).errno !== 11) throw e;
 * }
 * f.unref();
 * ```
 */
export class InotifyFile extends OpenFile {
  /** Notified when an event is queued. */
  readonly queue = new WaitQueue();
  readonly #uid: number;
  readonly #watches = new Map<number, Watch>();
  readonly #byKey = new Map<string, Watch>();
  #nextWd = 1;
  #events: QueuedEvent[] = [];
  #head = 0;
  #bytes = 0;
  #overflowQueued = false;
  #released = false;

  /**
   * Makes an instance.
   *
   * @param flags IN_NONBLOCK (IN_CLOEXEC is the descriptor's).
   * @param uid The creating user (its instances and watches are counted).
   * @throws {LinuxError} EMFILE past max_user_instances.
   */
  constructor(flags: number, uid: number) {
    if ((instancesOf.get(uid) ?? 0) >= INOTIFY_LIMITS.maxUserInstances) {
      throw new LinuxError("EMFILE");
    }
    super(new AnonInode(INOTIFY_FS), O.RDONLY | (flags & O.NONBLOCK));
    this.#uid = uid;
    bump(instancesOf, uid, 1);
  }
  override fdinfo(): string {
    return [...this.#watches.values()].map((w) => {
      const [dev, ino] = w.key.split(":").map(BigInt);
      return `inotify wd:${w.wd.toString(16)} ino:${ino!.toString(16)} sdev:${
        dev!.toString(16)
      } mask:${(w.mask & 0xfff).toString(16)} ignored_mask:0\n`;
    }).join("");
  }

  /** Events waiting to be read. */
  get pending(): number {
    return this.#events.length - this.#head;
  }

  /** Bytes waiting to be read (FIONREAD). */
  get pendingBytes(): number {
    return this.#bytes;
  }

  /**
   * Adds a watch, or changes the one this instance has on the file.
   *
   * @param key The file's identity.
   * @param mask inotify_add_watch's mask.
   * @returns The watch descriptor.
   * @throws {LinuxError} EEXIST (IN_MASK_CREATE on a watched file), ENOSPC.
   */
  addWatch(key: string, mask: number): number {
    const bits = (mask & (IN.ALL_EVENTS | IN.ONESHOT | IN.EXCL_UNLINK)) >>> 0;
    const old = this.#byKey.get(key);
    if (old) {
      if (mask & IN.MASK_CREATE) throw new LinuxError("EEXIST");
      old.mask = (mask & IN.MASK_ADD ? old.mask | bits : bits) >>> 0;
      return old.wd;
    }
    if ((watchesOf.get(this.#uid) ?? 0) >= INOTIFY_LIMITS.maxUserWatches) {
      throw new LinuxError("ENOSPC");
    }
    // Descriptors count up, as Linux's cyclic allocation: a removed one is not reused soon.
    while (this.#watches.has(this.#nextWd)) this.#nextWd = this.#nextWd % 0x7fffffff + 1;
    const w = new Watch(this, this.#nextWd, key, bits);
    this.#nextWd = this.#nextWd % 0x7fffffff + 1;
    this.#watches.set(w.wd, w);
    this.#byKey.set(key, w);
    let set = registry.get(key);
    if (!set) registry.set(key, set = new Set());
    set.add(w);
    bump(watchesOf, this.#uid, 1);
    return w.wd;
  }

  /**
   * Removes a watch (inotify_rm_watch), queueing IN_IGNORED.
   *
   * @param wd The watch descriptor.
   * @throws {LinuxError} EINVAL for a descriptor this instance does not have.
   */
  removeWatch(wd: number): void {
    const w = this.#watches.get(wd);
    if (!w) throw new LinuxError("EINVAL");
    this.drop(w, true);
  }

  /**
   * Forgets a watch.
   *
   * @param w The watch.
   * @param ignored Queue IN_IGNORED for it.
   */
  drop(w: Watch, ignored: boolean): void {
    if (this.#watches.get(w.wd) !== w) return;
    this.#watches.delete(w.wd);
    this.#byKey.delete(w.key);
    const set = registry.get(w.key);
    set?.delete(w);
    if (set?.size === 0) registry.delete(w.key);
    bump(watchesOf, this.#uid, -1);
    if (ignored) this.enqueue(w.wd, IN.IGNORED, 0, null);
  }

  /**
   * Queues an event: coalesced with an identical last unread one, and past
   * the limit replaced by one IN_Q_OVERFLOW.
   *
   * @param wd The watch descriptor (-1 for an overflow).
   * @param mask The event's bits.
   * @param cookie Pairs IN_MOVED_FROM with IN_MOVED_TO.
   * @param name The child's name, for a directory's watch.
   */
  enqueue(wd: number, mask: number, cookie: number, name: string | null): void {
    if (this.#released) return;
    if (this.pending >= INOTIFY_LIMITS.maxQueuedEvents) {
      if (this.#overflowQueued) return;
      this.#overflowQueued = true;
      this.#push({ wd: -1, mask: IN.Q_OVERFLOW, cookie: 0, name: null, bytes: null, len: 0 });
      return;
    }
    const last = this.pending ? this.#events[this.#events.length - 1]! : null;
    if (
      last && !(last.mask & IN.IGNORED) && last.mask === mask && last.wd === wd &&
      last.name === name
    ) return;
    const bytes = name === null ? null : encoder.encode(name);
    const len = bytes ? (bytes.length + 1 + 15) & ~15 : 0;
    this.#push({ wd, mask, cookie, name, bytes, len });
  }

  #push(e: QueuedEvent): void {
    this.#events.push(e);
    this.#bytes += EVENT_SIZE + e.len;
    this.queue.notify();
  }

  /** Takes as many whole events as fit; EINVAL if the first does not. */
  override read(buf: Uint8Array, _offset: bigint | null): number {
    if (!this.pending) {
      if (this.flags & O.NONBLOCK) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.queue]);
    }
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    while (this.pending) {
      const e = this.#events[this.#head]!;
      const size = EVENT_SIZE + e.len;
      if (at + size > buf.length) break;
      v.setInt32(at, e.wd, true);
      v.setUint32(at + 4, e.mask >>> 0, true);
      v.setUint32(at + 8, e.cookie >>> 0, true);
      v.setUint32(at + 12, e.len, true);
      buf.fill(0, at + EVENT_SIZE, at + size);
      if (e.bytes) buf.set(e.bytes, at + EVENT_SIZE);
      at += size;
      this.#bytes -= size;
      if (e.mask === IN.Q_OVERFLOW && e.wd === -1) this.#overflowQueued = false;
      this.#head++;
    }
    if (at === 0) throw new LinuxError("EINVAL");
    if (this.#head > 1024 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
    return at;
  }

  /** @returns The offset, unmoved (as Linux's noop_llseek). */
  override seek(_offset: bigint, _whence: number): bigint {
    return this.offset;
  }

  /** @returns IN while events are queued. */
  override poll(): { events: number; queue: WaitQueue | null } {
    return { events: this.pending ? POLL.IN | POLL.RDNORM : 0, queue: this.queue };
  }

  /** FIONREAD: the bytes queued. */
  override ioctl(request: number, arg: bigint, memory: UserMemory): bigint {
    if (request !== FIONREAD) throw new LinuxError("ENOTTY");
    const out = new Uint8Array(4);
    new DataView(out.buffer).setInt32(0, this.#bytes, true);
    memory.write(arg, out);
    return 0n;
  }

  /** Closing the instance drops its watches. */
  protected override release(): void {
    for (const w of [...this.#watches.values()]) this.drop(w, false);
    this.#released = true;
    this.#events = [];
    this.#head = 0;
    this.#bytes = 0;
    bump(instancesOf, this.#uid, -1);
  }
}

/**
 * Whether any watch exists (every hook returns at once otherwise).
 *
 * @returns True when something is watched.
 */
function watching(): boolean {
  return registry.size > 0;
}

/**
 * Delivers an event to the watches on one file.
 *
 * @param key The file's identity.
 * @param mask The event's bits.
 * @param name The child's name (for the directory's watches) or null.
 * @param cookie The move's cookie.
 * @param unlinked The event came through a path that is no longer linked (IN_EXCL_UNLINK).
 */
function deliver(
  key: string,
  mask: number,
  name: string | null,
  cookie: number,
  unlinked: boolean,
): void {
  const set = registry.get(key);
  if (!set) return;
  for (const w of [...set]) {
    if (unlinked && (w.mask & IN.EXCL_UNLINK)) continue;
    if (!(mask & w.mask & IN.ALL_EVENTS)) continue;
    w.owner.enqueue(w.wd, mask, cookie, name);
    if (w.mask & IN.ONESHOT) w.owner.drop(w, true);
  }
}

/** Renamed dentries: where each now is (a dentry of the new name). */
const moved = new WeakMap<Dentry, Dentry>();

/** Where a dentry is now: its parent and name, and whether it was unlinked. */
function whereIs(dentry: Dentry): { parent: Dentry | null; name: string; unlinked: boolean } {
  let d = dentry;
  for (let hops = 0; d.dead && hops < 64; hops++) {
    const next = moved.get(d);
    if (!next) break;
    d = next;
  }
  return { parent: d.parent, name: d.name, unlinked: d.dead };
}

/**
 * An event on a file reached by a dentry: to the file's watches, and first
 * to its directory's with the file's name.
 */
function dentryEvent(dentry: Dentry, mask: number, fromPath: boolean): void {
  const inode = dentry.inode;
  const st = inode.stat();
  const bits = (st.mode & S_IFMT) === S_IFDIR ? mask | IN.ISDIR : mask;
  const { parent, name, unlinked } = whereIs(dentry);
  const excluded = fromPath && unlinked;
  if (parent) deliver(keyOf(parent.inode), bits, name, 0, excluded);
  deliver(keyOf(inode, st), bits, null, 0, excluded);
}

/**
 * Tells watchers of an event on an open file (IN_ACCESS, IN_MODIFY,
 * IN_OPEN, IN_CLOSE_*, and attribute changes through a descriptor): the
 * file's watches and its directory's, with its name (unless unlinked and
 * the watch has IN_EXCL_UNLINK). Only files opened by path raise events:
 * the Sentry's own reads (an executable's headers, an overlay's copy-up)
 * and anonymous files do not.
 *
 * @param f The open file.
 * @param mask The event.
 * @param io An access through the file (I/O, open, close), which
 *   IN_EXCL_UNLINK can exclude; false for a change of attributes through
 *   it, which it does not (as Linux).
 *
 * @example
 * ```ts
 * import { IN, notifyFile } from "./inotify.ts";
 * import { makePipe } from "./pipe.ts";
 * const [r, w] = makePipe(0, { uid: 0, gid: 0 });
 * notifyFile(w, IN.MODIFY); // nothing watches it
 * r.unref();
 * w.unref();
 * ```
 */
export function notifyFile(f: OpenFile, mask: number, io = true): void {
  if (!watching() || quiet || (f.flags & O.PATH)) return;
  const loc = f.location as VPath | null;
  if (loc?.dentry) dentryEvent(loc.dentry, mask, io);
}

let quiet = false;

/**
 * Runs something that reads or writes files without telling watchers (the
 * copy of a file into a private mapping: page faults raise no events).
 *
 * @param fn What to run.
 * @returns What it returned.
 *
 * @example
 * ```ts
 * import { quietly } from "./inotify.ts";
 * if (quietly(() => 7) !== 7) throw new Error();
 * ```
 */
export function quietly<T>(fn: () => T): T {
  const was = quiet;
  quiet = true;
  try {
    return fn();
  } finally {
    quiet = was;
  }
}

/**
 * Tells watchers of an event on a place (attributes changed by path): the
 * file's watches and its directory's, with its name. A place that is an
 * open file (a /proc magic link) counts as that file.
 *
 * @param at The place.
 * @param mask The event.
 *
 * @example
 * ```ts ignore
 * chmodAt(at, 0o600, creds); // calls notifyPath(at, IN.ATTRIB)
 * ```
 */
export function notifyPath(at: VPath & { file?: OpenFile }, mask: number): void {
  if (!watching() || !mask) return;
  if (at.file) notifyFile(at.file, mask, false);
  else dentryEvent(at.dentry, mask, false);
}

/**
 * The event an attribute change raises, as Linux's fsnotify_change: a
 * size or the modification time alone IN_MODIFY, the access time alone
 * IN_ACCESS, anything else (both times, mode, owner) IN_ATTRIB.
 *
 * @param attrs What changed.
 * @returns The event bits (0: none).
 *
 * @example
 * ```ts
 * import { changeEvent, IN } from "./inotify.ts";
 * if (changeEvent({ size: 0n }) !== IN.MODIFY) throw new Error();
 * if (changeEvent({ atimeNs: 1n, mtimeNs: 1n }) !== IN.ATTRIB) throw new Error();
 * ```
 */
export function changeEvent(attrs: SetAttr): number {
  let mask = 0;
  if (attrs.uid !== undefined || attrs.gid !== undefined || attrs.mode !== undefined) {
    mask |= IN.ATTRIB;
  }
  if (attrs.size !== undefined) mask |= IN.MODIFY;
  const a = attrs.atimeNs !== undefined;
  const m = attrs.mtimeNs !== undefined;
  if (a && m) mask |= IN.ATTRIB;
  else if (a) mask |= IN.ACCESS;
  else if (m) mask |= IN.MODIFY;
  return mask;
}

/**
 * Tells a directory's watches of an event on one of its entries
 * (IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO), with the name.
 *
 * @param dir The directory.
 * @param name The entry.
 * @param mask The event.
 * @param child The entry's inode, or whether it is a directory (IN_ISDIR).
 * @param cookie A move's cookie.
 *
 * @example
 * ```ts ignore
 * notifyChild(parent.dentry.inode, "new-file", IN.CREATE, false);
 * ```
 */
export function notifyChild(
  dir: Inode,
  name: string,
  mask: number,
  child: Inode | boolean,
  cookie = 0,
): void {
  if (!watching()) return;
  const key = keyOf(dir);
  if (!registry.has(key)) return;
  const dirBit = (typeof child === "boolean" ? child : isDir(child)) ? IN.ISDIR : 0;
  deliver(key, mask | dirBit, name, cookie, false);
}

/**
 * Tells a file's own watches of an event (IN_ATTRIB for a link count,
 * IN_MOVE_SELF); IN_ATTRIB carries IN_ISDIR for a directory.
 *
 * @param inode The file.
 * @param mask The event.
 *
 * @example
 * ```ts ignore
 * notifyInode(target.dentry.inode, IN.ATTRIB); // a new hard link
 * ```
 */
export function notifyInode(inode: Inode, mask: number): void {
  if (!watching()) return;
  const st = inode.stat();
  const self = mask & (IN.MOVE_SELF | IN.DELETE_SELF);
  const bits = !self && (st.mode & S_IFMT) === S_IFDIR ? mask | IN.ISDIR : mask;
  deliver(keyOf(inode, st), bits, null, 0, false);
}

/** Open files by identity: a file unlinked while open is deleted at its last close. */
const openCounts = new Map<string, number>();
const openKeys = new WeakMap<OpenFile, string>();
/** Files whose last link went while they were open. */
const doomed = new Set<string>();

function deleteSelf(key: string): void {
  deliver(key, IN.DELETE_SELF, null, 0, false);
  for (const w of [...registry.get(key) ?? []]) w.owner.drop(w, true);
}

/**
 * Notes a file opened by path (IN_OPEN, and the count that defers
 * IN_DELETE_SELF of an unlinked file to its last close).
 *
 * @param f The new open file (its `location` set).
 * @param st The stat of the place it was opened at.
 *
 * @example
 * ```ts ignore
 * notifyOpened(file, at.dentry.inode.stat()); // at the end of openPath
 * ```
 */
export function notifyOpened(f: OpenFile, st: Stat): void {
  const key = `${st.dev}:${st.ino}`;
  openKeys.set(f, key);
  openCounts.set(key, (openCounts.get(key) ?? 0) + 1);
  notifyFile(f, IN.OPEN);
}

OpenFile.ioHook = (f, wrote) => notifyFile(f, wrote ? IN.MODIFY : IN.ACCESS);

OpenFile.closeHooks.push((f) => {
  const key = openKeys.get(f);
  if (key === undefined) return;
  openKeys.delete(f);
  notifyFile(f, f.writable ? IN.CLOSE_WRITE : IN.CLOSE_NOWRITE);
  const left = (openCounts.get(key) ?? 1) - 1;
  if (left > 0) {
    openCounts.set(key, left);
    return;
  }
  openCounts.delete(key);
  if (doomed.delete(key)) deleteSelf(key);
});

/**
 * Tells watchers that an entry was removed (unlink, rmdir): the file's
 * IN_ATTRIB (unlink: its link count), its IN_DELETE_SELF and IN_IGNORED
 * when that was its last link (at its last close if it is open), then the
 * directory's IN_DELETE.
 *
 * @param dir The directory.
 * @param name The entry.
 * @param victim The removed file.
 * @param st Its stat before the removal.
 *
 * @example
 * ```ts ignore
 * const st = victim.stat();
 * dir.unlink(name);
 * notifyRemoved(dir, name, victim, st);
 * ```
 */
export function notifyRemoved(dir: Inode, name: string, victim: Inode, st: Stat): void {
  if (!watching()) return;
  const directory = (st.mode & S_IFMT) === S_IFDIR;
  const key = keyOf(victim, st);
  if (!directory) deliver(key, IN.ATTRIB, null, 0, false);
  if (directory || st.nlink <= 1) gone(key);
  notifyChild(dir, name, IN.DELETE, directory);
}

/** A file's last link is gone: deleted now, or at its last close. */
function gone(key: string): void {
  if (!registry.has(key)) return;
  if (openCounts.get(key)) doomed.add(key);
  else deleteSelf(key);
}

let lastCookie = 0;

/** What a rename moved or replaced. */
export interface RenamedEntry {
  /** The directory it was in. */
  dir: Inode;
  /** Its name there. */
  name: string;
  /** The file. */
  inode: Inode;
  /** Its stat before the rename. */
  st: Stat;
  /** Its dentry before the rename (open files follow it to the new name). */
  dentry: Dentry;
}

/**
 * Tells watchers of a rename: IN_MOVED_FROM and IN_MOVED_TO with one
 * cookie, the replaced file's IN_ATTRIB, the moved file's IN_MOVE_SELF,
 * then the replaced file's IN_DELETE_SELF (if that was its last link). An
 * exchange is two moves.
 *
 * @param from The entry moved.
 * @param to Where it went (`inode`, `st` and `dentry` of what was there, if anything).
 * @param exchange RENAME_EXCHANGE.
 * @param lookupNew Finds the dentries of the new names (for open files' later events).
 *
 * @example
 * ```ts ignore
 * notifyRenamed(from, to, false, () => ({ moved: lookupChild(ns, toDir, toName).dentry }));
 * ```
 */
export function notifyRenamed(
  from: RenamedEntry,
  to: {
    dir: Inode;
    name: string;
    inode?: Inode | undefined;
    st?: Stat | undefined;
    dentry?: Dentry | undefined;
  },
  exchange: boolean,
  lookupNew: () => { moved: Dentry | null; other: Dentry | null },
): void {
  if (!watching()) return;
  const fromKey = keyOf(from.inode, from.st);
  const toKey = to.inode ? keyOf(to.inode, to.st) : null;
  if (fromKey === toKey) return; // two links of one file: nothing happens
  if (openCounts.has(fromKey) || (exchange && toKey && openCounts.has(toKey))) {
    // Open files' later events name them where they are now.
    try {
      const now = lookupNew();
      if (now.moved) moved.set(from.dentry, now.moved);
      if (exchange && now.other && to.dentry) moved.set(to.dentry, now.other);
    } catch {
      // Without the new dentries, events name the old place.
    }
  }
  const move = (
    srcDir: Inode,
    srcName: string,
    dstDir: Inode,
    dstName: string,
    st: Stat,
    key: string,
  ) => {
    lastCookie = (lastCookie + 1) >>> 0 || 1;
    const dir = (st.mode & S_IFMT) === S_IFDIR;
    notifyChild(srcDir, srcName, IN.MOVED_FROM, dir, lastCookie);
    notifyChild(dstDir, dstName, IN.MOVED_TO, dir, lastCookie);
    return { key, dir };
  };
  const a = move(from.dir, from.name, to.dir, to.name, from.st, fromKey);
  if (exchange && to.inode && to.st && toKey) {
    move(to.dir, to.name, from.dir, from.name, to.st, toKey);
    deliver(a.key, IN.MOVE_SELF, null, 0, false);
    deliver(toKey, IN.MOVE_SELF, null, 0, false);
    return;
  }
  if (to.st && toKey) {
    const victimDir = (to.st.mode & S_IFMT) === S_IFDIR;
    deliver(toKey, victimDir ? IN.ATTRIB | IN.ISDIR : IN.ATTRIB, null, 0, false);
  }
  deliver(a.key, IN.MOVE_SELF, null, 0, false);
  if (to.st && toKey) {
    if ((to.st.mode & S_IFMT) === S_IFDIR || to.st.nlink <= 1) gone(toKey);
  }
}

/**
 * Whether a path may be watched: the checks and the identity
 * inotify_add_watch needs.
 *
 * @param inode The file the path led to.
 * @param mask The watch's mask (IN_ONLYDIR).
 * @returns The file's identity.
 * @throws {LinuxError} ENOTDIR for IN_ONLYDIR on a non-directory.
 *
 * @example
 * ```ts
 * import { IN, watchKey } from "./inotify.ts";
 * import { TmpFs } from "./tmpfs.ts";
 * const root = new TmpFs({ type: "tmpfs" }).root();
 * if (!watchKey(root, IN.ONLYDIR).includes(":")) throw new Error();
 * ```
 */
export function watchKey(inode: Inode, mask: number): string {
  const st = inode.stat();
  if ((mask & IN.ONLYDIR) && (st.mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
  return keyOf(inode, st);
}
