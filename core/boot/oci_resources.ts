/**
 * OCI `linux.resources` (in config.json, and as `dvisor update --resources`
 * takes it), checked, as the limits of the sandbox's host cgroup. As in
 * runc, a zero leaves a setting unchanged and -1 means no limit.
 *
 * @module
 */
import type { BlockIO, DeviceRate, Resources } from "../../platform/cgroup_resources.ts";

/** A field of linux.resources the host cgroup does not get (reported, not fatal). */
export interface Ignored {
  field: string;
  why: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses linux.resources.
 *
 * @param raw The `resources` object (null or undefined: none).
 * @param where How to name it in errors (`config.json: linux.resources`).
 * @returns The limits and the fields left unapplied.
 * @throws {RangeError} For a value of the wrong type or out of range.
 *
 * @example
 * ```ts
 * import { parseResources } from "./oci_resources.ts";
 * const { resources } = parseResources({ memory: { limit: 1048576 }, pids: { limit: 0 } }, "r");
 * if (resources.memory?.limit !== 1048576 || resources.pids) throw new Error();
 * ```
 */
export function parseResources(
  raw: unknown,
  where: string,
): { resources: Resources; ignored: Ignored[] } {
  const resources: Resources = {};
  const ignored: Ignored[] = [];
  if (raw === undefined || raw === null) return { resources, ignored };
  if (!isObject(raw)) throw new RangeError(`${where} must be an object`);
  const section = (name: string) => {
    const v = raw[name];
    if (v === undefined || v === null) return null;
    if (!isObject(v)) throw new RangeError(`${where}.${name} must be an object`);
    return v;
  };
  /** An integer >= min, or undefined when absent or 0 (unchanged). */
  const int = (o: Record<string, unknown>, name: string, key: string, min: number) => {
    const v = o[key];
    if (v === undefined || v === null || v === 0) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new RangeError(
        `${where}.${name}.${key} must be an integer${min < 0 ? " (-1 for no limit)" : ""} >= ${
          min < 0 ? -1 : min
        }, not ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const limit = (o: Record<string, unknown>, name: string, key: string) => {
    const v = int(o, name, key, -1);
    return v === undefined ? undefined : v < 0 ? -1 : v;
  };
  /** The members that are set. */
  const put = <T extends object>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
      [K in keyof T]?: Exclude<T[K], undefined>;
    };

  const memory = section("memory");
  if (memory) {
    const swappiness = memory.swappiness;
    if (
      swappiness !== undefined && swappiness !== null &&
      (typeof swappiness !== "number" || !Number.isInteger(swappiness) || swappiness < 0 ||
        swappiness > 100)
    ) {
      throw new RangeError(`${where}.memory.swappiness must be 0 to 100`);
    }
    const m = put({
      limit: limit(memory, "memory", "limit"),
      reservation: limit(memory, "memory", "reservation"),
      swap: limit(memory, "memory", "swap"),
      swappiness: typeof swappiness === "number" ? swappiness : undefined,
      disableOOMKiller: typeof memory.disableOOMKiller === "boolean"
        ? memory.disableOOMKiller
        : undefined,
    });
    if (m.limit !== undefined && m.limit > 0 && m.swap !== undefined && m.swap > 0) {
      if (m.swap < m.limit) {
        throw new RangeError(
          `${where}.memory.swap (memory plus swap) must be at least memory.limit`,
        );
      }
    }
    if (Object.keys(m).length) resources.memory = m;
    for (const k of ["kernel", "kernelTCP"]) {
      if (memory[k] !== undefined && memory[k] !== null && memory[k] !== 0) {
        ignored.push({ field: `memory.${k}`, why: "kernel memory limits are deprecated" });
      }
    }
  }

  const cpu = section("cpu");
  if (cpu) {
    const text = (key: string) => {
      const v = cpu[key];
      if (v === undefined || v === null || v === "") return undefined;
      if (typeof v !== "string" || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) {
        throw new RangeError(`${where}.cpu.${key} must be a list like 0-3,5`);
      }
      return v;
    };
    const c = put({
      shares: int(cpu, "cpu", "shares", 2),
      quota: limit(cpu, "cpu", "quota"),
      period: int(cpu, "cpu", "period", 1000),
      realtimeRuntime: limit(cpu, "cpu", "realtimeRuntime"),
      realtimePeriod: int(cpu, "cpu", "realtimePeriod", 1),
      cpus: text("cpus"),
      mems: text("mems"),
    });
    if (Object.keys(c).length) resources.cpu = c;
  }

  const pids = section("pids");
  if (pids) {
    const l = limit(pids, "pids", "limit");
    if (l !== undefined) resources.pids = { limit: l };
  }

  const unified = section("unified");
  if (unified) {
    for (const [k, v] of Object.entries(unified)) {
      if (typeof v !== "string") throw new RangeError(`${where}.unified.${k} must be a string`);
    }
    if (Object.keys(unified).length) resources.unified = unified as Record<string, string>;
  }

  const blockIO = section("blockIO");
  if (blockIO) {
    const b = parseBlockIO(blockIO, `${where}.blockIO`);
    if (Object.keys(b).length) resources.blockIO = b;
  }

  const huge = raw.hugepageLimits;
  if (huge !== undefined && huge !== null) {
    if (!Array.isArray(huge)) throw new RangeError(`${where}.hugepageLimits must be an array`);
    const limits = huge.map((h, i) => {
      const at = `${where}.hugepageLimits[${i}]`;
      if (!isObject(h) || typeof h.pageSize !== "string" || !/^\d+[KMG]B$/.test(h.pageSize)) {
        throw new RangeError(`${at}.pageSize must be a size like 2MB or 1GB`);
      }
      if (typeof h.limit !== "number" || !Number.isSafeInteger(h.limit) || h.limit < 0) {
        throw new RangeError(`${at}.limit must be a number of bytes >= 0`);
      }
      return { pageSize: h.pageSize, limit: h.limit };
    });
    if (limits.length) resources.hugepageLimits = limits;
  }

  for (const k of ["network", "rdma"]) {
    const v = raw[k];
    const given = Array.isArray(v) ? v.length > 0 : isObject(v) && Object.keys(v).length > 0;
    if (given) ignored.push({ field: k, why: "dvisor does not set it on the host cgroup" });
  }
  return { resources, ignored };
}

/** A weight, 10 to 1000, or undefined when absent or 0 (unchanged). */
function weightOf(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null || v === 0) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 10 || v > 1000) {
    throw new RangeError(`${where} must be a weight from 10 to 1000, not ${JSON.stringify(v)}`);
  }
  return v;
}

/** A device's major and minor numbers. */
function deviceOf(d: unknown, where: string): { major: number; minor: number } {
  if (!isObject(d)) throw new RangeError(`${where} must be an object with major and minor`);
  for (const k of ["major", "minor"]) {
    const v = d[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new RangeError(`${where}.${k} must be a device number >= 0`);
    }
  }
  return { major: d.major as number, minor: d.minor as number };
}

/** linux.resources.blockIO, checked. */
function parseBlockIO(raw: Record<string, unknown>, where: string): BlockIO {
  const out: BlockIO = {};
  const weight = weightOf(raw.weight, `${where}.weight`);
  if (weight) out.weight = weight;
  const leaf = weightOf(raw.leafWeight, `${where}.leafWeight`);
  if (leaf) out.leafWeight = leaf;
  const list = (key: string) => {
    const v = raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new RangeError(`${where}.${key} must be an array`);
    return v;
  };
  const devices = list("weightDevice").map((d, i) => {
    const at = `${where}.weightDevice[${i}]`;
    const w = weightOf((d as Record<string, unknown>)?.weight, `${at}.weight`);
    const lw = weightOf((d as Record<string, unknown>)?.leafWeight, `${at}.leafWeight`);
    return { ...deviceOf(d, at), ...(w ? { weight: w } : {}), ...(lw ? { leafWeight: lw } : {}) };
  });
  if (devices.length) out.weightDevice = devices;
  for (
    const key of [
      "throttleReadBpsDevice",
      "throttleWriteBpsDevice",
      "throttleReadIOPSDevice",
      "throttleWriteIOPSDevice",
    ] as const
  ) {
    const rates: DeviceRate[] = list(key).map((d, i) => {
      const at = `${where}.${key}[${i}]`;
      const rate = (d as Record<string, unknown>)?.rate;
      if (typeof rate !== "number" || !Number.isSafeInteger(rate) || rate < 0) {
        throw new RangeError(`${at}.rate must be an integer >= 0 (0: no limit)`);
      }
      return { ...deviceOf(d, at), rate };
    });
    if (rates.length) out[key] = rates;
  }
  return out;
}
