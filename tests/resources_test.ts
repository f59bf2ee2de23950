/**
 * `linux.resources` on the sandbox's host cgroup, next to runc: the limits
 * written, `update` (JSON on stdin and flags), `events --stats`, the OOM
 * killer and `oom` events, a pids limit, the cgroup's path (cgroupsPath,
 * `/ID`, --systemd-cgroup), bad input; nothing left behind.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { makeBundle, sandboxTraces } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { compileCPrograms, DVISOR, type Ran, run, runDetaching } from "./support/run.ts";
import { controlWrites, type Resources } from "../platform/cgroup_resources.ts";
import {
  cgroupHierarchies,
  type CgroupRecord,
  locateCgroup,
  readControl,
} from "../platform/cgroup.ts";

const MiB = 1024 * 1024;
/** The host's first block device that is a disk (its major and minor), for blockIO throttles. */
function firstDisk(): { major: number; minor: number } {
  for (const e of [...Deno.readDirSync("/sys/block")].sort((a, b) => a.name < b.name ? -1 : 1)) {
    try {
      Deno.statSync(`/sys/block/${e.name}/device`); // a real device, not loop or zram
    } catch {
      continue;
    }
    const [major, minor] = Deno.readTextFileSync(`/sys/block/${e.name}/dev`).trim().split(":");
    return { major: Number(major), minor: Number(minor) };
  }
  throw new Error("No disk in /sys/block: the blockIO limits need one");
}

const DISK = firstDisk();

const LIMITS = {
  memory: { limit: 512 * MiB, reservation: 256 * MiB },
  cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0" },
  pids: { limit: 200 },
  blockIO: {
    throttleReadBpsDevice: [{ ...DISK, rate: 10 * MiB }],
    throttleWriteBpsDevice: [{ ...DISK, rate: 5 * MiB }],
    throttleReadIOPSDevice: [{ ...DISK, rate: 1000 }],
    throttleWriteIOPSDevice: [{ ...DISK, rate: 500 }],
  },
};

type Runtime = "runc" | "dvisor";
const RUNTIMES: Runtime[] = ["runc", "dvisor"];

function cli(runtime: Runtime, root: string): (args: string[], stdin?: string) => Promise<Ran> {
  const cmd = runtime === "runc" ? "runc" : DVISOR;
  return (args, stdin) => run(cmd, ["--root", root, ...args], stdin ? { stdin } : {});
}

/** The control files a set of limits writes, with their values now. */
function limitsNow(cg: CgroupRecord, r: Resources): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of controlWrites(cg.version, r)) {
    const dir = cg.dirs.find((d) => cg.version === 2 || d.controllers.includes(w.controller))!.dir;
    out[w.file] = readControl(dir, w.file);
  }
  return out;
}

/** `dvisor create`, whose sandbox keeps no pipe of ours open. */
function createDetached(root: string, bundle: string, id: string, flags: string[] = []) {
  return runDetaching(DVISOR, ["--root", root, ...flags, "create", "--bundle", bundle, id]);
}

/** Exit status 1, and (dvisor) one line saying why. */
function refused(runtime: Runtime, r: Ran, what: string): void {
  assertEquals(r.code, 1, `${what}: ${r.stderr}`);
  if (runtime === "dvisor") assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
}

Deno.test("linux.resources: the sandbox's cgroup gets runc's limits; update, events", async (t) => {
  const traces = sandboxTraces();
  const rootfs = await makeBusyboxRootfs();
  const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
  const seen: Record<Runtime, Record<string, unknown>> = { runc: {}, dvisor: {} };
  try {
    for (const runtime of RUNTIMES) {
      const id = `dvisor-res-${runtime}-${Deno.pid}`;
      const path = `/dvisor-test-res/${id}`;
      const bundle = await makeBundle({
        rootfs,
        args: ["sleep", "1000"],
        resources: LIMITS,
        cgroupsPath: path,
      });
      const c = cli(runtime, root);
      const cg = locateCgroup(path);
      try {
        const cmd = runtime === "runc" ? "runc" : DVISOR;
        const created = await runDetaching(cmd, [
          "--root",
          root,
          "run",
          "-d",
          "--bundle",
          bundle,
          id,
        ]);
        assertEquals(created.code, 0, created.stderr);
        const state = JSON.parse((await c(["state", id])).stdout);
        const got = seen[runtime];
        got.limits = limitsNow(cg, LIMITS);
        // The container's pid (dvisor: the sandbox process) is in every hierarchy's cgroup.
        got.member = cg.dirs.every((d) =>
          readControl(d.dir, "cgroup.procs").split("\n").includes(String(state.pid))
        );
        if (runtime === "dvisor") {
          // So is the gofer (the sandbox process starts its stubs in it too).
          const procs = readControl(cg.dirs[0]!.dir, "cgroup.procs").split("\n");
          assert(procs.length >= 2, `gofer and sandbox process: ${procs}`);
        }
        const stats = JSON.parse((await c(["events", "--stats", id])).stdout);
        got.statsKeys = [Object.keys(stats), Object.keys(stats.data).sort()];
        got.memoryLimit = stats.data.memory.usage.limit;
        got.pids = [stats.data.pids.current, stats.data.pids.limit];
        assert(stats.data.cpu.usage.total > 0 && stats.data.memory.usage.usage > 0);

        const json = JSON.stringify({ memory: { limit: 300 * MiB }, pids: { limit: 100 } });
        assertEquals((await c(["update", "--resources", "-", id], json)).code, 0);
        got.afterJson = limitsNow(cg, { memory: { limit: 1 }, pids: { limit: 1 } });
        const flags = ["--memory", "400M", "--cpu-quota", "20000", "--pids-limit", "-1"];
        assertEquals((await c(["update", ...flags, id])).code, 0);
        got.afterFlags = limitsNow(cg, {
          memory: { limit: 1 },
          cpu: { quota: 1 },
          pids: { limit: 1 },
        });
        refused(runtime, await c(["update", "--memory", "bogus", id]), "a size that is not one");
        refused(runtime, await c(["update", "--memory", "1000", id]), "a limit under the usage");
        if (runtime === "dvisor") {
          const r = await c(["update", "--memory", "1000", id]);
          assertStringIncludes(r.stderr, "give a larger limit");
        }
        assertEquals((await c(["kill", id, "KILL"])).code, 0);
        for (let i = 0; i < 100; i++) {
          if (JSON.parse((await c(["state", id])).stdout).status === "stopped") break;
          await new Promise((r) => setTimeout(r, 50));
        }
        refused(runtime, await c(["update", "--memory", "300M", id]), "a stopped container");
        assertEquals((await c(["delete", id])).code, 0);
        got.removed = cg.dirs.every((d) => {
          try {
            Deno.statSync(d.dir);
            return false;
          } catch {
            return true;
          }
        });
      } finally {
        await c(["delete", "--force", id]);
        await Deno.remove(bundle, { recursive: true });
      }
    }
    await t.step("the same limits, updates, stats shape and removal as runc", () => {
      assertEquals(seen.dvisor.limits, seen.runc.limits);
      // The throttles are there (on the disk, as runc wrote them).
      const disk = `${DISK.major}:${DISK.minor}`;
      const limits = seen.dvisor.limits as Record<string, string>;
      assert(
        Object.values(limits).filter((v) => v.includes(disk)).length >= 1,
        `${disk}: ${JSON.stringify(limits)}`,
      );
      assertEquals(seen.dvisor.member, true);
      assertEquals(seen.dvisor.statsKeys, seen.runc.statsKeys);
      assertEquals(seen.dvisor.memoryLimit, 512 * MiB);
      assertEquals(seen.dvisor.memoryLimit, seen.runc.memoryLimit);
      // The container's own processes, as runsc counts them.
      assertEquals(seen.dvisor.pids, [1, 200]);
      assertEquals(seen.dvisor.afterJson, seen.runc.afterJson);
      assertEquals(seen.dvisor.afterFlags, seen.runc.afterFlags);
      assertEquals(seen.dvisor.removed, true);
      assertEquals(seen.runc.removed, true);
    });
  } finally {
    for (const h of locateCgroup("/dvisor-test-res").dirs) {
      await Deno.remove(h.dir).catch(() => {});
    }
    await Deno.remove(root, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
  assertEquals(sandboxTraces(), traces, "nothing left behind");
});

/** Reads `events` lines until one has the type, or the time is up. */
async function waitForEvent(
  runtime: Runtime,
  root: string,
  id: string,
  type: string,
  ms: number,
): Promise<Record<string, unknown> | null> {
  const child = new Deno.Command(runtime === "runc" ? "runc" : DVISOR, {
    args: ["--root", root, "events", "--interval", "1s", id],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  let found: Record<string, unknown> | null = null;
  let text = "";
  try {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const lines = text.split("\n");
      text = lines.pop()!;
      found = lines.map((l) => JSON.parse(l)).find((e) => e.type === type) ?? null;
      if (found) break;
    }
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch { /* it ended */ }
    await child.status;
  }
  return found;
}

Deno.test("linux.resources: the OOM killer in the sandbox's cgroup, and oom events, as runc", async (t) => {
  const traces = sandboxTraces();
  const rootfs = await makeBusyboxRootfs();
  const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
  const bundle = await makeBundle({
    rootfs,
    // Starts small, then grows past the limit (tail keeps a line that never ends).
    args: ["sh", "-c", "sleep 2; tail /dev/zero; echo tail=$?; sleep 1000"],
    resources: { memory: { limit: 256 * MiB } },
  });
  const events: Record<Runtime, Record<string, unknown> | null> = { runc: null, dvisor: null };
  try {
    for (const runtime of RUNTIMES) {
      const id = `dvisor-oom-${runtime}-${Deno.pid}`;
      const cmd = runtime === "runc" ? "runc" : DVISOR;
      const r = await runDetaching(cmd, ["--root", root, "run", "-d", "--bundle", bundle, id]);
      assertEquals(r.code, 0, r.stderr);
      try {
        events[runtime] = await waitForEvent(runtime, root, id, "oom", 30_000);
        // The container lives on: only the process that grew was killed.
        const ps = await cli(runtime, root)(["state", id]);
        assertEquals(JSON.parse(ps.stdout).status, "running");
      } finally {
        await cli(runtime, root)(["delete", "--force", id]);
      }
    }
    await t.step("runc and dvisor report the OOM kill", () => {
      assertEquals(events.runc, { type: "oom", id: `dvisor-oom-runc-${Deno.pid}` });
      assertEquals(events.dvisor, { type: "oom", id: `dvisor-oom-dvisor-${Deno.pid}` });
    });
    await t.step("a limit too small for the sandbox fails create in one line", async () => {
      const small = await makeBundle({
        rootfs,
        args: ["true"],
        resources: { memory: { limit: 4 * MiB } },
      });
      try {
        const r = await createDetached(root, small, "small");
        refused("dvisor", r, "a 4 MiB limit");
        assertMatch(r.stderr, /OOM killer|memory limit/);
        assertEquals((await cli("dvisor", root)(["list", "-q"])).stdout, "");
      } finally {
        await Deno.remove(small, { recursive: true });
      }
    });
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(root, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
  assertEquals(sandboxTraces(), traces, "nothing left behind");
});

Deno.test("linux.resources: forks past a pids limit fail with EAGAIN, as runc", async () => {
  const rootfs = await makeBusyboxRootfs();
  const bin = await compileCPrograms();
  const bundle = await makeBundle({
    rootfs,
    args: ["/c/fork_limit"],
    resources: { pids: { limit: 40 } },
    mounts: [{ destination: "/c", type: "bind", source: bin, options: ["rbind", "ro"] }],
  });
  try {
    for (const runtime of RUNTIMES) {
      const cmd = runtime === "runc" ? "runc" : DVISOR;
      const r = await run(cmd, ["run", "--bundle", bundle, `dvisor-pids-${runtime}-${Deno.pid}`]);
      assertEquals(
        [r.code, r.stdout],
        [0, "refused with EAGAIN: yes\nreaped all: yes\n"],
        `${runtime}: ${r.stderr}`,
      );
    }
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("the sandbox's cgroup path: /ID, cgroupsPath, --systemd-cgroup; bad input", async (t) => {
  const traces = sandboxTraces();
  const rootfs = await makeBusyboxRootfs();
  const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
  const dvisor = cli("dvisor", root);
  const exists = (dir: string) => {
    try {
      return Deno.statSync(dir).isDirectory;
    } catch {
      return false;
    }
  };
  const lifecycle = async (bundle: string, id: string, dirs: string[], flags: string[] = []) => {
    const r = await createDetached(root, bundle, id, flags);
    assertEquals(r.code, 0, r.stderr);
    try {
      const pid = JSON.parse((await dvisor(["state", id])).stdout).pid;
      for (const d of dirs) {
        assert(readControl(d, "cgroup.procs").split("\n").includes(String(pid)), d);
      }
    } finally {
      assertEquals((await dvisor(["delete", "--force", id])).code, 0);
    }
    for (const d of dirs) assertEquals(exists(d), false, `${d} is removed`);
  };
  try {
    const plain = await makeBundle({ rootfs, args: ["true"] });
    await t.step("without cgroupsPath: /ID", async () => {
      const id = `dvisor-cg-${Deno.pid}`;
      await lifecycle(plain, id, locateCgroup(`/${id}`).dirs.map((d) => d.dir));
    });
    await t.step("--systemd-cgroup: slice:prefix:name as systemd lays it out", async () => {
      const id = `cg-${Deno.pid}`;
      const b = await makeBundle({
        rootfs,
        args: ["true"],
        cgroupsPath: `dvisortest.slice:dvt:${id}`,
      });
      const where = locateCgroup(`/dvisortest.slice/dvt-${id}.scope`).dirs.map((d) => d.dir);
      try {
        await lifecycle(b, id, where, ["--systemd-cgroup"]);
        // As runc: the parents made on the way stay.
        assert(where.every((d) => exists(d.slice(0, d.lastIndexOf("/")))));
      } finally {
        for (const d of where) await Deno.remove(d.slice(0, d.lastIndexOf("/"))).catch(() => {});
        await Deno.remove(b, { recursive: true });
      }
    });
    await t.step("a pre-existing cgroup is joined and kept", async () => {
      const cg = locateCgroup(`/dvisor-kept-${Deno.pid}`);
      for (const d of cg.dirs) await Deno.mkdir(d.dir);
      const b = await makeBundle({ rootfs, args: ["true"], cgroupsPath: cg.path });
      try {
        const r = await dvisor(["run", "--bundle", b, "kept"]);
        assertEquals(r.code, 0, r.stderr);
        assert(cg.dirs.every((d) => exists(d.dir)));
      } finally {
        for (const d of cg.dirs) await Deno.remove(d.dir);
        await Deno.remove(b, { recursive: true });
      }
    });
    const bad: Array<[string, Record<string, unknown>, string | undefined, string]> = [
      ["a negative memory limit", { memory: { limit: -5 } }, undefined, "memory.limit"],
      ["shares that are not a number", { cpu: { shares: "x" } }, undefined, "cpu.shares"],
      ["a CPU list that is not one", { cpu: { cpus: "a-b" } }, undefined, "cpu.cpus"],
      ["swap under the memory limit", { memory: { limit: 4 * MiB, swap: MiB } }, undefined, "swap"],
      ["a CPU the host lacks", { cpu: { cpus: "4095" } }, undefined, "cpuset.cpus"],
      ["a path with ..", {}, "/a/../b", ".."],
    ];
    // Huge page limits need a hugetlb controller where the sandbox's cgroup is:
    // refused in one line without one (runc: "cannot set hugetlb limit").
    const huge = { hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }] };
    const hierarchies = cgroupHierarchies();
    const v1 = hierarchies.some((h) => h.version === 1);
    const hugetlb = v1
      ? hierarchies.some((h) => h.controllers.includes("hugetlb"))
      : readControl(hierarchies[0]!.mountPoint, "cgroup.controllers").split(" ").includes(
        "hugetlb",
      );
    if (!hugetlb) {
      bad.push(["huge page limits without a hugetlb controller", huge, undefined, "hugetlb"]);
    } else {
      await t.step("huge page limits on the hugetlb controller", async () => {
        const id = `dvisor-huge-${Deno.pid}`;
        const b = await makeBundle({
          rootfs,
          args: ["sleep", "5"],
          resources: huge,
          cgroupsPath: `/${id}`,
        });
        try {
          assertEquals((await createDetached(root, b, id)).code, 0);
          const cg = locateCgroup(`/${id}`);
          const dir = cg.dirs.find((d) =>
            cg.version === 2 || d.controllers.includes("hugetlb")
          )!.dir;
          const file = cg.version === 1 ? "hugetlb.2MB.limit_in_bytes" : "hugetlb.2MB.max";
          assertEquals(readControl(dir, file), String(4 * MiB));
        } finally {
          await dvisor(["delete", "--force", id]);
          await Deno.remove(b, { recursive: true });
        }
      });
    }
    for (const [what, resources, cgroupsPath, says] of bad) {
      await t.step(`${what}: create fails in one line, nothing made`, async () => {
        const b = await makeBundle({
          rootfs,
          args: ["true"],
          resources,
          ...(cgroupsPath ? { cgroupsPath } : {}),
        });
        try {
          const r = await createDetached(root, b, "bad");
          refused("dvisor", r, what);
          assertStringIncludes(r.stderr, says);
          assertEquals((await dvisor(["list", "-q"])).stdout, "");
          assertEquals(locateCgroup("/bad").dirs.some((d) => exists(d.dir)), false);
        } finally {
          await Deno.remove(b, { recursive: true });
        }
      });
    }
    await Deno.remove(plain, { recursive: true });
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
  assertEquals(sandboxTraces(), traces, "nothing left behind");
});

Deno.test("the container's /sys: the host's CPUs as under runc, its limits in /sys/fs/cgroup", async () => {
  const rootfs = await makeBusyboxRootfs();
  const sys = [
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
  ];
  const resources = {
    memory: { limit: 512 * MiB, swap: 768 * MiB },
    cpu: { quota: 50000, period: 100000, shares: 1024 },
    pids: { limit: 300 },
  };
  const cpus = await makeBundle({
    rootfs,
    args: ["sh", "-c", "cat /sys/devices/system/cpu/online; nproc; ls /sys/devices/system/cpu"],
    resources,
    mounts: sys,
  });
  const files = ["cpu.max", "cpu.weight", "memory.max", "memory.swap.max", "pids.max"];
  const cgroup = await makeBundle({
    rootfs,
    args: [
      "sh",
      "-c",
      `cd /sys/fs/cgroup; for f in ${files.join(" ")}; do echo "$f $(cat $f)"; done; ` +
      "wc -l < cgroup.procs; echo 1 > pids.max || echo refused",
    ],
    resources,
    mounts: sys,
  });
  try {
    const runc = await run("runc", ["run", "--bundle", cpus, `dvisor-sys-runc-${Deno.pid}`]);
    const dvisor = await run(DVISOR, ["run", "--bundle", cpus, `dvisor-sys-${Deno.pid}`]);
    // The CPUs online, whatever the quota (Deno's own count would follow the quota).
    assertEquals(dvisor.stdout.split("\n").slice(0, 2), runc.stdout.split("\n").slice(0, 2));
    assertEquals(
      dvisor.stdout.split("\n").slice(2).filter((l) => /^cpu\d+$/.test(l)),
      runc.stdout.split("\n").slice(2).filter((l) => /^cpu\d+$/.test(l)),
    );
    const r = await run(DVISOR, ["run", "--bundle", cgroup, `dvisor-cg-${Deno.pid}`]);
    assertEquals(
      r.stdout,
      [
        "cpu.max 50000 100000",
        "cpu.weight 39",
        `memory.max ${512 * MiB}`,
        `memory.swap.max ${256 * MiB}`,
        "pids.max 300",
        // sh and wc
        "2",
        "refused",
        "",
      ].join("\n"),
    );
  } finally {
    for (const d of [cpus, cgroup, rootfs]) await Deno.remove(d, { recursive: true });
  }
});
