/**
 * `dvisor start ID`: runs the init of a created container.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { StateStore } from "./container_state.ts";
import { callSandbox } from "./control_client.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { stateRoot } from "./state_root.ts";

/** The `start` command. */
export const startCommand: Command = {
  run(args, { globals }) {
    const [id, ...extra] = parseFlags(args, []).args;
    if (!id || extra.length) throw new UsageError("dvisor start needs one container id");
    const store = new StateStore(stateRoot(globals));
    return store.locked(id, () => {
      const s = store.read(id);
      if (s.status !== "created") {
        throw new Error(`Cannot start container ${id}: it is ${s.status}, not created`);
      }
      callSandbox(store.socket(id), METHOD.startRoot);
      store.write({ ...s, status: "running" });
      return 0;
    });
  },
};
