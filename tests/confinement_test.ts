/**
 * What a confined dvisor process (the sandbox process, the gofer) keeps of
 * the host: nothing under Deno's cache that it could write, neither a
 * descriptor open for writing nor a shared writable mapping (the CLI, run
 * as root, trusts those databases).
 */
import { assert, assertEquals } from "@std/assert";
import { makeBundle } from "./support/bundle.ts";
import { DVISOR, run, runDetaching } from "./support/run.ts";
import { denoCacheDir } from "../platform/deno_cache_unsafe.ts";
import { O } from "../platform/fd.ts";

/** A process's ways to change files under `dir`. */
async function writableUnder(pid: number, dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
    const target = await Deno.readLink(`/proc/${pid}/fd/${e.name}`).catch(() => "");
    if (!target.startsWith(dir)) continue;
    const info = await Deno.readTextFile(`/proc/${pid}/fdinfo/${e.name}`);
    const flags = parseInt(/^flags:\s+(\d+)/m.exec(info)?.[1] ?? "0", 8);
    if ((flags & O.ACCMODE) !== O.RDONLY) found.push(`descriptor ${e.name}: ${target}`);
  }
  for (const line of (await Deno.readTextFile(`/proc/${pid}/maps`)).split("\n")) {
    const f = line.split(/\s+/);
    if (f[5]?.startsWith(dir) && f[1]![1] === "w" && f[1]![3] === "s") {
      found.push(`mapping ${line}`);
    }
  }
  return found;
}

Deno.test("the sandbox process and the gofer cannot change Deno's cache", async () => {
  const dir = denoCacheDir();
  const bundle = await makeBundle({ rootfs: "/", args: ["/bin/sleep", "30"] });
  const id = `confinement-${Deno.pid}`;
  try {
    const c = await runDetaching(DVISOR, ["create", "--bundle", bundle, id]);
    assertEquals(c.code, 0, c.stderr);
    const state = JSON.parse((await run(DVISOR, ["state", id])).stdout);
    const goferPid = Number(
      (await Deno.readTextFile(`/run/dvisor/${id}/state.json`).then(JSON.parse)).goferPid,
    );
    assert(goferPid > 0, "the state names the gofer");
    // Both loaded their modules (and opened the caches) before they confined themselves.
    assertEquals(await writableUnder(state.pid, dir), [], "sandbox process");
    assertEquals(await writableUnder(goferPid, dir), [], "gofer");
  } finally {
    await run(DVISOR, ["delete", "--force", id]);
    await Deno.remove(bundle, { recursive: true });
  }
});
