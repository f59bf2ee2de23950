/**
 * Real clients drive dvisor as they drive runc: podman (`--runtime`, with
 * conmon), containerd (`ctr run --runc-binary`, through the runc.v2
 * shim) and Docker (daemon.json's runtimes, as `dvisor install` writes it), each with a private store under a temporary directory and an image
 * imported offline from a busybox rootfs. Every step runs under runc and
 * under dvisor; the outputs and exit codes must be the same, and nothing of
 * dvisor's may be left running.
 */
import { assertEquals } from "@std/assert";
import { sandboxTraces } from "./support/bundle.ts";
import { imageTarball, startContainerd, writeOciArchive } from "./support/containerd.ts";
import { startDockerd } from "./support/docker.ts";
import { DVISOR, type Ran, run } from "./support/run.ts";
import { subidUser } from "./support/subid_user.ts";

const RUNTIMES = { runc: "/usr/sbin/runc", dvisor: DVISOR } as const;
type Which = keyof typeof RUNTIMES;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command on a terminal (`script`), as `-t` needs one: output and exit code. */
function onTerminal(cmd: string[]): Promise<Ran> {
  const line = cmd.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return run("script", ["-qec", line, "/dev/null"]);
}

/** What a step gave: the exit code and the output, both compared between runtimes. */
function shown(r: Ran): string {
  return `${r.code} ${r.stdout.replaceAll("\0", "")}`;
}

/** Both runtimes showed the same, and no dvisor process is left. */
async function sameEverywhere(
  t: Deno.TestContext,
  seen: Record<string, string[]>,
  traces: ReturnType<typeof sandboxTraces>,
): Promise<void> {
  await t.step("the same outputs and exit codes", () => {
    assertEquals(seen.dvisor, seen.runc);
    assertEquals(seen.runc?.[0], "0 hello\n");
  });
  for (let i = 0; i < 100 && sandboxTraces().processes.length; i++) await sleep(50);
  assertEquals(sandboxTraces().processes, traces.processes, "no dvisor process is left");
}

/** podman's flags in both tests: cgroups by path, no event log to write. */
const PODMAN_FLAGS = ["--cgroup-manager", "cgroupfs", "--events-backend", "none"];

/**
 * What both podman tests do with one runtime, each step's output for the
 * comparison: run (exit codes too), `more` (the caller's own steps), run
 * -d, exec, exec -t, stop, inspect, rm, run -t.
 */
async function podmanSteps(
  podman: (...args: string[]) => string[],
  p: (...args: string[]) => Promise<Ran>,
  rt: string[],
  limits: string[],
  name: string,
  more: () => Promise<string[]> = () => Promise.resolve([]),
): Promise<string[]> {
  const img = "localhost/dvisor-test:latest";
  const out: string[] = [];
  out.push(shown(await p(...rt, "run", "--rm", ...limits, img, "echo", "hello")));
  out.push(shown(await p(...rt, "run", "--rm", ...limits, img, "sh", "-c", "exit 3")));
  out.push(...await more());
  const d = await p(...rt, "run", "-d", "--name", name, ...limits, img, "sleep", "1000");
  assertEquals(d.code, 0, d.stderr);
  out.push(shown(await p(...rt, "exec", name, "sh", "-c", "echo $((1+2)) $(cat /proc/1/comm)")));
  out.push(shown(await p(...rt, "exec", name, "sh", "-c", "exit 4")));
  out.push(shown(await onTerminal(podman(...rt, "exec", "-t", name, "sh", "-c", "tty; exit 5"))));
  // sleep as pid 1 ignores SIGTERM: stop takes the timeout, then SIGKILL.
  out.push(shown(await p(...rt, "stop", "-t", "1", name)));
  out.push(
    (await p(...rt, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)).stdout,
  );
  out.push(shown(await p(...rt, "rm", name)));
  out.push(
    shown(
      await onTerminal(
        podman(...rt, "run", "--rm", "-t", ...limits, img, "sh", "-c", "tty; exit 6"),
      ),
    ),
  );
  return out;
}

Deno.test("podman runs, execs, stops and removes containers with dvisor as with runc", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-podman-" });
  const podman = (...args: string[]) => [
    "podman",
    "--root",
    `${dir}/storage`,
    "--runroot",
    `${dir}/run`,
    ...PODMAN_FLAGS,
    ...args,
  ];
  const p = (...args: string[]) => {
    const [cmd, ...rest] = podman(...args);
    return run(cmd!, rest);
  };
  // This host's hard limits are below podman's defaults, which runc cannot raise: ask for less.
  // No network: the test needs none, and a fresh host may have no network backend.
  const limits = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
    "--network",
    "none",
  ];
  const traces = sandboxTraces();
  const seen: Record<string, string[]> = {};
  try {
    const tar = await imageTarball(dir);
    const imported = await p("import", tar, "localhost/dvisor-test:latest");
    assertEquals(imported.code, 0, imported.stderr);
    for (const which of Object.keys(RUNTIMES) as Which[]) {
      await t.step(which, async () => {
        const rt = ["--runtime", RUNTIMES[which]];
        const out: string[] = [];
        const name = "dvisor-test-c1";
        try {
          out.push(...await podmanSteps(podman, p, rt, limits, name));
          seen[which] = out;
        } finally {
          await p(...rt, "rm", "-f", "-t", "0", name);
        }
      });
    }
    await sameEverywhere(t, seen, traces);
  } finally {
    await p("rm", "-a", "-f", "-t", "0");
    await p("rmi", "-a", "-f");
    await run("umount", ["-R", `${dir}/storage/overlay`]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** The account rootless podman runs as, with subordinate ids from SUBIDS on. */
const PODMAN_USER = "dvisor-podman";
const SUBIDS = 300000;

Deno.test("rootless podman runs, execs, stops and removes containers with dvisor as with runc", async (t) => {
  const { uid, gid } = await subidUser(PODMAN_USER, SUBIDS);
  // A short name: conmon's sockets under it must fit a socket address
  // (108 bytes), or podman waits 20 s for every container that ends.
  const dir = await Deno.makeTempDir({ prefix: "dvp-" });
  await Deno.chown(dir, uid, gid);
  // podman runs its runtime as root of a user namespace made with newuidmap:
  // container ids 1 and up are the user's subordinate ids.
  const asUser = [
    "setpriv",
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--init-groups",
    "env",
    "-i",
    `HOME=${dir}`,
    `USER=${PODMAN_USER}`,
    `XDG_RUNTIME_DIR=${dir}/xdg`,
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
  ];
  const podman = (...args: string[]) => [
    ...asUser,
    "podman",
    "--storage-driver",
    "vfs",
    ...PODMAN_FLAGS,
    ...args,
  ];
  const p = (...args: string[]) => {
    const [cmd, ...rest] = podman(...args);
    return run(cmd!, rest, { cwd: dir });
  };
  const limits = ["--ulimit", "host", "--network", "none"];
  const traces = sandboxTraces();
  const seen: Record<string, string[]> = {};
  try {
    await Deno.mkdir(`${dir}/xdg`, { mode: 0o700 });
    await Deno.chown(`${dir}/xdg`, uid, gid);
    const tar = await imageTarball(dir);
    await Deno.chmod(tar, 0o644);
    const imported = await p("import", tar, "localhost/dvisor-test:latest");
    assertEquals(imported.code, 0, imported.stderr);
    for (const which of Object.keys(RUNTIMES) as Which[]) {
      await t.step(which, async () => {
        const rt = ["--runtime", RUNTIMES[which]];
        const img = "localhost/dvisor-test:latest";
        const out: string[] = [];
        const name = "dvisor-test-rootless";
        const volume = `${dir}/volume-${which}`;
        await Deno.mkdir(volume);
        await Deno.chown(volume, uid, gid);
        try {
          // Owners cross the user namespace: container 0 is the user, 7 a subordinate id.
          const owners = async () => {
            const r = await p(
              ...rt,
              "run",
              "--rm",
              "-v",
              `${volume}:/vol`,
              ...limits,
              img,
              "sh",
              "-c",
              "id -u; echo a >/vol/root; echo b >/vol/seven; chown 7:7 /vol/seven; ls -n /vol | tail -2 | cut -c1-30",
            );
            const host = async (f: string) => {
              const st = await Deno.stat(`${volume}/${f}`);
              return `${st.uid}:${st.gid}`;
            };
            return [shown(r), `${await host("root")} ${await host("seven")}`];
          };
          out.push(...await podmanSteps(podman, p, rt, limits, name, owners));
          seen[which] = out;
        } finally {
          await p(...rt, "rm", "-f", "-t", "0", name);
        }
      });
    }
    await t.step("files of the container's root and of a subordinate id, owned on the host", () => {
      assertEquals(seen.dvisor?.[3], `${uid}:${gid} ${SUBIDS + 6}:${SUBIDS + 6}`);
    });
    await sameEverywhere(t, seen, traces);
  } finally {
    await p("rm", "-a", "-f", "-t", "0");
    await p("system", "reset", "-f");
    // podman's pause process keeps its user namespace: it goes with the test.
    await run("pkill", ["-KILL", "-u", PODMAN_USER]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("containerd runs, execs, pauses, kills and deletes tasks with dvisor as with runc", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-containerd-" });
  const daemon = await startContainerd(dir);
  const ctr = (...args: string[]) => daemon.ctrArgs("dvisor-test", ...args);
  const c = (...args: string[]) => daemon.ctr("dvisor-test", ...args);
  const traces = sandboxTraces();
  const seen: Record<string, string[]> = {};
  try {
    // An OCI image made offline: the rootfs as one layer.
    const tar = await imageTarball(dir);
    const layout = `${dir}/image`;
    await writeOciArchive(tar, layout);
    const imported = await c(
      "image",
      "import",
      "--base-name",
      "localhost/dvisor-test",
      `${layout}.tar`,
    );
    assertEquals(imported.code, 0, imported.stderr);
    const img = "localhost/dvisor-test:latest";
    for (const which of Object.keys(RUNTIMES) as Which[]) {
      await t.step(which, async () => {
        const bin = ["--runc-binary", RUNTIMES[which]];
        const id = `t-${which}`;
        const out: string[] = [];
        const status = async () =>
          (await c("task", "ls")).stdout.split("\n").find((l) => l.startsWith(`${id} `))?.split(
            /\s+/,
          )[2] ?? "none";
        try {
          out.push(shown(await c("run", "--rm", ...bin, img, `${id}-1`, "echo", "hello")));
          out.push(shown(await c("run", "--rm", ...bin, img, `${id}-2`, "sh", "-c", "exit 3")));
          const d = await c("run", "-d", ...bin, img, id, "sleep", "1000");
          assertEquals(d.code, 0, d.stderr);
          out.push(await status());
          out.push(
            shown(await c("task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo $((1+2))")),
          );
          out.push(shown(await c("task", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 4")));
          const count = async () =>
            (await c("task", "ps", id)).stdout.trim().split("\n").length - 1;
          out.push(`ps ${await count()}`);
          // The shim signals an exec'd process through the pid it was given (kill(2)).
          const e3 = await c("task", "exec", "-d", "--exec-id", "e3", id, "sleep", "1000");
          assertEquals(e3.code, 0, e3.stderr);
          out.push(`ps with e3 ${await count()}`);
          assertEquals((await c("task", "kill", "--exec-id", "e3", "-s", "SIGTERM", id)).code, 0);
          for (let i = 0; i < 100 && (await count()) !== 1; i++) await sleep(50);
          out.push(`ps after killing e3 ${await count()}`);
          assertEquals((await c("task", "pause", id)).code, 0);
          out.push(await status());
          assertEquals((await c("task", "resume", id)).code, 0);
          out.push(await status());
          assertEquals((await c("task", "kill", "-s", "SIGKILL", id)).code, 0);
          for (let i = 0; i < 100 && (await status()) !== "STOPPED"; i++) await sleep(50);
          out.push(await status());
          out.push(shown(await c("task", "rm", id)));
          out.push(shown(await c("container", "rm", id)));
          out.push(
            shown(
              await onTerminal(
                ctr("run", "--rm", "-t", ...bin, img, `${id}-3`, "sh", "-c", "tty; exit 6"),
              ),
            ),
          );
          seen[which] = out;
        } finally {
          await c("task", "kill", "-s", "SIGKILL", id);
          await c("task", "rm", "-f", id);
          await c("container", "rm", id);
        }
      });
    }
    await sameEverywhere(t, seen, traces);
  } finally {
    await daemon.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("docker runs, execs, stops and removes containers with dvisor as with runc", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-docker-" });
  // As a user installs it: dvisor install, here into a private daemon.json.
  const installed = await run(DVISOR, ["install", "--config-file", `${dir}/daemon.json`]);
  assertEquals(installed.code, 0, installed.stderr);
  const daemon = await startDockerd(dir, `${dir}/daemon.json`);
  const d = daemon.docker;
  const traces = sandboxTraces();
  const seen: Record<string, string[]> = {};
  try {
    const imported = await d("import", await imageTarball(dir), "localhost/dvisor-test:latest");
    assertEquals(imported.code, 0, imported.stderr);
    const img = "localhost/dvisor-test:latest";
    // Docker's exec root and 64-character ids make control socket paths past
    // 107 bytes: they must still work.
    for (const which of ["runc", "dvisor"]) {
      await t.step(which, async () => {
        const rt = ["--runtime", which, "--network", "none"];
        const name = "dvisor-test-c1";
        const out: string[] = [];
        try {
          out.push(shown(await d("run", "--rm", ...rt, img, "echo", "hello")));
          out.push(shown(await d("run", "--rm", ...rt, img, "sh", "-c", "exit 3")));
          const started = await d("run", "-d", "--name", name, ...rt, img, "sleep", "1000");
          assertEquals(started.code, 0, started.stderr);
          out.push(shown(await d("exec", name, "sh", "-c", "echo $((1+2)) $(cat /proc/1/comm)")));
          out.push(shown(await d("exec", name, "sh", "-c", "exit 4")));
          out.push(
            shown(
              await onTerminal(daemon.dockerArgs("exec", "-t", name, "sh", "-c", "tty; exit 5")),
            ),
          );
          // sleep as pid 1 ignores SIGTERM: stop takes the timeout, then SIGKILL.
          out.push(shown(await d("stop", "-t", "1", name)));
          out.push(
            (await d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)).stdout,
          );
          out.push(shown(await d("rm", name)));
          out.push(
            shown(
              await onTerminal(
                daemon.dockerArgs("run", "--rm", "-t", ...rt, img, "sh", "-c", "tty; exit 6"),
              ),
            ),
          );
          seen[which] = out;
        } finally {
          await d("rm", "-f", name);
        }
      });
    }
    await sameEverywhere(t, seen, traces);
  } finally {
    await d("rm", "-f", ...(await d("ps", "-aq")).stdout.split("\n").filter(Boolean));
    await daemon.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
