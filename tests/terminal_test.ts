/**
 * Terminals (`process.terminal`) as containerd's shim and conmon use them:
 * the pty master comes over --console-socket from `create` and from
 * `exec --tty --detach`; the container sees /dev/pts/N as its controlling
 * terminal with the spec's window size; what is typed reaches it, and ^C
 * reaches its foreground process group. Each case runs under runc too and
 * the terminal shows the same. `run` without a socket is the terminal
 * itself.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { closeFd, closeQuietly, pollFd, readFd, writeFd } from "../platform/fd.ts";
import { setWindowSize } from "../platform/pty.ts";
import { acceptConnection, listenUnix, receiveFds } from "../platform/socket.ts";
import { makeBundle, sandboxTraces } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, type Ran, run, runDetaching } from "./support/run.ts";

type Runtime = "runc" | "dvisor";
const RUNTIMES: Runtime[] = ["runc", "dvisor"];

function runtime(which: Runtime, root: string) {
  const cmd = which === "runc" ? "runc" : DVISOR;
  return (...args: string[]): Promise<Ran> =>
    (args[0] === "create" || args[0] === "exec" ? runDetaching : run)(cmd, [
      "--root",
      root,
      ...args,
    ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A --console-socket listener: the first master sent to it. */
class ConsoleSocket {
  readonly path: string;
  readonly #listener: number;
  constructor(dir: string) {
    this.path = `${dir}/console.sock`;
    this.#listener = listenUnix(this.path);
  }
  /** Waits for a runtime to connect and send its pty master. */
  async master(ms = 15_000): Promise<number> {
    const end = Date.now() + ms;
    while ((pollFd(this.#listener, 1) & 1) === 0) {
      if (Date.now() > end) throw new Error("no connection on the console socket");
      await sleep(20);
    }
    const conn = acceptConnection(this.#listener);
    try {
      const got = receiveFds(conn, new Uint8Array(256));
      assertEquals(got.fds.length, 1, "one descriptor: the master");
      return got.fds[0]!;
    } finally {
      closeFd(conn);
    }
  }
  close(): void {
    closeQuietly(this.#listener);
  }
}

/** Reads a pty master until `pattern` shows up (or it hangs up). */
async function readUntil(master: number, pattern: RegExp, ms = 15_000): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  const end = Date.now() + ms;
  while (!pattern.test(text)) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(text)}`);
    }
    const ready = pollFd(master, 1);
    if (ready & 1) {
      let n = 0;
      try {
        n = readFd(master, buf);
      } catch {
        break; // EIO: every slave is closed
      }
      if (n === 0) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    } else if (ready & 0x10) break;
    else await sleep(20);
  }
  return text;
}

function type(master: number, text: string): void {
  writeFd(master, new TextEncoder().encode(text));
}

async function stopped(rt: (...a: string[]) => Promise<Ran>, id: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = await rt("state", id);
    if (r.code !== 0 || (JSON.parse(r.stdout) as { status: string }).status === "stopped") return;
    await sleep(50);
  }
  throw new Error(`${id} did not stop`);
}

/** A container created with a console socket and started, for one test step. */
interface Session {
  rt: (...args: string[]) => Promise<Ran>;
  dir: string;
  sock: ConsoleSocket;
  /** The container's terminal. */
  master: number;
  /** Waits for another master on the socket (closed with the session). */
  receive(): Promise<number>;
}

/**
 * Creates (with --console-socket) and starts container `id` under a
 * runtime with its own state root, runs `body`, and removes everything.
 */
async function onConsole(
  which: Runtime,
  bundle: string,
  id: string,
  body: (s: Session) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const rt = runtime(which, `${dir}/root`);
  const sock = new ConsoleSocket(dir);
  const masters: number[] = [];
  const receive = async () => {
    const m = await sock.master();
    masters.push(m);
    return m;
  };
  try {
    const created = rt("create", "--bundle", bundle, "--console-socket", sock.path, id);
    const master = await receive();
    const c = await created;
    assertEquals(c.code, 0, c.stderr);
    assertEquals((await rt("start", id)).code, 0);
    await body({ rt, dir, sock, master, receive });
  } finally {
    masters.forEach(closeQuietly);
    sock.close();
    await rt("delete", "--force", id);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("terminal: create --console-socket gives the container a pty, as runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const script = "tty; stty size; echo via-dev-tty > /dev/tty; echo via-pts > $(tty); " +
    "read x < /dev/tty; echo got:$x; exit 4";
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", script],
    terminal: true,
    consoleSize: { height: 30, width: 100 },
  });
  const traces = sandboxTraces();
  const seen: Record<string, string> = {};
  try {
    for (const which of RUNTIMES) {
      await t.step(which, () =>
        onConsole(which, bundle, "t1", async ({ rt, master }) => {
          let out = await readUntil(master, /via-pts\r\n/);
          type(master, "hello\n");
          out += await readUntil(master, /got:hello\r\n/);
          seen[which] = out;
          await stopped(rt, "t1");
          assertEquals((await rt("delete", "t1")).code, 0);
        }));
    }
    assertEquals(seen.dvisor, seen.runc);
    assertEquals(
      seen.dvisor,
      "/dev/pts/0\r\n30 100\r\nvia-dev-tty\r\nvia-pts\r\nhello\r\ngot:hello\r\n",
    );
    assertEquals(sandboxTraces(), traces);
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("terminal: ^C reaches the foreground group of the container's and of exec's terminal", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const trapping = "trap 'echo INT; exit 5' INT; echo ready; while :; do sleep 0.1; done";
  const bundle = await makeBundle({ rootfs, args: ["/bin/sh", "-c", trapping], terminal: true });
  const traces = sandboxTraces();
  try {
    for (const which of RUNTIMES) {
      await t.step(
        which,
        () =>
          onConsole(which, bundle, "t2", async ({ rt, dir, sock, master, receive }) => {
            await readUntil(master, /ready/);
            // exec --tty --detach, as conmon and the shim call it.
            await Deno.writeTextFile(
              `${dir}/process.json`,
              JSON.stringify({
                terminal: true,
                args: ["/bin/sh", "-c", `tty; trap 'echo size $(stty size)' WINCH; ${trapping}`],
                cwd: "/",
                env: ["PATH=/bin:/usr/bin"],
                user: { uid: 0, gid: 0 },
              }),
            );
            const exec = rt(
              "exec",
              "--process",
              `${dir}/process.json`,
              "--detach",
              "--tty",
              "--console-socket",
              sock.path,
              "--pid-file",
              `${dir}/exec.pid`,
              "t2",
            );
            const execMaster = await receive();
            const e = await exec;
            assertEquals(e.code, 0, e.stderr);
            assert(Number(await Deno.readTextFile(`${dir}/exec.pid`)) > 0);
            const execOut = await readUntil(execMaster, /ready/);
            assertStringIncludes(execOut, "/dev/pts/1");
            // A resize (what the shim does for the client's window) reaches the process.
            setWindowSize(execMaster, { rows: 33, cols: 101 });
            assertStringIncludes(await readUntil(execMaster, /size \d+ \d+/), "size 33 101");
            type(execMaster, "\x03");
            assertStringIncludes(await readUntil(execMaster, /INT/), "INT");
            // The container's own terminal did not see it; now it gets one.
            type(master, "\x03");
            assertStringIncludes(await readUntil(master, /INT/), "INT");
            await stopped(rt, "t2");
          }),
      );
    }
    assertEquals(sandboxTraces(), traces);
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("terminal: run without a socket is the terminal; bad flag pairs fail in one line", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", "tty; stty size; echo hi; exit 3"],
    terminal: true,
    consoleSize: { height: 24, width: 80 },
  });
  const root = await Deno.makeTempDir();
  const traces = sandboxTraces();
  try {
    await t.step("run copies the terminal to its stdout and exits with the status", async () => {
      const r = await run(DVISOR, ["--root", root, "run", "--bundle", bundle, "t3"]);
      assertEquals(r.code, 3, r.stderr);
      assertEquals(r.stdout, "/dev/pts/0\r\n24 80\r\nhi\r\n");
    });
    await t.step("create with a terminal and no socket", async () => {
      const r = await runDetaching(DVISOR, ["--root", root, "create", "--bundle", bundle, "t4"]);
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertStringIncludes(r.stderr, "--console-socket");
      assertEquals((await run(DVISOR, ["--root", root, "state", "t4"])).code, 1);
    });
    await t.step("a socket without a terminal", async () => {
      const plain = await makeBundle({ rootfs, args: ["true"] });
      try {
        const r = await runDetaching(DVISOR, [
          "--root",
          root,
          "create",
          "--bundle",
          plain,
          "--console-socket",
          `${root}/nope.sock`,
          "t5",
        ]);
        assertEquals(r.code, 1);
        assertStringIncludes(r.stderr, "process.terminal");
        assertEquals((await run(DVISOR, ["--root", root, "state", "t5"])).code, 1);
      } finally {
        await Deno.remove(plain, { recursive: true });
      }
    });
    assertEquals(sandboxTraces(), traces);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("terminal: a pod container's terminal gets ^C in its sandbox, as a lone runc container's", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const trapping = "trap 'echo INT; exit 5' INT; echo ready; while :; do sleep 0.1; done";
  const pod = (type: string) => ({
    "io.kubernetes.cri.container-type": type,
    "io.kubernetes.cri.sandbox-id": "p",
  });
  const pause = await makeBundle({ rootfs, args: ["sleep", "1000"], annotations: pod("sandbox") });
  const app = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", `tty; ${trapping}`],
    terminal: true,
    annotations: pod("container"),
  });
  const traces = sandboxTraces();
  try {
    for (const which of RUNTIMES) {
      await t.step(which, async () => {
        // runc ignores the annotations: two lone containers show the same terminal.
        const dir = await Deno.makeTempDir();
        const rt = runtime(which, `${dir}/root`);
        const sock = new ConsoleSocket(dir);
        let master = -1;
        try {
          assertEquals((await rt("create", "--bundle", pause, "p")).code, 0);
          assertEquals((await rt("start", "p")).code, 0);
          const created = rt("create", "--bundle", app, "--console-socket", sock.path, "a");
          master = await sock.master();
          assertEquals((await created).code, 0);
          assertEquals((await rt("start", "a")).code, 0);
          assertStringIncludes(await readUntil(master, /ready/), "/dev/pts/");
          type(master, "\x03");
          assertStringIncludes(await readUntil(master, /INT/), "INT");
          await stopped(rt, "a");
          assertEquals(JSON.parse((await rt("state", "p")).stdout).status, "running");
        } finally {
          closeQuietly(master);
          sock.close();
          await rt("delete", "--force", "a");
          await rt("delete", "--force", "p");
          await Deno.remove(dir, { recursive: true });
        }
      });
    }
    assertEquals(sandboxTraces(), traces);
  } finally {
    for (const d of [pause, app, rootfs]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("terminal: a background job that reads the terminal stops (SIGTTIN), as under runc", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  // set -m: ash takes the terminal (/dev/tty) and puts each job in its own group.
  const script = "set -m; cat & sleep 1; " +
    "grep -h ^State /proc/$!/status; kill -CONT %1 2>/dev/null; sleep 0.3; " +
    "grep -h ^State /proc/$!/status; kill -9 %1; wait; echo done";
  const bundle = await makeBundle({ rootfs, args: ["/bin/sh", "-c", script], terminal: true });
  const traces = sandboxTraces();
  const seen: Record<string, string> = {};
  try {
    for (const which of RUNTIMES) {
      await t.step(which, () =>
        onConsole(which, bundle, "t5", async ({ rt, master }) => {
          seen[which] = await readUntil(master, /done\r\n/);
          await stopped(rt, "t5");
        }));
    }
    // Stopped by SIGTTIN, and stopped again after SIGCONT as it reads again.
    assertStringIncludes(seen.runc!, "State:\tT (stopped)\r\nState:\tT (stopped)\r\n");
    assertEquals(seen.dvisor, seen.runc);
    assertEquals(sandboxTraces(), traces);
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
