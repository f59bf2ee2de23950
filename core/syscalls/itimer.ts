/**
 * Interval timers: alarm, setitimer and getitimer. ITIMER_REAL counts wall
 * time on the Sentry's timers; ITIMER_VIRTUAL and ITIMER_PROF count the
 * process's user (and system) CPU time, read from the stub's host CPU
 * clocks and checked on a timer that polls no more often than the CPU
 * time left could run out (at least every 100 ms, at most every 1 ms).
 *
 * @module
 */
import { processCpuNs } from "../../platform/clock.ts";
import { LinuxError } from "../errors.ts";
import type { Handler, Kernel, SyscallContext } from "../kernel/kernel.ts";
import { SI, SIG } from "../kernel/signals.ts";
import type { Process } from "../kernel/task.ts";
import { i32 } from "./args.ts";

const REAL = 0;
const VIRTUAL = 1;
const PROF = 2;
const SIGNAL = [SIG.ALRM, SIG.VTALRM, SIG.PROF];
const POLL_MAX_MS = 100;
/** As Linux (HZ=250): a CPU timer's first expiry is one tick later than asked, never early. */
const CPU_TIMER_SLACK_MS = 4;

/** An armed timer: times in ms (wall time for REAL, CPU time for the others). */
interface Itimer {
  /** When it fires: performance.now() time, or CPU ms of the process. */
  due: number;
  interval: number;
  cancel: () => void;
}

const timers = new WeakMap<Process, Array<Itimer | undefined>>();

/** What the timer counts now: wall ms, or the process's CPU ms. */
function now(p: Process, which: number): number {
  if (which === REAL) return performance.now();
  try {
    return Number(processCpuNs(p.hostTgid, which === VIRTUAL ? "virt" : "prof")) / 1e6;
  } catch {
    return Infinity; // the stub is gone: the timer ends with the process
  }
}

function current(p: Process, which: number): { value: number; interval: number } {
  const t = timers.get(p)?.[which];
  if (!t) return { value: 0, interval: 0 };
  // An armed timer never reads as 0 (Linux rounds it up to a tick).
  return { value: Math.max(t.due - now(p, which), 0.001), interval: t.interval };
}

/**
 * Arms (value > 0) or disarms a process's timer.
 *
 * @returns The previous setting.
 */
function arm(
  k: Kernel,
  p: Process,
  which: number,
  valueMs: number,
  intervalMs: number,
): { value: number; interval: number } {
  const old = current(p, which);
  const all = timers.get(p) ?? [];
  timers.set(p, all);
  all[which]?.cancel();
  all[which] = undefined;
  if (valueMs <= 0) return old;
  const slack = which === REAL ? 0 : CPU_TIMER_SLACK_MS;
  const entry: Itimer = {
    due: now(p, which) + valueMs + slack,
    interval: intervalMs,
    cancel: () => {},
  };
  all[which] = entry;
  const schedule = () => {
    const left = entry.due - now(p, which);
    const wait = which === REAL
      ? left
      : Math.min(Math.max(left / navigator.hardwareConcurrency, 1), POLL_MAX_MS);
    entry.cancel = k.setTimer(Math.max(wait, 0), check);
  };
  const check = () => {
    if (p.exitStatus !== null || all[which] !== entry) return;
    const t = now(p, which);
    if (t < entry.due) return schedule();
    k.signalProcess(p, { sig: SIGNAL[which]!, code: SI.KERNEL, pid: 0, uid: 0 });
    if (entry.interval <= 0) {
      all[which] = undefined;
      return;
    }
    entry.due += entry.interval;
    if (entry.due <= t) entry.due = t + entry.interval;
    schedule();
  };
  schedule();
  return old;
}

function readTimeval(raw: Uint8Array, o: number): number {
  const v = new DataView(raw.buffer, raw.byteOffset);
  const sec = v.getBigInt64(o, true);
  const usec = v.getBigInt64(o + 8, true);
  if (sec < 0n || usec < 0n || usec >= 1_000_000n) throw new LinuxError("EINVAL");
  return Number(sec) * 1000 + Number(usec) / 1000;
}

function writeItimer(
  c: SyscallContext,
  addr: bigint,
  t: { value: number; interval: number },
): void {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  const tv = (o: number, ms: number) => {
    const us = Math.ceil(ms * 1000);
    v.setBigInt64(o, BigInt(Math.floor(us / 1e6)), true);
    v.setBigInt64(o + 8, BigInt(us % 1e6), true);
  };
  tv(0, t.interval);
  tv(16, t.value);
  c.mem.write(addr, b);
}

function which(c: SyscallContext): number {
  const w = i32(c.args[0]);
  if (w < REAL || w > PROF) throw new LinuxError("EINVAL");
  return w;
}

/** The handlers, by system call name. */
export const ITIMER_HANDLERS: Record<string, Handler> = {
  alarm: (c) => {
    const secs = Number(BigInt.asUintN(32, c.args[0] ?? 0n));
    const old = arm(c.k, c.p, REAL, secs * 1000, 0);
    // Linux: a remaining fraction counts as a whole second, and an armed alarm never says 0.
    return old.value > 0 ? Math.max(Math.round(old.value / 1000), 1) : 0;
  },
  setitimer: (c) => {
    const w = which(c);
    const raw = c.args[1] ? c.mem.read(c.args[1], 32) : new Uint8Array(32);
    const old = arm(c.k, c.p, w, readTimeval(raw, 16), readTimeval(raw, 0));
    if (c.args[2]) writeItimer(c, c.args[2], old);
    return 0;
  },
  getitimer: (c) => {
    writeItimer(c, c.args[1]!, current(c.p, which(c)));
    return 0;
  },
};
