/**
 * Run by spawn_test.ts as an unprivileged user (setpriv): spawns into every
 * namespace with a user namespace whose maps the child writes itself, and
 * prints the child's view as JSON. Argument: a busybox rootfs.
 *
 * @module
 */
import { Errno } from "../errno.ts";
import { capture } from "./capture.ts";
import { sandboxViewOptions, viewLines } from "./sandbox_view.ts";

const root = Deno.args[0]!;
const r = capture(sandboxViewOptions(root, "unpriv", "cat /proc/self/uid_map"));
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
  hostUidMapFailure = e instanceof Errno ? e.code : e instanceof Error ? e.message : String(e);
}

console.log(JSON.stringify({
  outside: { uid: Deno.uid() },
  inside: viewLines(r.stdout),
  hostUidMapFailure,
}));
