/**
 * `deno task bench`: dvisor's platform benchmarks, with runc and runsc
 * measured in the same run. Not a test: it prints numbers and ratios.
 *
 * @module
 */
import {
  denoCommandMicros,
  getpidNanos,
  nativeProbeMicros,
  spawnMicros,
  tracedMicros,
  userNotifMicros,
} from "./platform_bench.ts";
import { availablePeers, getpidMicros, makeBundle, startMillis } from "./peers.ts";

const quick = Deno.args.includes("--quick");
const SPAWNS = quick ? 30 : 200;
const CALLS = quick ? 2000 : 20000;

function row(name: string, value: string, note = ""): void {
  console.log(`${name.padEnd(52)} ${value.padStart(12)}  ${note}`);
}
const us = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} ns` : `${x.toFixed(1)} us`);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : "n/a");

console.log(
  `dvisor platform benchmarks (${new Date().toISOString()}, load ${
    Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
  })\n`,
);

console.log("spawn + exec + reap of static busybox true (median)");
const command = denoCommandMicros(SPAWNS);
row("Deno.Command().outputSync()", us(command));
for (
  const [name, ns] of [
    ["runner vfork, no namespaces", []],
    ["runner vfork, pid+mount+uts+ipc", ["pid", "mount", "uts", "ipc"]],
    ["runner vfork, pid+mount+uts+ipc+net", ["pid", "mount", "uts", "ipc", "net"]],
    ["runner vfork, +user", ["pid", "mount", "uts", "ipc", "net", "user"]],
  ] as const
) {
  const t = spawnMicros([...ns], SPAWNS, name.endsWith("+user") ? "fork" : "vfork");
  row(
    name.endsWith("+user") ? "runner fork (root writes id maps), +user" : name,
    us(t),
    `${ratio(t, command)} of Deno.Command`,
  );
}
row("runner fork, no namespaces", us(spawnMicros([], SPAWNS, "fork")));
const vforkPlain = spawnMicros([], SPAWNS);

console.log("\nFFI cost per getpid (1M calls)");
const ffi = getpidNanos(quick ? 200000 : 1000000);
row(
  "raw syscall stub (BigInt fast path)",
  `${ffi.raw.toFixed(0)} ns`,
  `${ratio(ffi.raw, ffi.libc)} of libc`,
);
row("libc getpid via Deno.dlopen", `${ffi.libc.toFixed(0)} ns`);

console.log("\nsystem call answered by TypeScript, per call");
const NATIVE_CALLS = quick ? 200000 : 1000000;
const native = nativeProbeMicros(NATIVE_CALLS);
const seccomp = await tracedMicros("seccomp", CALLS);
const sysemu = await tracedMicros("sysemu", CALLS);
const notif = userNotifMicros(CALLS);
row("native getpid (no catching)", us(native));
row("seccomp RET_TRACE + ptrace stop (platform seccomp)", us(seccomp));
row("PTRACE_SYSEMU (platform ptrace)", us(sysemu));
row("seccomp USER_NOTIF, answered by the main thread", us(notif));

const dir = await Deno.makeTempDir({ prefix: "dvisor-bench-" });
try {
  const peers = await availablePeers(dir);
  if (peers.length) {
    const bundle = await makeBundle(dir);
    console.log("\npeers measured now (same probe program in a container)");
    for (const peer of peers) {
      const getpid = await getpidMicros(peer, bundle, peer.name === "runsc" ? CALLS : NATIVE_CALLS);
      const start = await startMillis(peer, bundle, quick ? 2 : 5);
      row(
        `${peer.name}: getpid in a container`,
        us(getpid),
        `dvisor seccomp ${ratio(seccomp, getpid)}, ptrace ${ratio(sysemu, getpid)}`,
      );
      row(
        `${peer.name}: run /bin/true (container start to exit)`,
        `${start.toFixed(1)} ms`,
        `runner spawn (vfork, no namespaces) is ${ratio(vforkPlain / 1000, start)} of it`,
      );
    }
  } else {
    console.log("\nrunc and runsc are not installed: no peer ratios (apt-get install runc runsc)");
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
