/**
 * An account with subordinate ids, for the tests that need newuidmap and
 * newgidmap (rootless podman, rootless dvisor with subordinate ids): made
 * once, with a 65536-id range in /etc/subuid and /etc/subgid.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import { run } from "./run.ts";

/**
 * Makes the account and its ranges when missing.
 *
 * @param name The account's name.
 * @param first The first subordinate uid and gid.
 * @returns Its uid and gid.
 */
export async function subidUser(
  name: string,
  first: number,
): Promise<{ uid: number; gid: number }> {
  if ((await run("id", ["-u", name])).code !== 0) {
    const r = await run("useradd", ["--system", "--no-create-home", "-s", "/bin/sh", name]);
    assertEquals(r.code, 0, r.stderr);
  }
  const has = (file: string) =>
    Deno.readTextFile(file).then(
      (t) => t.split("\n").some((l) => l.startsWith(`${name}:`)),
      () => false,
    );
  if (!(await has("/etc/subuid")) || !(await has("/etc/subgid"))) {
    const range = `${first}-${first + 65535}`;
    const r = await run("usermod", ["--add-subuids", range, "--add-subgids", range, name]);
    assertEquals(r.code, 0, r.stderr);
  }
  const id = async (flag: string) => Number((await run("id", [flag, name])).stdout.trim());
  return { uid: await id("-u"), gid: await id("-g") };
}
