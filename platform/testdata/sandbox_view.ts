/**
 * How spawn tests look at a child from inside: a busybox script printing
 * its pid, hostname, uid, mount points and network devices, run in every
 * namespace with a rootfs and its own /proc.
 *
 * @module
 */
import { MS, type SpawnOptions } from "../spawn.ts";

/**
 * Spawn options for a child that prints its view, one fact per line:
 * `pid=N`, `host=NAME`, `uid=N`, its mount points on one line, its network
 * devices, then whatever `more` prints.
 *
 * @param rootfs A busybox rootfs (tests/support/rootfs.ts).
 * @param hostname The child's hostname.
 * @param more More shell commands to run after those.
 * @returns The options; add id maps or a user as the test needs.
 *
 * @example
 * ```ts
 * import { sandboxViewOptions } from "./sandbox_view.ts";
 * const o = sandboxViewOptions("/tmp/root", "box", "ls /");
 * if (!o.namespaces?.includes("net")) throw new Error();
 * ```
 */
export function sandboxViewOptions(rootfs: string, hostname: string, more: string): SpawnOptions {
  return {
    path: "/bin/busybox",
    args: [
      "sh",
      "-c",
      "echo pid=$$; echo host=$(hostname); echo uid=$(id -u); " +
      "cut -d' ' -f5 /proc/self/mountinfo | tr '\\n' ' '; echo; " +
      `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ${more}`,
    ],
    namespaces: ["user", "pid", "mount", "uts", "ipc", "net", "cgroup"],
    hostname,
    rootfs,
    mounts: [{
      source: "proc",
      target: "/proc",
      type: "proc",
      flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
    }],
    env: ["PATH=/bin"],
  };
}

/**
 * Splits a view into lines with runs of blanks collapsed.
 *
 * @param stdout What the child printed.
 * @returns Its lines.
 *
 * @example
 * ```ts
 * import { viewLines } from "./sandbox_view.ts";
 * if (viewLines("a  b \nc\n").join("|") !== "a b|c") throw new Error();
 * ```
 */
export function viewLines(stdout: string): string[] {
  return stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
}
