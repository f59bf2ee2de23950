/**
 * `dvisor state ID`: the container's state as runc prints it (JSON).
 *
 * @module
 */
import { shownState, StateStore } from "./container_state.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { stateRoot } from "./state_root.ts";
import { writeOut } from "./output.ts";

/** The `state` command. */
export const stateCommand: Command = {
  flags: [],
  async run(args, { globals }) {
    const [id, ...extra] = parseFlags(args, []).args;
    if (!id || extra.length) throw new UsageError("dvisor state needs one container id");
    const s = new StateStore(stateRoot(globals)).read(id);
    await writeOut(JSON.stringify(shownState(s), null, "  ") + "\n");
    return 0;
  },
};
