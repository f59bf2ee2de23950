/**
 * `dvisor delete [--force] ID`: removes a stopped (or created) container;
 * with --force, a running one too, killing its sandbox first. The gofer,
 * the state directory and the lock go with it.
 *
 * @module
 */
import { type ContainerState, shownState, StateStore } from "./container_state.ts";
import { runHooks } from "./hooks.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { killAndWait } from "./sandbox_reaper.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "force", aliases: ["f"], type: "bool", help: "kill a running container first" },
];

/** The `delete` command. */
export const deleteCommand: Command = {
  async run(args, { globals, logger }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, ...extra] = parsed.args;
    if (!id || extra.length) throw new UsageError("dvisor delete needs one container id");
    const store = new StateStore(stateRoot(globals));
    const removed = await store.locked(id, () => remove(store, id, parsed.flags.force === true));
    // After the container is gone, as the runtime spec orders it; failures are only logged.
    await runHooks(
      "poststop",
      removed.hooks ?? {},
      shownState({ ...removed, status: "stopped" }),
      logger,
    );
    return 0;
  },
};

function remove(store: StateStore, id: string, force: boolean): ContainerState {
  const s = store.read(id);
  if ((s.status === "running" || s.status === "paused") && !force) {
    throw new Error(
      `Cannot delete container ${id} that is not stopped: ${s.status} (use --force)`,
    );
  }
  if (!killAndWait(s.pid, s.startTime)) {
    throw new Error(`The sandbox of ${id} (pid ${s.pid}) did not die: try again`);
  }
  // The gofer ends with the sandbox's sockets; a stuck one is killed.
  killAndWait(s.goferPid, s.goferStartTime);
  store.remove(id);
  return s;
}
