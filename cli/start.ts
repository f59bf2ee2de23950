/**
 * `dvisor start ID`: runs the init of a created container.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { shownState, StateStore } from "./container_state.ts";
import { runHooks } from "./hooks.ts";
import { callSandbox, forContainer } from "./control_client.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { stateRoot } from "./state_root.ts";

/** The `start` command. */
export const startCommand: Command = {
  flags: [],
  run(args, { globals, logger }) {
    const [id, ...extra] = parseFlags(args, []).args;
    if (!id || extra.length) throw new UsageError("dvisor start needs one container id");
    const store = new StateStore(stateRoot(globals));
    return store.locked(id, async () => {
      const s = store.read(id);
      if (s.status !== "created") {
        throw new Error(`Cannot start container ${id}: it is ${s.status}, not created`);
      }
      await runHooks("startContainer", s.hooks ?? {}, shownState(s), logger);
      const method = s.sandbox ? METHOD.startSubcontainer : METHOD.startRoot;
      callSandbox(store.controlSocket(s), method, forContainer(s));
      const running = { ...s, status: "running" as const };
      store.write(running);
      // runc hands poststart hooks the state as it was before start (status created).
      await runHooks("poststart", s.hooks ?? {}, shownState(s), logger);
      return 0;
    });
  },
};
