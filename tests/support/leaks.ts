/**
 * Checks that a test left nothing behind: no zombie or live child
 * processes, no new mounts, no leaked descriptors.
 *
 * @module
 */
import { assertEquals } from "@std/assert";

/** What this process holds at one moment. */
export interface Holdings {
  /** Child pids (any state) of this process. */
  children: number[];
  /** Lines of /proc/self/mountinfo. */
  mounts: string[];
  /** Open descriptor numbers. */
  fds: number[];
}

/**
 * Lists this process's children, mounts and open descriptors.
 *
 * @returns The snapshot.
 *
 * @example
 * ```ts
 * import { holdings } from "./leaks.ts";
 * if (holdings().fds.length === 0) throw new Error();
 * ```
 */
export function holdings(): Holdings {
  const children: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === Deno.pid) children.push(Number(entry.name));
    } catch {
      // The process went away while we looked.
    }
  }
  const fds = [...Deno.readDirSync("/proc/self/fd")].map((e) => Number(e.name)).sort((a, b) =>
    a - b
  );
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").trim().split("\n");
  return { children: children.sort((a, b) => a - b), mounts, fds };
}

/**
 * Runs `fn` and asserts that afterwards this process has no more children,
 * mounts or descriptors than before.
 *
 * @param fn The code under test.
 * @returns What `fn` returned.
 *
 * @example
 * ```ts
 * import { leavesNothing } from "./leaks.ts";
 * await leavesNothing(() => 1 + 1);
 * ```
 */
export async function leavesNothing<T>(fn: () => T | Promise<T>): Promise<T> {
  const before = holdings();
  const result = await fn();
  // Threads that were told to stop (a terminated Worker) close their
  // descriptors a moment later: allow up to a second for that.
  let after = holdings();
  for (let i = 0; i < 50 && !same(before, after); i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = holdings();
  }
  assertEquals(
    after.children.filter((p) => !before.children.includes(p)),
    [],
    "child processes left",
  );
  assertEquals(after.mounts.length, before.mounts.length, "mounts left");
  assertEquals(after.fds.filter((f) => !before.fds.includes(f)), [], "descriptors left");
  return result;
}

function same(before: Holdings, after: Holdings): boolean {
  return after.children.every((p) => before.children.includes(p)) &&
    after.mounts.length === before.mounts.length &&
    after.fds.every((f) => before.fds.includes(f));
}
