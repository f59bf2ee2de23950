/**
 * What a set of processes costs: CPU time and resident memory of their
 * stubs, read from the host's /proc (the sandbox process still sees its
 * own pid namespace's /proc, where the stubs live). For `dvisor events`
 * and the container's cgroup files.
 *
 * @module
 */
import type { Process } from "./task.ts";

/** Usage of some processes. */
export interface Usage {
  /** User CPU time, nanoseconds. */
  userNs: number;
  /** System CPU time, nanoseconds. */
  systemNs: number;
  /** Resident memory, bytes. */
  rssBytes: number;
  /** Threads. */
  tasks: number;
}

/** Nanoseconds per clock tick (USER_HZ is 100 on Linux). */
const NS_PER_TICK = 10_000_000;
const PAGE = 4096;

/**
 * Adds up the usage of processes (ones that exited meanwhile count 0).
 *
 * @param processes The processes.
 * @returns Their usage.
 *
 * @example
 * ```ts
 * import { usageOf } from "./usage.ts";
 * if (usageOf([]).tasks !== 0) throw new Error();
 * ```
 */
export function usageOf(processes: Iterable<Process>): Usage {
  const list = [...processes];
  const u = hostUsage(list.map((p) => p.hostTgid));
  u.tasks = list.reduce((n, p) => n + p.threads.size, 0);
  return u;
}

/**
 * Adds up the CPU time and resident memory of host processes, by the pid
 * this process sees them as (ones that exited count 0; `tasks` counts
 * their threads).
 *
 * @param pids The processes.
 * @returns Their usage.
 *
 * @example
 * ```ts
 * import { hostUsage } from "./usage.ts";
 * if (hostUsage([Deno.pid]).rssBytes <= 0) throw new Error();
 * ```
 */
export function hostUsage(pids: Iterable<number>): Usage {
  const u: Usage = { userNs: 0, systemNs: 0, rssBytes: 0, tasks: 0 };
  for (const pid of pids) {
    const f = procStatFields(`/proc/${pid}/stat`);
    if (!f) continue; // it exited meanwhile
    u.userNs += Number(f[11]) * NS_PER_TICK;
    u.systemNs += Number(f[12]) * NS_PER_TICK;
    u.rssBytes += Number(f[21]) * PAGE;
    u.tasks += Number(f[17]);
  }
  return u;
}

/**
 * The fields of a /proc stat file after the command name: `f[0]` is the
 * state, so proc(5)'s field N is `f[N - 3]`.
 *
 * @param path `/proc/PID/stat` or `/proc/PID/task/TID/stat`.
 * @returns The fields, or null when the process is gone.
 *
 * @example
 * ```ts
 * import { procStatFields } from "./usage.ts";
 * if (procStatFields(`/proc/${Deno.pid}/stat`)?.[1] !== String(Deno.ppid)) throw new Error(); // ppid
 * ```
 */
export function procStatFields(path: string): string[] | null {
  try {
    const stat = Deno.readTextFileSync(path);
    return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
  } catch {
    return null;
  }
}

/**
 * A `Key:   value` number of a /proc status file (kB units are the caller's).
 *
 * @param status The file's text.
 * @param key The key (`VmRSS`, `voluntary_ctxt_switches`).
 * @returns The number, or null when the key is missing.
 *
 * @example
 * ```ts
 * import { statusNumber } from "./usage.ts";
 * if (statusNumber("VmRSS:\t  12 kB\n", "VmRSS") !== 12n) throw new Error();
 * ```
 */
export function statusNumber(status: string, key: string): bigint | null {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status);
  return m ? BigInt(m[1]!) : null;
}
