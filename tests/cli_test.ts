import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { makeBusyboxRootfs } from "./support/rootfs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DVISOR = `${ROOT}dvisor`;

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("dvisor --version prints version, commit and OCI spec like runc", async () => {
  for (const flag of ["--version", "-v", "-version"]) {
    const r = await run(DVISOR, [flag]);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assertMatch(lines[0]!, /^dvisor version \d+\.\d+\.\d+$/);
    assertMatch(lines[1]!, /^commit: ([0-9a-f]{40}(-dirty)?|unknown)$/);
    assertMatch(lines[2]!, /^spec: 1\.\d+\.\d+$/);
    assertMatch(lines[4]!, /^compiled: (yes|no)/);
  }
});

Deno.test("dvisor reports a bad command line in one line, exit 1, and as a JSON log record", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = `${dir}/log.json`;
    const cases: Array<[string[], string]> = [
      [["--log", log, "--log-format", "json", "frobnicate"], 'Unknown command "frobnicate"'],
      [["--log", log, "--log-format", "json", "--frob"], "Unknown flag --frob"],
      [["--log", log, "--log-format", "yaml", "state"], "Unknown --log-format yaml"],
    ];
    for (const [args, text] of cases) {
      const r = await run(DVISOR, args);
      assertEquals(r.code, 1);
      assertEquals(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assertStringIncludes(lines[0]!, text);
    }
    const lines = (await Deno.readTextFile(log)).trim().split("\n");
    // With an unknown format the record is written as text.
    assertMatch(lines.pop()!, /^time="[^"]+" level=error msg="Unknown --log-format yaml/);
    const records = lines.map((l) => JSON.parse(l));
    assertEquals(records.map((r) => r.level), ["error", "error"]);
    assertStringIncludes(records[0].msg, "frobnicate");
    assert(!Number.isNaN(Date.parse(records[0].time)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dvisor accepts runc's global flags, ignoring the meaningless ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await run(DVISOR, [
      "--root",
      dir,
      "--criu",
      "/x",
      "--systemd-cgroup",
      "-debug",
      "--log",
      `${dir}/l`,
      "--version",
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(
      await Deno.readTextFile(`${dir}/l`),
      "--criu is accepted for compatibility and ignored",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile.sh builds dist/dvisor, or says in one line why it cannot", async () => {
  const r = await run(`${ROOT}compile.sh`, [], { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" });
  if (r.code === 0) {
    const v = await run(`${ROOT}dist/dvisor`, ["--version"]);
    assertStringIncludes(v.stdout, "compiled: yes");
    return;
  }
  assertEquals(r.code, 1);
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assertStringIncludes(lines[0]!, "DENORT_BIN");
  const bad = await run(`${ROOT}compile.sh`, [], {
    DENORT_BIN: "/nonexistent/denort",
    PATH: Deno.env.get("PATH") ?? "",
  });
  assertEquals(bad.code, 1);
  assertStringIncludes(bad.stderr, "DENORT_BIN=/nonexistent/denort is not an executable file");
});

Deno.test("dvisor help syscalls prints the system call table", async () => {
  const r = await run(DVISOR, ["help", "syscalls"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /^0 +read +full/m);
  assertMatch(r.stdout, /^165 +mount +error +EPERM/m);
  assertMatch(r.stdout, /\d+ full, \d+ partial, \d+ fail on purpose, \d+ missing \(ENOSYS\)\n$/);
});

Deno.test("dvisor spec writes a config.json that dvisor run runs as is; features is JSON", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-spec-" });
  try {
    const rootfs = await makeBusyboxRootfs();
    await Deno.rename(rootfs, `${dir}/rootfs`);
    const first = await run(DVISOR, ["spec", "--bundle", dir]);
    assertEquals(first.code, 0, first.stderr);
    const again = await run(DVISOR, ["spec", "--bundle", dir]);
    assertEquals(again.code, 1);
    assertEquals(again.stderr.trim().split("\n").length, 1);
    const spec = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    spec.process.args = ["sh", "-c", "echo from spec; exit 3"];
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(spec));
    const ran = await run(DVISOR, ["run", "--bundle", dir, `spec-${Deno.pid}`]);
    // On a terminal, as runc's spec: run is the terminal, and the line ends in CR LF.
    assertEquals([ran.code, ran.stdout], [3, "from spec\r\n"]);
    const features = JSON.parse((await run(DVISOR, ["features"])).stdout);
    assertEquals(features.ociVersionMax, "1.2.1");
    assertEquals(features.linux.namespaces.includes("pid"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
