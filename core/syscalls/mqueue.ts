/**
 * POSIX message queue system calls (mq_open, mq_unlink, mq_timedsend,
 * mq_timedreceive, mq_notify, mq_getsetattr) over the sandbox's mqueue
 * file system (core/ipc/mqueue.ts).
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import {
  MQ_PRIO_MAX,
  type MqAttr,
  MqFile,
  type MqNotification,
  type MqQueue,
  NOTIFY,
  tellThread,
} from "../ipc/mqueue.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { SI, SIGRTMAX } from "../kernel/signals.ts";
import { FdTable } from "../vfs/fd_table.ts";
import { O } from "../vfs/inode.ts";
import { NetlinkSocket } from "../vfs/netlink.ts";
import { mayAccess } from "../vfs/perm.ts";
import { decodeTimespec, i32, size } from "./args.ts";

const SIGEV = { SIGNAL: 0, NONE: 1, THREAD: 2 } as const;

/** A queue name as mq_open's caller gave it (glibc has taken the leading "/"). */
function queueName(c: SyscallContext, addr: bigint | undefined): string {
  const name = c.mem.readCString(addr ?? 0n, 4095);
  if (name.length > 255) throw new LinuxError("ENAMETOOLONG");
  // What a lookup in the mqueue root refuses.
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    throw new LinuxError("EACCES");
  }
  return name;
}

function queueOf(c: SyscallContext, fd: bigint | undefined): MqFile {
  const f = c.p.fds.get(i32(fd));
  if (!(f instanceof MqFile)) throw new LinuxError("EBADF");
  return f;
}

/** What a send or receive keeps across its retries. */
interface MqWait {
  deadline: number | null;
  /** A receiver's queue. */
  receiveFrom: MqQueue | null;
}

/**
 * An absolute CLOCK_REALTIME timeout as a performance.now() deadline, kept
 * across retries (with the queue a receiver waits on).
 */
function deadline(
  c: SyscallContext,
  addr: bigint | undefined,
  receiveFrom: MqQueue | null,
): number | null {
  const kept = c.t.syscallState as MqWait | null;
  if (kept) return kept.deadline;
  let at: number | null = null;
  if (addr) {
    const ns = decodeTimespec(c.mem.read(addr, 16));
    if (ns === null) throw new LinuxError("EINVAL");
    at = performance.now() + (Number(ns) / 1e6 - Date.now());
  }
  c.t.syscallState = { deadline: at, receiveFrom } satisfies MqWait;
  return at;
}

function mqOpen(c: SyscallContext): number {
  const name = queueName(c, c.args[0]);
  const flags = i32(c.args[1]);
  const acc = flags & O.ACCMODE;
  if (acc === O.ACCMODE) throw new LinuxError("EINVAL");
  const dir = c.k.ipc.mqueue.root();
  let q: MqQueue;
  if (dir.queues.has(name)) {
    if ((flags & O.CREAT) && (flags & O.EXCL)) throw new LinuxError("EEXIST");
    q = dir.lookup(name);
    const want = acc === O.RDONLY ? 4 : acc === O.WRONLY ? 2 : 6;
    if (!mayAccess(q.stat(), want, c.p.creds)) throw new LinuxError("EACCES");
  } else {
    if (!(flags & O.CREAT)) throw new LinuxError("ENOENT");
    let attr: MqAttr | null = null;
    if (c.args[3]) {
      const v = new DataView(c.mem.read(c.args[3], 64).buffer);
      attr = { maxmsg: Number(v.getBigInt64(8, true)), msgsize: Number(v.getBigInt64(16, true)) };
    }
    q = dir.create(name, i32(c.args[2]) & ~c.p.fs.umask & 0o7777, c.p.creds, attr);
  }
  const f = q.open(acc | (flags & O.NONBLOCK));
  f.path = `/${name}`;
  return c.p.fds.add(f, (flags & O.CLOEXEC) !== 0);
}

function mqTimedsend(c: SyscallContext): number {
  const f = queueOf(c, c.args[0]);
  if (!f.writable) throw new LinuxError("EBADF");
  const len = size(c.args[2], 1 << 30);
  const prio = Number(c.args[3] ?? 0n);
  if (prio >= MQ_PRIO_MAX || prio < 0) throw new LinuxError("EINVAL");
  const until = deadline(c, c.args[4], null);
  if (len > f.queue.attr.msgsize) throw new LinuxError("EMSGSIZE");
  const data = c.mem.read(c.args[1] ?? 0n, len);
  const n = f.queue.send(data, prio, f.nonblocking, until);
  if (n && !receiving(c, f.queue)) {
    f.queue.notification = null;
    tellThread(n, NOTIFY.WOKENUP);
    if (n.signo) {
      const owner = n.owner as SyscallContext["p"];
      c.k.signalProcess(owner, {
        sig: n.signo,
        code: SI.MESGQ,
        pid: c.p.pid,
        uid: c.p.creds.uid,
        value: n.value,
      });
    }
  }
  return 0;
}

/** Whether a task waits in mq_timedreceive on the queue (a notification is then not sent). */
function receiving(c: SyscallContext, q: MqQueue): boolean {
  for (const t of c.k.tasks.values()) {
    if (t.state === "blocked" && (t.syscallState as MqWait | null)?.receiveFrom === q) return true;
  }
  return false;
}

function mqTimedreceive(c: SyscallContext): number {
  const f = queueOf(c, c.args[0]);
  if (!f.readable) throw new LinuxError("EBADF");
  const room = size(c.args[2], 1 << 30);
  const until = deadline(c, c.args[4], f.queue);
  const m = f.queue.receive(room, f.nonblocking, until);
  c.mem.write(c.args[1] ?? 0n, m.data);
  if (c.args[3]) {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, m.prio, true);
    c.mem.write(c.args[3], p);
  }
  return m.data.length;
}

/** The cookie a SIGEV_THREAD notification sends (NOTIFY_COOKIE_LEN). */
const NOTIFY_COOKIE_LEN = 32;

function mqNotify(c: SyscallContext): number {
  const f = queueOf(c, c.args[0]);
  const q = f.queue;
  if (!c.args[1]) {
    if (q.notification?.owner === c.p) dropNotification(q);
    return 0;
  }
  const v = new DataView(c.mem.read(c.args[1], 64).buffer);
  const value = v.getBigUint64(0, true);
  const signo = v.getInt32(8, true);
  const notify = v.getInt32(12, true);
  if (notify !== SIGEV.SIGNAL && notify !== SIGEV.NONE && notify !== SIGEV.THREAD) {
    throw new LinuxError("EINVAL");
  }
  if (notify === SIGEV.SIGNAL && (signo < 1 || signo > SIGRTMAX)) throw new LinuxError("EINVAL");
  // SIGEV_THREAD: the C library's netlink socket is in sigev_signo, the
  // cookie to send it at sigev_value (a host netlink socket cannot be told).
  let thread: MqNotification["thread"];
  if (notify === SIGEV.THREAD) {
    const socket = c.p.fds.get(signo);
    if (!(socket instanceof NetlinkSocket)) throw new LinuxError("EBADF");
    thread = { socket, cookie: c.mem.read(value, NOTIFY_COOKIE_LEN) };
  }
  if (q.notification) throw new LinuxError("EBUSY");
  q.notification = {
    owner: c.p,
    table: c.p.fds,
    signo: notify === SIGEV.SIGNAL ? signo : 0,
    value,
    ...(thread ? { thread } : {}),
  } satisfies MqNotification;
  return 0;
}

/** Removes a queue's notification, telling a SIGEV_THREAD listener it is gone. */
function dropNotification(q: MqQueue): void {
  const n = q.notification;
  q.notification = null;
  if (n) tellThread(n, NOTIFY.REMOVED);
}

function mqGetsetattr(c: SyscallContext): number {
  const f = queueOf(c, c.args[0]);
  let next: number | null = null;
  if (c.args[1]) {
    const flags = Number(new DataView(c.mem.read(c.args[1], 64).buffer).getBigInt64(0, true));
    if (flags & ~O.NONBLOCK) throw new LinuxError("EINVAL");
    next = flags;
  }
  if (c.args[2]) {
    const b = new Uint8Array(64);
    const v = new DataView(b.buffer);
    v.setBigInt64(0, BigInt(f.flags & O.NONBLOCK), true);
    v.setBigInt64(8, BigInt(f.queue.attr.maxmsg), true);
    v.setBigInt64(16, BigInt(f.queue.attr.msgsize), true);
    v.setBigInt64(24, BigInt(f.queue.messages.length), true);
    c.mem.write(c.args[2], b);
  }
  if (next !== null) f.flags = (f.flags & ~O.NONBLOCK) | next;
  return 0;
}

// The process that registered a notification drops it by closing any of its
// descriptors of the queue (as Linux's mqueue_flush_file).
FdTable.closeHooks.push((table, file) => {
  if (file instanceof MqFile && file.queue.notification?.table === table) {
    dropNotification(file.queue);
  }
});

/** The handlers, by system call name. */
export const MQUEUE_HANDLERS: Record<string, Handler> = {
  mq_open: mqOpen,
  mq_unlink: (c) => {
    c.k.ipc.mqueue.root().remove(queueName(c, c.args[0]), c.p.creds);
    return 0;
  },
  mq_timedsend: mqTimedsend,
  mq_timedreceive: mqTimedreceive,
  mq_notify: mqNotify,
  mq_getsetattr: mqGetsetattr,
};
