/**
 * Run by spawn_test.ts as an unprivileged user (setpriv): spawns into every
 * namespace with a user namespace whose maps the child writes itself, and
 * prints the child's view as JSON. Argument: a busybox rootfs.
 *
 * @module
 */
import { Errno } from "../errno.ts";
import { MS } from "../spawn.ts";
import { capture } from "./capture.ts";

const root = Deno.args[0]!;
const r = capture({
  path: "/bin/busybox",
  args: [
    "sh",
    "-c",
    "echo pid=$$; echo host=$(hostname); echo uid=$(id -u); " +
    "cut -d' ' -f5 /proc/self/mountinfo | tr '\\n' ' '; echo; " +
    "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /proc/self/uid_map",
  ],
  namespaces: ["user", "pid", "mount", "uts", "ipc", "net", "cgroup"],
  hostname: "unpriv",
  rootfs: root,
  mounts: [{
    source: "proc",
    target: "/proc",
    type: "proc",
    flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
  }],
  env: ["PATH=/bin"],
});
if (r.status.code !== 0) throw new Error(`child failed: ${r.stderr}`);

let hostUidMapFailure = "none";
try {
  capture({
    path: "/bin/busybox",
    args: ["true"],
    namespaces: ["user"],
    uidMappings: [{ containerId: 0, hostId: 0, size: 1 }],
  });
} catch (e) {
  hostUidMapFailure = e instanceof Errno ? e.code : String(e);
}

console.log(JSON.stringify({
  outside: { uid: Deno.uid() },
  inside: r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" ")),
  hostUidMapFailure,
}));
