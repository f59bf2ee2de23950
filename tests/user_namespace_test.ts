/**
 * A user namespace named by path in linux.namespaces, joined as runc joins
 * it: the container sees that namespace's mappings and its files land on
 * the host under the mapped ids, by a /proc path or a bind-mounted one;
 * mappings that are not the namespace's, and a path that is none, are
 * refused in one line. Each case runs under runc too.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle, runBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { run } from "./support/run.ts";

const BASE = 200000;

Deno.test("a user namespace joined by path: its mappings, as runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  // runc makes mount points as the namespace's root, who may not write the rootfs.
  await Deno.mkdir(`${rootfs}/vol`);
  const dir = await Deno.makeTempDir({ prefix: "dvisor-userns-" });
  // A namespace with a process in it; root writes its mappings (any it likes).
  const holder = new Deno.Command("unshare", {
    args: ["--user", "sleep", "120"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const nsPath = `/proc/${holder.pid}/ns/user`;
  const bundles: string[] = [];
  const bundleFor = async (path: string, vol: string, extra: Record<string, unknown> = {}) => {
    const b = await makeBundle({
      rootfs,
      args: ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo x >/vol/f"],
      mounts: [{ destination: "/vol", type: "bind", source: vol, options: ["rbind", "rw"] }],
    });
    bundles.push(b);
    const config = JSON.parse(await Deno.readTextFile(`${b}/config.json`));
    config.linux.namespaces.push({ type: "user", path });
    Object.assign(config.linux, extra);
    await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(config));
    return b;
  };
  try {
    const own = (await Deno.stat("/proc/self/ns/user")).ino;
    for (let i = 0; i < 100 && (await Deno.stat(nsPath)).ino === own; i++) {
      await new Promise((r) => setTimeout(r, 20)); // unshare has not unshared yet
    }
    for (const file of ["uid_map", "gid_map"]) {
      await Deno.writeTextFile(`/proc/${holder.pid}/${file}`, `0 ${BASE} 65536\n`);
    }
    // runc (1.1) wants the mappings in the spec as well; dvisor reads them when they are not.
    const mapping = [{ containerID: 0, hostID: BASE, size: 65536 }];
    const given = { uidMappings: mapping, gidMappings: mapping };
    const expectedMap = `         0     ${BASE}      65536\n`.repeat(2) + "0\n";
    const ways: Array<[string, string]> = [["its /proc path", nsPath], [
      "a bind mount of it",
      "bind",
    ]];
    for (const [label, path] of ways) {
      await t.step(label, async () => {
        let target = path;
        if (path === "bind") {
          target = `${dir}/userns`;
          await Deno.writeTextFile(target, "");
          assertEquals((await run("mount", ["--bind", nsPath, target])).code, 0);
        }
        try {
          const seen: Record<string, string> = {};
          const cases = [["runc", given], ["dvisor", given], ["dvisor", {}]] as const;
          for (const [i, [runtime, extra]] of cases.entries()) {
            const vol = `${dir}/vol-${label.length}-${i}`;
            await Deno.mkdir(vol);
            await Deno.chown(vol, BASE, BASE);
            const r = await runBundle(runtime, await bundleFor(target, vol, extra));
            assertEquals(r.code, 0, `${runtime}: ${r.stderr}`);
            const st = await Deno.stat(`${vol}/f`);
            seen[`${runtime}${i}`] = `${r.stdout}${st.uid}:${st.gid}`;
          }
          assertEquals(seen.runc0, `${expectedMap}${BASE}:${BASE}`);
          assertEquals(seen.dvisor1, seen.runc0, "the spec's mappings given too");
          assertEquals(seen.dvisor2, seen.runc0, "the namespace's read");
        } finally {
          if (path === "bind") await run("umount", [target]);
        }
      });
    }
    await t.step("mappings that are not the namespace's: one line", async () => {
      const vol = `${dir}/vol-other`;
      await Deno.mkdir(vol);
      const wrong = [{ containerID: 0, hostID: 300000, size: 65536 }];
      const r = await runBundle(
        "dvisor",
        await bundleFor(nsPath, vol, { uidMappings: wrong, gidMappings: wrong }),
      );
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertStringIncludes(r.stderr, "are not those of the user namespace");
    });
    await t.step("a path that is no namespace: one line", async () => {
      const vol = `${dir}/vol-none`;
      await Deno.mkdir(vol);
      const r = await runBundle("dvisor", await bundleFor(`${dir}/nothing`, vol));
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert(r.stderr.includes("Cannot open the user namespace"), r.stderr);
    });
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    for (const b of bundles) await Deno.remove(b, { recursive: true });
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
