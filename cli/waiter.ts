/**
 * A waiter: a small detached `dvisor wait` process whose exit is a
 * process's or a container's (its exit code is theirs). What containerd's
 * runc shim watches when the pid it is given must end with what it stands
 * for: a process `exec --detach` started, or a container of a pod (whose
 * sandbox process lives on after it).
 *
 * @module
 */
import { closeFd, O, openFile } from "../platform/fd.ts";
import { spawn } from "../platform/spawn.ts";
import { terminalOwner } from "./console.ts";
import { passedGlobals } from "./sandbox_process.ts";
import { selfCommand, selfEnv } from "./self.ts";
import { stateRoot } from "./state_root.ts";

/**
 * Starts a waiter (in its own session, stdio on /dev/null).
 *
 * @param globals Global flags (the state root, logs).
 * @param id The container.
 * @param o `pid`: wait for that process (else for the container);
 *   `terminal`: its terminal, whose signals the waiter forwards.
 * @returns The waiter's pid.
 */
export function startWaiter(
  globals: Record<string, unknown>,
  id: string,
  o: { pid?: number; terminal?: number } = {},
): number {
  const devnull = openFile("/dev/null", O.RDWR);
  try {
    const { path, argv } = selfCommand([
      ...passedGlobals(globals),
      `--root=${stateRoot(globals)}`,
      "wait",
      ...(o.pid !== undefined ? ["--pid", String(o.pid)] : []),
      "--quiet",
      ...(o.terminal !== undefined ? ["--forward-terminal"] : []),
      id,
    ]);
    const waiter = spawn({
      path,
      args: argv,
      env: selfEnv(),
      fds: [[0, o.terminal ?? devnull], [1, devnull], [2, devnull]],
      setsid: true,
      ...(o.terminal !== undefined ? terminalOwner() : {}),
    });
    const pid = waiter.pid;
    waiter.close();
    return pid;
  } finally {
    closeFd(devnull);
  }
}
