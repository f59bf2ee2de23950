/**
 * `dvisor wait ID` (as runsc's): waits for the container's init to exit
 * and prints `{"id":..,"exitStatus":..}`; exits with that status too.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { closeFd } from "../platform/fd.ts";
import { openSignalFd, readSignals } from "../platform/signalfd.ts";
import { TERMINAL_SIGNALS } from "../core/kernel/signals.ts";
import { type ContainerState, StateStore } from "./container_state.ts";
import { callSandbox, callSandboxAsync, forContainer, SandboxGone } from "./control_client.ts";
import { exitCodeOf } from "./do.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "pid", type: "int", help: "wait for this process `dvisor exec` started instead" },
  { name: "quiet", type: "bool", help: "print nothing; the exit status says it" },
  {
    name: "forward-terminal",
    type: "bool",
    help: "with --pid: this process holds the process's terminal; pass on what it raises",
  },
];

/** The `wait` command. */
export const waitCommand: Command = {
  flags: FLAGS,
  async run(args, { globals }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, ...extra] = parsed.args;
    if (!id || extra.length) throw new UsageError("dvisor wait needs one container id");
    const store = new StateStore(stateRoot(globals));
    const s = store.read(id);
    let status: number | null = null;
    const pid = parsed.flags.pid as number | undefined;
    if (pid !== undefined) {
      try {
        status = parsed.flags["forward-terminal"]
          ? await waitForwarding(store.controlSocket(s), s, pid)
          : (callSandbox(store.controlSocket(s), METHOD.waitPid, forContainer(s, { pid })) as {
            status: number;
          })
            .status;
      } catch (e) {
        // The sandbox is gone, and the process with it (SIGKILL, as a pid namespace's).
        if (!(e instanceof SandboxGone)) throw e;
        status = 9;
      }
    } else if (s.status !== "stopped" || s.sandbox) {
      // (A container of a pod that ended: its sandbox still has its status.)
      try {
        status = parsed.flags["forward-terminal"]
          ? await waitForwarding(store.controlSocket(s), s, undefined)
          : (callSandbox(store.controlSocket(s), METHOD.wait, forContainer(s)) as {
            status: number;
          }).status;
      } catch (e) {
        if (!(e instanceof SandboxGone)) throw e;
      }
    }
    if (status === null) {
      // Gone already: the sandbox wrote the status on its way out (killed: SIGKILL).
      const text = (() => {
        try {
          return Deno.readTextFileSync(store.exitFile(id)).trim();
        } catch {
          return "";
        }
      })();
      status = text ? Number(text) : 9;
    }
    const code = exitCodeOf(status);
    if (!parsed.flags.quiet) {
      await writeOut(
        JSON.stringify({ id, ...(pid !== undefined ? { pid } : {}), exitStatus: code }) + "\n",
      );
    }
    return code;
  },
};

/**
 * Waits for an exec'd process (or, with no pid, a pod container's init)
 * while passing on the signals its terminal raises here (^C, ^Z, window
 * changes, hangup: blocked in this process by whoever spawned it, so they
 * queue on a signalfd) to the foreground group of that terminal in the
 * sandbox.
 */
async function waitForwarding(
  socket: string,
  s: ContainerState,
  pid: number | undefined,
): Promise<number> {
  const sfd = openSignalFd(TERMINAL_SIGNALS);
  let ended: { status: number } | null = null;
  let failed: unknown = null;
  const done =
    (pid !== undefined
      ? callSandboxAsync(socket, METHOD.waitPid, forContainer(s, { pid }))
      : callSandboxAsync(socket, METHOD.wait, forContainer(s))).then(
        (r) => (ended = r as { status: number }),
        (e) => (failed = e),
      );
  try {
    while (ended === null && failed === null) {
      await Promise.race([done, new Promise((r) => setTimeout(r, 20))]);
      for (const signo of readSignals(sfd)) {
        try {
          const target = pid !== undefined ? { pid } : {};
          callSandbox(
            socket,
            METHOD.signal,
            forContainer(s, { signo, mode: "foreground", ...target }),
          );
        } catch { /* it ended */ }
      }
    }
  } finally {
    closeFd(sfd);
  }
  if (failed !== null) throw failed;
  return ended!.status;
}
