/**
 * getrusage's numbers for the Sentry's processes: a process's own come
 * from its stub (the host counts the CPU time, faults, peak memory and
 * context switches of the code that really runs), taken when it exits and
 * added to its parent's children totals when the parent waits for it, as
 * Linux does.
 *
 * @module
 */
import { procStatFields, statusNumber } from "./usage.ts";

/** Resource usage, as `struct rusage` holds it. */
export interface Rusage {
  /** User CPU time, microseconds. */
  userUs: bigint;
  /** System CPU time, microseconds. */
  systemUs: bigint;
  /** Peak resident set, KiB. */
  maxRssKb: bigint;
  /** Page faults served without I/O. */
  minflt: bigint;
  /** Page faults that needed I/O. */
  majflt: bigint;
  /** Voluntary context switches. */
  nvcsw: bigint;
  /** Involuntary context switches. */
  nivcsw: bigint;
}

/** Microseconds per clock tick (USER_HZ is 100). */
export const US_PER_TICK = 10_000n;

/**
 * No usage.
 *
 * @returns Zeroes.
 *
 * @example
 * ```ts
 * import { noUsage } from "./rusage.ts";
 * if (noUsage().userUs !== 0n) throw new Error();
 * ```
 */
export function noUsage(): Rusage {
  return { userUs: 0n, systemUs: 0n, maxRssKb: 0n, minflt: 0n, majflt: 0n, nvcsw: 0n, nivcsw: 0n };
}

/** A /proc status file's number, 0 when missing. */
function statusValue(status: string, key: string): bigint {
  return statusNumber(status, key) ?? 0n;
}

/**
 * A host process's (or one host thread's) usage from its /proc files.
 *
 * @param hostTgid The stub's process id.
 * @param hostTids Its threads to count context switches of (and, with
 *   `thread`, the one thread whose times are wanted).
 * @param thread Only the thread `hostTids[0]` (RUSAGE_THREAD).
 * @returns The usage (zeroes for a process that is gone).
 *
 * @example
 * ```ts
 * import { hostRusage } from "./rusage.ts";
 * if (hostRusage(Deno.pid, [Deno.pid]).maxRssKb <= 0n) throw new Error();
 * ```
 */
export function hostRusage(hostTgid: number, hostTids: number[], thread = false): Rusage {
  const u = noUsage();
  const base = thread ? `/proc/${hostTgid}/task/${hostTids[0]}` : `/proc/${hostTgid}`;
  const f = procStatFields(`${base}/stat`);
  if (!f) return u;
  u.minflt = BigInt(f[7] ?? 0);
  u.majflt = BigInt(f[9] ?? 0);
  u.userUs = BigInt(f[11] ?? 0) * US_PER_TICK;
  u.systemUs = BigInt(f[12] ?? 0) * US_PER_TICK;
  try {
    u.maxRssKb = statusValue(Deno.readTextFileSync(`/proc/${hostTgid}/status`), "VmHWM");
  } catch {
    // gone
  }
  for (const tid of thread ? hostTids.slice(0, 1) : hostTids) {
    try {
      const status = Deno.readTextFileSync(`/proc/${hostTgid}/task/${tid}/status`);
      u.nvcsw += statusValue(status, "voluntary_ctxt_switches");
      u.nivcsw += statusValue(status, "nonvoluntary_ctxt_switches");
    } catch {
      // gone
    }
  }
  return u;
}

/**
 * Adds usage to a total, as Linux adds a waited-for child's: times, faults
 * and switches add up, the peak is the larger.
 *
 * @param into The total (changed).
 * @param more What to add.
 *
 * @example
 * ```ts
 * import { addUsage, noUsage } from "./rusage.ts";
 * const t = noUsage();
 * addUsage(t, { ...noUsage(), userUs: 5n, maxRssKb: 9n });
 * if (t.userUs !== 5n || t.maxRssKb !== 9n) throw new Error();
 * ```
 */
export function addUsage(into: Rusage, more: Rusage): void {
  into.userUs += more.userUs;
  into.systemUs += more.systemUs;
  if (more.maxRssKb > into.maxRssKb) into.maxRssKb = more.maxRssKb;
  into.minflt += more.minflt;
  into.majflt += more.majflt;
  into.nvcsw += more.nvcsw;
  into.nivcsw += more.nivcsw;
}

/**
 * Encodes a `struct rusage` (144 bytes, x86-64).
 *
 * @param u The usage.
 * @returns Its bytes.
 *
 * @example
 * ```ts
 * import { encodeRusage, noUsage } from "./rusage.ts";
 * if (encodeRusage(noUsage()).length !== 144) throw new Error();
 * ```
 */
export function encodeRusage(u: Rusage): Uint8Array {
  const b = new Uint8Array(144);
  const v = new DataView(b.buffer);
  v.setBigInt64(0, u.userUs / 1_000_000n, true);
  v.setBigInt64(8, u.userUs % 1_000_000n, true);
  v.setBigInt64(16, u.systemUs / 1_000_000n, true);
  v.setBigInt64(24, u.systemUs % 1_000_000n, true);
  v.setBigInt64(32, u.maxRssKb, true);
  v.setBigInt64(64, u.minflt, true);
  v.setBigInt64(72, u.majflt, true);
  v.setBigInt64(128, u.nvcsw, true);
  v.setBigInt64(136, u.nivcsw, true);
  return b;
}
