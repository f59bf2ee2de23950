/**
 * The sandbox's memory as its programs see it (/proc/meminfo, sysinfo):
 * the host's total, or the container's memory limit when lower, and what
 * the sandbox uses of it: its processes' anonymous and file-backed
 * resident memory (their stubs', from the host) and its tmpfs data.
 *
 * @module
 */
import { tmpfsBytes } from "../vfs/tmpfs.ts";
import type { Process } from "./task.ts";
import { statusNumber } from "./usage.ts";

/** Bytes, as /proc/meminfo reports them (in KiB there). */
export interface SandboxMemory {
  total: bigint;
  free: bigint;
  available: bigint;
  /** Anonymous resident memory of the processes. */
  anon: bigint;
  /** File-backed resident memory of the processes. */
  mapped: bigint;
  /** tmpfs (and memfd) data. */
  shmem: bigint;
}

/** The host's MemTotal, read once (before the sandbox leaves the host's file system). */
const HOST_TOTAL = (() => {
  try {
    const text = Deno.readTextFileSync("/proc/meminfo");
    return BigInt(/^MemTotal:\s+(\d+)/m.exec(text)?.[1] ?? "0") * 1024n;
  } catch {
    return 0n;
  }
})();

/**
 * The sandbox's memory now.
 *
 * @param processes The processes (live ones are counted).
 * @param limit The container's memory limit in bytes, if any.
 * @returns The figures.
 *
 * @example
 * ```ts
 * import { sandboxMemory } from "./meminfo.ts";
 * const m = sandboxMemory([], 1n << 30n);
 * if (m.total > 1n << 30n || m.free > m.total) throw new Error();
 * ```
 */
export function sandboxMemory(processes: Iterable<Process>, limit: bigint | null): SandboxMemory {
  let anon = 0n;
  let mapped = 0n;
  for (const p of processes) {
    if (p.exitStatus !== null || !p.hostTgid) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${p.hostTgid}/status`);
      const kb = (key: string) => (statusNumber(status, key) ?? 0n) * 1024n;
      anon += kb("RssAnon");
      mapped += kb("RssFile");
    } catch {
      // exited meanwhile
    }
  }
  const total = limit !== null && limit > 0n && limit < HOST_TOTAL ? limit : HOST_TOTAL;
  const shmem = BigInt(tmpfsBytes());
  const used = anon + shmem;
  const free = total > used ? total - used : 0n;
  return { total, free, available: free, anon, mapped, shmem };
}
