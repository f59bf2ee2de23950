/**
 * `dvisor update [--resources FILE|-] [limit flags] ID`: changes the limits
 * of a created, running or paused container's host cgroup, as runc does:
 * containerd sends `linux.resources` JSON on stdin (`--resources -`); the
 * flags (`--memory 512m`, `--cpu-quota`, `--pids-limit`...) override it.
 *
 * @module
 */
import { parseResources } from "../core/boot/oci_resources.ts";
import { setResources } from "../platform/cgroup.ts";
import { StateStore } from "./container_state.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { stateRoot } from "./state_root.ts";

/** Flags that set one field of linux.resources: flag, section, key, how it is read. */
const LIMIT_FLAGS: Array<[string, string, string, "bytes" | "int" | "text", string]> = [
  ["memory", "memory", "limit", "bytes", "memory limit (512m, 1g; -1: none)"],
  ["memory-reservation", "memory", "reservation", "bytes", "memory soft limit"],
  ["memory-swap", "memory", "swap", "bytes", "memory plus swap limit (-1: unlimited swap)"],
  ["cpu-share", "cpu", "shares", "int", "CPU shares (relative weight)"],
  ["cpu-quota", "cpu", "quota", "int", "CFS quota in microseconds per period (-1: none)"],
  ["cpu-period", "cpu", "period", "int", "CFS period in microseconds"],
  ["cpu-rt-runtime", "cpu", "realtimeRuntime", "int", "real-time runtime in microseconds"],
  ["cpu-rt-period", "cpu", "realtimePeriod", "int", "real-time period in microseconds"],
  ["cpuset-cpus", "cpu", "cpus", "text", "CPUs to use (0-3,5)"],
  ["cpuset-mems", "cpu", "mems", "text", "memory nodes to use"],
  ["pids-limit", "pids", "limit", "int", "most tasks at once (-1: none)"],
  ["blkio-weight", "blockIO", "weight", "int", "block I/O weight (10 to 1000)"],
];

/** runc's flags for limits dvisor does not set. */
const UNSUPPORTED = ["cpu-burst", "cpu-idle", "l3-cache-schema", "mem-bw-schema"];

const FLAGS: FlagSpec[] = [
  {
    name: "resources",
    aliases: ["r"],
    type: "string",
    help: "a file of linux.resources JSON, or - for stdin",
  },
  ...LIMIT_FLAGS.map(([name, , , , help]): FlagSpec => ({ name, type: "string", help })),
  ...UNSUPPORTED.map((name): FlagSpec => ({ name, type: "string", help: "(runc) not supported" })),
  ...["kernel-memory", "kernel-memory-tcp"].map((name): FlagSpec => ({
    name,
    type: "string",
    help: "(runc) obsolete, ignored",
    ignored: true,
  })),
];

/**
 * Parses a size as runc's flags take it: bytes, or with a binary unit
 * (`512k`, `64m`, `1g`, `2GiB`); -1 is no limit.
 *
 * @param text The size.
 * @returns Bytes.
 * @throws {UsageError} When it is not a size.
 *
 * @example
 * ```ts
 * import { parseBytes } from "./update.ts";
 * if (parseBytes("512m") !== 512 * 1024 * 1024 || parseBytes("-1") !== -1) throw new Error();
 * ```
 */
export function parseBytes(text: string): number {
  if (text === "-1") return -1;
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?(?:i?b)?$/i.exec(text);
  if (!m) throw new UsageError(`Invalid size ${text}: use bytes or a unit, e.g. 512m or 1g`);
  const power = m[2] ? "kmgtp".indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/** Reads --resources: a file, or stdin for "-". */
async function readResources(where: string): Promise<unknown> {
  let text: string;
  try {
    text = where === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(where);
  } catch (e) {
    throw new UsageError(
      `Cannot read --resources ${where}: ${e instanceof Error ? e.message : e}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`--resources ${where} is not JSON: give linux.resources as JSON`);
  }
}

/** The `update` command. */
export const updateCommand: Command = {
  flags: FLAGS,
  async run(args, { globals }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, ...extra] = parsed.args;
    if (!id || extra.length) throw new UsageError("dvisor update needs one container id");
    for (const name of UNSUPPORTED) {
      if (parsed.flags[name] !== undefined) {
        throw new UsageError(`--${name} is not supported by dvisor: leave it out`);
      }
    }
    const where = parsed.flags.resources as string | undefined;
    const raw = (where ? await readResources(where) : {}) as Record<string, unknown>;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new UsageError(`--resources ${where} must hold a JSON object`);
    }
    for (const [flag, section, key, kind] of LIMIT_FLAGS) {
      const v = parsed.flags[flag] as string | undefined;
      if (v === undefined) continue;
      let value: string | number = v;
      if (kind === "bytes") value = parseBytes(v);
      if (kind === "int") {
        if (!/^-?\d+$/.test(v)) throw new UsageError(`Invalid --${flag} ${v}: give an integer`);
        value = Number(v);
      }
      const s = (raw[section] ??= {}) as Record<string, unknown>;
      s[key] = value;
    }
    let resources;
    try {
      resources = parseResources(raw, "resources").resources;
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    const store = new StateStore(stateRoot(globals));
    return await store.locked(id, () => {
      const s = store.read(id);
      if (s.status === "stopped") throw new Error(`Container ${id} is not running`);
      if (s.sandbox) {
        throw new Error(
          `Container ${id} shares the cgroup of its pod's sandbox: update ${s.sandbox} instead`,
        );
      }
      if (!s.cgroup) {
        throw new Error(
          `Container ${id} has no host cgroup (started without root): its limits cannot change`,
        );
      }
      setResources(s.cgroup, resources);
      return 0;
    });
  },
};
