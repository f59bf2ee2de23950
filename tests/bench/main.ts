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
import {
  availablePeers,
  execPidRssKiB,
  getpidMicros,
  type Lifecycle,
  lifecycleMillis,
  makeBundle,
  type Peer,
  startMillis,
  syscallNanos,
} from "./peers.ts";
import { DVISOR } from "../support/run.ts";

const quick = Deno.args.includes("--quick");
const SPAWNS = quick ? 30 : 200;
const CALLS = quick ? 2000 : 20000;

function row(name: string, value: string, note = ""): void {
  console.log(`${name.padEnd(52)} ${value.padStart(12)}  ${note}`);
}
const us = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} ns` : `${x.toFixed(1)} us`);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : "n/a");

// How ./dvisor runs (its --version's last line): the bundle starts faster than the sources.
const how = new TextDecoder().decode(
  new Deno.Command(DVISOR, { args: ["--version"], stderr: "null" }).outputSync().stdout,
).trim().split("\n").at(-1);
console.log(
  `dvisor platform benchmarks (${new Date().toISOString()}, load ${
    Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
  }; dvisor ${how}${how?.includes("from source") ? ": ./bundle.sh makes it start faster" : ""})\n`,
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
  const bundle = await makeBundle(dir);
  if (peers.length) {
    console.log("\npeers measured now (same probe program in a container)");
    for (const peer of peers) {
      const getpid = await getpidMicros(peer, bundle, peer.name === "runsc" ? CALLS : NATIVE_CALLS);
      row(
        `${peer.name}: getpid in a container`,
        us(getpid),
        `bare tracer loop: seccomp ${ratio(seccomp, getpid)}, ptrace ${ratio(sysemu, getpid)}`,
      );
    }
  } else {
    console.log("\nrunc and runsc are not installed: no peer ratios (apt-get install runc runsc)");
  }
  await sandboxTable(peers, bundle);
} finally {
  await Deno.remove(dir, { recursive: true });
}

/**
 * The Sentry's costs inside a container next to runc's and runsc's: each
 * operation of tests/bench/syscalls.c, and `run` of /bin/true.
 */
async function sandboxTable(peers: Peer[], bundle: string): Promise<void> {
  const runtimes: Peer[] = [
    ...peers,
    ...["seccomp", "ptrace"].map((p) => ({
      name: `dvisor ${p}`,
      argv: [DVISOR, "--root", `${dir}/dvisor`, `--platform=${p}`],
    })),
  ];
  console.log("\ninside a container, per operation (tests/bench/syscalls.c; median of 3 runs)");
  const costs = new Map<string, Map<string, number>>();
  for (const r of runtimes) costs.set(r.name, await syscallNanos(r, bundle, quick ? 1 : 5));
  const starts = new Map<string, number>();
  for (const r of runtimes) starts.set(r.name, await startMillis(r, bundle, quick ? 2 : 5));
  const names = runtimes.map((r) => r.name);
  const cell = (s: string) => s.padStart(16);
  console.log(
    `${"".padEnd(18)}${names.map(cell).join("")}${cell("seccomp/runsc")}${cell("seccomp/runc")}`,
  );
  const ratios = (v: (n: string) => number | undefined) => {
    const mine = v("dvisor seccomp");
    const vs = (peer: string) => {
      const p = v(peer);
      return p && mine !== undefined ? ratio(mine, p) : "n/a";
    };
    return cell(vs("runsc")) + cell(vs("runc"));
  };
  for (const op of costs.get("dvisor seccomp")!.keys()) {
    const v = (n: string) => costs.get(n)?.get(op);
    console.log(
      `${op.padEnd(18)}${names.map((n) => cell(us((v(n) ?? NaN) / 1000))).join("")}${ratios(v)}`,
    );
  }
  const start = (n: string) => starts.get(n);
  console.log(
    `${"run /bin/true".padEnd(18)}${names.map((n) => cell(`${start(n)!.toFixed(1)} ms`)).join("")}${
      ratios(start)
    }`,
  );
  await hostNetworkTable(runtimes, bundle);
  console.log("\ncontainer lifecycle (sleep; median), and the memory an idle one keeps");
  const life = new Map<string, Lifecycle>();
  for (const r of runtimes) life.set(r.name, await lifecycleMillis(r, bundle, quick ? 2 : 5));
  console.log(
    `${"".padEnd(18)}${names.map(cell).join("")}${cell("seccomp/runsc")}${cell("seccomp/runc")}`,
  );
  for (const op of ["create", "start", "state", "kill", "delete"] as const) {
    const v = (n: string) => life.get(n)?.[op];
    console.log(
      `${op.padEnd(18)}${names.map((n) => cell(`${v(n)!.toFixed(1)} ms`)).join("")}${ratios(v)}`,
    );
  }
  for (
    const [label, key] of [
      ["idle RSS", "idleRssKiB"],
      ["idle PSS", "idlePssKiB"],
      ["idle USS", "idleUssKiB"],
    ] as const
  ) {
    const mem = (n: string) => life.get(n)?.[key];
    console.log(
      `${label.padEnd(18)}${names.map((n) => cell(memoryText(mem(n)!))).join("")}${ratios(mem)}`,
    );
  }
  // What exec --detach leaves for a shim to watch (runc: the process itself).
  const execRss = new Map<string, number>();
  for (const r of runtimes) execRss.set(r.name, await execPidRssKiB(r, bundle));
  const ex = (n: string) => execRss.get(n);
  console.log(
    `${"exec -d pid RSS".padEnd(18)}${names.map((n) => cell(memoryText(ex(n)!))).join("")}${
      ratios(ex)
    }`,
  );
}

/** KiB as KiB under 1 MiB, else as MiB. */
function memoryText(kib: number): string {
  return kib < 1024 ? `${kib} KiB` : `${(kib / 1024).toFixed(1)} MiB`;
}

/**
 * Loopback TCP with the host's network: runc (the kernel's TCP in its
 * network namespace), runsc and dvisor with --network=host (host sockets
 * held by the sandbox), next to dvisor's own loopback (--network none).
 */
async function hostNetworkTable(runtimes: Peer[], bundle: string): Promise<void> {
  const withHost = (p: Peer | undefined, name: string): Peer | null =>
    p
      ? {
        name,
        argv: [...p.argv.filter((a) => !a.startsWith("--network")), "--network=host"],
      }
      : null;
  const byName = (n: string) => runtimes.find((r) => r.name === n);
  const runc = byName("runc");
  const rows: Peer[] = [
    runc ? { ...runc, name: "runc host" } : undefined,
    withHost(byName("runsc"), "runsc host"),
    byName("dvisor seccomp"),
    withHost(byName("dvisor seccomp"), "dvisor host"),
  ].filter((p): p is Peer => !!p);
  console.log(
    "\nloopback TCP, --network none and host (tests/bench/syscalls.c tcp; median of 3 runs)",
  );
  const costs = new Map<string, Map<string, number>>();
  for (const r of rows) {
    try {
      const host = r.name.endsWith(" host") || r.name === "runc host";
      costs.set(r.name, await syscallNanos(r, bundle, quick ? 1 : 5, ["tcp"], host));
    } catch (e) {
      console.log(`${r.name}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
    }
  }
  const cell = (s: string) => s.padStart(16);
  console.log(
    `${"".padEnd(18)}${rows.map((r) => cell(r.name)).join("")}${cell("host/runsc host")}`,
  );
  for (const op of ["tcp round trip", "tcp 64KiB"]) {
    const v = (n: string) => costs.get(n)?.get(op);
    const mine = v("dvisor host"), theirs = v("runsc host");
    console.log(
      `${op.padEnd(18)}${rows.map((r) => cell(us((v(r.name) ?? NaN) / 1000))).join("")}${
        cell(mine !== undefined && theirs !== undefined ? ratio(mine, theirs) : "n/a")
      }`,
    );
  }
}
