/**
 * SysV message queues: typed messages, the selection rules of `msgrcv`
 * (first, by type, except a type, lowest type up to a bound, a copy by
 * position), and the byte limit senders wait on.
 *
 * @module
 */
import { LinuxError, WaitQueue } from "../errors.ts";
import { type IpcCreds, IpcObject, IpcRegistry, nowSeconds } from "./registry.ts";

/** msgctl commands and msgrcv flags beyond the common ones. */
export const MSG = {
  STAT: 11,
  INFO: 12,
  STAT_ANY: 13,
  NOERROR: 0o10000,
  EXCEPT: 0o20000,
  COPY: 0o40000,
} as const;

/** Limits: Linux's defaults of /proc/sys/kernel/msg*, which the namespace's sysctls change. */
export const MSG_LIMITS = {
  /** Largest message. */
  max: 8192,
  /** Default bytes per queue. */
  mnb: 16384,
  /** Most queues. */
  mni: 32000,
} as const;

/** A message. */
export interface Message {
  type: bigint;
  data: Uint8Array;
}

/** A message queue. */
export class MsgQueue extends IpcObject {
  readonly messages: Message[] = [];
  /** Bytes of message text queued. */
  cbytes = 0;
  /** Most bytes (and messages) queued (MSGMNB when made). */
  qbytes: number;
  stime = 0;
  rtime = 0;
  lspid = 0;
  lrpid = 0;
  /** Notified when a message comes or goes, or the queue goes. */
  readonly queue = new WaitQueue();

  /**
   * Makes an empty queue.
   *
   * @param key Its key.
   * @param mode Its permission bits.
   * @param creds The creator.
   * @param qbytes Its byte limit.
   */
  constructor(key: number, mode: number, creds: IpcCreds, qbytes: number) {
    super(key, mode, creds);
    this.qbytes = qbytes;
  }

  /** @returns `struct msqid64_ds` (120 bytes). */
  encode(): Uint8Array {
    const b = new Uint8Array(120);
    b.set(this.encodePerm());
    const v = new DataView(b.buffer);
    v.setBigInt64(48, BigInt(this.stime), true);
    v.setBigInt64(56, BigInt(this.rtime), true);
    v.setBigInt64(64, BigInt(this.ctime), true);
    v.setBigUint64(72, BigInt(this.cbytes), true);
    v.setBigUint64(80, BigInt(this.messages.length), true);
    v.setBigUint64(88, BigInt(this.qbytes), true);
    v.setInt32(96, this.lspid, true);
    v.setInt32(100, this.lrpid, true);
    return b;
  }

  /**
   * Whether a message of `size` bytes fits now (Linux also counts each
   * message as a byte against the limit, so empty messages cannot pile up
   * without bound).
   *
   * @param size Its text's size.
   * @returns True if it fits.
   */
  fits(size: number): boolean {
    return this.cbytes + size <= this.qbytes && this.messages.length + 1 <= this.qbytes;
  }

  /**
   * Queues a message (the caller checked that it fits).
   *
   * @param m The message.
   * @param pid The sender's pid.
   */
  send(m: Message, pid: number): void {
    this.messages.push(m);
    this.cbytes += m.data.length;
    this.lspid = pid;
    this.stime = nowSeconds();
    this.queue.notify();
  }

  /**
   * The position of the message msgrcv would take, or -1.
   *
   * @param type msgtyp: 0 any, > 0 that type (or any other with MSG_EXCEPT),
   *   < 0 the lowest type up to its absolute value; with MSG_COPY, a position.
   * @param flags MSG_EXCEPT, MSG_COPY.
   * @returns The index in {@link messages}.
   */
  pick(type: bigint, flags: number): number {
    if (flags & MSG.COPY) return type < BigInt(this.messages.length) ? Number(type) : -1;
    if (type === 0n) return this.messages.length ? 0 : -1;
    if (type > 0n) {
      const except = (flags & MSG.EXCEPT) !== 0;
      return this.messages.findIndex((m) => (m.type === type) !== except);
    }
    let best = -1;
    this.messages.forEach((m, i) => {
      if (m.type <= -type && (best < 0 || m.type < this.messages[best]!.type)) best = i;
    });
    return best;
  }

  /**
   * Takes the message at a position.
   *
   * @param index Where.
   * @param pid The receiver's pid.
   * @returns The message.
   */
  take(index: number, pid: number): Message {
    const [m] = this.messages.splice(index, 1);
    this.cbytes -= m!.data.length;
    this.lrpid = pid;
    this.rtime = nowSeconds();
    this.queue.notify();
    return m!;
  }
}

/**
 * A namespace's message queues.
 *
 * @example
 * ```ts
 * import { MsgTable } from "./msg.ts";
 * const root = { euid: 0, egid: 0, groups: [], capable: () => true };
 * const msgs = new MsgTable();
 * const q = msgs.get(0, 0o600, root);
 * q.send({ type: 2n, data: new Uint8Array(3) }, 1);
 * q.send({ type: 1n, data: new Uint8Array(1) }, 1);
 * if (q.pick(-5n, 0) !== 1) throw new Error("lowest type first");
 * ```
 */
export class MsgTable {
  /** msgmax, msgmnb, msgmni. */
  readonly limits: { max: number; mnb: number; mni: number } = { ...MSG_LIMITS };
  readonly queues = new IpcRegistry<MsgQueue>(() => this.limits.mni);

  /**
   * msgget.
   *
   * @param key The key.
   * @param flags IPC_CREAT, IPC_EXCL, permission bits.
   * @param creds Who asks.
   * @returns The queue.
   */
  get(key: number, flags: number, creds: IpcCreds): MsgQueue {
    return this.queues.get(
      key,
      flags,
      creds,
      (k, mode) => new MsgQueue(k, mode, creds, this.limits.mnb),
    );
  }

  /**
   * IPC_RMID: the queue and its messages go at once, waiters see EIDRM.
   *
   * @param q The queue.
   * @param creds Who asks.
   * @throws {LinuxError} EPERM.
   */
  remove(q: MsgQueue, creds: IpcCreds): void {
    q.checkOwner(creds);
    this.queues.remove(q);
    q.queue.notify();
  }

  /** Messages and bytes in every queue (MSG_INFO). */
  totals(): { messages: number; bytes: number } {
    let messages = 0, bytes = 0;
    for (const q of this.queues.all()) {
      messages += q.messages.length;
      bytes += q.cbytes;
    }
    return { messages, bytes };
  }
}

/**
 * Checks a message size msgsnd was given.
 *
 * @param size The size of the text.
 * @param max MSGMAX.
 * @throws {LinuxError} EINVAL when negative or larger than MSGMAX.
 *
 * @example
 * ```ts
 * import { checkMessageSize } from "./msg.ts";
 * checkMessageSize(8192, 8192);
 * ```
 */
export function checkMessageSize(size: number, max: number): void {
  if (size < 0 || size > max) throw new LinuxError("EINVAL");
}
