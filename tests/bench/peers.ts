/**
 * The same measurements under runc and runsc, for the ratios the benchmark
 * prints: a container whose root holds the probe program and busybox.
 *
 * @module
 */
import { writeProbe } from "../../platform/testdata/programs.ts";
import { median } from "./platform_bench.ts";

/** A peer runtime and how to call it. */
export interface Peer {
  /** Display name. */
  name: string;
  /** Command and global flags. */
  argv: string[];
}

/** runc and runsc (ptrace platform: its KVM platform hangs in this VM), when installed. */
export async function availablePeers(stateDir: string): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (
    const p of [
      { name: "runc", argv: ["runc", "--root", `${stateDir}/runc`] },
      {
        name: "runsc",
        argv: ["runsc", "--root", `${stateDir}/runsc`, "--platform=ptrace", "--network=none"],
      },
    ]
  ) {
    try {
      const ok =
        (await new Deno.Command(p.argv[0]!, { args: ["--version"], stdout: "null", stderr: "null" })
          .output()).success;
      if (ok) peers.push(p);
    } catch {
      // not installed
    }
  }
  return peers;
}

/**
 * Makes an OCI bundle whose rootfs has /probe, /bin/busybox (with
 * /bin/true), /syscalls (tests/bench/syscalls.c, built with gcc -static)
 * /bench-file (4 KiB it reads), and the mount points /bench-tmp (a tmpfs)
 * and /bench-rw (a host directory, bundle/rw) where it writes 64 MiB files.
 */
export async function makeBundle(dir: string): Promise<string> {
  const bundle = `${dir}/bundle`;
  await Deno.mkdir(`${bundle}/rootfs/bin`, { recursive: true });
  writeProbe(`${bundle}/rootfs/probe`);
  await Deno.copyFile("/bin/busybox", `${bundle}/rootfs/bin/busybox`);
  await Deno.chmod(`${bundle}/rootfs/bin/busybox`, 0o755);
  await Deno.symlink("busybox", `${bundle}/rootfs/bin/true`);
  const src = new URL("./syscalls.c", import.meta.url).pathname;
  const gcc = await new Deno.Command("gcc", {
    args: ["-static", "-O2", "-o", `${bundle}/rootfs/syscalls`, src],
    stderr: "piped",
  }).output();
  if (!gcc.success) {
    throw new Error(`gcc failed on ${src}: ${new TextDecoder().decode(gcc.stderr)}`);
  }
  await Deno.writeFile(`${bundle}/rootfs/bench-file`, new Uint8Array(4096).fill(7));
  await Deno.mkdir(`${bundle}/rootfs/bench-tmp`);
  await Deno.mkdir(`${bundle}/rootfs/bench-rw`);
  return bundle;
}

async function writeConfig(bundle: string, args: string[], hostNetwork = false): Promise<void> {
  const out = await new Deno.Command("runc", {
    args: ["spec", "--bundle", bundle],
    stderr: "piped",
  }).output();
  if (!out.success && !(await exists(`${bundle}/config.json`))) {
    throw new Error(`runc spec failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const config = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
  config.process.terminal = false;
  config.process.args = args;
  config.root.readonly = true;
  // The host's network: no network namespace (what runsc and dvisor --network=host use).
  if (hostNetwork) {
    config.linux.namespaces = config.linux.namespaces.filter((n: { type: string }) =>
      n.type !== "network"
    );
  }
  // Where syscalls.c writes its 64 MiB files: a tmpfs, and a host directory.
  config.mounts.push(
    { destination: "/bench-tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] },
    { destination: "/bench-rw", type: "bind", source: `${bundle}/rw`, options: ["rbind", "rw"] },
  );
  await Deno.mkdir(`${bundle}/rw`, { recursive: true });
  await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(config, null, 1));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

let serial = 0;

/** Milliseconds for `run` of a container with these args, start to exit. */
async function runMillis(peer: Peer, bundle: string, args: string[]): Promise<number> {
  return (await runTimed(peer, bundle, args)).ms;
}

/** Runs a container to its end: milliseconds from start to exit, and its output. */
async function runTimed(
  peer: Peer,
  bundle: string,
  args: string[],
  hostNetwork = false,
): Promise<{ ms: number; stdout: string }> {
  await Deno.remove(`${bundle}/config.json`).catch(() => {});
  await writeConfig(bundle, args, hostNetwork);
  const id = `dvisor-bench-${Deno.pid}-${serial++}`;
  const t0 = performance.now();
  const out = await new Deno.Command(peer.argv[0]!, {
    args: [...peer.argv.slice(1), "run", "--bundle", bundle, id],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - t0;
  if (!out.success) {
    throw new Error(`${peer.name} run failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { ms: elapsed, stdout: new TextDecoder().decode(out.stdout) };
}

/**
 * Nanoseconds per operation of tests/bench/syscalls.c in a container
 * (getpid, open+read+close, stat, pipe round trip, mmap+munmap,
 * fork+exec+wait, clock_gettime), the median of three runs.
 *
 * @param peer The runtime.
 * @param bundle A bundle from {@linkcode makeBundle}.
 * @param scale Iteration multiplier.
 * @param only Which part of the program to run (`["tcp"]`), or everything.
 * @param hostNetwork Run without a network namespace (the host's network).
 * @returns Cost by operation name.
 */
export async function syscallNanos(
  peer: Peer,
  bundle: string,
  scale: number,
  only: string[] = [],
  hostNetwork = false,
): Promise<Map<string, number>> {
  const runs: Array<Map<string, number>> = [];
  for (let i = 0; i < 3; i++) {
    const { stdout } = await runTimed(
      peer,
      bundle,
      ["/syscalls", String(scale), ...only],
      hostNetwork,
    );
    runs.push(
      new Map(
        stdout.trim().split("\n").map((l) => {
          const at = l.lastIndexOf(" ");
          return [l.slice(0, at), Number(l.slice(at + 1))] as [string, number];
        }),
      ),
    );
  }
  return new Map([...runs[0]!.keys()].map((k) => [k, median(runs.map((r) => r.get(k) ?? NaN))]));
}

/** Median milliseconds to run `/bin/true` in a container. */
export async function startMillis(peer: Peer, bundle: string, n: number): Promise<number> {
  const times = [];
  for (let i = 0; i < n; i++) times.push(await runMillis(peer, bundle, ["/bin/true"]));
  return median(times);
}

/** Microseconds per getpid of the probe in a container, by difference of two runs. */
export async function getpidMicros(peer: Peer, bundle: string, count: number): Promise<number> {
  const empty = [];
  const full = [];
  for (let i = 0; i < 3; i++) {
    empty.push(await runMillis(peer, bundle, ["/probe", "39", "0"]));
    full.push(await runMillis(peer, bundle, ["/probe", "39", String(count)]));
  }
  return Math.max(0, ((median(full) - median(empty)) * 1000) / count);
}

/** Lifecycle latencies (ms) and the idle memory of a container left running. */
export interface Lifecycle {
  create: number;
  start: number;
  state: number;
  kill: number;
  delete: number;
  /** RSS (KiB) summed over every address space that appeared with the container. */
  idleRssKiB: number;
  /**
   * PSS (KiB) summed the same way: shared pages (a binary's text, a
   * process that shares its parent's memory) counted once, split among
   * the processes that map them.
   */
  idlePssKiB: number;
  /**
   * USS (KiB): the pages only these processes map (private clean and
   * dirty), which removing the container frees; a binary's text shared
   * with other processes is not in it.
   */
  idleUssKiB: number;
}

function pids(): Set<number> {
  const out = new Set<number>();
  for (const e of Deno.readDirSync("/proc")) if (/^\d+$/.test(e.name)) out.add(Number(e.name));
  return out;
}

/**
 * One process per address space: a process that shares another's memory
 * (CLONE_VM, as a helper of dvisor's sandbox process) has the same
 * /proc/PID/maps, and its memory is counted once.
 */
function oneEachMemory(list: number[]): number[] {
  const seen = new Set<string>();
  return list.filter((pid) => {
    let maps: string;
    try {
      maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
    } catch {
      return false;
    }
    if (seen.has(maps)) return false;
    seen.add(maps);
    return true;
  });
}

/** A "Field: N kB" line of a /proc/PID file (0 when the process is gone). */
function procKiB(pid: number, file: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
      Deno.readTextFileSync(`/proc/${pid}/${file}`),
    );
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function timed(peer: Peer, args: string[]): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  // What it leaves running keeps its stdio: no pipe that would never end.
  const leaves = args[0] === "create" || args.includes("--detach");
  const out = await new Deno.Command(peer.argv[0]!, {
    args: [...peer.argv.slice(1), ...args],
    stdin: "null",
    stdout: leaves ? "null" : "piped",
    stderr: leaves ? "null" : "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`${peer.name} ${args[0]} failed`);
  return { ms, stdout: leaves ? "" : new TextDecoder().decode(out.stdout) };
}

/**
 * Medians of create, start, state, kill (SIGKILL until stopped) and delete
 * of a `sleep` container, and the RSS, PSS and USS of what an idle one keeps
 * running.
 *
 * @param peer The runtime.
 * @param bundle A bundle from {@linkcode makeBundle}.
 * @param n Rounds.
 * @returns The numbers.
 */
export async function lifecycleMillis(peer: Peer, bundle: string, n: number): Promise<Lifecycle> {
  await Deno.remove(`${bundle}/config.json`).catch(() => {});
  await writeConfig(bundle, ["/bin/busybox", "sleep", "1000"]);
  const t: Record<string, number[]> = { create: [], start: [], state: [], kill: [], delete: [] };
  const rss: number[] = [];
  const pss: number[] = [];
  const uss: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = `dvisor-bench-life-${Deno.pid}-${serial++}`;
    const before = pids();
    t.create!.push((await timed(peer, ["create", "--bundle", bundle, id])).ms);
    t.start!.push((await timed(peer, ["start", id])).ms);
    await new Promise((r) => setTimeout(r, 500)); // settle: idle
    const fresh = oneEachMemory([...pids()].filter((p) => !before.has(p)));
    rss.push(fresh.reduce((s, p) => s + procKiB(p, "status", "VmRSS"), 0));
    pss.push(fresh.reduce((s, p) => s + procKiB(p, "smaps_rollup", "Pss"), 0));
    uss.push(
      fresh.reduce((s, p) =>
        s + procKiB(p, "smaps_rollup", "Private_Clean") +
        procKiB(p, "smaps_rollup", "Private_Dirty"), 0),
    );
    t.state!.push((await timed(peer, ["state", id])).ms);
    const k0 = performance.now();
    await timed(peer, ["kill", id, "KILL"]);
    for (let j = 0; j < 200; j++) {
      const s = JSON.parse((await timed(peer, ["state", id])).stdout) as { status: string };
      if (s.status === "stopped") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    t.kill!.push(performance.now() - k0);
    t.delete!.push((await timed(peer, ["delete", id])).ms);
  }
  return {
    create: median(t.create!),
    start: median(t.start!),
    state: median(t.state!),
    kill: median(t.kill!),
    delete: median(t.delete!),
    idleRssKiB: median(rss),
    idlePssKiB: median(pss),
    idleUssKiB: median(uss),
  };
}

/**
 * The RSS (KiB) of the process whose pid `exec --detach` writes: what a
 * shim watches and signals for the exec'd process. runc's is that process
 * itself; runsc's and dvisor's is a waiter standing for it. Measured in a
 * container of its own, so that the lifecycle's timings do not wait for
 * the exec'd process.
 *
 * @param peer The runtime.
 * @param bundle A bundle from {@linkcode makeBundle}.
 * @returns The RSS.
 */
export async function execPidRssKiB(peer: Peer, bundle: string): Promise<number> {
  const id = `dvisor-bench-exec-${Deno.pid}-${serial++}`;
  const pidFile = `${bundle}/exec.pid`;
  await Deno.remove(`${bundle}/config.json`).catch(() => {});
  await writeConfig(bundle, ["/bin/busybox", "sleep", "1000"]);
  await timed(peer, ["create", "--bundle", bundle, id]);
  try {
    await timed(peer, ["start", id]);
    await timed(peer, [
      "exec",
      "--detach",
      "--pid-file",
      pidFile,
      id,
      "/bin/busybox",
      "sleep",
      "1000",
    ]);
    await new Promise((r) => setTimeout(r, 300)); // settle
    return procKiB(Number(await Deno.readTextFile(pidFile)), "status", "VmRSS");
  } finally {
    await timed(peer, ["delete", "--force", id]);
    await Deno.remove(pidFile).catch(() => {});
  }
}
