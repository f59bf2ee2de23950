/**
 * Stopping a detached sandbox from another process: SIGKILL through a
 * pidfd (never to a reused pid: the start time is checked first), then
 * waiting until the process is gone.
 *
 * @module
 */
import type { FlagSpec } from "./flags.ts";
import { closeQuietly, pollFd } from "../platform/fd.ts";
import { pidfdOpen, pidfdSignal } from "../platform/pidfd.ts";
import { processStartTime } from "./container_state.ts";

/**
 * Kills a process if it is still the one recorded, and waits for it.
 *
 * @param pid The process.
 * @param startTime Its recorded start time.
 * @param timeoutMs How long to wait for it to go.
 * @returns Whether it is gone.
 */
export function killAndWait(pid: number, startTime: number, timeoutMs = 10_000): boolean {
  if (pid <= 0 || processStartTime(pid) !== startTime) return true;
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } catch {
    return true; // gone meanwhile
  }
  try {
    // Checked again now that the pidfd pins the process.
    if (processStartTime(pid) !== startTime) return true;
    try {
      pidfdSignal(fd, 9);
    } catch { /* it exited */ }
    // A pidfd is readable once the process has exited (a zombie counts).
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pollFd(fd, 1, 100) & 1) return true;
    }
    return false;
  } finally {
    closeQuietly(fd);
  }
}

/**
 * The flag that tags the gofer and sandbox process of one container with
 * `STATE_ROOT/ID` (both commands accept it and do nothing with it).
 */
export const CONTAINER_TAG_FLAG: FlagSpec = {
  name: "container",
  type: "string",
  help: "STATE_ROOT/ID this process serves (a tag delete --force finds it by)",
};

/**
 * The argument that tags a process with `tag`.
 *
 * @param tag `STATE_ROOT/ID`.
 * @returns `--container=TAG`.
 */
export function containerTagArg(tag: string): string {
  return `--${CONTAINER_TAG_FLAG.name}=${tag}`;
}

/**
 * Processes whose command line carries `--container=TAG`: the gofer and
 * sandbox process of one container, found even when their pids were never
 * recorded (the CLI that started them was killed).
 *
 * @param tag `STATE_ROOT/ID`.
 * @returns Their pids.
 */
export function taggedProcesses(tag: string): number[] {
  const want = containerTagArg(tag);
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (argv.includes(want)) found.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return found;
}

/**
 * Kills and reaps every process tagged with `tag` (see {@linkcode taggedProcesses}).
 *
 * @param tag `STATE_ROOT/ID`.
 * @returns Whether all of them died.
 */
export function killTagged(tag: string): boolean {
  return taggedProcesses(tag).every((pid) => {
    const start = processStartTime(pid);
    return start === null || killAndWait(pid, start);
  });
}
