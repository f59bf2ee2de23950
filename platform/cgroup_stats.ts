/**
 * A cgroup's statistics in the shape `runc events` prints them (runc's
 * `types.Stats`: cpu, cpuset, memory, pids, ...), read from the control
 * files of cgroup v1 or v2. Counters can exceed 2^53, so they are bigints;
 * {@linkcode statsJson} writes them as JSON numbers.
 *
 * @module
 */
import { type CgroupRecord, controllerDir, readControl } from "./cgroup.ts";

/** A JSON value whose numbers may be bigints. */
export type BigJson =
  | bigint
  | number
  | string
  | boolean
  | null
  | BigJson[]
  | { [key: string]: BigJson };

const USER_HZ = 100n;
const NS_PER_TICK = 1_000_000_000n / USER_HZ;
/** What runc reports for "max" under v2. */
const UNLIMITED = 18446744073709551615n;

function big(text: string): bigint {
  return /^\d+$/.test(text) ? BigInt(text) : text === "max" ? UNLIMITED : 0n;
}

/** `key value` lines (memory.stat, cpu.stat) as a map. */
function keyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [k, v] = line.split(" ");
    if (k && v !== undefined) out.set(k, big(v));
  }
  return out;
}

/** `0-2,5` as [0, 1, 2, 5]. */
function cpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const [a, b] = part.split("-");
    if (!a) continue;
    for (let i = Number(a); i <= Number(b ?? a); i++) out.push(i);
  }
  return out;
}

/** Drops zero/empty members, as Go's omitempty does. */
function omitEmpty(o: Record<string, BigJson>, keys: string[]): Record<string, BigJson> {
  const out: Record<string, BigJson> = {};
  for (const [k, v] of Object.entries(o)) {
    const empty = v === 0n || v === 0 || (Array.isArray(v) && !v.length) ||
      (v !== null && typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length);
    if (!(keys.includes(k) && empty)) out[k] = v;
  }
  return out;
}

/** runc's MemoryEntry: limit and failcnt always, usage and max when not zero. */
function entry(limit: bigint, usage: bigint, max: bigint, failcnt: bigint): BigJson {
  return omitEmpty({ limit, usage, max, failcnt }, ["usage", "max"]);
}

function numbers(text: string): bigint[] {
  return text.split(/\s+/).filter(Boolean).map(big);
}

function v1Cpu(r: CgroupRecord): BigJson {
  const acct = controllerDir(r, "cpuacct");
  const cpu = controllerDir(r, "cpu");
  const stat = keyed(acct ? readControl(acct, "cpuacct.stat") : "");
  const usage = omitEmpty({
    total: big(acct ? readControl(acct, "cpuacct.usage") : ""),
    percpu: numbers(acct ? readControl(acct, "cpuacct.usage_percpu") : ""),
    percpu_kernel: numbers(acct ? readControl(acct, "cpuacct.usage_percpu_sys") : ""),
    percpu_user: numbers(acct ? readControl(acct, "cpuacct.usage_percpu_user") : ""),
    kernel: (stat.get("system") ?? 0n) * NS_PER_TICK,
    user: (stat.get("user") ?? 0n) * NS_PER_TICK,
  }, ["total", "percpu", "percpu_kernel", "percpu_user"]);
  const t = keyed(cpu ? readControl(cpu, "cpu.stat") : "");
  const throttling = omitEmpty({
    periods: t.get("nr_periods") ?? 0n,
    throttled_periods: t.get("nr_throttled") ?? 0n,
    throttled_time: t.get("throttled_time") ?? 0n,
  }, ["periods", "throttled_periods", "throttled_time"]);
  return { usage, throttling };
}

function v2Cpu(dir: string): BigJson {
  const s = keyed(readControl(dir, "cpu.stat"));
  const usage = omitEmpty({
    total: (s.get("usage_usec") ?? 0n) * 1000n,
    kernel: (s.get("system_usec") ?? 0n) * 1000n,
    user: (s.get("user_usec") ?? 0n) * 1000n,
  }, ["total"]);
  const throttling = omitEmpty({
    periods: s.get("nr_periods") ?? 0n,
    throttled_periods: s.get("nr_throttled") ?? 0n,
    throttled_time: (s.get("throttled_usec") ?? 0n) * 1000n,
  }, ["periods", "throttled_periods", "throttled_time"]);
  return { usage, throttling };
}

function cpuset(r: CgroupRecord): BigJson {
  const dir = controllerDir(r, "cpuset");
  if (!dir) return {};
  const read = (f: string) => readControl(dir, f);
  const effective = (f: string) => read(`${f}.effective`) || read(f);
  const flag = (f: string) => big(read(`cpuset.${f}`));
  const out: Record<string, BigJson> = {
    cpus: cpuList(effective("cpuset.cpus")),
    cpu_exclusive: flag("cpu_exclusive"),
    mems: cpuList(effective("cpuset.mems")),
  };
  if (r.version === 1) {
    Object.assign(out, {
      mem_hardwall: flag("mem_hardwall"),
      mem_exclusive: flag("mem_exclusive"),
      memory_migrate: flag("memory_migrate"),
      memory_spread_page: flag("memory_spread_page"),
      memory_spread_slab: flag("memory_spread_slab"),
      memory_pressure: flag("memory_pressure"),
      sched_load_balance: flag("sched_load_balance"),
      sched_relax_domain_level: Number(read("cpuset.sched_relax_domain_level") || 0),
    });
  }
  return omitEmpty(out, ["cpus", "mems"]);
}

function v1Memory(dir: string): BigJson {
  const f = (name: string) => big(readControl(dir, `memory.${name}`));
  const group = (prefix: string) =>
    entry(
      f(`${prefix}limit_in_bytes`),
      f(`${prefix}usage_in_bytes`),
      f(`${prefix}max_usage_in_bytes`),
      f(`${prefix}failcnt`),
    );
  const raw = keyed(readControl(dir, "memory.stat"));
  return omitEmpty({
    cache: raw.get("total_cache") ?? raw.get("cache") ?? 0n,
    usage: group(""),
    swap: group("memsw."),
    kernel: group("kmem."),
    kernelTCP: group("kmem.tcp."),
    raw: Object.fromEntries(raw),
  }, ["cache", "raw"]);
}

function v2Memory(dir: string): BigJson {
  const f = (name: string) => big(readControl(dir, name));
  const events = keyed(readControl(dir, "memory.events"));
  const raw = keyed(readControl(dir, "memory.stat"));
  return omitEmpty({
    cache: raw.get("file") ?? 0n,
    usage: entry(f("memory.max"), f("memory.current"), f("memory.peak"), events.get("max") ?? 0n),
    swap: entry(
      f("memory.swap.max"),
      f("memory.swap.current"),
      f("memory.swap.peak"),
      0n,
    ),
    raw: Object.fromEntries(raw),
  }, ["cache", "raw"]);
}

function pids(r: CgroupRecord): Record<string, BigJson> {
  const dir = controllerDir(r, "pids");
  const limit = dir ? readControl(dir, "pids.max") : "";
  return omitEmpty({
    current: big(dir ? readControl(dir, "pids.current") : ""),
    limit: limit === "max" ? 0n : big(limit),
  }, ["current", "limit"]);
}

/**
 * Reads a cgroup's statistics in runc's `events` shape (the `data` member).
 *
 * @param r The cgroup.
 * @returns `{cpu, cpuset, memory, pids, blkio, hugetlb, intel_rdt, network_interfaces}`.
 */
export function cgroupStats(r: CgroupRecord): { [key: string]: BigJson } {
  const memory = controllerDir(r, "memory");
  const cpu = r.version === 2 ? v2Cpu(r.dirs[0]!.dir) : v1Cpu(r);
  return {
    cpu,
    cpuset: cpuset(r),
    memory: memory ? (r.version === 2 ? v2Memory(memory) : v1Memory(memory)) : {},
    pids: pids(r),
    blkio: {},
    hugetlb: {},
    intel_rdt: {},
    network_interfaces: null,
  };
}

/**
 * JSON text of a value whose numbers may be bigints (written exactly).
 *
 * @param value The value.
 * @returns One line of JSON.
 *
 * @example
 * ```ts
 * import { statsJson } from "./cgroup_stats.ts";
 * if (statsJson({ a: 18446744073709551615n }) !== '{"a":18446744073709551615}') throw new Error();
 * ```
 */
export function statsJson(value: BigJson): string {
  const mark = "\u0000big:";
  const text = JSON.stringify(
    value,
    (_k, v) => typeof v === "bigint" ? `${mark}${v}` : v,
  );
  return text.replace(/"\\u0000big:(\d+)"/g, "$1");
}
