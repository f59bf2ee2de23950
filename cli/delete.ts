/**
 * `dvisor delete [--force] ID`: removes a stopped (or created) container;
 * with --force, a running one too, killing its sandbox first. The gofer,
 * the state directory and the lock go with it.
 *
 * @module
 */
import { type ContainerState, NoSuchContainer, shownState, StateStore } from "./container_state.ts";
import { runHooks } from "./hooks.ts";
import { callSandbox, SandboxGone } from "./control_client.ts";
import { METHOD } from "../core/control/protocol.ts";
import { removeContainer } from "./container_cgroup.ts";
import type { Logger } from "./log.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { killAndWait, killTagged } from "./sandbox_reaper.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "force", aliases: ["f"], type: "bool", help: "kill a running container first" },
];

/** The `delete` command. */
export const deleteCommand: Command = {
  flags: FLAGS,
  async run(args, { globals, logger }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, ...extra] = parsed.args;
    if (!id || extra.length) throw new UsageError("dvisor delete needs one container id");
    const store = new StateStore(stateRoot(globals));
    const force = parsed.flags.force === true;
    let removed: ContainerState;
    try {
      removed = await store.locked(id, () => remove(store, id, force, logger));
    } catch (e) {
      if (!(e instanceof NoSuchContainer)) throw e;
      // As runc: what an aborted create left goes, and --force makes a
      // missing container no error (containerd and podman rely on it).
      await store.locked(id, () => {
        killTagged(store.dir(id));
        removeContainer(store, id, logger);
      });
      if (force) return 0;
      throw e;
    }
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

function remove(
  store: StateStore,
  id: string,
  force: boolean,
  logger: Logger,
): ContainerState {
  const s = store.read(id);
  if ((s.status === "running" || s.status === "paused") && !force) {
    throw new Error(
      `Cannot delete container ${id} that is not stopped: ${s.status} (use --force)`,
    );
  }
  if (s.sandbox) {
    // A container of a pod: its processes and files leave the sandbox, which goes on.
    try {
      callSandbox(store.controlSocket(s), METHOD.destroySubcontainer, { cid: id });
    } catch (e) {
      if (!(e instanceof SandboxGone) && s.status !== "stopped") throw e;
    }
  } else if (!killAndWait(s.pid, s.startTime)) {
    throw new Error(`The sandbox of ${id} (pid ${s.pid}) did not die: try again`);
  }
  // The gofer ends with the sandbox's sockets; a stuck one is killed.
  killAndWait(s.goferPid, s.goferStartTime);
  if (s.waiterPid) killAndWait(s.waiterPid, s.waiterStartTime ?? 0);
  // Whatever a create killed midway started before it recorded the pids.
  if (!killTagged(store.dir(id))) {
    throw new Error(`A process of ${id} did not die: try again`);
  }
  removeContainer(store, id, logger);
  return s;
}
