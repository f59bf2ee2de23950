/**
 * `--debug-log`: one file per process (each CLI command, the sandbox
 * process, the gofer) in a directory, or one shared file whose lines name
 * their process; `%ID%` and `%COMMAND%` expanded; `--strace` in the
 * sandbox process's file only; nothing on the container's stdio.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { makeBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, run, runDetaching } from "./support/run.ts";

/** The files of a directory, by name. */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) out.set(e.name, Deno.readTextFileSync(`${dir}/${e.name}`));
  }
  return out;
}

/** The one file whose name matches. */
function only(all: Map<string, string>, name: RegExp): string {
  const found = [...all.keys()].filter((n) => name.test(n));
  assertEquals(found.length, 1, `${name} among ${[...all.keys()].join(" ")}`);
  return all.get(found[0]!)!;
}

Deno.test("--debug-log", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const echo = await makeBundle({ rootfs, args: ["/bin/sh", "-c", "echo hi; echo $$"] });
  const sleeper = await makeBundle({ rootfs, args: ["/bin/sleep", "30"] });
  const root = await Deno.makeTempDir();
  const logs = await Deno.makeTempDir();
  const id = `dlog-${Deno.pid}`;
  /** `dvisor run` of the echo bundle, which must print only what the container prints. */
  const runEcho = async (debugLog: string, ...flags: string[]) => {
    const r = await run(DVISOR, [
      `--root=${root}`,
      `--debug-log=${debugLog}`,
      ...flags,
      "run",
      "--bundle",
      echo,
      id,
    ]);
    assertEquals([r.code, r.stdout, r.stderr], [0, "hi\n1\n", ""]);
  };
  try {
    await t.step(
      "a directory: one file per process, named by container, command and pid",
      async () => {
        const dir = `${logs}/lifecycle/`;
        const dv = (...args: string[]) => [`--root=${root}`, `--debug-log=${dir}`, ...args];
        const created = await runDetaching(DVISOR, dv("create", "--bundle", sleeper, id));
        assertEquals([created.code, created.stdout, created.stderr], [0, "", ""]);
        assertEquals((await run(DVISOR, dv("start", id))).code, 0);
        const exec = await run(DVISOR, dv("exec", id, "/bin/echo", "hello"));
        assertEquals([exec.code, exec.stdout, exec.stderr], [0, "hello\n", ""]);
        assertEquals((await run(DVISOR, dv("kill", id, "KILL"))).code, 0);
        const deleted = await run(DVISOR, dv("delete", "--force", id));
        assertEquals(deleted.code, 0, deleted.stderr);
        const all = files(dir);
        for (const name of all.keys()) assertMatch(name, /^dvisor\.[\w.+-]+\.\w+\.\d+\.log$/);
        for (const command of ["create", "start", "exec", "kill", "delete", "boot", "gofer"]) {
          const text = only(all, new RegExp(`^dvisor\\.${id}\\.${command}\\.\\d+\\.log$`));
          assertStringIncludes(text, `command line: dvisor `);
          assertMatch(text, new RegExp(`\\[${command} ${id} \\d+\\] debug: command line`));
        }
        const boot = only(all, /\.boot\./);
        assertStringIncludes(boot, "sandbox of /bin/sleep 30");
        assertStringIncludes(boot, "the init ended with wait status 9");
        const gofer = only(all, /\.gofer\./);
        assertStringIncludes(gofer, `serving ${rootfs} read-only`);
        assertStringIncludes(gofer, "every socket closed: exiting");
        assertStringIncludes(only(all, /\.exec\./), `exec ${id}: pid`);
        assertStringIncludes(only(all, /\.create\./), "sandbox pid");
        assert(![...all.values()].some((text) => text.includes("strace:")), "no trace unasked");
      },
    );

    await t.step("a failed command logs its error", async () => {
      const dir = `${logs}/failed/`;
      const r = await run(DVISOR, [`--root=${root}`, `--debug-log=${dir}`, "state", "nosuch"]);
      assertEquals(r.code, 1);
      assertStringIncludes(
        only(files(dir), /^dvisor\.nosuch\.state\.\d+\.log$/),
        "error: Container nosuch does not exist",
      );
    });

    await t.step("--strace: the container's calls in the sandbox process's file only", async () => {
      const dir = `${logs}/strace/`;
      await runEcho(dir, "--strace");
      const all = files(dir);
      const boot = only(all, new RegExp(`^dvisor\\.${id}\\.boot\\.\\d+\\.log$`));
      assertMatch(boot, /\] strace: \[1\] getpid\(/);
      assertMatch(boot, /\] strace: \[1\] write\(0x1, /);
      only(all, new RegExp(`^dvisor\\.${id}\\.gofer\\.\\d+\\.log$`));
      only(all, new RegExp(`^dvisor\\.${id}\\.run\\.\\d+\\.log$`));
      for (const [name, text] of all) {
        if (!name.includes(".boot.")) assert(!text.includes("strace:"), name);
      }
    });

    await t.step("one file: every process appends, each line naming its process", async () => {
      const file = `${logs}/all.log`;
      await runEcho(file);
      const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
      for (const line of lines) assertMatch(line, /^\S+Z \[(run|boot|gofer) [\w.+-]+ \d+\] \w+: /);
      for (const command of ["run", "boot", "gofer"]) {
        assert(lines.some((l) => l.includes(`[${command} ${id} `)), `${command} in ${file}`);
      }
    });

    await t.step("dvisor do: files named without a container", async () => {
      const dir = `${logs}/do/`;
      const r = await run(DVISOR, [
        `--root=${root}`,
        `--debug-log=${dir}`,
        "do",
        "--",
        "/bin/true",
      ]);
      assertEquals([r.code, r.stdout, r.stderr], [0, "", ""]);
      const all = files(dir);
      for (const command of ["do", "boot", "gofer"]) {
        only(all, new RegExp(`^dvisor\\.${command}\\.\\d+\\.log$`));
      }
      assertStringIncludes(only(all, /\.gofer\./), "serving / read-only");
    });

    await t.step("%ID% and %COMMAND% are expanded", async () => {
      await runEcho(`${logs}/by-id/%ID%/%COMMAND%.log`);
      assertEquals([...files(`${logs}/by-id/${id}`).keys()].sort(), [
        "boot.log",
        "gofer.log",
        "run.log",
      ]);
    });
  } finally {
    await run(DVISOR, [`--root=${root}`, "delete", "--force", id]);
    for (const dir of [echo, sleeper, root, logs, rootfs]) {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
