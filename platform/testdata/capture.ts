/**
 * Runs a spawned child to the end with its stdout and stderr captured; for
 * tests.
 *
 * @module
 */
import { closeFd, closeQuietly, pipe, readAll } from "../fd.ts";
import type { ExitStatus } from "../pidfd.ts";
import { spawn, type SpawnOptions } from "../spawn.ts";

/** A finished child's output and status. */
export interface Captured {
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** How it ended. */
  status: ExitStatus;
}

/**
 * Spawns, captures stdout (fd 1) and stderr (fd 2) and waits. Any `fds` the
 * options give for 1 and 2 are replaced; others are kept.
 *
 * @param options Spawn options.
 * @returns Output and status.
 *
 * @example
 * ```ts
 * import { capture } from "./capture.ts";
 * const r = capture({ path: "/bin/busybox", args: ["echo", "hi"] });
 * if (r.stdout !== "hi\n") throw new Error();
 * ```
 */
export function capture(options: SpawnOptions): Captured {
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const fds = [
    ...(options.fds ?? [[0, 0]]).filter(([c]) => c !== 1 && c !== 2),
    [1, outW] as const,
    [2, errW] as const,
  ];
  let child;
  try {
    child = spawn({ ...options, fds });
  } catch (e) {
    [outR, outW, errR, errW].forEach(closeQuietly);
    throw e;
  }
  using c = child;
  closeFd(outW);
  closeFd(errW);
  // Both pipes are small enough for the kernel to buffer one while we read the other.
  const stdout = new TextDecoder().decode(readAll(outR));
  const stderr = new TextDecoder().decode(readAll(errR));
  closeFd(outR);
  closeFd(errR);
  return { stdout, stderr, status: c.waitSync() };
}
