import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { leavesNothing } from "../tests/support/leaks.ts";
import { BUSYBOX, makeBusyboxRootfs } from "../tests/support/rootfs.ts";
import { capabilityNumber } from "./caps.ts";
import { locateCgroup, makeCgroup, procsFiles, removeCgroup } from "./cgroup.ts";
import { closeFd, pipe, readAll } from "./fd.ts";
import { MS, type Namespace, spawn, SpawnError } from "./spawn.ts";
import { capture } from "./testdata/capture.ts";
import { probeFd } from "./testdata/programs.ts";
import { sandboxViewOptions, viewLines } from "./testdata/sandbox_view.ts";

const NS_FILE: Record<Namespace, string> = {
  user: "user",
  pid: "pid",
  mount: "mnt",
  uts: "uts",
  ipc: "ipc",
  net: "net",
  cgroup: "cgroup",
};

function sh(script: string) {
  return { path: BUSYBOX, args: ["sh", "-c", script] };
}

Deno.test("spawn() runs a program and reports its exit code", async () => {
  await leavesNothing(() => {
    const r = capture(sh("echo out; echo err >&2; exit 7"));
    assertEquals(r.stdout, "out\n");
    assertEquals(r.stderr, "err\n");
    assertEquals(r.status, { code: 7, signal: null, coreDumped: false });
  });
});

Deno.test("spawn() passes argv and only the given environment", () => {
  const r = capture({
    path: BUSYBOX,
    args: [
      "sh",
      "-c",
      'echo "$0|$1"; env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | sort',
      "zero",
      "one",
    ],
    env: ["FOO=bar baz", "A=1", "PATH=/bin"],
  });
  // The shell itself adds PWD, SHLVL and _ to what it was given.
  assertEquals(r.stdout, "zero|one\nA=1\nFOO=bar baz\nPATH=/bin\n");
});

for (const kind of Object.keys(NS_FILE) as Namespace[]) {
  Deno.test(`spawn() creates a new ${kind} namespace`, async () => {
    await leavesNothing(() => {
      const file = `/proc/self/ns/${NS_FILE[kind]}`;
      const r = capture({ ...sh(`readlink ${file}`), namespaces: [kind] });
      assertEquals(r.status.code, 0, r.stderr);
      assertMatch(r.stdout, /^\w+:\[\d+\]\n$/);
      assertNotEquals(r.stdout.trim(), Deno.readLinkSync(file));
    });
  });
}

Deno.test("spawn() in a pid namespace makes the child pid 1", () => {
  const r = capture({ ...sh("echo $$"), namespaces: ["pid"] });
  assertEquals(r.stdout, "1\n");
});

Deno.test("spawn() sets the hostname in a uts namespace only", () => {
  const r = capture({
    ...sh("hostname"),
    namespaces: ["uts"],
    hostname: "sandbox",
    domainname: "example",
  });
  assertEquals(r.stdout, "sandbox\n");
  assertNotEquals(Deno.hostname(), "sandbox");
});

Deno.test("spawn() joins cgroups before the program runs", () => {
  const cg = locateCgroup("/dvisor-spawn-test");
  makeCgroup(cg);
  try {
    const r = capture({
      ...sh("cat /proc/self/cgroup"),
      joinCgroups: procsFiles(cg),
      namespaces: ["pid"],
    });
    const lines = r.stdout.trim().split("\n");
    // One line per hierarchy (a v1 hierarchy may hold several controllers).
    assertEquals(lines.length, cg.dirs.length);
    for (const l of lines) assertMatch(l, /:\/dvisor-spawn-test$/);
    assertThrows(
      () => spawn({ ...sh("true"), joinCgroups: ["pids/x"] }),
      RangeError,
      "cgroup.procs file",
    );
    const missing = assertThrows(
      () => spawn({ ...sh("true"), joinCgroups: [`${cg.dirs[0]!.dir}/none/cgroup.procs`] }),
      SpawnError,
    );
    assertStringIncludes(missing.message, "open");
  } finally {
    assertEquals(removeCgroup(cg), []);
  }
});

Deno.test("spawn() sets the child's oom_score_adj before it runs", () => {
  const r = capture({ ...sh("cat /proc/self/oom_score_adj"), oomScoreAdj: 500 });
  assertEquals(r.stdout, "500\n");
  // Lower than now needs CAP_SYS_RESOURCE (this VM's root lacks it): then it stays.
  const canLower =
    (BigInt(`0x${Deno.readTextFileSync("/proc/self/status").match(/CapEff:\s*(\w+)/)![1]}`) >>
      24n) & 1n;
  const low = capture({ ...sh("cat /proc/self/oom_score_adj"), oomScoreAdj: -500 });
  assertEquals(
    low.stdout,
    canLower ? "-500\n" : `${Deno.readTextFileSync("/proc/self/oom_score_adj")}`,
  );
  assertThrows(() => spawn({ ...sh("true"), oomScoreAdj: 1001 }), RangeError, "oom_score_adj");
});

Deno.test("spawn() in a net namespace sees only lo", () => {
  const r = capture({
    ...sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"),
    namespaces: ["net"],
  });
  assertEquals(r.stdout, "lo\n");
});

Deno.test("spawn() joins a network namespace by path", async () => {
  // A child in a new network namespace holds it; a second one joins it through /proc.
  const holder = spawn({ ...sh("sleep 30"), namespaces: ["net"] });
  try {
    const path = `/proc/${holder.pid}/ns/net`;
    const r = capture({ ...sh("readlink /proc/self/ns/net"), joinNetwork: path });
    assertEquals(r.status.code, 0, r.stderr);
    assertEquals(r.stdout.trim(), await Deno.readLink(path));
    assertNotEquals(r.stdout.trim(), await Deno.readLink("/proc/self/ns/net"));
    assertThrows(
      () => spawn({ ...sh("true"), joinNetwork: path, namespaces: ["net"] }),
      RangeError,
      "both join",
    );
  } finally {
    holder.kill(9);
    await holder.wait();
  }
});

Deno.test("spawn() mounts in a mount namespace stay inside it", async () => {
  await leavesNothing(() => {
    const r = capture({
      ...sh("grep ' /mnt ' /proc/self/mounts"),
      namespaces: ["mount"],
      mounts: [{
        source: "tmpfs",
        target: "/mnt",
        type: "tmpfs",
        flags: MS.NOSUID,
        data: "size=64k",
      }],
    });
    assertEquals(r.status.code, 0, r.stderr);
    assertMatch(r.stdout, /^tmpfs \/mnt tmpfs rw,nosuid/);
    assert(!Deno.readTextFileSync("/proc/self/mounts").includes(" /mnt tmpfs"));
  });
});

Deno.test("spawn() as root maps a range of ids in a user namespace", () => {
  const r = capture({
    ...sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g"),
    namespaces: ["user"],
    uidMappings: [{ containerId: 0, hostId: 100000, size: 65536 }],
    gidMappings: [{ containerId: 0, hostId: 200000, size: 1000 }],
    user: { uid: 0, gid: 0 },
  });
  assertEquals(r.status.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
  assertEquals(lines, ["0 100000 65536", "0 200000 1000", "0", "0"]);
});

Deno.test("spawn() into every namespace with a rootfs: the view from inside", async () => {
  const root = await makeBusyboxRootfs();
  try {
    await leavesNothing(() => {
      const r = capture({
        ...sandboxViewOptions(root, "sandbox", "ls /"),
        uidMappings: [{ containerId: 0, hostId: 100000, size: 65536 }],
        gidMappings: [{ containerId: 0, hostId: 100000, size: 65536 }],
        user: { uid: 0, gid: 0 },
        cwd: "/tmp",
      });
      assertEquals(r.status.code, 0, r.stderr);
      const lines = viewLines(r.stdout);
      assertEquals(lines.slice(0, 5), ["pid=1", "host=sandbox", "uid=0", "/ /proc", "lo"]);
      assertEquals(lines.slice(5), ["bin", "dev", "etc", "proc", "root", "sys", "tmp"]);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("spawn() as an unprivileged user with a user namespace", async () => {
  const root = await makeBusyboxRootfs();
  const denoDir = await Deno.makeTempDir({ prefix: "dvisor-deno-dir-" });
  await Deno.chmod(denoDir, 0o777);
  try {
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "-A",
        "--no-lock",
        new URL("./testdata/spawn_unprivileged.ts", import.meta.url).pathname,
        root,
      ],
      env: { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    const view = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(view.outside, { uid: 65534 });
    assertEquals(view.inside, ["pid=1", "host=unpriv", "uid=0", "/ /proc", "lo", "0 65534 1"]);
    // Ids beyond its own go through newuidmap, which refuses the host's root.
    assertMatch(view.hostUidMapFailure, /^newuidmap refused the mappings \(.*not allowed\)/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("spawn() maps descriptors and closes all others at execve", async () => {
  await leavesNothing(() => {
    const [r, w] = pipe();
    const [r2, w2] = pipe();
    try {
      const result = capture({
        ...sh("ls /proc/self/fd | sort -n | tr '\\n' ' '; echo via5 >&5"),
        fds: [[0, r2], [5, w]],
      });
      closeFd(w);
      // fd 3 is ls's own directory descriptor.
      assertEquals(result.stdout, "0 1 2 3 5 ");
      assertEquals(new TextDecoder().decode(readAll(r)), "via5\n");
    } finally {
      [r, r2, w2].forEach(closeFd);
    }
  });
});

Deno.test("spawn() switches user, groups, rlimits and capabilities", () => {
  const r = capture({
    ...sh(
      "id -u; id -g; id -G; ulimit -n; grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status",
    ),
    user: { uid: 1000, gid: 1001, groups: [1002, 1003] },
    rlimits: [{ resource: 7, soft: 64n, hard: 128n }],
    capabilities: {
      bounding: [capabilityNumber("NET_BIND_SERVICE"), capabilityNumber("CHOWN")],
      effective: [capabilityNumber("NET_BIND_SERVICE")],
      permitted: [capabilityNumber("NET_BIND_SERVICE")],
      inheritable: [capabilityNumber("NET_BIND_SERVICE")],
      ambient: [capabilityNumber("NET_BIND_SERVICE")],
    },
    noNewPrivileges: true,
  });
  assertEquals(r.status.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => l.replace(/\s+/g, " "));
  assertEquals(lines, [
    "1000",
    "1001",
    "1001 1002 1003",
    "64",
    "CapPrm: 0000000000000400",
    "CapEff: 0000000000000400",
    "CapBnd: 0000000000000401",
    "CapAmb: 0000000000000400",
    "NoNewPrivs: 1",
  ]);
});

Deno.test("spawn() runs a program from a descriptor in fork mode", () => {
  const exe = probeFd();
  try {
    const r = capture({
      executableFd: exe,
      args: ["probe", "39"],
      namespaces: ["pid"],
      mode: "fork",
    });
    assertEquals(r.stdout, "1\n");
  } finally {
    closeFd(exe);
  }
});

Deno.test("spawn() makes a stopped stub with execute: false", async () => {
  await leavesNothing(async () => {
    using child = spawn({ args: ["stub"], execute: false, namespaces: ["uts"] });
    const state = async () =>
      (await Deno.readTextFile(`/proc/${child.pid}/stat`)).split(") ")[1]![0];
    for (let i = 0; i < 200 && (await state()) !== "T"; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(await state(), "T");
    child.kill(18); // SIGCONT: with no tracer to redirect it, the stub exits 0
    assertEquals((await child.wait()).code, 0);
  });
});

Deno.test("spawn() reports the failing step and errno and leaves nothing behind", async (t) => {
  const cases: Array<[string, Parameters<typeof spawn>[0], string, string]> = [
    ["missing program", { path: "/nonexistent/prog", args: ["x"] }, "execve", "ENOENT"],
    ["not executable", { path: "/dev/null", args: ["x"] }, "execve", "EACCES"],
    [
      "bad cwd",
      { path: BUSYBOX, args: ["true"], cwd: "/nonexistent" },
      "chdir /nonexistent",
      "ENOENT",
    ],
    [
      "bad mount",
      {
        path: BUSYBOX,
        args: ["true"],
        namespaces: ["mount"],
        mounts: [{ source: "x", target: "/mnt", type: "nosuchfs" }],
      },
      "mount /mnt",
      "ENODEV",
    ],
    [
      "bad rootfs",
      { path: "/bin/sh", args: ["sh"], namespaces: ["mount"], rootfs: "/nonexistent" },
      "bind /nonexistent",
      "ENOENT",
    ],
    [
      "unmappable ids",
      { path: BUSYBOX, args: ["true"], namespaces: ["user"], user: { uid: 5, gid: 5 } },
      "setresgid",
      "EINVAL",
    ],
  ];
  for (const [name, options, step, code] of cases) {
    await t.step(name, async () => {
      await leavesNothing(() => {
        const e = assertThrows(() => spawn(options), SpawnError);
        assertEquals([e.step, e.code], [step, code]);
        assertStringIncludes(e.message, `${step}: ${code}`);
      });
    });
  }
});

Deno.test("spawn() rejects bad options before doing anything", async () => {
  await leavesNothing(() => {
    const bad: Array<[unknown, string]> = [
      [{ path: "/bin/true", args: [] }, "argv[0]"],
      [{ path: "/bin/true", args: ["a\0b"] }, "NUL"],
      [{ path: "/bin/true", args: ["x"], env: ["NOEQUALS"] }, "KEY=value"],
      [{ args: ["x"] }, "path or an executableFd"],
      [{ path: "/bin/true", args: ["x"], namespaces: ["bogus"] }, "Unknown namespace"],
      [{ path: "/bin/true", args: ["x"], hostname: "h" }, 'add "uts"'],
      [{ path: "/bin/true", args: ["x"], namespaces: ["mount"], rootfs: "relative" }, "absolute"],
      [
        { path: "/bin/true", args: ["x"], namespaces: ["mount"], mounts: [{ target: "/a/../b" }] },
        '".."',
      ],
      [{ path: "/bin/true", args: ["x"], fds: [[-1, 0]] }, "child descriptor"],
      [{ path: "/bin/true", args: ["x"], fds: [[1, 0], [1, 2]] }, "mapped twice"],
      [
        { path: "/bin/true", args: ["x"], rlimits: [{ resource: 7, soft: 10n, hard: 5n }] },
        "above the hard",
      ],
      [
        { path: "/bin/true", args: ["x"], seccomp: { program: new Uint8Array(7) } },
        "seccomp program",
      ],
      [{ path: "/bin/true", args: ["x"], trace: "stop", mode: "vfork" }, "fork mode"],
      [{ args: ["x"], execute: false, namespaces: ["pid"] }, "traced"],
      [{ path: "/bin/true", args: ["x"], capabilities: { effective: [99] } }, "capability"],
      [
        { path: "/bin/true", args: ["x"], hostname: "x".repeat(65), namespaces: ["uts"] },
        "longer than 64",
      ],
    ];
    for (const [options, text] of bad) {
      const e = assertThrows(() => spawn(options as Parameters<typeof spawn>[0]));
      assert(e instanceof TypeError || e instanceof RangeError, String(e));
      assertStringIncludes(e.message, text);
    }
  });
});

Deno.test("Child.kill() and wait() report the signal", async () => {
  await leavesNothing(async () => {
    using child = spawn({ path: BUSYBOX, args: ["sleep", "30"] });
    child.kill(15);
    const status = await child.wait();
    assertEquals(status, { code: null, signal: 15, coreDumped: false });
    assertInstanceOf(child.status, Object);
  });
});
