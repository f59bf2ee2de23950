/**
 * Resource limits for a host cgroup, and the control files each becomes
 * under cgroup v1 and v2 (the values runc writes for the same settings).
 *
 * @module
 */

/** The limits dvisor sets on a sandbox's host cgroup (OCI `linux.resources`). */
export interface Resources {
  memory?: {
    /** Hard limit in bytes (-1: none). */
    limit?: number;
    /** Soft limit in bytes (-1: none). */
    reservation?: number;
    /** Memory plus swap, in bytes (-1: unlimited swap). */
    swap?: number;
    /** v1 swappiness, 0 to 100. */
    swappiness?: number;
    /** v1: do not kill on OOM (tasks wait instead). */
    disableOOMKiller?: boolean;
  };
  cpu?: {
    /** Relative weight (v1 shares, 2 to 262144). */
    shares?: number;
    /** CFS quota in microseconds per period (-1: none). */
    quota?: number;
    /** CFS period in microseconds. */
    period?: number;
    /** Real-time runtime (v1 only), microseconds. */
    realtimeRuntime?: number;
    /** Real-time period (v1 only), microseconds. */
    realtimePeriod?: number;
    /** CPUs the sandbox may run on (`0-3,5`). */
    cpus?: string;
    /** Memory nodes it may use. */
    mems?: string;
  };
  pids?: {
    /** Most tasks (threads) at once; 0 or -1: none. */
    limit?: number;
  };
  /** Block I/O: weights and throttles per device. */
  blockIO?: BlockIO;
  /** Huge page limits, by page size (`2MB`, `1GB`), in bytes. */
  hugepageLimits?: Array<{ pageSize: string; limit: number }>;
  /** cgroup v2 control files written as given (`{"memory.high": "1G"}`). */
  unified?: Record<string, string>;
}

/** A device's rate (bytes or operations per second), as linux.resources.blockIO gives it. */
export interface DeviceRate {
  major: number;
  minor: number;
  rate: number;
}

/** linux.resources.blockIO. */
export interface BlockIO {
  /** Relative weight, 10 to 1000. */
  weight?: number;
  /** v1: the weight of the cgroup's own tasks against its children, 10 to 1000. */
  leafWeight?: number;
  /** Weights per device. */
  weightDevice?: Array<{ major: number; minor: number; weight?: number; leafWeight?: number }>;
  throttleReadBpsDevice?: DeviceRate[];
  throttleWriteBpsDevice?: DeviceRate[];
  throttleReadIOPSDevice?: DeviceRate[];
  throttleWriteIOPSDevice?: DeviceRate[];
}

/** One control file to write: the controller (v1 hierarchy), the file, the value. */
export interface ControlWrite {
  controller: "memory" | "cpu" | "cpuset" | "pids" | "blkio" | "io" | "hugetlb" | "unified";
  file: string;
  value: string;
  /** A first attempt whose failure is ignored: a later write of the same file decides. */
  mayFail?: boolean;
  /** What to write instead when `file` does not exist (the other I/O scheduler's file). */
  fallback?: { file: string; value: string };
}

const MAX_SHARES = 262144;

/**
 * v1 shares as a v2 cpu.weight (runc's conversion: 2..262144 onto 1..10000).
 *
 * @param shares cpu.shares.
 * @returns cpu.weight.
 *
 * @example
 * ```ts
 * import { sharesToWeight } from "./cgroup_resources.ts";
 * if (sharesToWeight(1024) !== 39 || sharesToWeight(2) !== 1) throw new Error();
 * ```
 */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((Math.min(shares, MAX_SHARES) - 2) * 9999) / (MAX_SHARES - 2));
}

/** -1 (or absent when `none` is passed) as the file's "no limit" word. */
function limitText(n: number, unlimited: string): string {
  return n < 0 ? unlimited : String(n);
}

/**
 * The control file writes that set the given resources, in the order they
 * must be made (v1 memory+swap after the memory limit; v1 raises are
 * handled by {@linkcode orderedMemoryWrites}).
 *
 * @param version cgroup version.
 * @param r The resources (only the fields given are written).
 * @param current For v2: the memory limit in force when `r` has none (for
 *   swap), and the CPU quota in force (kept when only the period changes).
 * @returns The writes.
 *
 * @example
 * ```ts
 * import { controlWrites } from "./cgroup_resources.ts";
 * const w = controlWrites(2, { memory: { limit: 1 << 20 }, pids: { limit: 64 } });
 * if (!w.some((x) => x.file === "memory.max" && x.value === "1048576")) throw new Error();
 * ```
 */
export function controlWrites(
  version: 1 | 2,
  r: Resources,
  current: { memoryLimit?: number; cpuQuota?: string } = {},
): ControlWrite[] {
  const out: ControlWrite[] = [];
  const add = (controller: ControlWrite["controller"], file: string, value: string) =>
    out.push({ controller, file, value });
  const m = r.memory ?? {};
  const c = r.cpu ?? {};
  if (version === 1) {
    out.push(...orderedMemoryWrites(m));
    if (m.reservation !== undefined) {
      add("memory", "memory.soft_limit_in_bytes", limitText(m.reservation, "-1"));
    }
    if (m.swappiness !== undefined) add("memory", "memory.swappiness", String(m.swappiness));
    if (m.disableOOMKiller !== undefined) {
      add("memory", "memory.oom_control", m.disableOOMKiller ? "1" : "0");
    }
    if (c.shares !== undefined) add("cpu", "cpu.shares", String(c.shares));
    if (c.period !== undefined) add("cpu", "cpu.cfs_period_us", String(c.period));
    if (c.quota !== undefined) add("cpu", "cpu.cfs_quota_us", limitText(c.quota, "-1"));
    if (c.realtimePeriod !== undefined) {
      add("cpu", "cpu.rt_period_us", String(c.realtimePeriod));
    }
    if (c.realtimeRuntime !== undefined) {
      add("cpu", "cpu.rt_runtime_us", String(c.realtimeRuntime));
    }
  } else {
    if (m.limit !== undefined) add("memory", "memory.max", limitText(m.limit, "max"));
    if (m.reservation !== undefined) add("memory", "memory.low", limitText(m.reservation, "max"));
    if (m.swap !== undefined) {
      // v1's memory+swap is v2's swap alone: the difference.
      const limit = m.limit ?? current.memoryLimit ?? -1;
      const swap = m.swap < 0 ? "max" : limit < 0 ? null : String(Math.max(0, m.swap - limit));
      if (swap === null) {
        throw new RangeError(
          "A memory+swap limit needs a memory limit under cgroup v2: set memory.limit too",
        );
      }
      add("memory", "memory.swap.max", swap);
    }
    if (c.shares !== undefined) add("cpu", "cpu.weight", String(sharesToWeight(c.shares)));
    if (c.quota !== undefined || c.period !== undefined) {
      // A period alone keeps the quota in force (cpu.max holds both).
      const quota = c.quota === undefined
        ? current.cpuQuota ?? "max"
        : c.quota < 0
        ? "max"
        : String(c.quota);
      add("cpu", "cpu.max", c.period === undefined ? quota : `${quota} ${c.period}`);
    }
    if (c.realtimePeriod !== undefined || c.realtimeRuntime !== undefined) {
      throw new RangeError("Real-time CPU limits need cgroup v1: remove cpu.realtime*");
    }
  }
  out.push(...blockIOWrites(version, r.blockIO ?? {}));
  // Huge pages, and their reservations where the kernel has them (as runc).
  for (const { pageSize, limit } of r.hugepageLimits ?? []) {
    const [file, rsvd] = version === 1
      ? [`hugetlb.${pageSize}.limit_in_bytes`, `hugetlb.${pageSize}.rsvd.limit_in_bytes`]
      : [`hugetlb.${pageSize}.max`, `hugetlb.${pageSize}.rsvd.max`];
    add("hugetlb", file, String(limit));
    out.push({ controller: "hugetlb", file: rsvd, value: String(limit), mayFail: true });
  }
  if (c.cpus !== undefined) add("cpuset", "cpuset.cpus", c.cpus);
  if (c.mems !== undefined) add("cpuset", "cpuset.mems", c.mems);
  if (r.pids?.limit !== undefined) {
    add("pids", "pids.max", r.pids.limit <= 0 ? "max" : String(r.pids.limit));
  }
  for (const [file, value] of Object.entries(r.unified ?? {})) {
    if (version === 1) {
      throw new RangeError(`linux.resources.unified (${file}) needs cgroup v2: remove it`);
    }
    if (file.includes("/") || file.startsWith(".")) {
      throw new RangeError(`linux.resources.unified: ${file} is not a control file name`);
    }
    add("unified", file, value);
  }
  return out;
}

/**
 * v1 blkio weight (10..1000) as v2's io.weight (1..10000), as runc converts it.
 *
 * @param weight The blkio weight.
 * @returns The io.weight.
 *
 * @example
 * ```ts
 * import { blkioToIoWeight } from "./cgroup_resources.ts";
 * if (blkioToIoWeight(10) !== 1 || blkioToIoWeight(1000) !== 10000) throw new Error();
 * ```
 */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * The block I/O writes, as runc makes them: under v1 blkio.weight (or,
 * where only BFQ has weights, blkio.bfq.weight), leaf weights, per-device
 * weights and the four throttles; under v2 io.bfq.weight (or io.weight,
 * converted), BFQ's per-device weights where BFQ is there, and io.max.
 */
function blockIOWrites(version: 1 | 2, b: BlockIO): ControlWrite[] {
  const out: ControlWrite[] = [];
  const dev = (d: { major: number; minor: number }) => `${d.major}:${d.minor}`;
  const throttles: Array<[DeviceRate[] | undefined, string, string]> = [
    [b.throttleReadBpsDevice, "read_bps", "rbps"],
    [b.throttleWriteBpsDevice, "write_bps", "wbps"],
    [b.throttleReadIOPSDevice, "read_iops", "riops"],
    [b.throttleWriteIOPSDevice, "write_iops", "wiops"],
  ];
  if (version === 1) {
    const blkio = (file: string, value: string, fallback?: string) =>
      out.push({
        controller: "blkio",
        file,
        value,
        ...(fallback ? { fallback: { file: fallback, value } } : {}),
      });
    if (b.weight) blkio("blkio.weight", String(b.weight), "blkio.bfq.weight");
    if (b.leafWeight) blkio("blkio.leaf_weight", String(b.leafWeight));
    for (const d of b.weightDevice ?? []) {
      if (d.weight) {
        blkio("blkio.weight_device", `${dev(d)} ${d.weight}`, "blkio.bfq.weight_device");
      }
      if (d.leafWeight) blkio("blkio.leaf_weight_device", `${dev(d)} ${d.leafWeight}`);
    }
    for (const [list, name] of throttles) {
      for (const d of list ?? []) blkio(`blkio.throttle.${name}_device`, `${dev(d)} ${d.rate}`);
    }
    return out;
  }
  if (b.weight) {
    out.push({
      controller: "io",
      file: "io.bfq.weight",
      value: String(b.weight),
      fallback: { file: "io.weight", value: String(blkioToIoWeight(b.weight)) },
    });
  }
  if (b.leafWeight || b.weightDevice?.some((d) => d.leafWeight)) {
    throw new RangeError("Leaf weights need cgroup v1: remove blockIO.leafWeight");
  }
  for (const d of b.weightDevice ?? []) {
    // Per-device weights only exist with BFQ (runc skips them without it).
    if (d.weight) {
      out.push({
        controller: "io",
        file: "io.bfq.weight",
        value: `${dev(d)} ${d.weight}`,
        mayFail: true,
      });
    }
  }
  for (const [list, , key] of throttles) {
    for (const d of list ?? []) {
      out.push({ controller: "io", file: "io.max", value: `${dev(d)} ${key}=${d.rate}` });
    }
  }
  return out;
}

/**
 * v1 memory and memory+swap limits, in an order the kernel accepts
 * (memory may never exceed memory+swap): the memory+swap limit first when
 * it grows, after the memory limit when it shrinks. The current values are
 * not known here, so with both given memory+swap is tried first (allowed
 * to fail), then memory, then memory+swap again.
 */
function orderedMemoryWrites(m: NonNullable<Resources["memory"]>): ControlWrite[] {
  const out: ControlWrite[] = [];
  const mem = m.limit === undefined ? null : limitText(m.limit, "-1");
  const memsw = m.swap === undefined ? null : limitText(m.swap, "-1");
  const memswFile = "memory.memsw.limit_in_bytes";
  if (memsw !== null && mem !== null) {
    out.push({ controller: "memory", file: memswFile, value: memsw, mayFail: true });
  }
  if (mem !== null) out.push({ controller: "memory", file: "memory.limit_in_bytes", value: mem });
  if (memsw !== null) out.push({ controller: "memory", file: memswFile, value: memsw });
  return out;
}
