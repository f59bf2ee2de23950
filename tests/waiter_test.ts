/**
 * The pid `exec --detach` leaves in its pid file stands for the process it
 * started, as containerd's shim uses it: the shim (here its stand-in, a
 * child subreaper) reaps it and reports its exit as the process's, and
 * kills it (kill(2) of that pid) to signal the process. Under runc that pid
 * is the process itself; under dvisor it is a waiter (platform/asm/waiter.S).
 * Each case runs under both, and the results must be the same.
 */
import { assert, assertEquals } from "@std/assert";
import { makeBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, run, runDetaching, until } from "./support/run.ts";
import { startShim } from "./support/shim.ts";

Deno.test("exec --detach: the pid file's process ends and takes signals as the process, like runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({ rootfs, args: ["sleep", "1000"] });
  const seen: Record<string, string[]> = {};
  try {
    for (const which of ["runc", "dvisor"] as const) {
      const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
      const cmd = which === "runc" ? "runc" : DVISOR;
      const rt = (...args: string[]) => run(cmd, ["--root", root, ...args]);
      const id = `waiter-${which}`;
      const out: string[] = [];
      const exec = (...args: string[]) =>
        startShim(`${bundle}/exec.pid`, [
          cmd,
          "--root",
          root,
          "exec",
          "--detach",
          "--pid-file",
          `${bundle}/exec.pid`,
          id,
          ...args,
        ]);
      /** How many processes the container has. */
      const count = async () =>
        (JSON.parse((await rt("ps", "--format", "json", id)).stdout) as number[]).length;
      try {
        await t.step(`${which}: a container`, async () => {
          const created = await runDetaching(cmd, [
            "--root",
            root,
            "create",
            "--bundle",
            bundle,
            id,
          ]);
          assertEquals(created.code, 0);
          assertEquals((await rt("start", id)).code, 0);
        });
        await t.step(`${which}: its exit code`, async () => {
          const shim = await exec("sh", "-c", "sleep 0.2; exit 3");
          out.push(`exit ${await shim.exited()}`);
        });
        await t.step(`${which}: SIGTERM to the pid reaches the process`, async () => {
          const shim = await exec("sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait");
          // The trap is set once the shell runs its loop: wait for its sleep.
          await until(async () => (await count()) === 3 ? true : undefined);
          await shim.kill(15);
          out.push(`trapped ${await shim.exited()}`);
          const plain = await exec("sleep", "1000");
          await plain.kill(15);
          out.push(`terminated ${await plain.exited()}`);
          await until(async () => (await count()) <= 2 ? true : undefined);
          // (The trapping shell's background sleep stays, as it would under runc.)
          out.push(`left ${await count()}`);
        });
        await t.step(`${which}: SIGKILL of the pid kills the process`, async () => {
          const shim = await exec("sleep", "1000");
          if (which === "dvisor") {
            // The pid is a small confined waiter, not a Deno process.
            const status = await Deno.readTextFile(`/proc/${shim.pid}/status`);
            const field = (name: string) =>
              new RegExp(`^${name}:\\s+(\\S+)`, "m").exec(status)?.[1];
            assert(Number(field("VmRSS")) < 1024, `waiter RSS ${field("VmRSS")} kB`);
            assertEquals(
              [field("Seccomp"), field("NoNewPrivs"), field("CapEff")],
              ["2", "1", "0000000000000000"],
            );
          }
          await shim.kill(9);
          out.push(`killed ${await shim.exited()}`);
          await until(async () => (await count()) === 2 ? true : undefined);
          out.push(`left ${await count()}`);
        });
        await t.step(`${which}: a process exec started ends with its container`, async () => {
          const shim = await exec("sleep", "1000");
          assertEquals((await rt("kill", id, "KILL")).code, 0);
          out.push(`container killed ${await shim.exited()}`);
        });
      } finally {
        await rt("delete", "--force", id);
        await Deno.remove(root, { recursive: true });
      }
      seen[which] = out;
    }
    await t.step("the same under both", () => {
      assertEquals(seen.dvisor, seen.runc);
      assertEquals(seen.dvisor, [
        "exit 3",
        "trapped 7",
        "terminated 143",
        "left 2",
        "killed 137",
        "left 2",
        "container killed 137",
      ]);
    });
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
