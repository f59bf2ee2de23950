/**
 * `dvisor events [--stats] [--interval D] ID`: the container's statistics
 * as runc prints them (`{"type":"stats","id":..,"data":{cpu,memory,pids}}`):
 * once with --stats, else every interval (default 5s) until it stops.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { StateStore } from "./container_state.ts";
import { callSandbox, SandboxGone } from "./control_client.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "stats", type: "bool", help: "print the statistics once" },
  { name: "interval", type: "string", help: "how often to print them (Go duration, e.g. 5s)" },
];

/**
 * Parses a Go duration as runc takes it (`500ms`, `5s`, `1m`).
 *
 * @param text The duration.
 * @returns Milliseconds.
 * @throws {UsageError} When it is not one.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./events.ts";
 * if (parseDuration("1m30s") !== 90_000 || parseDuration("250ms") !== 250) throw new Error();
 * ```
 */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  let rest = text;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new UsageError(`Invalid duration ${text}: use e.g. 5s or 500ms`);
    ms += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (ms <= 0) throw new UsageError(`Invalid duration ${text}: it must be positive`);
  return ms;
}

/** One stats event in runc's shape. */
function statsEvent(id: string, socket: string): string {
  const s = callSandbox(socket, METHOD.event) as {
    cpuNs: number;
    memoryBytes: number;
    pids: number;
  };
  return JSON.stringify({
    type: "stats",
    id,
    data: {
      cpu: { usage: { total: s.cpuNs, kernel: 0, user: 0 }, throttling: {} },
      memory: { usage: { usage: s.memoryBytes, max: 0, limit: 0, failcnt: 0 }, raw: {} },
      pids: { current: s.pids, limit: 0 },
    },
  }) + "\n";
}

/** The `events` command. */
export const eventsCommand: Command = {
  flags: FLAGS,
  async run(args, { globals }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, ...extra] = parsed.args;
    if (!id || extra.length) throw new UsageError("dvisor events needs one container id");
    const every = parseDuration((parsed.flags.interval as string | undefined) ?? "5s");
    const store = new StateStore(stateRoot(globals));
    const s = store.read(id);
    if (s.status === "stopped") throw new Error(`Container ${id} is not running`);
    if (parsed.flags.stats) {
      await writeOut(statsEvent(id, store.socket(id)));
      return 0;
    }
    for (;;) {
      try {
        await writeOut(statsEvent(id, store.socket(id)));
      } catch (e) {
        if (e instanceof SandboxGone) return 0; // it stopped: the stream ends
        throw e;
      }
      await new Promise((r) => setTimeout(r, every));
    }
  },
};
