/**
 * The host's clocks, for the Sentry's timers and absolute sleeps.
 *
 * @module
 */
import { intArg } from "./checks.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";

const ts = new BigInt64Array(2);

/** Clock ids. */
export const CLOCK = {
  REALTIME: 0,
  MONOTONIC: 1,
  PROCESS_CPUTIME_ID: 2,
  THREAD_CPUTIME_ID: 3,
  MONOTONIC_RAW: 4,
  REALTIME_COARSE: 5,
  MONOTONIC_COARSE: 6,
  BOOTTIME: 7,
} as const;

/**
 * Reads a host clock.
 *
 * @param clock A clock id.
 * @returns Its time in nanoseconds.
 *
 * @example
 * ```ts
 * import { CLOCK, clockNs } from "./clock.ts";
 * if (clockNs(CLOCK.MONOTONIC) <= 0n) throw new Error();
 * ```
 */
export function clockNs(clock: number): bigint {
  intArg(clock, 0, 11, "clock id");
  checked(syscall(SYS.clock_gettime, BigInt(clock), addressOf(ts)), "clock_gettime");
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

/**
 * Reads another process's CPU time through its process CPU clock (Linux's
 * `((~pid) << 3) | kind` clock ids): "virt" is user time, "prof" user plus
 * system time (what ITIMER_VIRTUAL and ITIMER_PROF count).
 *
 * @param pid The process (its id in this process's pid namespace).
 * @param kind Which time.
 * @returns Nanoseconds.
 * @throws {Errno} EINVAL when the process is gone.
 *
 * @example
 * ```ts
 * import { processCpuNs } from "./clock.ts";
 * if (processCpuNs(Deno.pid, "prof") <= 0n) throw new Error();
 * ```
 */
export function processCpuNs(pid: number, kind: "virt" | "prof"): bigint {
  intArg(pid, 1, 0x3fffffff, "pid");
  const id = ((~pid) << 3) | (kind === "virt" ? 1 : 0);
  checked(syscall(SYS.clock_gettime, BigInt(id), addressOf(ts)), "clock_gettime");
  return ts[0]! * 1_000_000_000n + ts[1]!;
}
