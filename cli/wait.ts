/**
 * `dvisor wait ID` (as runsc's): waits for the container's init to exit
 * and prints `{"id":..,"exitStatus":..}`; exits with that status too.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { StateStore } from "./container_state.ts";
import { callSandbox, SandboxGone } from "./control_client.ts";
import { exitCodeOf } from "./do.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { stateRoot } from "./state_root.ts";

/** The `wait` command. */
export const waitCommand: Command = {
  async run(args, { globals }) {
    const [id, ...extra] = parseFlags(args, []).args;
    if (!id || extra.length) throw new UsageError("dvisor wait needs one container id");
    const store = new StateStore(stateRoot(globals));
    const s = store.read(id);
    let status: number | null = null;
    if (s.status !== "stopped") {
      try {
        status = (callSandbox(store.socket(id), METHOD.wait) as { status: number }).status;
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
    await writeOut(JSON.stringify({ id, exitStatus: code }) + "\n");
    return code;
  },
};
