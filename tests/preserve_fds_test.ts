/**
 * `--preserve-fds N`: the caller's descriptors 3 to 3+N-1 become the
 * container's, for `run` (and so `create`) and for `exec`, as under runc; a
 * count naming a descriptor that is not open fails in one line.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle, sandboxTraces } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, run } from "./support/run.ts";

Deno.test("--preserve-fds passes descriptors to run and exec as runc does", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/in`, "from fd 3\n");
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", "cat <&3; echo to fd 4 >&4; sleep 2"],
  });
  const traces = sandboxTraces();
  const seen: Record<string, string[]> = {};
  try {
    for (const which of ["runc", "dvisor"]) {
      await t.step(which, async () => {
        const cmd = which === "runc" ? "runc" : DVISOR;
        const root = `${dir}/root-${which}`;
        const id = `pf-${which}`;
        const out = `${dir}/out-${which}`;
        const shell = (args: string, redirect: string) =>
          run("/bin/sh", ["-c", `exec "$0" --root ${root} ${args} ${redirect} </dev/null`, cmd]);
        const got: string[] = [];
        const ran = shell(`run --preserve-fds 2 --bundle ${bundle} ${id}`, `3<${dir}/in 4>${out}`);
        await new Promise((r) => setTimeout(r, 1000));
        const e = await shell(
          `exec --preserve-fds 1 ${id} sh -c 'echo exec $(cat <&3)'`,
          `3<${dir}/in`,
        );
        got.push(`${e.code} ${e.stdout}`);
        const r = await ran;
        got.push(`${r.code} ${r.stdout}`, await Deno.readTextFile(out));
        seen[which] = got;
      });
    }
    assertEquals(seen.dvisor, seen.runc);
    assertEquals(seen.runc, ["0 exec from fd 3\n", "0 from fd 3\n", "to fd 4\n"]);
    await t.step("a descriptor that is not open", async () => {
      const r = await run("/bin/sh", [
        "-c",
        `exec "$0" --root ${dir}/root-dvisor run --preserve-fds 40 --bundle ${bundle} bad`,
        DVISOR,
      ]);
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertStringIncludes(r.stderr, "is not open");
    });
    assertEquals(sandboxTraces(), traces);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
