/**
 * The compatibility suite's C programs (tests/fixtures/c) in containers:
 * each one's output and exit status under `dvisor run`, on both
 * platforms, is what it is under `runc run` on the same busybox root.
 * (sentry_test.ts compares the same programs with native runs.)
 */
import { assertEquals } from "@std/assert";
import { makeBundle, runBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { C_PROGRAMS, compileCPrograms, type Ran } from "./support/run.ts";

const PLATFORMS = ["seccomp", "ptrace"];

/**
 * Programs that need a network: runc gets the host's (its own network
 * namespace's loopback is down), dvisor its own loopback (`--network
 * none`, the namespace the spec asks for).
 */
const NETWORKED = new Set(["sockets", "inet", "epoll"]);

/**
 * Programs compared with runc elsewhere: fork_limit with a pids limit
 * (resources_test.ts); isolation, whose point is that the sandbox refuses
 * what runc's host kernel takes (sentry_test.ts checks the refusals).
 */
const ELSEWHERE = new Set(["fork_limit", "isolation"]);

Deno.test("the C compatibility programs print the same under dvisor run as under runc run", async (t) => {
  const bin = await compileCPrograms();
  const rootfs = await makeBusyboxRootfs();
  const bundle = async (name: string, hostNetwork: boolean) =>
    await makeBundle({
      rootfs,
      args: [`/c/${name}`],
      mounts: [{ destination: "/c", type: "bind", source: bin, options: ["rbind", "ro"] }],
      hostNetwork,
    });
  const shown = (r: Ran) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });
  try {
    for (const name of C_PROGRAMS.filter((n) => !ELSEWHERE.has(n))) {
      const own = await bundle(name, false);
      const forRunc = NETWORKED.has(name) ? await bundle(name, true) : own;
      try {
        const runc = await runBundle("runc", forRunc);
        for (const platform of PLATFORMS) {
          await t.step(`${name} (${platform})`, async () => {
            const dvisor = await runBundle("dvisor", own, [`--platform=${platform}`]);
            assertEquals(shown(dvisor), shown(runc));
          });
        }
      } finally {
        await Deno.remove(own, { recursive: true });
        if (forRunc !== own) await Deno.remove(forRunc, { recursive: true });
      }
    }
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});
