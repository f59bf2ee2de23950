/**
 * Running OCI hooks: each a host program started with its args and env,
 * the container's state (JSON) on its stdin, killed past its timeout. A
 * failing prestart, createRuntime, createContainer or startContainer hook
 * fails the operation; a failing poststart or poststop hook is logged and
 * the lifecycle goes on, as the runtime spec says.
 *
 * @module
 */
import type { Hook, HookPoint } from "../core/boot/oci_spec.ts";
import { closeFd, closeQuietly, O, openFile, pipe, writeAll } from "../platform/fd.ts";
import { spawn } from "../platform/spawn.ts";
import type { Logger } from "./log.ts";

/** Points whose failure fails the operation. */
const FATAL: readonly HookPoint[] = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
];

/**
 * Runs the hooks of one point in order.
 *
 * @param point Which hooks.
 * @param hooks The spec's hooks.
 * @param state The state JSON the hooks read on stdin.
 * @param logger For the failures that are only logged.
 * @throws {Error} When a hook of a fatal point fails (exit status, signal or timeout).
 */
export async function runHooks(
  point: HookPoint,
  hooks: Partial<Record<HookPoint, Hook[]>>,
  state: Record<string, unknown>,
  logger: Logger,
): Promise<void> {
  for (const [i, hook] of (hooks[point] ?? []).entries()) {
    const failure = await runHook(hook, state);
    if (!failure) continue;
    const message = `The ${point} hook #${i} (${hook.path}) ${failure}`;
    if (FATAL.includes(point)) throw new Error(message);
    logger.warn(message);
  }
}

/** Runs one hook; returns why it failed, or null. */
async function runHook(hook: Hook, state: Record<string, unknown>): Promise<string | null> {
  const [stdinRead, stdinWrite] = pipe(O.CLOEXEC);
  const devnull = openFile("/dev/null", O.RDWR);
  let child;
  try {
    child = spawn({
      path: hook.path,
      args: hook.args,
      env: hook.env,
      fds: [[0, stdinRead], [1, devnull], [2, 2]],
    });
  } catch (e) {
    return `could not start: ${e instanceof Error ? e.message : e}`;
  } finally {
    closeFd(stdinRead);
    closeFd(devnull);
  }
  try {
    try {
      writeAll(stdinWrite, new TextEncoder().encode(JSON.stringify(state)));
    } catch { /* it does not read its stdin */ }
    closeQuietly(stdinWrite);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = hook.timeout === undefined ? null : new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), hook.timeout! * 1000);
    });
    const ended = await Promise.race([child.wait(), ...(timedOut ? [timedOut] : [])]);
    clearTimeout(timer);
    if (ended === "timeout") {
      try {
        child.kill(9);
      } catch { /* gone */ }
      await child.wait();
      return `timed out after ${hook.timeout}s`;
    }
    if (ended.signal !== null) return `was killed by signal ${ended.signal}`;
    if (ended.code !== 0) return `exited with status ${ended.code}`;
    return null;
  } finally {
    closeQuietly(stdinWrite);
    child.close();
  }
}
