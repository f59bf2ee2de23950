/**
 * The `./dvisor` launcher and `bundle.sh`, on a copy of the checkout: the
 * bundle runs only while no source is newer than it, and a container run
 * from it starts its sandbox and gofer from the bundle too.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { makeBundle } from "./support/bundle.ts";
import { run, runDetaching } from "./support/run.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Copies what the launcher runs (the sources; node_modules as a link). */
async function copyCheckout(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-launcher-" });
  for (const name of ["cli", "core", "platform", "gofer", "deno.json", "dvisor", "bundle.sh"]) {
    const r = await run("cp", ["-a", `${ROOT}${name}`, `${dir}/`]);
    assertEquals(r.code, 0, r.stderr);
  }
  await Deno.symlink(`${ROOT}node_modules`, `${dir}/node_modules`);
  return dir;
}

/** The last line of `--version`: how dvisor runs. */
async function howItRuns(dir: string): Promise<string> {
  const r = await run(`${dir}/dvisor`, ["--version"]);
  assertEquals(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n").at(-1)!;
}

Deno.test("the launcher runs dist/js while it is newer than every source", async (t) => {
  const dir = await copyCheckout();
  try {
    await t.step("without a bundle: the sources", async () => {
      assertEquals(await howItRuns(dir), "compiled: no (running from source)");
    });
    await t.step("bundle.sh builds dist/js, which the launcher then runs", async () => {
      const r = await run(`${dir}/bundle.sh`, []);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /^bundle\.sh: built dist\/js \(/);
      assertEquals(await howItRuns(dir), "compiled: no (running the bundle dist/js)");
    });
    await t.step("its sandbox and gofer processes run the bundle too", async () => {
      const bundle = await makeBundle({ rootfs: "/", args: ["/bin/sleep", "30"] });
      const id = `launcher-${Deno.pid}`;
      try {
        const c = await runDetaching(`${dir}/dvisor`, ["create", "--bundle", bundle, id]);
        assertEquals(c.code, 0, c.stderr);
        const state = JSON.parse((await run(`${dir}/dvisor`, ["state", id])).stdout);
        const sandbox = (await Deno.readTextFile(`/proc/${state.pid}/cmdline`)).split("\0");
        assert(sandbox.includes(`${dir}/dist/js/main.js`), sandbox.join(" "));
        assert(sandbox.includes("boot"), sandbox.join(" "));
        assertEquals((await run(`${dir}/dvisor`, ["start", id])).code, 0);
        const ps = await run(`${dir}/dvisor`, ["exec", id, "/bin/echo", "served"]);
        assertEquals([ps.code, ps.stdout], [0, "served\n"], ps.stderr);
      } finally {
        await run(`${dir}/dvisor`, ["delete", "--force", id]);
        await Deno.remove(bundle, { recursive: true });
      }
    });
    await t.step("a source saved after the build: the sources again", async () => {
      const later = new Date(Date.now() + 2000);
      await Deno.utime(`${dir}/core/kernel/signals.ts`, later, later);
      assertEquals(await howItRuns(dir), "compiled: no (running from source)");
    });
    await t.step("a test file saved after it does not count", async () => {
      const before = new Date(Date.now() - 60_000);
      await Deno.utime(`${dir}/core/kernel/signals.ts`, before, before);
      assertEquals((await run(`${dir}/bundle.sh`, [])).code, 0);
      const later = new Date(Date.now() + 2000);
      await Deno.utime(`${dir}/cli/flags_test.ts`, later, later);
      assertEquals(await howItRuns(dir), "compiled: no (running the bundle dist/js)");
    });
    await t.step("deno.json saved after it (the version): the sources again", async () => {
      const later = new Date(Date.now() + 4000);
      await Deno.utime(`${dir}/deno.json`, later, later);
      assertEquals(await howItRuns(dir), "compiled: no (running from source)");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
