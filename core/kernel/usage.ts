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
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      u.userNs += Number(f[11]) * NS_PER_TICK;
      u.systemNs += Number(f[12]) * NS_PER_TICK;
      u.rssBytes += Number(f[21]) * PAGE;
      u.tasks += Number(f[17]);
    } catch {
      // it exited meanwhile
    }
  }
  return u;
}
