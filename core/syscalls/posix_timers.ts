/**
 * POSIX per-process timers: timer_create (SIGEV_SIGNAL, SIGEV_NONE,
 * SIGEV_THREAD_ID: what glibc's SIGEV_THREAD uses), timer_settime
 * (relative or absolute, with an interval), timer_gettime,
 * timer_getoverrun and timer_delete. Expiries send a signal with
 * SI_TIMER, the timer's id and value; while one is still pending, further
 * expiries count as overruns, as Linux does. Wall clocks only.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { SI, SIG, SIGRTMAX } from "../kernel/signals.ts";
import type { Process } from "../kernel/task.ts";
import { decodeItimerspec, encodeItimerspec, i32, msUntil } from "./args.ts";

const SIGEV = { SIGNAL: 0, NONE: 1, THREAD: 2, THREAD_ID: 4 } as const;
const TIMER_ABSTIME = 1;
/** REALTIME, MONOTONIC, BOOTTIME and their _ALARM forms (CPU-time clocks are not served). */
const CLOCKS = new Set([0, 1, 7, 8, 9]);

interface PosixTimer {
  clock: number;
  notify: number;
  signo: number;
  value: bigint;
  tid: number | null;
  due: number | null;
  interval: number;
  /** What timer_getoverrun reports: the overruns of the last signal sent. */
  lastOverrun: number;
  cancel: () => void;
}

const timers = new WeakMap<Process, Map<number, PosixTimer>>();

function timersOf(p: Process): Map<number, PosixTimer> {
  let m = timers.get(p);
  if (!m) timers.set(p, m = new Map());
  return m;
}

function timerOf(c: SyscallContext): [number, PosixTimer] {
  const id = i32(c.args[0]);
  const t = timersOf(c.p).get(id);
  if (!t) throw new LinuxError("EINVAL");
  return [id, t];
}

function timeLeft(t: PosixTimer): Uint8Array {
  return encodeItimerspec({
    value: t.due === null ? 0 : Math.max(t.due - performance.now(), 0.000001),
    interval: t.interval,
  });
}

/** An expiry: a signal, unless one of this timer's is still pending (then an overrun). */
function fire(c: SyscallContext, p: Process, id: number, t: PosixTimer): void {
  if (p.exitStatus !== null || timersOf(p).get(id) !== t || t.due === null) return;
  const now = performance.now();
  if (now < t.due) {
    t.cancel = c.k.setTimer(t.due - now, () => fire(c, p, id, t));
    return;
  }
  const missed = t.interval > 0 ? Math.floor((now - t.due) / t.interval) : 0;
  if (t.notify !== SIGEV.NONE) {
    const target = t.tid === null ? null : c.k.tasks.get(t.tid);
    const lists = [p.pending, ...[...p.threads.values()].map((x) => x.pending)];
    const pending = lists.flat().find((s) => s.code === SI.TIMER && s.pid === id);
    if (pending) {
      // Still pending: the expiry is an overrun of that signal (its si_overrun).
      pending.uid += 1 + missed;
      t.lastOverrun = pending.uid;
    } else {
      t.lastOverrun = missed;
      const s = { sig: t.signo, code: SI.TIMER, pid: id, uid: missed, value: t.value };
      if (target && target.process === p) c.k.signalThread(target, s);
      else c.k.signalProcess(p, s);
    }
  }
  if (t.interval > 0) {
    t.due += (missed + 1) * t.interval;
    t.cancel = c.k.setTimer(t.due - performance.now(), () => fire(c, p, id, t));
  } else {
    t.due = null;
  }
}

/** The handlers, by system call name. */
export const POSIX_TIMER_HANDLERS: Record<string, Handler> = {
  timer_create: (c) => {
    const clock = i32(c.args[0]);
    if (!CLOCKS.has(clock)) throw new LinuxError("EINVAL");
    const mine = timersOf(c.p);
    let id = 0;
    while (mine.has(id)) id++;
    const t: PosixTimer = {
      clock,
      notify: SIGEV.SIGNAL,
      signo: SIG.ALRM,
      value: BigInt(id),
      tid: null,
      due: null,
      interval: 0,
      lastOverrun: 0,
      cancel: () => {},
    };
    if (c.args[1]) {
      const v = new DataView(c.mem.read(c.args[1], 64).buffer);
      t.value = v.getBigUint64(0, true);
      t.signo = v.getInt32(8, true);
      t.notify = v.getInt32(12, true);
      if (t.notify === SIGEV.THREAD_ID) {
        t.tid = v.getInt32(16, true);
        if (c.k.tasks.get(t.tid)?.process !== c.p) throw new LinuxError("EINVAL");
      } else if (t.notify !== SIGEV.SIGNAL && t.notify !== SIGEV.NONE) {
        throw new LinuxError("EINVAL");
      }
      if (t.notify !== SIGEV.NONE && (t.signo < 1 || t.signo > SIGRTMAX)) {
        throw new LinuxError("EINVAL");
      }
    }
    const out = new Uint8Array(4);
    new DataView(out.buffer).setInt32(0, id, true);
    c.mem.write(c.args[2]!, out);
    mine.set(id, t);
    return 0;
  },
  timer_settime: (c) => {
    const [id, t] = timerOf(c);
    const flags = i32(c.args[1]);
    const { interval, value } = decodeItimerspec(c.mem.read(c.args[2]!, 32));
    if (c.args[3]) c.mem.write(c.args[3], timeLeft(t));
    t.cancel();
    t.interval = Number(interval) / 1e6;
    if (value === 0n) {
      t.due = null;
      return 0;
    }
    const ms = msUntil(t.clock, value, (flags & TIMER_ABSTIME) !== 0);
    t.due = performance.now() + Math.max(ms, 0);
    const p = c.p;
    t.cancel = c.k.setTimer(Math.max(ms, 0), () => fire(c, p, id, t));
    return 0;
  },
  timer_gettime: (c) => {
    const [, t] = timerOf(c);
    c.mem.write(c.args[1]!, timeLeft(t));
    return 0;
  },
  timer_getoverrun: (c) => timerOf(c)[1].lastOverrun,
  timer_delete: (c) => {
    const [id, t] = timerOf(c);
    t.cancel();
    timersOf(c.p).delete(id);
    return 0;
  },
};
