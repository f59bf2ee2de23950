/**
 * Attaching to a running process with PTRACE_SEIZE, from the tracer
 * thread: seize a sleeping child, stop it with PTRACE_INTERRUPT, read its
 * registers, detach, and let it be killed. Used by ptrace_test.ts.
 *
 * @module
 */
import { PTRACE_O, Tracer } from "../ptrace.ts";
import { spawn } from "../spawn.ts";

/** What the tracer saw. */
export interface SeizeResult {
  /** Kind and name of the stop PTRACE_INTERRUPT caused. */
  stop: string;
  /** The instruction pointer at that stop was non-zero. */
  hadRip: boolean;
  /** How the child ended after detach and SIGKILL. */
  signal: number | null;
}

/**
 * Runs the scenario on this thread.
 *
 * @returns What happened.
 *
 * @example
 * ```ts ignore
 * const r = seizeSleeper(); // { stop: "event:stop", hadRip: true, signal: 9 }
 * ```
 */
export function seizeSleeper(): SeizeResult {
  using child = spawn({ path: "/bin/busybox", args: ["sleep", "30"], parentDeathSignal: 9 });
  using tracer = new Tracer();
  tracer.seize(child.pid, PTRACE_O.EXITKILL);
  tracer.interrupt(child.pid);
  const e = tracer.wait(child.pid)!;
  const stop = e.kind === "event" ? `event:${e.event}` : e.kind;
  const hadRip = tracer.getRegs(child.pid).get("rip") !== 0n;
  tracer.detach(child.pid);
  child.kill(9);
  return { stop, hadRip, signal: child.waitSync().signal };
}
