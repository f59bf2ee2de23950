/**
 * SysV IPC system calls (shmget/shmat/shmdt/shmctl, semget/semop/
 * semtimedop/semctl, msgget/msgsnd/msgrcv/msgctl) over the sandbox's IPC
 * namespace (core/ipc).
 *
 * @module
 */
import { SYS } from "../../platform/sysno.ts";
import { IPC, type IpcObject, type IpcRegistry } from "../ipc/registry.ts";
import { checkMessageSize, MSG, type MsgQueue } from "../ipc/msg.ts";
import { SEM, SEM_LIMITS, type SemOp, type SemSet, type SemWaiter } from "../ipc/sem.ts";
import { SHM, SHM_LIMITS, type ShmSegment } from "../ipc/shm.ts";
import { hostInode } from "../../platform/files.ts";
import { hostMappings } from "../mm/memory.ts";
import type { Process } from "../kernel/task.ts";
import { decodePerm } from "../ipc/registry.ts";
import { LinuxError, WouldBlock } from "../errors.ts";
import type { Handler, Kernel, SyscallContext } from "../kernel/kernel.ts";
import { decodeTimespec, i32, i64, size } from "./args.ts";
import { inject, mapHostFd } from "./memory.ts";

const PAGE = 4096n;
const PROT = { READ: 1n, WRITE: 2n, EXEC: 4n } as const;
const MAP_SHARED = 0x01n;
const MAP_FIXED = 0x10n;
const MAP_FIXED_NOREPLACE = 0x100000n;
const EEXIST = -17n;
/** CAP_IPC_LOCK and CAP_SYS_RESOURCE. */
const CAP_IPC_LOCK = 14;
const CAP_SYS_RESOURCE = 24;

/** What *_INFO returns: the highest slot in use, 0 when none. */
function maxIndex(highest: number): number {
  return Math.max(highest, 0);
}

/** One kind of object (segments, semaphore sets, message queues), as the shared commands see it. */
interface IpcKind<T extends IpcObject & { encode(): Uint8Array }> {
  objects: IpcRegistry<T>;
  remove(obj: T, creds: SyscallContext["p"]["creds"]): void;
  /** Its *_STAT and *_STAT_ANY commands (which take a slot, not an id). */
  stat: number;
  statAny: number;
  /** IPC_SET, when it changes more than the owner and mode. */
  set?(obj: T, buf: bigint): void;
}

/**
 * The *ctl commands the three kinds answer alike: *_STAT and *_STAT_ANY
 * (by slot; the latter without the read check), IPC_STAT, IPC_SET (owner
 * and mode) and IPC_RMID.
 *
 * @param c The call.
 * @param kind The kind.
 * @param id The id (a slot for the *_STAT forms).
 * @param cmd The command.
 * @param buf The caller's `*id64_ds`.
 * @returns The command's result, or the object `id` names when the command is the kind's own.
 */
function sharedCtl<T extends IpcObject & { encode(): Uint8Array }>(
  c: SyscallContext,
  kind: IpcKind<T>,
  id: number,
  cmd: number,
  buf: bigint,
): number | T {
  if (cmd === kind.stat || cmd === kind.statAny) {
    const obj = kind.objects.byIndex(id);
    if (cmd === kind.stat) obj.check(c.p.creds, 4);
    c.mem.write(buf, obj.encode());
    return obj.id;
  }
  const obj = kind.objects.byId(id);
  switch (cmd) {
    case IPC.STAT:
      obj.check(c.p.creds, 4);
      c.mem.write(buf, obj.encode());
      return 0;
    case IPC.SET:
      if (kind.set) kind.set(obj, buf);
      else {
        obj.checkOwner(c.p.creds);
        obj.set(decodePerm(c.mem.read(buf, 48)));
      }
      return 0;
    case IPC.RMID:
      kind.remove(obj, c.p.creds);
      return 0;
  }
  return obj;
}

// ---- shared memory ------------------------------------------------------------

function shmget(c: SyscallContext): number {
  const seg = c.k.ipc.shm.get(i32(c.args[0]), c.args[1] ?? 0n, i32(c.args[2]), c.p.creds, c.p.pid);
  return seg.id;
}

function shmat(c: SyscallContext): bigint {
  const seg = c.k.ipc.shm.segments.byId(i32(c.args[0]));
  let addr = c.args[1] ?? 0n;
  const flags = i32(c.args[2]);
  if (addr & (PAGE - 1n)) {
    if (!(flags & SHM.RND)) throw new LinuxError("EINVAL");
    addr &= ~(PAGE - 1n);
  }
  if (addr === 0n && (flags & SHM.REMAP)) throw new LinuxError("EINVAL");
  const readOnly = (flags & SHM.RDONLY) !== 0;
  seg.check(c.p.creds, (readOnly ? 4 : 6) | (flags & SHM.EXEC ? 1 : 0));
  const prot = PROT.READ | (readOnly ? 0n : PROT.WRITE) | (flags & SHM.EXEC ? PROT.EXEC : 0n);
  const placed = addr === 0n ? 0n : flags & SHM.REMAP ? MAP_FIXED : MAP_FIXED_NOREPLACE;
  const length = (seg.size + PAGE - 1n) & ~(PAGE - 1n);
  const key = (seg.key >>> 0).toString(16).padStart(8, "0");
  const at = mapHostFd(c, seg.memfd, { dev: 0n, ino: BigInt(seg.id), path: `/SYSV${key}` }, [
    addr,
    length,
    prot,
    MAP_SHARED | placed,
    0n,
  ]);
  // Without SHM_REMAP, an address that overlaps a mapping is refused.
  if (at === EEXIST) throw new LinuxError("EINVAL");
  if (at < 0n && at >= -4095n) return at;
  if (placed === MAP_FIXED) c.k.ipc.shm.detachRange(c.p, at, length, c.p.pid);
  c.k.ipc.shm.attached(c.p, at, seg, c.p.pid);
  return at;
}

/**
 * Drops the attachments processes no longer map (munmap and mremap run in
 * the stubs, unseen): a segment's mappings are those of its memfd's host
 * inode in the stub's maps. Done before shm's state is read or changed.
 */
function reconcileShm(k: Kernel): void {
  const maps = new Map<Process, ReturnType<typeof hostMappings> | null>();
  const inos = new Map<ShmSegment, bigint>();
  k.ipc.shm.reconcile((proc, addr, a) => {
    const p = proc as Process;
    if (!maps.has(p)) {
      try {
        maps.set(p, hostMappings(p.hostTgid));
      } catch {
        maps.set(p, null); // exiting: its exit detaches everything
      }
    }
    const list = maps.get(p);
    if (!list) return true;
    let ino = inos.get(a.segment);
    if (ino === undefined) inos.set(a.segment, ino = hostInode(a.segment.memfd));
    return list.some((m) => m.ino === ino && m.start < addr + a.length && m.end > addr);
  }, (proc) => (proc as Process).pid);
}

function shmdt(c: SyscallContext): number {
  const addr = c.args[0] ?? 0n;
  if (addr & (PAGE - 1n)) throw new LinuxError("EINVAL");
  reconcileShm(c.k);
  const a = c.k.ipc.shm.detach(c.p, addr, c.p.pid);
  inject(c, SYS.munmap, addr, a.length);
  return 0;
}

function shmctl(c: SyscallContext): number {
  reconcileShm(c.k);
  const ns = c.k.ipc.shm;
  const id = i32(c.args[0]);
  const cmd = i32(c.args[1]);
  const buf = c.args[2] ?? 0n;
  switch (cmd) {
    case IPC.INFO: {
      const b = new Uint8Array(72);
      const v = new DataView(b.buffer);
      v.setBigUint64(0, ns.limits.max, true);
      v.setBigUint64(8, SHM_LIMITS.min, true);
      v.setBigUint64(16, BigInt(ns.limits.mni), true);
      v.setBigUint64(24, BigInt(SHM_LIMITS.mni), true); // shmseg: SHMSEG, fixed
      v.setBigUint64(32, ns.limits.all, true);
      c.mem.write(buf, b);
      return maxIndex(ns.segments.highestIndex);
    }
    case SHM.INFO: {
      const b = new Uint8Array(48);
      const v = new DataView(b.buffer);
      const segments = ns.segments.all();
      v.setInt32(0, segments.length, true);
      v.setBigUint64(8, ns.totalPages(), true);
      v.setBigUint64(16, ns.residentPages(), true);
      c.mem.write(buf, b);
      return maxIndex(ns.segments.highestIndex);
    }
  }
  const seg = sharedCtl(
    c,
    {
      objects: ns.segments,
      remove: (obj, creds) => ns.remove(obj, creds),
      stat: SHM.STAT,
      statAny: SHM.STAT_ANY,
    },
    id,
    cmd,
    buf,
  );
  if (typeof seg === "number") return seg;
  switch (cmd) {
    case SHM.LOCK:
    case SHM.UNLOCK:
      if (!c.p.creds.capable(CAP_IPC_LOCK)) seg.checkOwner(c.p.creds);
      seg.mode = cmd === SHM.LOCK ? seg.mode | SHM.LOCKED : seg.mode & ~SHM.LOCKED;
      return 0;
  }
  throw new LinuxError("EINVAL");
}

// ---- semaphores ---------------------------------------------------------------

/** A semop's state across its retries: the set it started on, its deadline. */
interface SemopState extends SemWaiter {
  deadline: number | null;
}

function semget(c: SyscallContext): number {
  return c.k.ipc.sem.get(i32(c.args[0]), i32(c.args[1]), i32(c.args[2]), c.p.creds).id;
}

function decodeSemOps(c: SyscallContext, addr: bigint, n: number): SemOp[] {
  if (n < 1) throw new LinuxError("EINVAL");
  if (n > c.k.ipc.sem.limits.opm) throw new LinuxError("E2BIG");
  const raw = c.mem.read(addr, 6 * n);
  const v = new DataView(raw.buffer, raw.byteOffset);
  return Array.from({ length: n }, (_, i) => ({
    num: v.getUint16(6 * i, true),
    op: v.getInt16(6 * i + 2, true),
    flg: v.getInt16(6 * i + 4, true),
  }));
}

function semopCall(c: SyscallContext, timeoutAddr: bigint): number {
  const id = i32(c.args[0]);
  const ops = decodeSemOps(c, c.args[1] ?? 0n, size(c.args[2]));
  const waiting = c.t.syscallState as SemopState | null;
  let set: SemSet;
  try {
    set = c.k.ipc.sem.sets.byId(id);
  } catch (e) {
    // The set this call waited on went away (IPC_RMID).
    if (waiting) throw new LinuxError("EIDRM");
    throw e;
  }
  if (waiting && waiting.set !== set) throw new LinuxError("EIDRM");
  if (ops.some((o) => o.num >= set.values.length)) throw new LinuxError("EFBIG");
  set.check(c.p.creds, ops.some((o) => o.op !== 0) ? 2 : 4);
  const blocker = set.blocker(ops);
  if (!blocker) {
    c.k.ipc.sem.apply(set, ops, c.p, c.p.pid);
    return 0;
  }
  if (blocker.flg & IPC.NOWAIT) throw new LinuxError("EAGAIN");
  let deadline = waiting?.deadline ?? null;
  if (!waiting && timeoutAddr) {
    const ns = decodeTimespec(c.mem.read(timeoutAddr, 16));
    if (ns === null) throw new LinuxError("EINVAL");
    deadline = performance.now() + Number(ns) / 1e6;
  }
  if (deadline !== null && performance.now() >= deadline) throw new LinuxError("EAGAIN");
  c.t.syscallState = { set, op: blocker, deadline } satisfies SemopState;
  throw new WouldBlock([set.queue], deadline);
}

/** The tasks waiting in semop on a set's semaphore: for an increase (n) or for zero (z). */
function waiters(c: SyscallContext, set: SemSet, num: number, zero: boolean): number {
  let n = 0;
  for (const t of c.k.tasks.values()) {
    const w = t.state === "blocked" ? t.syscallState as SemopState | null : null;
    if (w?.set === set && w.op.num === num && (w.op.op === 0) === zero) n++;
  }
  return n;
}

function semctl(c: SyscallContext): number {
  const ns = c.k.ipc.sem;
  const id = i32(c.args[0]);
  const num = i32(c.args[1]);
  const cmd = i32(c.args[2]);
  const arg = c.args[3] ?? 0n;
  switch (cmd) {
    case IPC.INFO:
    case SEM.INFO: {
      const b = new Uint8Array(40);
      const v = new DataView(b.buffer);
      const all = cmd === SEM.INFO;
      const l = ns.limits;
      const fields = [
        l.mns, // semmap
        l.mni,
        l.mns,
        l.mns, // semmnu
        l.msl,
        l.opm,
        l.opm, // semume
        all ? ns.sets.all().length : 20, // semusz
        SEM_LIMITS.vmx,
        all ? ns.totalSems() : SEM_LIMITS.aem,
      ];
      fields.forEach((f, i) => v.setInt32(4 * i, f, true));
      c.mem.write(arg, b);
      return maxIndex(ns.sets.highestIndex);
    }
  }
  const set = sharedCtl(
    c,
    {
      objects: ns.sets,
      remove: (obj, creds) => ns.remove(obj, creds),
      stat: SEM.STAT,
      statAny: SEM.STAT_ANY,
    },
    id,
    cmd,
    arg,
  );
  if (typeof set === "number") return set;
  const one = () => {
    if (num < 0 || num >= set.values.length) throw new LinuxError("EINVAL");
  };
  switch (cmd) {
    case SEM.GETVAL:
      one();
      set.check(c.p.creds, 4);
      return set.values[num]!;
    case SEM.GETPID:
      one();
      set.check(c.p.creds, 4);
      return set.pids[num]!;
    case SEM.GETNCNT:
    case SEM.GETZCNT:
      one();
      set.check(c.p.creds, 4);
      return waiters(c, set, num, cmd === SEM.GETZCNT);
    case SEM.GETALL: {
      set.check(c.p.creds, 4);
      const b = new Uint8Array(2 * set.values.length);
      set.values.forEach((x, i) => new DataView(b.buffer).setUint16(2 * i, x, true));
      c.mem.write(arg, b);
      return 0;
    }
    case SEM.SETVAL: {
      one();
      set.check(c.p.creds, 2);
      const values: (number | undefined)[] = [];
      values[num] = i32(arg);
      ns.setValues(set, values, c.p.pid);
      return 0;
    }
    case SEM.SETALL: {
      set.check(c.p.creds, 2);
      const raw = c.mem.read(arg, 2 * set.values.length);
      const v = new DataView(raw.buffer, raw.byteOffset);
      ns.setValues(set, set.values.map((_, i) => v.getUint16(2 * i, true)), c.p.pid);
      return 0;
    }
  }
  throw new LinuxError("EINVAL");
}

// ---- message queues -----------------------------------------------------------

/** A msgsnd or msgrcv waiting: the queue it started on. */
interface MsgState {
  queue: MsgQueue;
}

/** The queue a call names; EIDRM when the one it waited on is gone. */
function queueFor(c: SyscallContext): MsgQueue {
  const waiting = c.t.syscallState as MsgState | null;
  let q: MsgQueue;
  try {
    q = c.k.ipc.msg.queues.byId(i32(c.args[0]));
  } catch (e) {
    if (waiting) throw new LinuxError("EIDRM");
    throw e;
  }
  if (waiting && waiting.queue !== q) throw new LinuxError("EIDRM");
  return q;
}

function wait(c: SyscallContext, q: MsgQueue): never {
  c.t.syscallState = { queue: q } satisfies MsgState;
  throw new WouldBlock([q.queue]);
}

function msgget(c: SyscallContext): number {
  return c.k.ipc.msg.get(i32(c.args[0]), i32(c.args[1]), c.p.creds).id;
}

function msgsnd(c: SyscallContext): number {
  const addr = c.args[1] ?? 0n;
  const len = Number(i64(c.args[2]));
  const flags = i32(c.args[3]);
  checkMessageSize(len, c.k.ipc.msg.limits.max);
  const q = queueFor(c);
  const raw = c.mem.read(addr, 8 + len);
  const type = new DataView(raw.buffer, raw.byteOffset).getBigInt64(0, true);
  if (type < 1n) throw new LinuxError("EINVAL");
  q.check(c.p.creds, 2);
  if (!q.fits(len)) {
    if (flags & IPC.NOWAIT) throw new LinuxError("EAGAIN");
    wait(c, q);
  }
  q.send({ type, data: raw.slice(8) }, c.p.pid);
  return 0;
}

function msgrcv(c: SyscallContext): number {
  const addr = c.args[1] ?? 0n;
  const len = Number(i64(c.args[2]));
  const type = i64(c.args[3]);
  const flags = i32(c.args[4]);
  if (len < 0) throw new LinuxError("EINVAL");
  if (flags & MSG.COPY) {
    if (!(flags & IPC.NOWAIT) || (flags & MSG.EXCEPT)) throw new LinuxError("EINVAL");
  }
  const q = queueFor(c);
  q.check(c.p.creds, 4);
  const at = q.pick(type, flags);
  if (at < 0) {
    if (flags & IPC.NOWAIT) throw new LinuxError("ENOMSG");
    wait(c, q);
  }
  const m = q.messages[at]!;
  if (m.data.length > len && !(flags & MSG.NOERROR)) throw new LinuxError("E2BIG");
  const n = Math.min(len, m.data.length);
  const out = new Uint8Array(8 + n);
  new DataView(out.buffer).setBigInt64(0, m.type, true);
  out.set(m.data.subarray(0, n), 8);
  c.mem.write(addr, out);
  if (!(flags & MSG.COPY)) q.take(at, c.p.pid);
  return n;
}

function msgctl(c: SyscallContext): number {
  const ns = c.k.ipc.msg;
  const id = i32(c.args[0]);
  const cmd = i32(c.args[1]);
  const buf = c.args[2] ?? 0n;
  switch (cmd) {
    case IPC.INFO:
    case MSG.INFO: {
      const b = new Uint8Array(32);
      const v = new DataView(b.buffer);
      const totals = cmd === MSG.INFO ? ns.totals() : null;
      const l = ns.limits;
      v.setInt32(
        0,
        totals ? ns.queues.all().length : Math.floor((l.mni * l.mnb) / 1024),
        true,
      );
      v.setInt32(4, totals ? totals.messages : l.mnb, true); // msgmap
      v.setInt32(8, l.max, true);
      v.setInt32(12, l.mnb, true);
      v.setInt32(16, l.mni, true);
      v.setInt32(20, 16, true); // msgssz
      v.setInt32(24, totals ? totals.bytes : l.mnb, true); // msgtql
      v.setUint16(28, 0xffff, true); // msgseg
      c.mem.write(buf, b);
      return maxIndex(ns.queues.highestIndex);
    }
  }
  const r = sharedCtl(
    c,
    {
      objects: ns.queues,
      remove: (obj, creds) => ns.remove(obj, creds),
      stat: MSG.STAT,
      statAny: MSG.STAT_ANY,
      // IPC_SET also sets the byte limit: raising it past MSGMNB needs CAP_SYS_RESOURCE.
      set: (obj, at) => {
        const raw = c.mem.read(at, 120);
        const qbytes = Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(88, true));
        obj.checkOwner(c.p.creds);
        if (qbytes > ns.limits.mnb && !c.p.creds.capable(CAP_SYS_RESOURCE)) {
          throw new LinuxError("EPERM");
        }
        obj.set(decodePerm(raw));
        obj.qbytes = qbytes;
        // A larger limit may let waiting senders in.
        obj.queue.notify();
      },
    },
    id,
    cmd,
    buf,
  );
  if (typeof r === "number") return r;
  throw new LinuxError("EINVAL");
}

/** The handlers, by system call name. */
export const IPC_HANDLERS: Record<string, Handler> = {
  shmget,
  shmat,
  shmdt,
  shmctl,
  semget,
  semop: (c) => semopCall(c, 0n),
  semtimedop: (c) => semopCall(c, c.args[3] ?? 0n),
  semctl,
  msgget,
  msgsnd,
  msgrcv,
  msgctl,
};
