/**
 * `dvisor wait ID` (as runsc's): waits for the container's init to exit
 * and prints `{"id":..,"exitStatus":..}`; exits with that status too.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { StateStore } from "./container_state.ts";
import { callSandboxAsync, forContainer, SandboxGone } from "./control_client.ts";
import { exitCodeOf } from "../core/kernel/exit_code.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "pid", type: "int", help: "wait for this process `dvisor exec` started instead" },
  { name: "quiet", type: "bool", help: "print nothing; the exit status says it" },
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
        status = (await callSandboxAsync(
          store.controlSocket(s),
          METHOD.waitPid,
          forContainer(s, { pid }),
        ) as { status: number }).status;
      } catch (e) {
        // The sandbox is gone, and the process with it (SIGKILL, as a pid namespace's).
        if (!(e instanceof SandboxGone)) throw e;
        status = 9;
      }
    } else if (s.status !== "stopped" || s.sandbox) {
      // (A container of a pod that ended: its sandbox still has its status.)
      try {
        status = (await callSandboxAsync(store.controlSocket(s), METHOD.wait, forContainer(s)) as {
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
