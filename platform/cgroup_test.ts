import { assertEquals, assertThrows } from "@std/assert";
import {
  cgroupHierarchies,
  type CgroupRecord,
  containerCgroupPath,
  locateCgroup,
  oomKills,
  setResources,
} from "./cgroup.ts";
import { blkioToIoWeight, controlWrites, sharesToWeight } from "./cgroup_resources.ts";
import { cgroupStats, statsJson } from "./cgroup_stats.ts";

const V1_MOUNTINFO = [
  "25 21 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755",
  "26 25 0:23 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate",
  "27 25 0:24 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd",
  "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct",
  "31 25 0:28 / /sys/fs/cgroup/memory rw shared:15 - cgroup cgroup rw,memory",
  // The same hierarchy mounted twice counts once.
  "40 25 0:28 / /mnt/memory rw shared:15 - cgroup cgroup rw,memory",
  "32 25 0:29 /sub /sys/fs/cgroup/pids rw shared:16 - cgroup cgroup rw,pids",
].join("\n");

Deno.test("cgroupHierarchies() reads v1, v2 and hybrid mounts from mountinfo", () => {
  const h = cgroupHierarchies(V1_MOUNTINFO);
  assertEquals(h.map((x) => [x.version, x.mountPoint, x.controllers.join(",")]), [
    [2, "/sys/fs/cgroup/unified", ""],
    [1, "/sys/fs/cgroup/systemd", "name=systemd"],
    [1, "/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"],
    [1, "/sys/fs/cgroup/memory", "memory"],
    [1, "/sys/fs/cgroup/pids", "pids"],
  ]);
});

Deno.test("locateCgroup() places absolute and relative paths in every hierarchy", () => {
  const h = cgroupHierarchies(V1_MOUNTINFO);
  const abs = locateCgroup("/pod/c1", h);
  assertEquals(abs.version, 1);
  assertEquals(abs.dirs.map((d) => d.dir), [
    "/sys/fs/cgroup/systemd/pod/c1",
    "/sys/fs/cgroup/cpu,cpuacct/pod/c1",
    "/sys/fs/cgroup/memory/pod/c1",
    // The pids mount shows the /sub sub-tree: paths below it lose the prefix.
    "/sys/fs/cgroup/pids/pod/c1",
    "/sys/fs/cgroup/unified/pod/c1",
  ]);
  const self = "4:memory:/runtime\n3:cpu,cpuacct:/\n2:pids:/sub/rt\n1:name=systemd:/\n0::/u\n";
  const rel = locateCgroup("c1", h, self);
  assertEquals(rel.dirs.map((d) => d.dir), [
    "/sys/fs/cgroup/systemd/c1",
    "/sys/fs/cgroup/cpu,cpuacct/c1",
    "/sys/fs/cgroup/memory/runtime/c1",
    "/sys/fs/cgroup/pids/rt/c1",
    "/sys/fs/cgroup/unified/u/c1",
  ]);
  assertThrows(() => locateCgroup("/a/../b", h), RangeError, "..");
  assertThrows(() => locateCgroup("/a", []), Error, "No cgroup file system");
});

Deno.test("containerCgroupPath(): /ID, cgroupsPath, systemd slices", () => {
  assertEquals(containerCgroupPath("/x/y", "c", false), "/x/y");
  assertEquals(containerCgroupPath(null, "c", true), "/system.slice/dvisor-c.scope");
  assertEquals(containerCgroupPath(":cri:c", "c", true), "/system.slice/cri-c.scope");
  assertEquals(containerCgroupPath("-.slice:p:c", "c", true), "/p-c.scope");
  assertEquals(
    containerCgroupPath("a-b.slice:p:c-d.slice", "c", true),
    "/a.slice/a-b.slice/c.slice/c-d.slice",
  );
  assertThrows(() => containerCgroupPath("/x/y", "c", true), RangeError, "slice:prefix:name");
  assertThrows(() => containerCgroupPath("a--b.slice:p:c", "c", true), RangeError, "slice");
});

Deno.test("controlWrites(): runc's files and values under v1 and v2", () => {
  const r = {
    memory: { limit: 100, reservation: 50, swap: 300 },
    cpu: { shares: 1024, quota: 20000, period: 100000, cpus: "0-1" },
    pids: { limit: -1 },
  };
  const text = (v: 1 | 2) => controlWrites(v, r).map((w) => `${w.file}=${w.value}`);
  assertEquals(text(1), [
    "memory.memsw.limit_in_bytes=300",
    "memory.limit_in_bytes=100",
    "memory.memsw.limit_in_bytes=300",
    "memory.soft_limit_in_bytes=50",
    "cpu.shares=1024",
    "cpu.cfs_period_us=100000",
    "cpu.cfs_quota_us=20000",
    "cpuset.cpus=0-1",
    "pids.max=max",
  ]);
  assertEquals(text(2), [
    "memory.max=100",
    "memory.low=50",
    // v2's swap is memory+swap minus memory.
    "memory.swap.max=200",
    "cpu.weight=39",
    "cpu.max=20000 100000",
    "cpuset.cpus=0-1",
    "pids.max=max",
  ]);
  assertEquals(controlWrites(2, { cpu: { quota: -1 } }).map((w) => w.value), ["max"]);
  // A period alone keeps the quota in force.
  const period = controlWrites(2, { cpu: { period: 50000 } }, { cpuQuota: "20000" });
  assertEquals(period.map((w) => w.value), ["20000 50000"]);
  assertEquals(sharesToWeight(262144), 10000);
  assertThrows(() => controlWrites(2, { memory: { swap: 10 } }), RangeError, "memory limit");
  assertThrows(() => controlWrites(1, { unified: { "memory.high": "1" } }), RangeError, "v2");
  assertThrows(() => controlWrites(2, { unified: { "../x": "1" } }), RangeError, "not a control");
  assertThrows(() => controlWrites(2, { cpu: { realtimeRuntime: 5 } }), RangeError, "v1");
});

Deno.test("controlWrites(): block I/O as runc writes it under v1 and v2", () => {
  const blockIO = {
    weight: 500,
    weightDevice: [{ major: 8, minor: 0, weight: 300 }],
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 20 }],
  };
  const text = (v: 1 | 2) =>
    controlWrites(v, { blockIO }).map((w) =>
      `${w.file}=${w.value}${w.fallback ? ` or ${w.fallback.file}=${w.fallback.value}` : ""}`
    );
  assertEquals(text(1), [
    "blkio.weight=500 or blkio.bfq.weight=500",
    "blkio.weight_device=8:0 300 or blkio.bfq.weight_device=8:0 300",
    "blkio.throttle.read_bps_device=8:0 1000",
    "blkio.throttle.write_iops_device=8:16 20",
  ]);
  assertEquals(text(2), [
    // BFQ takes the weight as it is; io.weight's scale is 1 to 10000.
    "io.bfq.weight=500 or io.weight=4950",
    "io.bfq.weight=8:0 300",
    "io.max=8:0 rbps=1000",
    "io.max=8:16 wiops=20",
  ]);
  assertEquals(blkioToIoWeight(100), 910);
  const huge = { hugepageLimits: [{ pageSize: "2MB", limit: 4096 }] };
  assertEquals(controlWrites(1, huge).map((w) => `${w.file}=${w.value}${w.mayFail ? "?" : ""}`), [
    "hugetlb.2MB.limit_in_bytes=4096",
    "hugetlb.2MB.rsvd.limit_in_bytes=4096?",
  ]);
  assertEquals(controlWrites(2, huge).map((w) => w.file), [
    "hugetlb.2MB.max",
    "hugetlb.2MB.rsvd.max",
  ]);
  assertThrows(() => controlWrites(2, { blockIO: { leafWeight: 20 } }), RangeError, "v1");
});

/** A v2 cgroup directory of plain files (the kernel's are not needed to test the mapping). */
async function fakeV2(files: Record<string, string>): Promise<CgroupRecord> {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-cgroup-" });
  for (const [f, v] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${f}`, v);
  return { version: 2, path: "/fake", dirs: [{ controllers: [], dir }], created: [dir] };
}

Deno.test("setResources() writes v2 control files and names what it could not set", async () => {
  const cg = await fakeV2({ "memory.max": "max\n", "memory.swap.max": "", "pids.max": "" });
  const dir = cg.dirs[0]!.dir;
  try {
    setResources(cg, { memory: { limit: 4096 }, pids: { limit: 9 } });
    assertEquals(await Deno.readTextFile(`${dir}/memory.max`), "4096");
    assertEquals(await Deno.readTextFile(`${dir}/pids.max`), "9");
    // Swap alone is computed from the memory limit in force.
    await Deno.writeTextFile(`${dir}/memory.max`, "4096\n");
    setResources(cg, { memory: { swap: 8192 } });
    assertEquals(await Deno.readTextFile(`${dir}/memory.swap.max`), "4096");
    assertThrows(
      () => setResources(cg, { cpu: { shares: 2 } }),
      Error,
      "Cannot set cpu.weight to 1 in",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cgroupStats() reads v2 files in runc's events shape; oomKills()", async () => {
  const cg = await fakeV2({
    "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n" +
      "nr_throttled 1\nthrottled_usec 7\n",
    "cpuset.cpus.effective": "0-2,5\n",
    "cpuset.mems.effective": "0\n",
    "memory.current": "8192\n",
    "memory.max": "max\n",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n",
    "memory.stat": "anon 4096\nfile 100\n",
    "memory.swap.current": "0\n",
    "memory.swap.max": "max\n",
    "pids.current": "3\n",
    "pids.max": "max\n",
  });
  try {
    const s = cgroupStats(cg);
    assertEquals(s.cpu, {
      usage: { total: 1500000n, kernel: 500000n, user: 1000000n },
      throttling: { periods: 4n, throttled_periods: 1n, throttled_time: 7000n },
    });
    assertEquals(s.cpuset, { cpus: [0, 1, 2, 5], cpu_exclusive: 0n, mems: [0] });
    assertEquals(s.memory, {
      cache: 100n,
      usage: { limit: 18446744073709551615n, usage: 8192n, failcnt: 3n },
      swap: { limit: 18446744073709551615n, failcnt: 0n },
      raw: { anon: 4096n, file: 100n },
    });
    assertEquals(s.pids, { current: 3n });
    assertEquals(
      statsJson(s.memory!).slice(0, 64),
      '{"cache":100,"usage":{"limit":18446744073709551615,"usage":8192,',
    );
    assertEquals(oomKills(cg), 2);
  } finally {
    await Deno.remove(cg.dirs[0]!.dir, { recursive: true });
  }
});
