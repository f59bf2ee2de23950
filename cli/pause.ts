/**
 * `dvisor pause ID` and `dvisor resume ID`: stop every process of a
 * running container where it is, and let them go on.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { StateStore, type Status } from "./container_state.ts";
import { callSandbox } from "./control_client.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { stateRoot } from "./state_root.ts";

function pauseOrResume(verb: "pause" | "resume", from: Status, to: Status): Command {
  return {
    flags: [],
    run(args, { globals }) {
      const [id, ...extra] = parseFlags(args, []).args;
      if (!id || extra.length) throw new UsageError(`dvisor ${verb} needs one container id`);
      const store = new StateStore(stateRoot(globals));
      return store.locked(id, () => {
        const s = store.read(id);
        if (s.sandbox) {
          throw new Error(
            `Cannot ${verb} container ${id} alone: its sandbox's containers ${verb} together; ${verb} ${s.sandbox}`,
          );
        }
        if (s.status !== from) {
          throw new Error(`Cannot ${verb} container ${id}: it is ${s.status}, not ${from}`);
        }
        callSandbox(store.socket(id), verb === "pause" ? METHOD.pause : METHOD.resume);
        store.write({ ...s, status: to });
        return 0;
      });
    },
  };
}

/** The `pause` command. */
export const pauseCommand: Command = pauseOrResume("pause", "running", "paused");

/** The `resume` command. */
export const resumeCommand: Command = pauseOrResume("resume", "paused", "running");
