/**
 * `dvisor kill [--all] ID [SIGNAL]`: signals the container's init (or,
 * with --all, every process of it). SIGTERM by default, as runc.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { type ContainerState, StateStore } from "./container_state.ts";
import { callSandbox, forContainer, SandboxGone } from "./control_client.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { parseSignal } from "./signal_names.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "all", aliases: ["a"], type: "bool", help: "signal every process of the container" },
  { name: "pid", type: "int", help: "signal this process (its pid in the container)" },
];

/** The `kill` command. */
export const killCommand: Command = {
  flags: FLAGS,
  async run(args, { globals }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, sig = "SIGTERM", ...extra] = parsed.args;
    if (!id || extra.length) {
      throw new UsageError("dvisor kill needs a container id and at most one signal");
    }
    const signo = parseSignal(sig);
    const store = new StateStore(stateRoot(globals));
    const s = store.read(id);
    // As runc: with --all a stopped container is no error (nothing is left to signal).
    if (s.status === "stopped" && parsed.flags.all) return 0;
    if (s.status === "stopped" || s.status === "creating") {
      // runc's words: containerd's runc shim takes "container not running" as
      // "already exited" (CRI kills every container it reaps, stopped or not).
      throw new Error(`Cannot kill container ${id}: container not running`);
    }
    const socket = store.controlSocket(s);
    callSandbox(
      socket,
      METHOD.signal,
      forContainer(s, {
        signo,
        mode: parsed.flags.all ? "all" : "process",
        ...(parsed.flags.pid !== undefined ? { pid: parsed.flags.pid } : {}),
      }),
    );
    // As runc: kill --all with SIGKILL returns once every process is gone.
    if (parsed.flags.all && signo === 9) await allGone(socket, s, id);
    return 0;
  },
};

/** Waits until the container has no process left (its sandbox may end with them). */
async function allGone(socket: string, s: ContainerState, id: string): Promise<void> {
  const end = Date.now() + KILL_WAIT_MS;
  for (;;) {
    let left: unknown[];
    try {
      left = callSandbox(socket, METHOD.processes, forContainer(s)) as unknown[];
    } catch (e) {
      if (e instanceof SandboxGone) return;
      throw e;
    }
    // A pod's container is done when its processes are; a sandbox's own
    // container when its sandbox has ended with them (state then says stopped).
    if (left.length === 0 && s.sandbox) return;
    if (Date.now() > end) {
      throw new Error(`The processes of ${id} did not all die after SIGKILL: try again`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** How long kill --all waits for SIGKILL to take every process. */
const KILL_WAIT_MS = 10_000;
