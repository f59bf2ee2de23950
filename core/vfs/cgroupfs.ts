/**
 * The container's /sys/fs/cgroup: a read-only cgroup v2 root showing the
 * container's limits (`linux.resources`, as the sandbox's host cgroup
 * enforces them) and its use as the Sentry counts it, in the files
 * programs read to size themselves (`cpu.max`, `memory.max`, `pids.max`,
 * `cgroup.procs`...).
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { usageOf } from "../kernel/usage.ts";
import { type Resources, sharesToWeight } from "../../platform/cgroup_resources.ts";
import { SynthFs, synthTree } from "./synthetic.ts";
import { cpuList } from "./sysfs.ts";

/** Linux's default CFS period, microseconds. */
const DEFAULT_PERIOD = 100000;

/**
 * Makes a container's cgroup file system.
 *
 * @param k The kernel.
 * @param container The container ("" for the root container).
 * @param r Its limits.
 * @returns The file system.
 */
export function makeCgroupfs(k: Kernel, container: string, r: Resources): SynthFs {
  const fs = new SynthFs("cgroup2", 0x16n);
  const live = () => k.liveProcesses(container);
  const lines = (xs: Array<string | number>) => xs.map((x) => `${x}\n`).join("");
  const limit = (n: number | undefined, none = "max") =>
    n === undefined || n < 0 ? none : String(n);
  const mem = r.memory ?? {};
  const cpu = r.cpu ?? {};
  const swap = () => {
    if (mem.swap === undefined || mem.swap < 0 || mem.limit === undefined || mem.limit < 0) {
      return "max";
    }
    return String(Math.max(0, mem.swap - mem.limit));
  };
  const cpuStat = () => {
    const u = usageOf(live());
    const us = (ns: number) => Math.floor(ns / 1000);
    return lines([
      `usage_usec ${us(u.userNs + u.systemNs)}`,
      `user_usec ${us(u.userNs)}`,
      `system_usec ${us(u.systemNs)}`,
      "nr_periods 0",
      "nr_throttled 0",
      "throttled_usec 0",
    ]);
  };
  fs.setRoot(synthTree(fs, "/", {
    "cgroup.controllers": () => "cpuset cpu memory pids\n",
    "cgroup.subtree_control": () => "\n",
    "cgroup.type": () => "domain\n",
    "cgroup.procs": () => lines(live().map((p) => p.pid).sort((a, b) => a - b)),
    "cgroup.threads": () =>
      lines(live().flatMap((p) => [...p.threads.keys()]).sort((a, b) => a - b)),
    "cgroup.max.depth": () => "max\n",
    "cgroup.max.descendants": () => "max\n",
    "cpu.max": () =>
      `${cpu.quota !== undefined && cpu.quota > 0 ? cpu.quota : "max"} ${
        cpu.period ?? DEFAULT_PERIOD
      }\n`,
    "cpu.weight": () => `${cpu.shares !== undefined ? sharesToWeight(cpu.shares) : 100}\n`,
    "cpu.stat": cpuStat,
    "cpuset.cpus": () => `${cpu.cpus ?? ""}\n`,
    "cpuset.cpus.effective": () => `${cpu.cpus ?? cpuList()}\n`,
    "cpuset.mems": () => `${cpu.mems ?? ""}\n`,
    "cpuset.mems.effective": () => `${cpu.mems ?? "0"}\n`,
    "memory.max": () => `${limit(mem.limit)}\n`,
    "memory.high": () => "max\n",
    "memory.low": () => `${limit(mem.reservation, "0")}\n`,
    "memory.min": () => "0\n",
    "memory.current": () => `${usageOf(live()).rssBytes}\n`,
    "memory.swap.max": () => `${swap()}\n`,
    "memory.swap.current": () => "0\n",
    "memory.events": () => lines(["low 0", "high 0", "max 0", "oom 0", "oom_kill 0"]),
    "memory.stat": () => lines([`anon ${usageOf(live()).rssBytes}`, "file 0", "kernel 0"]),
    "pids.max": () => `${r.pids?.limit !== undefined && r.pids.limit > 0 ? r.pids.limit : "max"}\n`,
    "pids.current": () => `${usageOf(live()).tasks}\n`,
  }));
  return fs;
}
