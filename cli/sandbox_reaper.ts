/**
 * Stopping a detached sandbox from another process: SIGKILL through a
 * pidfd (never to a reused pid: the start time is checked first), then
 * waiting until the process is gone.
 *
 * @module
 */
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
