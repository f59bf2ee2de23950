/**
 * The OCI lifecycle driven the way containerd's runc.v2 shim drives it
 * (`--root`, `--log log.json --log-format json`, create with a pid file,
 * start, state, ps, kill, delete), each step also run under runc with the
 * same bundle, and the bad cases with runc's exit codes and nothing left
 * behind.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle, sandboxTraces } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, type Ran, run, runDetaching, until } from "./support/run.ts";
import { closeFd, closeQuietly, pollFd } from "../platform/fd.ts";
import { acceptConnection, listenUnix, receiveFds } from "../platform/socket.ts";

type Runtime = "runc" | "dvisor";

/** A runtime with its own state root, called as the shim calls it. */
function runtime(which: Runtime, root: string, bundle: string) {
  const cmd = which === "runc" ? "runc" : DVISOR;
  const globals = ["--root", root, "--log", `${bundle}/log-${which}.json`, "--log-format", "json"];
  // create and exec --detach leave the container holding their stdio: read output from files.
  return (...args: string[]): Promise<Ran> =>
    (args[0] === "create" || (args[0] === "exec" && args.includes("--detach"))
      ? runDetaching
      : run)(cmd, [...globals, ...args]);
}

/** Containers' directories and lock files left in a state root. */
function stateLeft(root: string): string[] {
  const names = (dir: string) => {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      return [];
    }
  };
  return [
    ...names(root).filter((n) => !n.startsWith("#")),
    ...names(`${root}/#locks`).map((n) => `#locks/${n}`),
  ];
}

/** Deletes (--force) every container left in a state root: a failed test must not leak sandboxes. */
async function cleanUp(root: string): Promise<void> {
  const ids = (await run(DVISOR, ["--root", root, "list", "-q"])).stdout.trim().split("\n");
  for (const id of ids.filter((i) => i)) {
    await run(DVISOR, ["--root", root, "delete", "--force", id]);
  }
}

function status(r: Ran): string {
  return (JSON.parse(r.stdout) as { status: string }).status;
}

Deno.test("create, start, state, ps, kill, delete as containerd's shim does, like runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", "trap 'exit 7' TERM; echo up; sleep 30 & wait"],
  });
  const roots = { runc: await Deno.makeTempDir(), dvisor: await Deno.makeTempDir() };
  const traces = sandboxTraces();
  try {
    for (const which of ["runc", "dvisor"] as const) {
      await t.step(which, async () => {
        const rt = runtime(which, roots[which], bundle);
        const id = `life-${which}-${Deno.pid}`;
        const pidFile = `${bundle}/init-${which}.pid`;
        const created = await rt("create", "--bundle", bundle, "--pid-file", pidFile, id);
        assertEquals(created.code, 0, created.stderr);
        const pid = Number(await Deno.readTextFile(pidFile));
        const st = JSON.parse((await rt("state", id)).stdout);
        assertEquals([st.id, st.status, st.pid, st.bundle], [id, "created", pid, bundle]);
        assertEquals((await rt("start", id)).code, 0);
        assertEquals(status(await rt("state", id)), "running");
        const ps = await until(async () => {
          const pids = JSON.parse((await rt("ps", "--format", "json", id)).stdout) as number[];
          return pids.length === 2 ? pids : undefined;
        });
        assertEquals(ps.includes(0), false, "host pids");
        const listed = await rt("list", "-q");
        assertEquals(listed.stdout.trim().split("\n").includes(id), true);
        assertEquals((await rt("delete", id)).code, 1, "a running container needs --force");
        assertEquals((await rt("kill", id, "15")).code, 0);
        await until(async () => status(await rt("state", id)) === "stopped" ? true : undefined);
        assertEquals((await rt("kill", id, "15")).code, 1, "kill of a stopped container fails");
        // As runc: --all makes a stopped container no error (a missing one still is).
        assertEquals((await rt("kill", "--all", id, "9")).code, 0, "kill --all of a stopped one");
        assertEquals((await rt("kill", "--all", "nosuch", "9")).code, 1);
        assertEquals((await rt("delete", id)).code, 0);
        assertEquals((await rt("state", id)).code, 1, "gone after delete");
        assertEquals((await rt("delete", id)).code, 1, "delete of a missing container fails");
      });
    }
    await t.step("nothing left behind", async () => {
      await until(() =>
        sandboxTraces().processes.length === traces.processes.length ? true : undefined
      );
      assertEquals(sandboxTraces(), traces);
      assertEquals(stateLeft(roots.dvisor), []);
    });
  } finally {
    await cleanUp(roots.dvisor);
    for (const r of Object.values(roots)) await Deno.remove(r, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("lifecycle: bad input fails in one line with runc's exit codes", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({ rootfs, args: ["/bin/sleep", "30"] });
  const root = await Deno.makeTempDir();
  const rt = runtime("dvisor", root, bundle);
  const traces = sandboxTraces();
  const oneLine = (r: Ran, code: number, says: string) => {
    assertEquals(r.code, code, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assertStringIncludes(lines[0]!, says);
  };
  try {
    await t.step("ids that name other paths", async () => {
      oneLine(await rt("create", "--bundle", bundle, "a/b"), 1, "Invalid container id");
      oneLine(await rt("create", "--bundle", bundle, ".."), 1, "Invalid container id");
    });
    await t.step("a bundle that does not exist", async () => {
      oneLine(await rt("create", "--bundle", `${bundle}/nope`, "x1"), 1, "config.json");
      assertEquals((await rt("state", "x1")).code, 1, "no state left");
    });
    await t.step("a duplicate id, start twice, delete while running", async () => {
      assertEquals((await rt("create", "--bundle", bundle, "dup")).code, 0);
      oneLine(await rt("create", "--bundle", bundle, "dup"), 1, "already exists");
      assertEquals(status(await rt("state", "dup")), "created", "the first one is intact");
      assertEquals((await rt("start", "dup")).code, 0);
      oneLine(await rt("start", "dup"), 1, "not created");
      oneLine(await rt("delete", "dup"), 1, "not stopped");
      assertEquals((await rt("delete", "--force", "dup")).code, 0);
      oneLine(await rt("state", "dup"), 1, "does not exist");
    });
    await t.step("two creates of one id at once: one wins, the other fails", async () => {
      const [a, b] = await Promise.all([
        rt("create", "--bundle", bundle, "twin"),
        rt("create", "--bundle", bundle, "twin"),
      ]);
      assertEquals([a.code, b.code].sort(), [0, 1], a.stderr + b.stderr);
      oneLine(a.code === 1 ? a : b, 1, "already exists");
      assertEquals(status(await rt("state", "twin")), "created");
      assertEquals((await rt("delete", "--force", "twin")).code, 0);
    });
    await t.step("a console socket that refuses", async () => {
      const tty = await makeBundle({ rootfs, args: ["/bin/sh"], terminal: true });
      try {
        oneLine(
          await rt("create", "--bundle", tty, "--console-socket", `${root}/nobody.sock`, "tty1"),
          1,
          "--console-socket",
        );
        assertEquals((await rt("state", "tty1")).code, 1, "no state left");
      } finally {
        await Deno.remove(tty, { recursive: true });
      }
    });
    await t.step("a create killed midway, then delete --force", async () => {
      const cli = new Deno.Command(DVISOR, {
        args: ["--root", root, "create", "--bundle", bundle, "halfway"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Killed once the sandbox's processes are on their way.
      await until(() =>
        sandboxTraces().processes.length > traces.processes.length ? true : undefined
      );
      cli.kill("SIGKILL");
      await cli.status;
      assertEquals((await rt("delete", "--force", "halfway")).code, 0);
      await until(() =>
        sandboxTraces().processes.length === traces.processes.length ? true : undefined
      );
      assertEquals((await rt("state", "halfway")).code, 1);
    });
    await t.step("a created container is deleted without --force", async () => {
      assertEquals((await rt("create", "--bundle", bundle, "made")).code, 0);
      assertEquals((await rt("delete", "made")).code, 0);
    });
    await t.step("the JSON log gets the error", async () => {
      await rt("start", "never-made");
      const log = (await Deno.readTextFile(`${bundle}/log-dvisor.json`)).trim().split("\n");
      const last = JSON.parse(log.at(-1)!);
      assertEquals(last.level, "error");
      assertStringIncludes(last.msg, "never-made");
    });
    await t.step("nothing left behind", async () => {
      await until(() =>
        sandboxTraces().processes.length === traces.processes.length ? true : undefined
      );
      assertEquals(sandboxTraces(), traces);
      assertEquals(stateLeft(root), []);
    });
  } finally {
    await cleanUp(root);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("exec into a running container as runc does", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({ rootfs, args: ["/bin/sh", "-c", "sleep 30"] });
  const roots = { runc: await Deno.makeTempDir(), dvisor: await Deno.makeTempDir() };
  const processFile = `${bundle}/process.json`;
  await Deno.writeTextFile(
    processFile,
    JSON.stringify({
      args: ["/bin/sh", "-c", 'echo "$GREETING from $(pwd) as $(id -u):$(id -g)"; exit 3'],
      env: ["PATH=/bin", "GREETING=hello"],
      cwd: "/tmp",
      user: { uid: 1000, gid: 100 },
    }),
  );
  const seen: Record<string, string[]> = {};
  try {
    for (const which of ["runc", "dvisor"] as const) {
      await t.step(which, async () => {
        const rt = runtime(which, roots[which], bundle);
        const id = `exec-${which}-${Deno.pid}`;
        assertEquals((await rt("create", "--bundle", bundle, id)).code, 0);
        const out: string[] = [];
        // As runc: a created container takes exec (its init waits for start).
        const before = await rt("exec", id, "sh", "-c", "echo before start; exit 2");
        out.push(`${before.code} ${before.stdout}`);
        assertEquals((await rt("start", id)).code, 0);
        const plain = await rt("exec", id, "sh", "-c", "echo plain $0; exit 4");
        out.push(`${plain.code} ${plain.stdout}`);
        const flags = await rt(
          "exec",
          "--cwd",
          "/etc",
          "--env",
          "A=b",
          "--user",
          "7:8",
          id,
          "sh",
          "-c",
          "echo $A $(pwd) $(id -u) $(id -g)",
        );
        out.push(`${flags.code} ${flags.stdout}`);
        const file = await rt("exec", "--process", processFile, id);
        out.push(`${file.code} ${file.stdout}`);
        const missing = await rt("exec", id, "/no/such/program");
        out.push(`missing ${missing.code}`);
        // Detached, as containerd's shim runs it: the pid file's process lives as long as it.
        const pidFile = `${bundle}/exec-${which}.pid`;
        const detached = await rt(
          "exec",
          "--detach",
          "--pid-file",
          pidFile,
          id,
          "sh",
          "-c",
          "sleep 1",
        );
        assertEquals(detached.code, 0, detached.stderr);
        const pid = Number(await Deno.readTextFile(pidFile));
        const alive = () => {
          try {
            return !/State:\s+Z/.test(Deno.readTextFileSync(`/proc/${pid}/status`));
          } catch {
            return false;
          }
        };
        assertEquals(alive(), true, "the pid file's process lives while the process runs");
        await until(() => {
          try {
            Deno.statSync(`/proc/${pid}/status`);
            return /State:\s+Z/.test(Deno.readTextFileSync(`/proc/${pid}/status`))
              ? true
              : undefined;
          } catch {
            return true;
          }
        });
        assertEquals((await rt("delete", "--force", id)).code, 0);
        out.push(`after delete ${(await rt("exec", id, "true")).code}`);
        seen[which] = out;
      });
    }
    await t.step("the same outputs and statuses", () => {
      assertEquals(seen.dvisor, seen.runc);
    });
  } finally {
    await cleanUp(roots.dvisor);
    for (const r of Object.values(roots)) await Deno.remove(r, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("run registers the container while it runs; run --detach leaves it running", async () => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({ rootfs, args: ["/bin/sh", "-c", "sleep 1; exit 5"] });
  const root = await Deno.makeTempDir();
  const rt = runtime("dvisor", root, bundle);
  try {
    const running = new Deno.Command(DVISOR, {
      args: ["--root", root, "run", "--bundle", bundle, "attached"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await until(async () => {
      const r = await rt("state", "attached");
      return r.code === 0 && status(r) === "running" ? true : undefined;
    });
    const inside = await rt("exec", "attached", "sh", "-c", "echo inside");
    assertEquals([inside.code, inside.stdout], [0, "inside\n"]);
    assertEquals((await running.output()).code, 5);
    assertEquals((await rt("state", "attached")).code, 1, "gone once run returns");

    assertEquals(
      (await runDetaching(DVISOR, ["--root", root, "run", "-d", "--bundle", bundle, "det"])).code,
      0,
    );
    assertEquals(status(await rt("state", "det")), "running");
    const waited = await rt("wait", "det");
    assertEquals([waited.code, JSON.parse(waited.stdout).exitStatus], [5, 5]);
    assertEquals((await rt("delete", "det")).code, 0);
    assertEquals(stateLeft(root), []);
  } finally {
    await cleanUp(root);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("events --stats, and pause stops every process where it is, resume lets them go on", async () => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"],
  });
  const root = await Deno.makeTempDir();
  const rt = runtime("dvisor", root, bundle);
  const count = async () => Number((await rt("exec", "p", "cat", "/tmp/n")).stdout);
  try {
    assertEquals((await rt("create", "--bundle", bundle, "p")).code, 0);
    assertEquals((await rt("pause", "p")).code, 1, "a created container cannot be paused");
    assertEquals((await rt("start", "p")).code, 0);
    await until(async () => (await count()) > 2 ? true : undefined);
    const stats = JSON.parse((await rt("events", "--stats", "p")).stdout);
    assertEquals([stats.type, stats.id], ["stats", "p"]);
    assertEquals(stats.data.pids.current >= 1, true, "the shell, maybe its sleep");
    assertEquals(stats.data.memory.usage.usage > 0, true, "memory in use");
    assertEquals((await rt("pause", "p")).code, 0);
    assertEquals(status(await rt("state", "p")), "paused");
    assertEquals((await rt("exec", "p", "true")).code, 255, "no exec while paused, as runc");
    assertEquals((await rt("delete", "p")).code, 1, "a paused container needs --force");
    // Frozen: a second later the counter has not moved.
    assertEquals((await rt("resume", "p")).code, 0);
    const before = await count();
    assertEquals((await rt("pause", "p")).code, 0);
    await new Promise((r) => setTimeout(r, 500));
    assertEquals((await rt("resume", "p")).code, 0);
    const after = await count();
    assertEquals(after - before < 5, true, `paused half a second: ${before} -> ${after}`);
    await until(async () => (await count()) > after + 3 ? true : undefined);
    assertEquals((await rt("resume", "p")).code, 1, "resume of a running container fails");
    assertEquals((await rt("delete", "--force", "p")).code, 0);
  } finally {
    await cleanUp(root);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("hooks run in order with the state on stdin, as runc runs them", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const dir = await Deno.makeTempDir({ prefix: "dvisor-hooks-" });
  // Each hook appends "<point> <status> <id>" (read from the state on its stdin) to a log.
  const hook = `${dir}/hook.sh`;
  await Deno.writeTextFile(
    hook,
    `#!/bin/sh\nstate=$(cat)\nstatus=$(echo "$state" | sed 's/.*"status": *"\\([a-z]*\\)".*/\\1/')\n` +
      `echo "$1 $status $HOOK_TAG" >> ${dir}/$2.log\n[ "$1" != fail ]\n`,
  );
  await Deno.chmod(hook, 0o755);
  const hooks = (which: string) =>
    Object.fromEntries(
      ["prestart", "createRuntime", "poststart", "poststop"].map((p) => [
        p,
        [{ path: hook, args: ["hook", p, which], env: [`HOOK_TAG=tagged`] }],
      ]),
    );
  const roots = { runc: await Deno.makeTempDir(), dvisor: await Deno.makeTempDir() };
  try {
    for (const which of ["runc", "dvisor"] as const) {
      await t.step(which, async () => {
        const bundle = await makeBundle({ rootfs, args: ["/bin/true"], hooks: hooks(which) });
        const rt = runtime(which, roots[which], bundle);
        const id = `hooks-${which}`;
        assertEquals((await rt("create", "--bundle", bundle, id)).code, 0);
        assertEquals((await rt("start", id)).code, 0);
        await until(async () => status(await rt("state", id)) === "stopped" ? true : undefined);
        assertEquals((await rt("delete", id)).code, 0);
        await Deno.remove(bundle, { recursive: true });
      });
    }
    await t.step("the same order and statuses", async () => {
      const runc = await Deno.readTextFile(`${dir}/runc.log`);
      assertEquals(await Deno.readTextFile(`${dir}/dvisor.log`), runc);
      assertStringIncludes(runc, "prestart");
    });
    await t.step("a failing prestart hook fails create and leaves nothing", async () => {
      const failing = { prestart: [{ path: hook, args: ["hook", "fail", "failing"] }] };
      const bundle = await makeBundle({ rootfs, args: ["/bin/true"], hooks: failing });
      const traces = sandboxTraces();
      for (const which of ["runc", "dvisor"] as const) {
        const r = await runtime(which, roots[which], bundle)("create", "--bundle", bundle, "f");
        assertEquals(r.code, 1, `${which}: ${r.stderr}`);
      }
      await until(() =>
        sandboxTraces().processes.length === traces.processes.length ? true : undefined
      );
      assertEquals(stateLeft(roots.dvisor), []);
      await Deno.remove(bundle, { recursive: true });
    });
  } finally {
    await cleanUp(roots.dvisor);
    for (const r of Object.values(roots)) await Deno.remove(r, { recursive: true });
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

/** The pid a pidfd refers to (its fdinfo's Pid line). */
async function pidOfPidfd(fd: number): Promise<number> {
  const info = await Deno.readTextFile(`/proc/self/fdinfo/${fd}`);
  return Number(/^Pid:\s+(-?\d+)/m.exec(info)?.[1]);
}

Deno.test("--pidfd-socket: create, run -d and exec send a pidfd of the process they stand for", async () => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({ rootfs, args: ["sleep", "1000"] });
  const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
  const sockPath = `${root}/pidfd.sock`;
  const listener = listenUnix(sockPath);
  const received: number[] = [];
  const receive = async () => {
    for (let i = 0; (pollFd(listener, 1) & 1) === 0; i++) {
      if (i > 300) throw new Error("no pidfd arrived");
      await new Promise((r) => setTimeout(r, 20));
    }
    const conn = acceptConnection(listener);
    try {
      const buf = new Uint8Array(64);
      const got = receiveFds(conn, buf);
      assertEquals(new TextDecoder().decode(buf.subarray(0, got.bytes)), "pidfd");
      received.push(...got.fds);
      return got.fds[0]!;
    } finally {
      closeFd(conn);
    }
  };
  const dvisor = (...a: string[]) => runDetaching(DVISOR, ["--root", root, ...a]);
  try {
    const created = dvisor("create", "--bundle", bundle, "--pidfd-socket", sockPath, "c1");
    const fd = await receive();
    assertEquals((await created).code, 0);
    const pid = JSON.parse((await run(DVISOR, ["--root", root, "state", "c1"])).stdout).pid;
    assertEquals(await pidOfPidfd(fd), pid);
    const ran = dvisor("run", "-d", "--bundle", bundle, "--pidfd-socket", sockPath, "c2");
    const fd2 = await receive();
    assertEquals((await ran).code, 0);
    const pid2 = JSON.parse((await run(DVISOR, ["--root", root, "state", "c2"])).stdout).pid;
    assertEquals(await pidOfPidfd(fd2), pid2);
    assertEquals((await run(DVISOR, ["--root", root, "start", "c1"])).code, 0);
    const exec = dvisor(
      "exec",
      "--detach",
      "--pid-file",
      `${root}/exec.pid`,
      "--pidfd-socket",
      sockPath,
      "c1",
      "sleep",
      "1000",
    );
    const fd3 = await receive();
    assertEquals((await exec).code, 0);
    assertEquals(await pidOfPidfd(fd3), Number(await Deno.readTextFile(`${root}/exec.pid`)));
    // Attached: the process itself (its stub, as the host sees it).
    const attached = run(DVISOR, [
      "--root",
      root,
      "exec",
      "--pidfd-socket",
      sockPath,
      "c1",
      "sleep",
      "2",
    ]);
    const fd4 = await receive();
    const stub = await pidOfPidfd(fd4);
    assertStringIncludes(await Deno.readTextFile(`/proc/${stub}/status`), "dvisor");
    assertEquals((await attached).code, 0);
    const bad = await run(DVISOR, [
      "--root",
      root,
      "exec",
      "--pidfd-socket",
      `${root}/none`,
      "c1",
      "true",
    ]);
    assertEquals(bad.code, 255);
    assertStringIncludes(bad.stderr, "--pidfd-socket");
  } finally {
    received.forEach(closeQuietly);
    closeFd(listener);
    for (const id of ["c1", "c2"]) await run(DVISOR, ["--root", root, "delete", "--force", id]);
    for (const d of [root, bundle, rootfs]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("kill --all with SIGKILL returns once every process is gone, as runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait"],
  });
  const roots = { runc: await Deno.makeTempDir(), dvisor: await Deno.makeTempDir() };
  try {
    for (const which of ["runc", "dvisor"] as const) {
      await t.step(which, async () => {
        const rt = runtime(which, roots[which], bundle);
        const id = `killall-${which}-${Deno.pid}`;
        assertEquals((await rt("create", "--bundle", bundle, id)).code, 0);
        assertEquals((await rt("start", id)).code, 0);
        await until(async () => {
          const pids = JSON.parse((await rt("ps", "--format", "json", id)).stdout) as number[];
          return pids.length === 3 ? true : undefined;
        });
        assertEquals((await rt("kill", "--all", id, "KILL")).code, 0);
        // No waiting here: kill returned after the last one died.
        assertEquals(status(await rt("state", id)), "stopped");
        assertEquals((await rt("delete", id)).code, 0);
      });
    }
  } finally {
    await cleanUp(roots.dvisor);
    for (const r of Object.values(roots)) await Deno.remove(r, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
