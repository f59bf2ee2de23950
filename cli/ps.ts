/**
 * `dvisor ps [--format table|json] ID`: the container's processes. JSON is
 * an array of host pids, as containerd's shim expects; the table shows
 * the container's view.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import type { ProcessInfo } from "../core/control/handlers.ts";
import { StateStore } from "./container_state.ts";
import { callSandbox, forContainer } from "./control_client.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "format", aliases: ["f"], type: "string", help: "table (default) or json" },
];

/**
 * Maps pids in a sandbox process's pid namespace to host pids: the
 * second NSpid entry of its descendants.
 *
 * @param sandboxPid The sandbox process's host pid.
 * @returns Host pid by pid in the sandbox process's namespace.
 */
export function hostPids(sandboxPid: number): Map<number, number> {
  const parent = new Map<number, number>();
  const inner = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
      parent.set(Number(e.name), Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
      if (ns.length >= 2) inner.set(Number(e.name), ns[1]!);
    } catch {
      // gone
    }
  }
  const out = new Map<number, number>();
  for (const [pid, innerPid] of inner) {
    let p = parent.get(pid);
    for (let depth = 0; p && depth < 64 && p !== sandboxPid; depth++) p = parent.get(p);
    if (p === sandboxPid) out.set(innerPid, pid);
  }
  return out;
}

/** The `ps` command. */
export const psCommand: Command = {
  flags: FLAGS,
  async run(args, { globals }) {
    const parsed = parseFlags(args, FLAGS, { stopAtArgument: true });
    const [id] = parsed.args;
    if (!id) throw new UsageError("dvisor ps needs a container id");
    const format = (parsed.flags.format as string | undefined) ?? "table";
    if (format !== "table" && format !== "json") {
      throw new UsageError(`Unknown --format ${format}: use table or json`);
    }
    const store = new StateStore(stateRoot(globals));
    const s = store.read(id);
    if (s.status === "stopped") throw new Error(`Container ${id} is not running`);
    const procs = callSandbox(
      store.controlSocket(s),
      METHOD.processes,
      forContainer(s),
    ) as ProcessInfo[];
    const host = hostPids(s.pid);
    if (format === "json") {
      await writeOut(JSON.stringify(procs.map((p) => host.get(p.hostPid) ?? 0)) + "\n");
      return 0;
    }
    const rows = [
      ["UID", "PID", "PPID", "HOST PID", "THREADS", "CMD"],
      ...procs.map((p) => [
        String(p.uid),
        String(p.pid),
        String(p.ppid),
        String(host.get(p.hostPid) ?? "?"),
        String(p.threads),
        p.comm,
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    await writeOut(
      rows.map((r) => r.map((c, i) => c.padEnd(widths[i]! + 2)).join("").trimEnd() + "\n").join(""),
    );
    return 0;
  },
};
