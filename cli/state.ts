/**
 * `dvisor state ID`: the container's state as runc prints it (JSON).
 *
 * @module
 */
import { StateStore } from "./container_state.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { stateRoot } from "./state_root.ts";
import { writeOut } from "./output.ts";

/** The `state` command. */
export const stateCommand: Command = {
  async run(args, { globals }) {
    const [id, ...extra] = parseFlags(args, []).args;
    if (!id || extra.length) throw new UsageError("dvisor state needs one container id");
    const s = new StateStore(stateRoot(globals)).read(id);
    const shown = {
      ociVersion: s.ociVersion,
      id: s.id,
      pid: s.pid,
      status: s.status,
      bundle: s.bundle,
      rootfs: s.rootfs,
      created: s.created,
      owner: s.owner,
      ...(Object.keys(s.annotations).length ? { annotations: s.annotations } : {}),
    };
    await writeOut(JSON.stringify(shown, null, "  ") + "\n");
    return 0;
  },
};
