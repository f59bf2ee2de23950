/**
 * The library as its users meet it: tests/fixtures/library_user.ts (a test
 * file that imports only mod.ts) run by `deno test`, twice at once on one
 * platform and once on the other, then the host checked for anything left;
 * and the calls in this process leaving no child, mount or descriptor.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { runSandboxed, Sandbox, SandboxOptionsError } from "../mod.ts";
import { DEBIAN_ROOTFS, sandboxTraces } from "./support/bundle.ts";
import { leavesNothing } from "./support/leaks.ts";

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
