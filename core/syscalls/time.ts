/**
 * Sleeping system calls: they park the task without blocking the loop.
 *
 * @module
 */
import { CLOCK, clockNs } from "../../platform/clock.ts";
import { LinuxError, WouldBlock } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { decodeTimespec, encodeTimespec, i32 } from "./args.ts";

interface SleepState {
  deadline: number;
  rem: bigint;
}

/** Sleeps until `deadline` (performance.now() ms); EINTR writes the remaining time to `rem`. */
function sleep(c: SyscallContext, makeDeadline: () => number, rem: bigint): number {
  let s = c.t.syscallState as SleepState | null;
  if (!s) {
    s = { deadline: makeDeadline(), rem };
    c.t.syscallState = s;
  }
  const left = s.deadline - performance.now();
  if (left <= 0) return 0;
  const deadline = s.deadline;
  if (rem) {
    const mem = c.mem;
    c.t.onEintr = () => {
      const ms = Math.max(deadline - performance.now(), 0);
      try {
        mem.write(rem, encodeTimespec(BigInt(Math.round(ms * 1e6))));
      } catch {
        // A bad rem pointer is ignored, as Linux does.
      }
    };
  }
  throw new WouldBlock([], deadline);
}

function relative(c: SyscallContext, req: bigint): number {
  const ns = decodeTimespec(c.mem.read(req, 16));
  if (ns === null) throw new LinuxError("EINVAL");
  return performance.now() + Number(ns) / 1e6;
}

/** The handlers, by system call name. */
export const TIME_HANDLERS: Record<string, Handler> = {
  nanosleep: (c) => sleep(c, () => relative(c, c.args[0]!), c.args[1] ?? 0n),
  clock_nanosleep: (c) => {
    const clock = i32(c.args[0]);
    const flags = i32(c.args[1]);
    if (
      ![CLOCK.REALTIME, CLOCK.MONOTONIC, CLOCK.BOOTTIME, CLOCK.PROCESS_CPUTIME_ID].includes(
        clock as 0,
      )
    ) {
      throw new LinuxError("EINVAL");
    }
    if (flags & 1) { // TIMER_ABSTIME
      const when = decodeTimespec(c.mem.read(c.args[2]!, 16));
      if (when === null) throw new LinuxError("EINVAL");
      return sleep(c, () => performance.now() + Number(when - clockNs(clock)) / 1e6, 0n);
    }
    return sleep(c, () => relative(c, c.args[2]!), c.args[3] ?? 0n);
  },
};
