/**
 * `dvisor events [--stats] [--interval D] ID`: the container's statistics
 * as runc prints them (`{"type":"stats","id":..,"data":{cpu,memory,pids}}`):
 * once with --stats, else every interval (default 5s) until it stops, with
 * `{"type":"oom","id":..}` when the host's OOM killer kills in its cgroup.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { type ContainerState, NoSuchContainer, StateStore } from "./container_state.ts";
import { oomKills } from "../platform/cgroup.ts";
import { type BigJson, cgroupStats, statsJson } from "../platform/cgroup_stats.ts";
import { callSandbox, forContainer, SandboxGone } from "./control_client.ts";
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

/**
 * A container's statistics in runc's shape (`{cpu, memory, pids, ...}`):
 * CPU, cpuset and memory from the sandbox's host cgroup (what the
 * container costs the host, the Sentry included), the task count from the
 * Sentry (the container's own processes, as runsc); without a cgroup, all
 * from the Sentry.
 *
 * @param s The container (running).
 * @param socket Its sandbox's control socket.
 * @returns The statistics (`events --stats`'s `data`).
 * @throws {SandboxGone} When the sandbox has ended.
 */
export function containerStats(s: ContainerState, socket: string): { [key: string]: BigJson } {
  const sentry = callSandbox(socket, METHOD.event, forContainer(s)) as {
    cpuNs: number;
    memoryBytes: number;
    pids: number;
  };
  if (!s.cgroup) {
    return {
      cpu: { usage: { total: BigInt(sentry.cpuNs), kernel: 0n, user: 0n }, throttling: {} },
      memory: {
        usage: { usage: BigInt(sentry.memoryBytes), max: 0n, limit: 0n, failcnt: 0n },
        raw: {},
      },
      pids: { current: BigInt(sentry.pids), limit: 0n },
    };
  }
  const data = cgroupStats(s.cgroup);
  // The container's own task count in place of the cgroup's (runc's omitempty for 0).
  const { current: _host, ...limit } = data.pids as Record<string, BigJson>;
  data.pids = { ...(sentry.pids ? { current: BigInt(sentry.pids) } : {}), ...limit };
  return data;
}

/** One stats event, a JSON line. */
function statsEvent(id: string, s: ContainerState, socket: string): string {
  return statsJson({ type: "stats", id, data: containerStats(s, socket) }) + "\n";
}

/** How often the stream looks for OOM kills (stats come every --interval). */
const OOM_POLL_MS = 200;

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
      await writeOut(statsEvent(id, s, store.controlSocket(s)));
      return 0;
    }
    let ooms = s.cgroup ? oomKills(s.cgroup) : 0;
    let due = 0;
    for (;;) {
      try {
        // The stream ends with the container (a pod's may end before its sandbox).
        if (store.read(id).status === "stopped") return 0;
        const kills = s.cgroup ? oomKills(s.cgroup) : 0;
        if (kills > ooms) {
          ooms = kills;
          await writeOut(JSON.stringify({ type: "oom", id }) + "\n");
        }
        if (Date.now() >= due) {
          await writeOut(statsEvent(id, s, store.controlSocket(s)));
          due = Date.now() + every;
        }
      } catch (e) {
        // It stopped, or was deleted: the stream ends.
        if (e instanceof SandboxGone || e instanceof NoSuchContainer) return 0;
        throw e;
      }
      await new Promise((r) => setTimeout(r, Math.min(every, OOM_POLL_MS)));
    }
  },
};
