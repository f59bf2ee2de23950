/**
 * The container's own seccomp profile (`linux.seccomp`), enforced by the
 * Sentry: errno, kill and trap actions, argument conditions, a default-deny
 * profile, and calls of the self-only class (which otherwise never reach
 * the Sentry). Each case runs under runc too; exit codes and output match.
 */
import { assertEquals } from "@std/assert";
import { DEBIAN_ROOTFS, makeBundle, runBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { SYS } from "../platform/sysno.ts";

const PLATFORMS = ["seccomp", "ptrace"];
const S_ISUID = 0o4000;

async function sameAsRunc(
  t: Deno.TestContext,
  name: string,
  rootfs: string,
  args: string[],
  seccomp: Record<string, unknown>,
): Promise<void> {
  const dir = await makeBundle({ rootfs, args, seccomp });
  try {
    const runc = await runBundle("runc", dir);
    for (const platform of PLATFORMS) {
      await t.step(`${name} (${platform})`, async () => {
        const dvisor = await runBundle("dvisor", dir, [`--platform=${platform}`]);
        assertEquals(dvisor, runc);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("linux.seccomp: the container's profile applies to its calls as under runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const sh = (script: string) => ["/bin/sh", "-c", script];
  try {
    await sameAsRunc(t, "errno with errnoRet", rootfs, sh("mkdir /tmp/d; echo $?; echo on"), {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
    });
    await sameAsRunc(
      t,
      "argument conditions (no setuid bits)",
      rootfs,
      sh("touch /tmp/f; chmod 755 /tmp/f && echo plain; chmod 4755 /tmp/f || echo refused"),
      {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [
          {
            names: ["chmod"],
            action: "SCMP_ACT_ERRNO",
            args: [{ index: 1, value: S_ISUID, valueTwo: S_ISUID, op: "SCMP_CMP_MASKED_EQ" }],
          },
          {
            names: ["fchmodat", "fchmod"],
            action: "SCMP_ACT_ERRNO",
            args: [{ index: 2, value: S_ISUID, valueTwo: S_ISUID, op: "SCMP_CMP_MASKED_EQ" }],
          },
        ],
      },
    );
    await sameAsRunc(t, "kill", rootfs, sh("echo before; uname -s; echo after"), {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["uname"], action: "SCMP_ACT_KILL_PROCESS" }],
    });
    await sameAsRunc(t, "trap: SIGSYS", rootfs, sh("uname -s; echo status $?"), {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["uname"], action: "SCMP_ACT_TRAP" }],
    });
    // Everything but uname and mkdir listed; the default refuses those with ENOSYS.
    const listed = Object.keys(SYS).filter((n) => !["uname", "mkdir", "mkdirat"].includes(n));
    await sameAsRunc(t, "default deny", rootfs, sh("uname -s; echo $?; mkdir /tmp/x; echo $?"), {
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 38,
      syscalls: [{ names: listed, action: "SCMP_ACT_ALLOW" }],
    });
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("linux.seccomp: calls of the self-only class are filtered too", async (t) => {
  const py = (code: string) => ["/usr/bin/python3", "-c", code];
  await sameAsRunc(
    t,
    "sched_yield refused",
    DEBIAN_ROOTFS,
    py(
      "import os\ntry:\n  os.sched_yield()\n  print('yielded')\nexcept OSError as e:\n  print('refused', e.errno)",
    ),
    {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["sched_yield"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    },
  );
});

Deno.test("linux.seccomp: KILL_THREAD ends the calling thread only", async (t) => {
  // A thread calls uname and is killed; the main thread goes on and exits 0.
  const code = "import threading, os, time\n" +
    "threading.Thread(target=os.uname, daemon=True).start()\n" +
    "time.sleep(0.5)\nprint('main alive', threading.active_count() >= 1)\nos._exit(0)";
  await sameAsRunc(t, "a thread's uname", DEBIAN_ROOTFS, ["/usr/bin/python3", "-c", code], {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["uname"], action: "SCMP_ACT_KILL_THREAD" }],
  });
});

Deno.test("linux.seccomp: an invalid profile fails create in one line", async () => {
  const rootfs = await makeBusyboxRootfs();
  try {
    const dir = await makeBundle({
      rootfs,
      args: ["true"],
      seccomp: { defaultAction: "SCMP_ACT_BOGUS" },
    });
    try {
      const r = await runBundle("dvisor", dir);
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertEquals(r.stderr.includes("SCMP_ACT_BOGUS"), true, r.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});
