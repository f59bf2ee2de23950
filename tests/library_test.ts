/**
 * The library as its users meet it: tests/fixtures/library_user.ts (a test
 * file that imports only mod.ts) run by `deno test`, twice at once on one
 * platform and once on the other, then the host checked for anything left;
 * and the calls in this process leaving no child, mount or descriptor.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { type ImageProgress, runSandboxed, Sandbox, SandboxOptionsError } from "../mod.ts";
import { DEBIAN_ROOTFS, sandboxTraces } from "./support/bundle.ts";
import { leavesNothing } from "./support/leaks.ts";
import { writeOciLayout } from "./support/oci_layout.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";

const USER_TESTS = new URL("./fixtures/library_user.ts", import.meta.url).pathname;
const DENO = Deno.execPath();

async function runUserTests(platform: string): Promise<{ ok: boolean; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(DENO, {
    args: ["test", "-A", "--no-check", USER_TESTS],
    env: { DVISOR_TEST_PLATFORM: platform, DVISOR_TEST_ROOTFS: DEBIAN_ROOTFS, NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { ok: code === 0, out };
}

async function settled(before: ReturnType<typeof sandboxTraces>): Promise<void> {
  for (let i = 0; i < 100 && sandboxTraces().processes.length > before.processes.length; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(sandboxTraces(), before, "nothing of the sandboxes is left on the host");
}

Deno.test("a user's test file runs twice at once without interference, and leaves nothing", async () => {
  const before = sandboxTraces();
  const runs = await Promise.all([runUserTests("seccomp"), runUserTests("seccomp")]);
  for (const r of runs) {
    assert(r.ok, r.out);
    assert(/ok \| 7 passed \| 0 failed/.test(r.out), r.out);
  }
  await settled(before);
});

Deno.test("the same user's test file passes on the ptrace platform", async () => {
  const before = sandboxTraces();
  const r = await runUserTests("ptrace");
  assert(r.ok, r.out);
  assert(/ok \| 7 passed \| 0 failed/.test(r.out), r.out);
  await settled(before);
});

Deno.test("library calls leave no child process, mount or descriptor in the caller", async () => {
  const before = sandboxTraces();
  // The first use sets up what stays for the process's life (Deno's
  // signal handling): warm up, then count.
  await runSandboxed(["true"]);
  await leavesNothing(async () => {
    const r = await runSandboxed(["sh", "-c", "read x; echo $x; echo err >&2"], {
      stdin: "fed\n",
    });
    assertEquals([r.code, r.stdout, r.stderr], [0, "fed\n", "err\n"]);
    await using sb = await Sandbox.create({ rootfs: DEBIAN_ROOTFS, readOnly: true, args: ["cat"] });
    const p = await sb.exec(["sh", "-c", "touch /x"], { stderr: "piped", stdout: "null" });
    const out = await p.output();
    assert(!out.success && /Read-only/.test(new TextDecoder().decode(out.stderr)));
    await sb.stdin.close();
    assertEquals((await sb.output()).code, 0);
  });
  await leavesNothing(async () => {
    await assertRejects(
      () => Sandbox.create({ rootfs: DEBIAN_ROOTFS, args: ["true"], limits: { cpus: -2 } }),
      SandboxOptionsError,
      "limits.cpus -2 is not a positive number",
    );
    await assertRejects(
      () =>
        Sandbox.create({
          rootfs: DEBIAN_ROOTFS,
          args: ["true"],
          mounts: [{ source: "/nope", target: "/x" }],
        }),
      SandboxOptionsError,
      "Mount source /nope does not exist",
    );
  });
  await settled(before);
});

Deno.test("a memory limit too small for the sandbox fails create with why, leaving nothing", async () => {
  if (Deno.uid() !== 0) return;
  const before = sandboxTraces();
  await leavesNothing(async () => {
    const e = await Sandbox.create({
      rootfs: "host",
      args: ["true"],
      limits: { memoryBytes: 4 << 20 },
    })
      .then(() => null, (e) => e);
    assert(e instanceof Error && e.name === "SandboxStartError", String(e));
    assert(/OOM killer|memory/.test(e.message), e.message);
  });
  await settled(before);
});

Deno.test("an OCI image layout: layers applied with whiteouts, its config the defaults, progress shown", async () => {
  const before = sandboxTraces();
  const lower = await makeBusyboxRootfs();
  const upper = await Deno.makeTempDir({ prefix: "dvisor-bundle-layer-" });
  const layout = `${upper}.image`;
  try {
    await Deno.writeTextFile(
      `${lower}/etc/passwd`,
      "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home:/bin/sh\n",
    );
    await Deno.writeTextFile(`${lower}/old`, "lower\n");
    await Deno.mkdir(`${lower}/dir`);
    await Deno.writeTextFile(`${lower}/dir/lower`, "");
    await Deno.mkdir(`${upper}/dir`);
    await Deno.mkdir(`${upper}/etc`);
    await Deno.writeTextFile(`${upper}/.wh.old`, "");
    await Deno.writeTextFile(`${upper}/dir/.wh..wh..opq`, "");
    await Deno.writeTextFile(`${upper}/dir/upper`, "");
    await Deno.writeTextFile(`${upper}/etc/motd`, "from the upper layer\n");
    await Deno.chmod(`${upper}/etc/motd`, 0o604);
    await writeOciLayout(layout, [{ dir: lower, gzip: false }, { dir: upper, gzip: true }], {
      Env: ["PATH=/bin", "GREETING=hi"],
      Entrypoint: ["sh", "-c"],
      Cmd: [
        "echo $GREETING $FROM; id -u; pwd; ls /dir; cat /old 2>/dev/null || echo no-old; stat -c %a /etc/motd; cat /etc/motd",
      ],
      WorkingDir: "/dir",
      User: "app",
    });
    const progress: ImageProgress[] = [];
    await leavesNothing(async () => {
      await using sb = await Sandbox.create({
        image: layout,
        env: { FROM: "options" },
        stdin: "null",
        onProgress: (p) => progress.push(p),
      });
      const out = await sb.output();
      assertEquals(
        new TextDecoder().decode(out.stdout),
        "hi options\n1000\n/dir\nupper\nno-old\n604\nfrom the upper layer\n",
        new TextDecoder().decode(out.stderr),
      );
    });
    assertEquals(progress.at(-1)?.layers, 2);
    assertEquals(progress.at(-1)?.layer, 2);
    assert(progress.some((p) => p.bytes > 0 && p.bytes === p.totalBytes), JSON.stringify(progress));
    // A damaged image: one line, nothing left.
    const blobs = `${layout}/blobs/sha256`;
    let layer = "";
    let size = 0;
    for await (const e of Deno.readDir(blobs)) {
      const st = await Deno.stat(`${blobs}/${e.name}`);
      if (st.size > size) [layer, size] = [e.name, st.size];
    }
    // A few bytes inside a file's data: only the digest can tell.
    const f = await Deno.open(`${blobs}/${layer}`, { write: true });
    await f.seek(Math.floor(size / 2), Deno.SeekMode.Start);
    await f.write(new Uint8Array([1, 2, 3]));
    f.close();
    await leavesNothing(() =>
      assertRejects(
        () => Sandbox.create({ image: layout }),
        SandboxOptionsError,
        "does not match its digest",
      )
    );
  } finally {
    for (const d of [lower, upper, layout]) {
      await Deno.remove(d, { recursive: true }).catch(() => {});
    }
  }
  await settled(before);
});
