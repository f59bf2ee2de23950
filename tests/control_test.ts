/**
 * A sandbox's control socket under bad requests: garbage, a request over
 * the size limit, an unknown method, a client that hangs up without
 * asking, methods given the wrong descriptors or a process that is not
 * theirs. Each gets an error reply (or none, for the client that left),
 * descriptors sent with a refused request are closed, and the sandbox
 * goes on serving: the container keeps running and answers.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { DVISOR, run, runDetaching } from "./support/run.ts";
import { StateStore } from "../cli/container_state.ts";
import { callSandbox } from "../cli/control_client.ts";
import { METHOD } from "../core/control/protocol.ts";
import { Errno } from "../platform/errno.ts";
import { closeQuietly, pollFd, readAll, writeAll } from "../platform/fd.ts";
import { connectUnix, sendFds, shutdownWrite, socketPair } from "../platform/socket.ts";

/** Sends raw bytes (and descriptors) as one request; the reply's text. */
function rawRequest(path: string, bytes: Uint8Array, fds: number[] = []): string {
  const sock = connectUnix(path);
  try {
    try {
      const sent = sendFds(sock, bytes.subarray(0, 4096), fds);
      writeAll(sock, bytes.subarray(sent));
      shutdownWrite(sock);
    } catch (e) {
      // Refused midway (too large): the reply is there to read all the same.
      if (!(e instanceof Errno && e.code === "EPIPE")) throw e;
    }
    return new TextDecoder().decode(readAll(sock));
  } finally {
    closeQuietly(sock);
  }
}

/** The error of a call that must fail. */
function refusal(path: string, method: string, arg: unknown, fds: number[] = []): string {
  try {
    callSandbox(path, method, arg, fds);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${method} succeeded`);
}

Deno.test("the control socket answers bad requests with errors and keeps serving", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({ rootfs, args: ["sleep", "1000"] });
  const root = await Deno.makeTempDir({ prefix: "dvisor-test-root-" });
  const id = "control";
  try {
    const created = await runDetaching(DVISOR, ["--root", root, "create", "--bundle", bundle, id]);
    assertEquals(created.code, 0);
    assertEquals((await run(DVISOR, ["--root", root, "start", id])).code, 0);
    const path = new StateStore(root).socket(id);
    const serving = () => {
      assertEquals((callSandbox(path, METHOD.state) as { status: string }).status, "running");
    };

    await t.step("garbage, an unknown method, a request without a method", () => {
      const enc = new TextEncoder();
      for (const bytes of ["not json", "[1,2]", '{"arg":{}}', '{"method":"x.Y"}']) {
        const reply = JSON.parse(rawRequest(path, enc.encode(bytes)));
        assertEquals(reply.success, false, bytes);
        assertEquals(typeof reply.err, "string");
      }
      assertStringIncludes(rawRequest(path, enc.encode('{"method":"x.Y"}')), "Unknown method");
      serving();
    });

    await t.step("a request over the limit", () => {
      const huge = new TextEncoder().encode(
        JSON.stringify({ method: METHOD.state, arg: { pad: "x".repeat(2 << 20) } }),
      );
      const reply = JSON.parse(rawRequest(path, huge));
      assertEquals([reply.success, reply.err], [false, "The request is too large"]);
      serving();
    });

    await t.step("a client that hangs up without asking", () => {
      closeQuietly(connectUnix(path));
      const half = connectUnix(path);
      writeAll(half, new TextEncoder().encode('{"method":'));
      closeQuietly(half);
      serving();
    });

    await t.step("Watch without a descriptor, or of a process exec did not start", () => {
      assertStringIncludes(refusal(path, METHOD.watch, { pid: 1 }), "one descriptor");
      const [mine, theirs] = socketPair();
      let ours = theirs;
      try {
        assertStringIncludes(refusal(path, METHOD.watch, { pid: 1 }, [theirs]), "No process 1");
        assertStringIncludes(
          refusal(path, METHOD.watch, { pid: 999 }, [theirs, theirs]),
          "one descriptor",
        );
        assertStringIncludes(refusal(path, METHOD.watch, { cid: "nope" }, [theirs]), "nope");
        closeQuietly(theirs);
        ours = -1;
        // The sandbox kept no copy: the other end sees the socket closed.
        assertEquals(pollFd(mine, 1, 1000) !== 0, true, "the sandbox closed the refused socket");
        assertEquals(readAll(mine).length, 0);
      } finally {
        closeQuietly(mine);
        if (ours >= 0) closeQuietly(ours);
      }
      assertStringIncludes(refusal(path, METHOD.waitPid, { pid: 1 }), "No process 1");
      serving();
    });

    await t.step("a client that does not read its reply holds only its connection", async () => {
      // An unknown method's name comes back in the error: a reply larger than a socket buffer.
      const name = "x".repeat(900 * 1024);
      const slow = connectUnix(path);
      try {
        writeAll(slow, new TextEncoder().encode(JSON.stringify({ method: name })));
        shutdownWrite(slow);
        await new Promise((r) => setTimeout(r, 200));
        const r = await run(DVISOR, ["--root", root, "ps", id], { timeoutMs: 20_000 });
        assertEquals(r.code, 0, "the sandbox answered others meanwhile");
        const reply = JSON.parse(new TextDecoder().decode(readAll(slow)));
        assertEquals([reply.success, reply.err.length > name.length], [false, true]);
      } finally {
        closeQuietly(slow);
      }
    });

    await t.step("the container runs on", async () => {
      const r = await run(DVISOR, ["--root", root, "exec", id, "echo", "still"]);
      assertEquals([r.code, r.stdout], [0, "still\n"]);
    });
  } finally {
    await run(DVISOR, ["--root", root, "delete", "--force", id]);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
