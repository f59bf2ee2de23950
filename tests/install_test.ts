/**
 * `dvisor install` and `dvisor uninstall` as a user runs them: Docker's
 * daemon.json on a temporary copy, and containerd's config.toml, whose
 * stanza a private containerd then uses to run a pod with dvisor through
 * the runc v2 shim, asked for by runtime handler as a RuntimeClass does.
 */
import { assert, assertEquals } from "@std/assert";
import { sandboxTraces } from "./support/bundle.ts";
import { imageTarball, startContainerd, writeOciArchive } from "./support/containerd.ts";
import { CriClient, decode, type Field } from "./support/cri.ts";
import { DVISOR, run } from "./support/run.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a file, or undefined when there is none. */
const readOrNone = (path: string) => Deno.readTextFile(path).catch(() => undefined);

Deno.test("install and uninstall change only dvisor's runtime in Docker's daemon.json", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-install-" });
  const path = `${dir}/etc/docker/daemon.json`;
  const dvisor = (...args: string[]) =>
    run(DVISOR, [...args.slice(0, 1), "--config-file", path, ...args.slice(1)]);
  try {
    await t.step("--dry-run prints the file and writes nothing", async () => {
      const r = await dvisor("install", "--dry-run");
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.stdout), { runtimes: { dvisor: { path: DVISOR } } });
      assertEquals(await readOrNone(path), undefined);
    });
    await t.step("a missing file is created, with its directory", async () => {
      const r = await dvisor("install");
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(await Deno.readTextFile(path)), {
        runtimes: { dvisor: { path: DVISOR } },
      });
    });
    const before = {
      "log-level": "warn",
      "default-runtime": "runc",
      runtimes: { runsc: { path: "/usr/bin/runsc", runtimeArgs: ["--debug"] } },
    };
    await Deno.writeTextFile(path, JSON.stringify(before));
    await Deno.chmod(path, 0o600);
    let installed = "";
    await t.step("existing keys and runtimes stay; flags after -- become runtimeArgs", async () => {
      const r = await dvisor("install", "--runtime", "dvisor-ptrace", "--", "--platform=ptrace");
      assertEquals(r.code, 0, r.stderr);
      installed = await Deno.readTextFile(path);
      assertEquals(JSON.parse(installed), {
        ...before,
        runtimes: {
          ...before.runtimes,
          "dvisor-ptrace": { path: DVISOR, runtimeArgs: ["--platform=ptrace"] },
        },
      });
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600, "the mode is kept");
    });
    await t.step("installing twice gives the same bytes", async () => {
      const r = await dvisor("install", "--runtime", "dvisor-ptrace", "--", "--platform=ptrace");
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await Deno.readTextFile(path), installed);
      const names = await Array.fromAsync(Deno.readDir(`${dir}/etc/docker`), (e) => e.name);
      assertEquals(names, ["daemon.json"], "no temporary file is left");
    });
    await t.step("uninstall removes only dvisor's runtime", async () => {
      const dry = await dvisor("uninstall", "--runtime", "dvisor-ptrace", "--dry-run");
      assertEquals(dry.code, 0, dry.stderr);
      assertEquals(await Deno.readTextFile(path), installed);
      const r = await dvisor("uninstall", "--runtime", "dvisor-ptrace");
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(await Deno.readTextFile(path)), before);
      assertEquals(await Deno.readTextFile(path), dry.stdout);
      const again = await dvisor("uninstall", "--runtime", "dvisor-ptrace");
      assertEquals(again.code, 0, again.stderr);
      assertEquals(JSON.parse(await Deno.readTextFile(path)), before);
    });
    await t.step("a malformed daemon.json is reported in one line and left alone", async () => {
      const bad = '{"runtimes": {"runsc": ';
      await Deno.writeTextFile(path, bad);
      for (const command of ["install", "uninstall"]) {
        const r = await dvisor(command);
        assertEquals(r.code, 1);
        assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
        assert(r.stderr.startsWith(`dvisor: Cannot parse ${path} as JSON`), r.stderr);
        assertEquals(await Deno.readTextFile(path), bad);
      }
    });
    await t.step("bad command lines are one-line errors", async () => {
      for (
        const args of [
          ["install", "stray"],
          ["install", "--", "--no-such-flag"],
          ["install", "--runtime", "a b"],
          ["install", "--containerd", "--", "--debug"],
          ["uninstall", "--containerd"],
        ]
      ) {
        const r = await run(DVISOR, args);
        assertEquals([r.code, r.stderr.trimEnd().split("\n").length], [1, 1], r.stderr);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install --containerd writes the runc v2 shim stanza into config.toml, keeping the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-install-" });
  const config = `${dir}/config.toml`;
  try {
    const stanza = [
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dvisor]',
      '  runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dvisor.options]',
      `  BinaryName = "${DVISOR}"`,
      "",
    ].join("\n");
    const runc = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n' +
      '  runtime_type = "io.containerd.runc.v2"\n';
    const printed = await run(DVISOR, ["install", "--containerd"]);
    assertEquals(printed.code, 0, printed.stderr);
    assertEquals(
      printed.stdout,
      "# Uncomment runc's table if config.toml has none: containerd drops its default\n" +
        "# runtime once a config names any runtime.\n" +
        runc.replace(/^/gm, "# ").trimEnd() + "\n" + stanza,
    );
    const mine = `version = 2\n# mine\n[plugins."io.containerd.grpc.v1.cri"]\n  x = 1\n${runc}`;
    await Deno.writeTextFile(config, mine);
    const install = () => run(DVISOR, ["install", "--containerd", "--config-file", config]);
    assertEquals((await install()).code, 0);
    const once = await Deno.readTextFile(config);
    assertEquals(once, `${mine}\n${stanza}`);
    assertEquals((await install()).code, 0);
    assertEquals(await Deno.readTextFile(config), once, "installing twice gives the same bytes");
    const uninstalled = await run(DVISOR, ["uninstall", "--containerd", "--config-file", config]);
    assertEquals(uninstalled.code, 0, uninstalled.stderr);
    assertEquals(await Deno.readTextFile(config), mine);
    // Without a runc table, containerd would lose its default runtime: one is added.
    await Deno.writeTextFile(config, "version = 2\n");
    assertEquals((await install()).code, 0);
    assertEquals(await Deno.readTextFile(config), `version = 2\n\n${runc}\n${stanza}`);
    // containerd 2.x's config (version 3) has its runtimes in another plugin.
    await Deno.writeTextFile(config, "version = 3\n");
    assertEquals((await install()).code, 0);
    assert(
      (await Deno.readTextFile(config)).includes(
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.dvisor]',
      ),
    );
    const show = await run(DVISOR, ["install", "--show"]);
    assertEquals(show.code, 0, show.stderr);
    assert(show.stdout.includes("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\n"), show.stdout);
    assert(show.stdout.includes("\nhandler: dvisor\n"), show.stdout);
    assert(show.stdout.includes(`podman --runtime ${DVISOR} run`), show.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** CRI's NamespaceMode values. */
const CONTAINER = 1, NODE = 2;

Deno.test("containerd with the installed stanza runs a pod's containers with dvisor", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-install-cri-" });
  const pause = "localhost/dvisor-pause:latest";
  const image = "localhost/dvisor-test:latest";
  const daemon = await startContainerd(dir, {
    cri: `  sandbox_image = "${pause}"`,
    beforeStart: async (config) => {
      const r = await run(DVISOR, ["install", "--containerd", "--config-file", config]);
      assertEquals(r.code, 0, r.stderr);
    },
  });
  const cri = new CriClient(daemon.socket);
  let pod = "";
  try {
    await t.step(
      "containerd reads the stanza: the cri plugin runs, with dvisor's BinaryName",
      async () => {
        const dump = await run("containerd", ["--config", daemon.config, "config", "dump"]);
        assertEquals(dump.code, 0, dump.stderr);
        const table = dump.stdout.split(/\n\s*(?=\[)/).find((s) =>
          s.trim().startsWith(
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dvisor.options]',
          )
        );
        assert(table?.includes(`BinaryName = "${DVISOR}"`), dump.stdout);
        const plugins = await daemon.ctr("default", "plugins", "ls");
        assert(/io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/.test(plugins.stdout), plugins.stdout);
      },
    );
    // CRI bind-mounts these files; dvisor, unlike runc, does not make missing mount points.
    const tar = await imageTarball(dir, {
      "etc/resolv.conf": "",
      "etc/hosts": "",
      "etc/hostname": "",
    });
    for (
      const [name, ref, cmd] of [["pause", pause, ["sleep", "100000"]], ["test", image, [
        "sh",
      ]]] as const
    ) {
      await writeOciArchive(tar, `${dir}/${name}`, [...cmd]);
      const base = ref.replace(/:latest$/, "");
      const r = await daemon.ctr(
        "k8s.io",
        "image",
        "import",
        "--base-name",
        base,
        `${dir}/${name}.tar`,
      );
      assertEquals(r.code, 0, r.stderr);
    }
    await t.step("a pod asking for handler dvisor runs in dvisor and prints", async () => {
      const namespaces: Field[] = [[1, NODE], [2, CONTAINER], [3, NODE]];
      const sandboxConfig: Field[] = [
        [1, [[1, "dvisor-pod"], [2, "uid-1"], [3, "default"]]],
        [3, `${dir}/logs`],
        [8, [[2, [[1, namespaces]]]]],
      ];
      const ran = decode(await cri.call("RunPodSandbox", [[1, sandboxConfig], [2, "dvisor"]]));
      pod = new TextDecoder().decode(ran.get(1)![0] as Uint8Array);
      const listed = await run(DVISOR, ["--root", "/run/containerd/runc/k8s.io", "list", "-q"]);
      assert(listed.stdout.split("\n").includes(pod), `dvisor runs the pod: ${listed.stdout}`);
      const created = decode(
        await cri.call("CreateContainer", [
          [1, pod],
          [2, [
            [1, [[1, "hello"]]],
            [2, [[1, image]]],
            [3, "sh"],
            [3, "-c"],
            [3, "sleep 1; echo hello from $(uname -s); exit 3"],
            [11, "hello.log"],
            [15, [[2, [[3, namespaces]]]]],
          ]],
          [3, sandboxConfig],
        ]),
      );
      const id = new TextDecoder().decode(created.get(1)![0] as Uint8Array);
      await cri.call("StartContainer", [[1, id]]);
      // The container joined the pod's sandbox (CRI's annotations): dvisor's record says so.
      const record = JSON.parse(
        await Deno.readTextFile(`/run/containerd/runc/k8s.io/${id}/state.json`),
      );
      assertEquals(record.sandbox, pod);
      let exit: number | undefined;
      for (let i = 0; i < 200 && exit === undefined; i++) {
        const status = decode(
          decode(await cri.call("ContainerStatus", [[1, id]])).get(1)![0] as Uint8Array,
        );
        if (status.get(3)?.[0] === 2) exit = (status.get(7)?.[0] as number | undefined) ?? 0;
        else await sleep(100);
      }
      assertEquals(exit, 3);
      const log = await Deno.readTextFile(`${dir}/logs/hello.log`);
      assert(/ stdout F hello from Linux\n$/.test(log), log);
    });
    await t.step("the pod stops and is removed, and dvisor forgets it", async () => {
      await cri.call("StopPodSandbox", [[1, pod]]);
      await cri.call("RemovePodSandbox", [[1, pod]]);
      const listed = await run(DVISOR, ["--root", "/run/containerd/runc/k8s.io", "list", "-q"]);
      assert(!listed.stdout.split("\n").includes(pod), listed.stdout);
      pod = "";
    });
  } finally {
    if (pod) {
      await cri.call("StopPodSandbox", [[1, pod]]).catch(() => {});
      await cri.call("RemovePodSandbox", [[1, pod]]).catch(() => {});
    }
    cri.close();
    await daemon.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  // Other tests' sandboxes may come and go meanwhile: only this pod's count.
  const ours = () => sandboxTraces().processes.filter((p) => p.includes(dir));
  for (let i = 0; i < 100 && ours().length; i++) await sleep(50);
  assertEquals(ours(), [], "no dvisor process is left");
});
