/**
 * POSIX message queues: the sandbox's mqueue file system. `mq_open` names
 * a queue in its root; an `mqueue` mount (/dev/mqueue) shows the same
 * queues as files (creating a file makes a queue, unlinking removes it,
 * reading one gives its status line, as Linux).
 *
 * Messages leave highest priority first, oldest first within a priority.
 * A notification (mq_notify) is a signal sent when a message arrives in an
 * empty queue that nobody waits to receive from.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import {
  type DirEntry,
  DT,
  FileSystem,
  type FsCreds,
  Inode,
  O,
  OpenFile,
  POLL,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  type SetAttr,
  type Stat,
} from "../vfs/inode.ts";

/** Limits, as Linux's defaults (/proc/sys/fs/mqueue). */
export interface MqLimits {
  /** msg_max: the most messages a queue may hold (without CAP_SYS_RESOURCE). */
  msgMax: number;
  /** msgsize_max: the largest message. */
  msgsizeMax: number;
  /** queues_max: the most queues. */
  queuesMax: number;
  /** msg_default, msgsize_default: a queue made without attributes. */
  msgDefault: number;
  msgsizeDefault: number;
}

/** Linux's hard ceilings, even with CAP_SYS_RESOURCE. */
const HARD_MSGMAX = 65536;
const HARD_MSGSIZEMAX = 16 << 20;
/** Priorities are below this. */
export const MQ_PRIO_MAX = 32768;
const CAP_SYS_RESOURCE = 24;
const CAP_FOWNER = 3;

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** Who pays for a new queue under RLIMIT_MSGQUEUE: the creator's real uid and its soft limit. */
export interface MqPayer {
  uid: number;
  limit: bigint;
}

const UNLIMITED = 0xffffffffffffffffn;
/** Bytes charged to each user for its queues (Linux's user_struct mq_bytes). */
const chargedTo = new Map<number, number>();

/**
 * What a queue costs its creator, as Linux counts it: a message header
 * (48 bytes) and a priority tree node (48 bytes, one per priority at most)
 * per message it may hold, and the messages' bytes.
 */
function queueCost(attr: MqAttr): number {
  return attr.maxmsg * 48 + Math.min(attr.maxmsg, 32768) * 48 + attr.maxmsg * attr.msgsize;
}

/** The attributes a queue is made with. */
export interface MqAttr {
  maxmsg: number;
  msgsize: number;
}

/** A registered mq_notify. */
export interface MqNotification {
  /** Who gets it (a process). */
  owner: object;
  /** The descriptor table it was registered through (a close there drops it). */
  table: object;
  /** SIGEV_SIGNAL's signal, or 0 for SIGEV_NONE. */
  signo: number;
  /** sigev_value. */
  value: bigint;
  /**
   * SIGEV_THREAD: the netlink socket the C library listens on and its
   * 32-byte cookie, sent there when the notification fires or goes.
   */
  thread?: { socket: { deliver(datagram: Uint8Array): void }; cookie: Uint8Array };
}

/** The cookie's last byte: the notification fired, or was removed. */
export const NOTIFY = { WOKENUP: 1, REMOVED: 2 } as const;

/**
 * Tells a SIGEV_THREAD notification's socket what happened (nothing for
 * the other kinds).
 *
 * @param n The notification.
 * @param what {@linkcode NOTIFY}.WOKENUP or REMOVED.
 */
export function tellThread(n: MqNotification, what: number): void {
  if (!n.thread) return;
  const cookie = n.thread.cookie.slice();
  cookie[cookie.length - 1] = what;
  n.thread.socket.deliver(cookie);
}

/** The mqueue file system of an IPC namespace. */
export class MqueueFs extends FileSystem {
  readonly type = "mqueue";
  readonly dev = 0x300n;
  readonly #root: MqDir;
  readonly limits: MqLimits = {
    msgMax: 10,
    msgsizeMax: 8192,
    queuesMax: 256,
    msgDefault: 10,
    msgsizeDefault: 8192,
  };
  #nextIno = 2n;
  /** Who pays for a queue made now (the kernel sets it to the calling process's). */
  payer: () => MqPayer = () => ({ uid: 0, limit: UNLIMITED });

  constructor() {
    super();
    this.#root = new MqDir(this);
  }

  /** @returns The directory of queues. */
  root(): MqDir {
    return this.#root;
  }

  /** @internal */
  allocIno(): bigint {
    return this.#nextIno++;
  }
}

/** The root directory: one file per queue. */
export class MqDir extends Inode {
  readonly fs: MqueueFs;
  readonly queues = new Map<string, MqQueue>();
  #mtimeNs = nowNs();

  constructor(fs: MqueueFs) {
    super();
    this.fs = fs;
  }

  stat(): Stat {
    return {
      dev: this.fs.dev,
      ino: 1n,
      mode: S_IFDIR | 0o1777,
      nlink: 2,
      uid: 0,
      gid: 0,
      rdev: 0n,
      size: 0n,
      blksize: 4096,
      blocks: 0n,
      atimeNs: this.#mtimeNs,
      mtimeNs: this.#mtimeNs,
      ctimeNs: this.#mtimeNs,
      btimeNs: 0n,
    };
  }

  override lookup(name: string): MqQueue {
    const q = this.queues.get(name);
    if (!q) throw new LinuxError("ENOENT");
    return q;
  }

  override readdir(): DirEntry[] {
    return [...this.queues].map(([name, q]) => ({ name, ino: q.ino, type: DT.REG }));
  }

  /** A regular file here is a new queue with the default attributes. */
  override mknod(name: string, mode: number, creds: FsCreds): MqQueue {
    if ((mode & S_IFMT) !== S_IFREG) throw new LinuxError("EPERM");
    return this.create(name, mode & 0o7777, creds, null);
  }

  override mkdir(): Inode {
    throw new LinuxError("EPERM");
  }

  override symlink(): Inode {
    throw new LinuxError("EPERM");
  }

  override link(): void {
    throw new LinuxError("EPERM");
  }

  override rename(): void {
    throw new LinuxError("EPERM");
  }

  override unlink(name: string): void {
    const q = this.lookup(name);
    this.queues.delete(name);
    this.#mtimeNs = nowNs();
    q.unlinked = true;
    q.maybeRelease();
  }

  override cacheChildren(): boolean {
    return false;
  }

  open(flags: number): OpenFile {
    return new OpenFile(this, flags);
  }

  /**
   * Makes a queue (mq_open with O_CREAT).
   *
   * @param name Its name.
   * @param mode Its permission bits (after the umask).
   * @param creds The creator.
   * @param attr Its attributes, or null for the defaults.
   * @returns The queue.
   * @throws {LinuxError} EEXIST, ENOSPC (queues_max), EINVAL (attributes out of range),
   *   EMFILE (the creator's RLIMIT_MSGQUEUE).
   */
  create(name: string, mode: number, creds: FsCreds, attr: MqAttr | null): MqQueue {
    if (this.queues.has(name)) throw new LinuxError("EEXIST");
    const limits = this.fs.limits;
    const privileged = creds.capable(CAP_SYS_RESOURCE);
    if (this.queues.size >= limits.queuesMax && !privileged) throw new LinuxError("ENOSPC");
    if (attr) {
      if (attr.maxmsg <= 0 || attr.msgsize <= 0) throw new LinuxError("EINVAL");
      const [maxmsg, msgsize] = privileged
        ? [HARD_MSGMAX, HARD_MSGSIZEMAX]
        : [limits.msgMax, limits.msgsizeMax];
      if (attr.maxmsg > maxmsg || attr.msgsize > msgsize) throw new LinuxError("EINVAL");
    }
    const attrs = attr ?? {
      maxmsg: Math.min(limits.msgDefault, limits.msgMax),
      msgsize: Math.min(limits.msgsizeDefault, limits.msgsizeMax),
    };
    const payer = this.fs.payer();
    const cost = queueCost(attrs);
    const had = chargedTo.get(payer.uid) ?? 0;
    if (payer.limit !== UNLIMITED && BigInt(had + cost) > payer.limit) {
      throw new LinuxError("EMFILE");
    }
    chargedTo.set(payer.uid, had + cost);
    const q = new MqQueue(this.fs, mode, creds, attrs);
    q.charge = { uid: payer.uid, bytes: cost };
    this.queues.set(name, q);
    this.#mtimeNs = nowNs();
    return q;
  }

  /**
   * mq_unlink's permission: the sticky directory lets only a queue's owner
   * (or CAP_FOWNER) remove it.
   *
   * @param name The queue.
   * @param creds Who asks.
   * @throws {LinuxError} ENOENT, EPERM.
   */
  remove(name: string, creds: FsCreds): void {
    const q = this.lookup(name);
    if (q.uid !== creds.fsuid && !creds.capable(CAP_FOWNER)) throw new LinuxError("EPERM");
    this.unlink(name);
  }
}

/** A message. */
interface MqMessage {
  prio: number;
  data: Uint8Array;
}

/** A queue. */
export class MqQueue extends Inode {
  readonly fs: MqueueFs;
  readonly ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  readonly attr: MqAttr;
  readonly messages: MqMessage[] = [];
  /** Notified when a message comes or goes. */
  readonly queue = new WaitQueue();
  notification: MqNotification | null = null;
  /** What its creator was charged (RLIMIT_MSGQUEUE), given back when it is gone. */
  charge: { uid: number; bytes: number } | null = null;
  /** Open descriptions of it. */
  opens = 0;
  /** Its name was removed: it goes when the last description closes. */
  unlinked = false;
  #atimeNs = nowNs();
  #mtimeNs = this.#atimeNs;
  #ctimeNs = this.#atimeNs;

  constructor(fs: MqueueFs, mode: number, creds: FsCreds, attr: MqAttr) {
    super();
    this.fs = fs;
    this.ino = fs.allocIno();
    this.mode = S_IFREG | (mode & 0o7777);
    this.uid = creds.fsuid;
    this.gid = creds.fsgid;
    this.attr = attr;
  }

  /** Gives its creator's charge back once it has no name and nothing has it open. */
  maybeRelease(): void {
    if (!this.unlinked || this.opens > 0 || !this.charge) return;
    const left = (chargedTo.get(this.charge.uid) ?? 0) - this.charge.bytes;
    if (left > 0) chargedTo.set(this.charge.uid, left);
    else chargedTo.delete(this.charge.uid);
    this.charge = null;
  }

  /** Bytes of message data queued (QSIZE). */
  get bytes(): number {
    return this.messages.reduce((n, m) => n + m.data.length, 0);
  }

  stat(): Stat {
    return {
      dev: this.fs.dev,
      ino: this.ino,
      mode: this.mode,
      nlink: 1,
      uid: this.uid,
      gid: this.gid,
      rdev: 0n,
      size: 80n, // Linux's FILENT_SIZE, whatever is queued
      blksize: 4096,
      blocks: 0n,
      atimeNs: this.#atimeNs,
      mtimeNs: this.#mtimeNs,
      ctimeNs: this.#ctimeNs,
      btimeNs: 0n,
    };
  }

  override setattr(attrs: SetAttr): void {
    if (attrs.mode !== undefined) this.mode = S_IFREG | (attrs.mode & 0o7777);
    if (attrs.uid !== undefined) this.uid = attrs.uid;
    if (attrs.gid !== undefined) this.gid = attrs.gid;
    if (attrs.atimeNs !== undefined) this.#atimeNs = attrs.atimeNs;
    if (attrs.mtimeNs !== undefined) this.#mtimeNs = attrs.mtimeNs;
    this.#ctimeNs = nowNs();
  }

  open(flags: number): MqFile {
    return new MqFile(this, flags);
  }

  /**
   * Queues a message, or says to wait.
   *
   * @param data The message.
   * @param prio Its priority.
   * @param nonblocking O_NONBLOCK.
   * @param deadlineMs When to give up (performance.now() time), or null.
   * @returns The notification to send now (the message arrived in an empty
   *   queue; the caller checks that nobody waits to receive), taken off.
   * @throws {LinuxError} EMSGSIZE, EAGAIN, ETIMEDOUT.
   * @throws {WouldBlock} While full.
   */
  send(
    data: Uint8Array,
    prio: number,
    nonblocking: boolean,
    deadlineMs: number | null,
  ): MqNotification | null {
    if (data.length > this.attr.msgsize) throw new LinuxError("EMSGSIZE");
    if (this.messages.length >= this.attr.maxmsg) {
      if (nonblocking) throw new LinuxError("EAGAIN");
      if (deadlineMs !== null && performance.now() >= deadlineMs) {
        throw new LinuxError("ETIMEDOUT");
      }
      throw new WouldBlock([this.queue], deadlineMs);
    }
    const wasEmpty = this.messages.length === 0;
    let at = this.messages.findIndex((m) => m.prio < prio);
    if (at < 0) at = this.messages.length;
    this.messages.splice(at, 0, { prio, data });
    this.#mtimeNs = this.#ctimeNs = nowNs();
    this.queue.notify();
    return wasEmpty ? this.notification : null;
  }

  /**
   * Takes the first message, or says to wait.
   *
   * @param room The receiver's buffer size.
   * @param nonblocking O_NONBLOCK.
   * @param deadlineMs When to give up, or null.
   * @returns The message.
   * @throws {LinuxError} EMSGSIZE (a buffer smaller than msgsize), EAGAIN, ETIMEDOUT.
   * @throws {WouldBlock} While empty.
   */
  receive(room: number, nonblocking: boolean, deadlineMs: number | null): MqMessage {
    if (room < this.attr.msgsize) throw new LinuxError("EMSGSIZE");
    const m = this.messages.shift();
    if (!m) {
      if (nonblocking) throw new LinuxError("EAGAIN");
      if (deadlineMs !== null && performance.now() >= deadlineMs) {
        throw new LinuxError("ETIMEDOUT");
      }
      throw new WouldBlock([this.queue], deadlineMs);
    }
    this.#atimeNs = this.#ctimeNs = nowNs();
    this.queue.notify();
    return m;
  }

  /** The line reading the file gives, as Linux's mqueue_read_file. */
  statusLine(): string {
    const n = this.notification;
    const pad = (v: number, w: number) => String(v).padEnd(w);
    return `QSIZE:${pad(this.bytes, 10)} NOTIFY:${pad(n ? (n.signo ? 0 : 1) : 0, 5)} SIGNO:${
      pad(n?.signo ?? 0, 5)
    } NOTIFY_PID:${pad(n ? ownerPid(n.owner) : 0, 6)}\n`;
  }
}

function ownerPid(owner: object): number {
  return (owner as { pid?: number }).pid ?? 0;
}

/**
 * An open queue: mq_* calls work on it, read(2) gives the status line,
 * poll says whether a message can be received (IN) or sent (OUT).
 *
 * @example
 * ```ts
 * import { MqueueFs } from "./mqueue.ts";
 * const root = { fsuid: 0, fsgid: 0, groups: [], capable: () => true };
 * const fs = new MqueueFs();
 * const q = fs.root().create("jobs", 0o600, root, null);
 * q.send(new TextEncoder().encode("hi"), 1, true, null);
 * const buf = new Uint8Array(100);
 * const n = q.open(0).read(buf, null);
 * if (!new TextDecoder().decode(buf.subarray(0, n)).startsWith("QSIZE:2 ")) throw new Error();
 * ```
 */
export class MqFile extends OpenFile {
  readonly queue: MqQueue;

  constructor(queue: MqQueue, flags: number) {
    super(queue, flags);
    this.queue = queue;
    queue.opens++;
  }

  protected override release(): void {
    this.queue.opens--;
    this.queue.maybeRelease();
  }

  protected override readAt(buf: Uint8Array, offset: bigint): number {
    const text = new TextEncoder().encode(this.queue.statusLine());
    if (offset >= BigInt(text.length)) return 0;
    const part = text.subarray(Number(offset), Number(offset) + buf.length);
    buf.set(part);
    return part.length;
  }

  protected override writeAt(_data: Uint8Array, _offset: bigint): number {
    throw new LinuxError("EINVAL");
  }

  override poll(): { events: number; queue: WaitQueue | null } {
    const q = this.queue;
    let events = 0;
    if (q.messages.length) events |= POLL.IN | POLL.RDNORM;
    if (q.messages.length < q.attr.maxmsg) events |= POLL.OUT | POLL.WRNORM;
    return { events, queue: q.queue };
  }

  /** Whether O_NONBLOCK is set. */
  get nonblocking(): boolean {
    return (this.flags & O.NONBLOCK) !== 0;
  }
}
