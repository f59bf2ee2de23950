/**
 * Pods: containers whose CRI annotations name another container's sandbox
 * join it, driven as containerd's shim drives a pod (create with a pid
 * file, start, exec, ps, kill, wait, delete): each has its own gofer,
 * root, mounts and init; destroying one leaves the others running;
 * deleting the sandbox's container ends them all; nothing is left.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle, sandboxTraces } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, type Ran, run, until } from "./support/run.ts";
import { startShim } from "./support/shim.ts";
import { cgroupHierarchies } from "../platform/cgroup.ts";

const SANDBOX = "io.kubernetes.cri.container-type";
const SANDBOX_ID = "io.kubernetes.cri.sandbox-id";

function pod(type: "sandbox" | "container", id: string): Record<string, string> {
  return { [SANDBOX]: type, [SANDBOX_ID]: id };
}

for (const platform of ["seccomp", "ptrace"]) {
  Deno.test(`pods (${platform}): containers in one sandbox, each with its own root`, async (t) => {
    const traces = sandboxTraces();
    const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
    const out = await Deno.makeTempDir({ prefix: "dvisor-test-out-" });
    const pauseFs = await makeBusyboxRootfs();
    const appFs = await makeBusyboxRootfs();
    await Deno.writeTextFile(`${appFs}/marker`, "the app's root\n");
    await Deno.mkdir(`${appFs}/scratch`);
    const dvisor = (...args: string[]): Promise<Ran> =>
      run(DVISOR, [`--platform=${platform}`, "--root", root, ...args]);
    /** The command line of create. */
    const createCommand = (bundle: string, id: string, extra: string[] = []) => [
      DVISOR,
      `--platform=${platform}`,
      "--root",
      root,
      "create",
      "--bundle",
      bundle,
      ...extra,
      id,
    ];
    /** create, with its stdio in files (the container keeps them). */
    const create = async (bundle: string, id: string, extra: string[] = []) => {
      const r = await run("/bin/sh", [
        "-c",
        `exec "$0" "$@" </dev/null >'${out}/${id}.out' 2>'${out}/${id}.err'`,
        ...createCommand(bundle, id, extra),
      ]);
      return { ...r, stderr: await Deno.readTextFile(`${out}/${id}.err`) };
    };
    const state = async (id: string) => JSON.parse((await dvisor("state", id)).stdout);
    const bundles: string[] = [];
    const bundle = async (o: Parameters<typeof makeBundle>[0]) => {
      const b = await makeBundle(o);
      bundles.push(b);
      return b;
    };
    /** Gives a bundle a new user namespace: ids 0-999 to themselves. */
    const mapped = async (b: string) => {
      const config = JSON.parse(await Deno.readTextFile(`${b}/config.json`));
      config.linux.namespaces.push({ type: "user" });
      config.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1000 }];
      config.linux.gidMappings = [{ containerID: 0, hostID: 0, size: 1000 }];
      await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(config));
    };
    try {
      const pause = await bundle({
        rootfs: pauseFs,
        args: ["sleep", "1000"],
        annotations: pod("sandbox", "pod"),
      });
      const app = await bundle({
        rootfs: appFs,
        args: [
          "sh",
          "-c",
          "cat /marker; echo $((6 * 7)) > /scratch/x; cat /scratch/x; exec sleep 1000",
        ],
        annotations: pod("container", "pod"),
        mounts: [{ destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["size=1m"] }],
      });
      const quitter = await bundle({
        rootfs: appFs,
        args: ["sh", "-c", "sleep 1000 & echo started; exit 3"],
        annotations: pod("container", "pod"),
      });

      assertEquals((await create(pause, "pod")).code, 0);
      assertEquals((await dvisor("start", "pod")).code, 0);
      const sandboxPid = (await state("pod")).pid;

      await t.step("create joins the sandbox; the pid shown is its waiter's", async () => {
        const r = await create(app, "app", ["--pid-file", `${out}/app.pid`]);
        assertEquals(r.code, 0, r.stderr);
        const s = await state("app");
        assertEquals([s.status, s.annotations[SANDBOX_ID]], ["created", "pod"]);
        const listed = (await dvisor("list")).stdout.split("\n").find((l) => l.startsWith("app "));
        assertEquals(listed?.split(/\s+/)[1], String(s.pid), "list shows the same pid");
        const update = await dvisor("update", "--memory", "100M", "app");
        assertEquals(update.code, 1);
        assertStringIncludes(update.stderr, "update pod");
        // containerd's shim watches that pid: it must end with the container, not the sandbox.
        assertEquals(await Deno.readTextFile(`${out}/app.pid`), String(s.pid));
        assert(s.pid !== sandboxPid);
        assertStringIncludes(await Deno.readTextFile(`/proc/${s.pid}/cmdline`), "dvisor-waiter");
      });

      await t.step("start runs it on its own root and mounts", async () => {
        assertEquals((await dvisor("start", "app")).code, 0);
        const text = await until(async () => {
          const t = await Deno.readTextFile(`${out}/app.out`);
          return t.includes("42") ? t : undefined;
        });
        assertEquals(text, "the app's root\n42\n");
        assertEquals((await state("app")).status, "running");
        assertEquals((await dvisor("exec", "app", "cat", "/marker")).stdout, "the app's root\n");
        const r = await dvisor("exec", "pod", "cat", "/marker");
        assertEquals(r.code, 1, "the sandbox's container does not see the app's root");
        assertEquals((await dvisor("exec", "pod", "ls", "/scratch")).code, 1);
      });

      await t.step("ps and kill --all see one container's processes only", async () => {
        const app = JSON.parse((await dvisor("ps", "--format", "json", "app")).stdout) as number[];
        const pauseProcs = JSON.parse((await dvisor("ps", "--format", "json", "pod")).stdout);
        assertEquals([app.length, pauseProcs.length], [1, 1]);
        assert(app[0] !== pauseProcs[0]);
        // Host pids: the app's is a stub of the sandbox process running its program.
        assertStringIncludes(await Deno.readTextFile(`/proc/${app[0]}/status`), "dvisor");
      });

      await t.step("each container sees only its own processes unless it shares", async () => {
        // Pid 1 is the sandbox container's init: not in the app's /proc, not signalable.
        const peek = await dvisor("exec", "app", "cat", "/proc/1/cmdline");
        assertEquals(peek.code, 1);
        const killAll = await dvisor("exec", "app", "sh", "-c", "kill -9 -1; kill -9 1; echo $?");
        assertEquals(killAll.stdout.trim(), "1");
        assertEquals((await state("pod")).status, "running");
        assertEquals((await state("app")).status, "running");
        // A spec that names the sandbox's pid namespace shares it (CRI's shared process namespace).
        const sharing = await bundle({
          rootfs: appFs,
          args: ["sleep", "1000"],
          annotations: pod("container", "pod"),
        });
        const path = `${sharing}/config.json`;
        const config = JSON.parse(await Deno.readTextFile(path));
        config.linux.namespaces = config.linux.namespaces.map((n: { type: string }) =>
          n.type === "pid" ? { type: "pid", path: `/proc/${sandboxPid}/ns/pid` } : n
        );
        await Deno.writeTextFile(path, JSON.stringify(config));
        assertEquals((await create(sharing, "sharing")).code, 0);
        assertEquals((await dvisor("start", "sharing")).code, 0);
        const seen = await dvisor("exec", "sharing", "cat", "/proc/1/cmdline");
        assertEquals(seen.stdout, "sleep\u00001000\u0000");
        assertEquals((await dvisor("delete", "--force", "sharing")).code, 0);
      });

      await t.step("a container's own user namespace mappings", async () => {
        const mappedApp = await bundle({
          rootfs: appFs,
          args: ["sh", "-c", "cat /proc/self/uid_map; stat -c %u /marker"],
          annotations: pod("container", "pod"),
        });
        await mapped(mappedApp);
        const made = await create(mappedApp, "mapped");
        assertEquals(made.code, 0, made.stderr);
        assertEquals((await dvisor("start", "mapped")).code, 0);
        assertEquals(JSON.parse((await dvisor("wait", "mapped")).stdout).exitStatus, 0);
        assertEquals(
          await Deno.readTextFile(`${out}/mapped.out`),
          "         0          0       1000\n0\n",
        );
        // The sandbox's container keeps the host's ids.
        const own = await dvisor("exec", "pod", "cat", "/proc/self/uid_map");
        assertEquals(own.stdout, "         0          0 4294967295\n");
        assertEquals((await dvisor("delete", "mapped")).code, 0);
      });

      await t.step(
        "a container that joins its pod's user namespace by path: the pod's mappings",
        async () => {
          const upod = await bundle({
            rootfs: pauseFs,
            args: ["sleep", "1000"],
            annotations: pod("sandbox", "upod"),
          });
          await mapped(upod);
          assertEquals((await create(upod, "upod")).code, 0);
          assertEquals((await dvisor("start", "upod")).code, 0);
          // What CRI gives a pod's containers: the sandbox's pid's namespace, no mappings.
          const member = await bundle({
            rootfs: appFs,
            args: ["cat", "/proc/self/uid_map"],
            annotations: pod("container", "upod"),
          });
          const config = JSON.parse(await Deno.readTextFile(`${member}/config.json`));
          config.linux.namespaces.push({
            type: "user",
            path: `/proc/${(await state("upod")).pid}/ns/user`,
          });
          await Deno.writeTextFile(`${member}/config.json`, JSON.stringify(config));
          const made = await create(member, "umember");
          assertEquals(made.code, 0, made.stderr);
          assertEquals((await dvisor("start", "umember")).code, 0);
          assertEquals(JSON.parse((await dvisor("wait", "umember")).stdout).exitStatus, 0);
          assertEquals(
            await Deno.readTextFile(`${out}/umember.out`),
            "         0          0       1000\n",
          );
          assertEquals((await dvisor("delete", "umember")).code, 0);
          assertEquals((await dvisor("delete", "--force", "upod")).code, 0);
        },
      );

      await t.step("a container's cgroupsPath: its own cgroup, empty, gone at delete", async () => {
        const path = `/dvisor-test-pod-${Deno.pid}-${platform}-limited`;
        const limited = await bundle({
          rootfs: appFs,
          args: ["sleep", "1000"],
          annotations: pod("container", "pod"),
          cgroupsPath: path,
          resources: { memory: { limit: 64 * 1024 * 1024 } },
        });
        const made = await create(limited, "limited");
        assertEquals(made.code, 0, made.stderr);
        assertEquals((await dvisor("start", "limited")).code, 0);
        const hierarchies = cgroupHierarchies();
        const memory = hierarchies.find((h) =>
          h.version === 1 && h.controllers.includes("memory")
        ) ??
          hierarchies.find((h) => h.version === 2)!;
        const dir = `${memory.mountPoint}${path}`;
        const limit = memory.version === 2 ? "memory.max" : "memory.limit_in_bytes";
        assertEquals((await Deno.readTextFile(`${dir}/${limit}`)).trim(), String(64 * 1024 * 1024));
        // Its processes are the sandbox's: they stay in the sandbox's cgroup.
        assertEquals((await Deno.readTextFile(`${dir}/cgroup.procs`)).trim(), "");
        assertEquals((await dvisor("exec", "limited", "echo", "in")).stdout, "in\n");
        assertEquals((await dvisor("delete", "--force", "limited")).code, 0);
        assertEquals(
          await Deno.stat(`${memory.mountPoint}${path}`).then(() => true, () => false),
          false,
        );
        assertEquals((await state("pod")).status, "running");
      });

      await t.step(
        "an init that exits ends its container only: wait gives its status",
        async () => {
          assertEquals((await create(quitter, "quitter")).code, 0);
          const waiter = (await state("quitter")).pid;
          assertEquals((await dvisor("start", "quitter")).code, 0);
          const w = await dvisor("wait", "quitter");
          assertEquals(JSON.parse(w.stdout).exitStatus, 3);
          assertEquals((await state("quitter")).status, "stopped");
          // Its waiter is gone too (what the shim reports as the container's exit).
          await until(async () =>
            await Deno.stat(`/proc/${waiter}`).then(() => undefined, () => true)
          );
          // Its background sleep went with it (a pid namespace's end).
          const gone = await dvisor("ps", "--format", "json", "quitter");
          assertEquals(gone.code, 1, gone.stderr);
          assertEquals((await state("app")).status, "running");
          const r = await dvisor("exec", "quitter", "true");
          // As runc exec: 255 when the process cannot start.
          assertEquals(r.code, 255);
          assertStringIncludes(r.stderr, "stopped");
          assertEquals((await dvisor("delete", "quitter")).code, 0);
        },
      );

      await t.step(
        "the pid shown stands for the init: the shim's signal reaches it, its exit is the init's",
        async () => {
          const trapper = await bundle({
            rootfs: appFs,
            args: ["sh", "-c", "trap 'exit 5' TERM; sleep 1000 & wait"],
            annotations: pod("container", "pod"),
          });
          const pidFile = `${out}/trapper.pid`;
          const shim = await startShim(
            pidFile,
            createCommand(trapper, "trapper", ["--pid-file", pidFile]),
          );
          assertEquals((await dvisor("start", "trapper")).code, 0);
          await until(async () => {
            const ps = await dvisor("ps", "--format", "json", "trapper");
            return JSON.parse(ps.stdout).length === 2 ? true : undefined;
          });
          await shim.kill(15);
          assertEquals(await shim.exited(), 5);
          await until(async () => (await state("trapper")).status === "stopped" ? true : undefined);
          assertEquals((await state("pod")).status, "running");
          assertEquals((await dvisor("delete", "trapper")).code, 0);
        },
      );

      await t.step("delete --force of one container leaves the others running", async () => {
        assertEquals((await create(app, "app2")).code, 0);
        assertEquals((await dvisor("start", "app2")).code, 0);
        const refused = await dvisor("delete", "app2");
        assertEquals(refused.code, 1);
        assertEquals(refused.stderr.trim().split("\n").length, 1, refused.stderr);
        assertEquals((await dvisor("delete", "--force", "app2")).code, 0);
        assertEquals((await dvisor("state", "app2")).code, 1);
        assertEquals((await state("app")).status, "running");
        assertEquals((await state("pod")).status, "running");
        assertEquals((await dvisor("exec", "app", "echo", "still")).stdout, "still\n");
      });

      await t.step("kill stops a container; pause is the sandbox's", async () => {
        const p = await dvisor("pause", "app");
        assertEquals(p.code, 1);
        assertStringIncludes(p.stderr, "pause pod");
        // An events stream of a pod container ends with it (its sandbox goes on).
        const stream = dvisor("events", "--interval", "1s", "app");
        await new Promise((r) => setTimeout(r, 1500));
        assertEquals((await dvisor("kill", "--all", "app", "KILL")).code, 0);
        // kill --all with SIGKILL returned after its processes died; the pod goes on.
        assertEquals((await state("app")).status, "stopped");
        const ended = await stream;
        assertEquals(ended.code, 0, ended.stderr);
        assert(ended.stdout.includes('"type":"stats"'));
        await until(async () => (await state("app")).status === "stopped" ? true : undefined);
        assertEquals(JSON.parse((await dvisor("wait", "app")).stdout).exitStatus, 137);
        assertEquals((await state("pod")).status, "running");
        assertEquals((await dvisor("delete", "app")).code, 0);
      });

      await t.step("deleting the sandbox's container ends the pod", async () => {
        assertEquals((await create(app, "app3")).code, 0);
        assertEquals((await dvisor("start", "app3")).code, 0);
        assertEquals((await dvisor("delete", "--force", "pod")).code, 0);
        assertEquals((await state("app3")).status, "stopped");
        assertEquals((await dvisor("delete", "app3")).code, 0);
        assertEquals((await dvisor("list", "-q")).stdout, "");
      });

      await t.step("the sandbox container's init ending ends the pod", async () => {
        const shortPause = await bundle({
          rootfs: pauseFs,
          args: ["sleep", "3"],
          annotations: pod("sandbox", "pod2"),
        });
        const member = await bundle({
          rootfs: appFs,
          args: ["sleep", "1000"],
          annotations: pod("container", "pod2"),
        });
        assertEquals((await create(shortPause, "pod2")).code, 0);
        assertEquals((await dvisor("start", "pod2")).code, 0);
        assertEquals((await create(member, "member")).code, 0);
        assertEquals((await dvisor("start", "member")).code, 0);
        // Killed with the sandbox (SIGKILL, as a pid namespace's processes).
        assertEquals(JSON.parse((await dvisor("wait", "member")).stdout).exitStatus, 137);
        assertEquals((await state("pod2")).status, "stopped");
        assertEquals((await dvisor("delete", "member")).code, 0);
        assertEquals((await dvisor("delete", "pod2")).code, 0);
      });

      await t.step("bad input: each fails in one line and leaves nothing", async () => {
        const orphan = await bundle({
          rootfs: appFs,
          args: ["true"],
          annotations: pod("container", "nosuch"),
        });
        const unnamed = await bundle({
          rootfs: appFs,
          args: ["true"],
          annotations: { [SANDBOX]: "container" },
        });
        for (const [b, says] of [[orphan, "nosuch"], [unnamed, SANDBOX_ID]] as const) {
          const r = await create(b, "bad");
          assertEquals(r.code, 1);
          assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
          assertStringIncludes(r.stderr, says);
          assertEquals((await dvisor("list", "-q")).stdout, "");
        }
        const attached = await dvisor("run", "--bundle", orphan, "bad");
        assertEquals(attached.code, 1);
        assertStringIncludes(attached.stderr, "create and start");
      });
    } finally {
      for (const id of (await dvisor("list", "-q")).stdout.trim().split("\n").filter(Boolean)) {
        await dvisor("delete", "--force", id);
      }
      for (const d of [root, out, pauseFs, appFs, ...bundles]) {
        await Deno.remove(d, { recursive: true });
      }
    }
    assertEquals(sandboxTraces(), traces, "nothing left behind");
  });
}
