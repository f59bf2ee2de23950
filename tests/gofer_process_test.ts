/**
 * The gofer as a process: confined, serving the sandbox, and what happens
 * when it dies.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { DVISOR } from "./support/run.ts";
import { sandboxTraces } from "./support/bundle.ts";

/** Processes whose command line has `role` followed by an argument starting with `flag`. */
function pidsOf(role: string, flag: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (cmd.includes(role) && cmd.some((a) => a.startsWith(flag))) out.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return out;
}

function goferPids(): number[] {
  return pidsOf("gofer", "--serve");
}

async function until<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A new gofer, once it has confined itself (the seccomp filter comes last). */
function confinedGofer(before: Set<number>): Promise<number> {
  return confined(goferPids, before);
}

function confined(pids: () => number[], before: Set<number>): Promise<number> {
  return until(() =>
    pids().find((p) => {
      if (before.has(p)) return false;
      try {
        return Deno.readTextFileSync(`/proc/${p}/status`).includes("Seccomp:\t2");
      } catch {
        return false;
      }
    })
  );
}

/** What the host sees of a process: its root's entries, status, and namespaces not shared with us. */
function inspect(pid: number): { root: string[]; status: string; ownNamespaces: string[] } {
  return {
    root: [...Deno.readDirSync(`/proc/${pid}/root`)].map((e) => e.name),
    status: Deno.readTextFileSync(`/proc/${pid}/status`),
    ownNamespaces: ["mnt", "pid", "net", "ipc", "uts"].filter((ns) =>
      Deno.readLinkSync(`/proc/${pid}/ns/${ns}`) !== Deno.readLinkSync(`/proc/self/ns/${ns}`)
    ),
  };
}

/** Regular host files a process holds open for writing, other than its stdio. */
function writableHostFiles(pid: number): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    if (Number(e.name) <= 2) continue;
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
      if (!target.startsWith("/") || target.startsWith("/dev/") || target.includes("(deleted)")) {
        continue;
      }
      const flags = /^flags:\s+(\d+)/m.exec(
        Deno.readTextFileSync(`/proc/${pid}/fdinfo/${e.name}`),
      )?.[1];
      if (flags && (parseInt(flags, 8) & 3) !== 0) out.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Whether a process's /proc is mounted read-only. */
function readOnlyProc(pid: number): boolean {
  const line = Deno.readTextFileSync(`/proc/${pid}/mountinfo`).split("\n")
    .find((l) => l.split(" ")[4] === "/proc");
  return line?.split(" ")[5]?.split(",").includes("ro") ?? false;
}

function startSleeper(seconds: number): Deno.ChildProcess {
  return new Deno.Command(DVISOR, {
    args: ["do", "--", "/bin/sleep", String(seconds)],
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
}

Deno.test("the gofer runs confined: empty root, own namespaces, seccomp, no new privileges", async () => {
  const before = new Set(goferPids());
  const child = startSleeper(3);
  try {
    const pid = await confinedGofer(before);
    const p = inspect(pid);
    assertEquals(p.root, [], "its root is empty");
    assertStringIncludes(p.status, "NoNewPrivs:\t1");
    assertStringIncludes(p.status, "Seccomp:\t2");
    assertEquals(p.ownNamespaces, ["mnt", "pid", "net", "ipc", "uts"]);
  } finally {
    child.kill("SIGKILL");
    await child.output();
  }
});

Deno.test("the sandbox process runs confined: no host files, own mount and pid namespaces, seccomp allow-list", async () => {
  const boots = () => pidsOf("boot", "--config-fd");
  const before = new Set(boots());
  const child = startSleeper(3);
  try {
    const pid = await confined(boots, before);
    // Its root holds only its procfs and where stubs mount their empty root.
    const p = inspect(pid);
    assertEquals(p.root.sort(), ["proc", "stub"]);
    assertEquals(p.ownNamespaces.includes("mnt"), true, "own mount namespace");
    assertEquals(
      p.ownNamespaces.includes("pid"),
      true,
      "own pid namespace: it sees only its stubs",
    );
    assertEquals(readOnlyProc(pid), true, "its /proc is read-only (/proc/sys is the host's)");
    assertEquals(writableHostFiles(pid), [], "host files it holds open are read-only");
    // CAP_SYS_ADMIN and CAP_SETPCAP (bits 21 and 8), nothing else, bounding set included.
    assertStringIncludes(p.status, "CapEff:\t0000000000200100");
    assertStringIncludes(p.status, "CapBnd:\t0000000000200100");
    assertStringIncludes(p.status, "Seccomp:\t2");
    // The deny list from its start, then the allow-list once the container runs.
    const filters = () => /Seccomp_filters:\t(\d+)/.exec(inspect(pid).status)?.[1];
    assertEquals(await until(() => (filters() === "2" ? "2" : undefined)), "2");
  } finally {
    child.kill("SIGKILL");
    await child.output();
  }
});

Deno.test("a gofer that dies stops the sandbox with one error line", async () => {
  const traces = sandboxTraces();
  const before = new Set(goferPids());
  const child = new Deno.Command(DVISOR, {
    args: ["do", "--", "/bin/sh", "-c", "echo ready; sleep 30"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  assertEquals(new TextDecoder().decode((await reader.read()).value), "ready\n");
  reader.releaseLock();
  const pid = await confinedGofer(before);
  Deno.kill(pid, "SIGKILL");
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr).trim().split("\n");
  assertEquals(out.code, 137);
  assertEquals(stderr, ["dvisor: the gofer died (signal 9): the sandbox was stopped"]);
  // Nothing of the sandbox is left: no gofer, sandbox or stub process, no mount, no file.
  await until(() => (goferPids().some((p) => !before.has(p)) ? undefined : true));
  assertEquals(sandboxTraces(), traces);
});

Deno.test("dvisor do forwards SIGINT to the container's init", async () => {
  const child = new Deno.Command(DVISOR, {
    args: [
      "do",
      "--",
      "/bin/sh",
      "-c",
      'trap "echo got INT; exit 9" INT; echo ready; sleep 10 & wait',
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assertEquals(new TextDecoder().decode(first.value), "ready\n");
  child.kill("SIGINT");
  const rest = await reader.read();
  reader.releaseLock();
  const status = await child.status;
  assertEquals(new TextDecoder().decode(rest.value), "got INT\n");
  assertEquals(status.code, 9);
  await child.stderr.cancel();
});
