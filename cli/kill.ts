/**
 * `dvisor kill [--all] ID [SIGNAL]`: signals the container's init (or,
 * with --all, every process of it). SIGTERM by default, as runc.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { StateStore } from "./container_state.ts";
import { callSandbox, forContainer } from "./control_client.ts";
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
  run(args, { globals }) {
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
    callSandbox(
      store.controlSocket(s),
      METHOD.signal,
      forContainer(s, {
        signo,
        mode: parsed.flags.all ? "all" : "process",
        ...(parsed.flags.pid !== undefined ? { pid: parsed.flags.pid } : {}),
      }),
    );
    return 0;
  },
};
