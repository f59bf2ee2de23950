/**
 * The container's /sys: what programs read to size themselves (the CPUs:
 * `devices/system/cpu/{online,possible,present}`, one `cpuN` directory
 * each) and the `fs/cgroup` directory the container's cgroup file system
 * is mounted on. Read-only, as runc mounts sysfs.
 *
 * @module
 */
import { SynthFs, type SynthTree, synthTree } from "./synthetic.ts";

/**
 * The host's online CPUs, read when the Sentry's modules load (before the
 * sandbox process leaves the host's file system). Not Deno's
 * hardwareConcurrency: that counts a cgroup CPU quota, which Linux's
 * sysfs and sched_getaffinity do not.
 */
const ONLINE = (() => {
  try {
    return Deno.readTextFileSync("/sys/devices/system/cpu/online").trim();
  } catch {
    const n = navigator.hardwareConcurrency || 1;
    return n === 1 ? "0" : `0-${n - 1}`;
  }
})();

/**
 * The CPUs the sandbox may use, as the kernel lists them (`0-3`).
 *
 * @returns The list.
 *
 * @example
 * ```ts
 * import { cpuList } from "./sysfs.ts";
 * if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(cpuList())) throw new Error();
 * ```
 */
export function cpuList(): string {
  return ONLINE;
}

/**
 * The numbers of the CPUs in {@linkcode cpuList}.
 *
 * @returns The CPU numbers.
 *
 * @example
 * ```ts
 * import { onlineCpus } from "./sysfs.ts";
 * if (onlineCpus().length < 1) throw new Error();
 * ```
 */
export function onlineCpus(): number[] {
  const out: number[] = [];
  for (const part of ONLINE.split(",")) {
    const [a, b] = part.split("-").map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.push(i);
  }
  return out;
}

/**
 * Makes the container's sysfs.
 *
 * @returns The file system.
 */
export function makeSysfs(): SynthFs {
  const fs = new SynthFs("sysfs", 0x15n);
  const cpus = onlineCpus();
  const cpu: SynthTree = {
    online: () => `${cpuList()}\n`,
    possible: () => `${cpuList()}\n`,
    present: () => `${cpuList()}\n`,
    offline: () => "\n",
    kernel_max: () => `${Math.max(...cpus)}\n`,
  };
  for (const i of cpus) cpu[`cpu${i}`] = i === 0 ? {} : { online: () => "1\n" };
  fs.setRoot(synthTree(fs, "/", {
    devices: { system: { cpu } },
    fs: { cgroup: {} },
    kernel: {},
    class: {},
    bus: {},
    block: {},
    dev: { block: {}, char: {} },
    firmware: {},
    module: {},
    power: {},
  }));
  return fs;
}
