/**
 * The CLI's side of a sandbox's control socket: one request, one reply
 * (see core/control/protocol.ts).
 *
 * @module
 */
import { closeQuietly, readAll, writeAll } from "../platform/fd.ts";
import { Errno } from "../platform/errno.ts";
import { connectUnix, reachableSocketPath, sendFds, shutdownWrite } from "../platform/socket.ts";
import { type ControlReply, MAX_CONTROL_MESSAGE } from "../core/control/protocol.ts";

/** The sandbox is gone (nothing listens on its socket). */
export class SandboxGone extends Error {
  /**
   * Makes it.
   *
   * @param path The socket.
   */
  constructor(path: string) {
    super(`The sandbox is not running (no one answers on ${path})`);
    this.name = "SandboxGone";
  }
}

/**
 * Calls a method of a sandbox (blocking until it answers).
 *
 * @param socketPath The control socket.
 * @param method The method (`METHOD.*`).
 * @param arg Its argument.
 * @param fds Descriptors to pass with it (the caller keeps its copies).
 * @returns The result.
 * @throws {SandboxGone} When the sandbox does not answer.
 * @throws {Error} With the sandbox's message when the call failed.
 */
export function callSandbox(
  socketPath: string,
  method: string,
  arg: unknown = {},
  fds: number[] = [],
): unknown {
  let sock: number;
  try {
    sock = connectUnix(socketPath);
  } catch (e) {
    if (e instanceof Errno && ["ECONNREFUSED", "ENOENT"].includes(e.code)) {
      throw new SandboxGone(socketPath);
    }
    throw e;
  }
  try {
    const bytes = new TextEncoder().encode(JSON.stringify({ method, arg }));
    const sent = sendFds(sock, bytes, fds);
    if (sent < bytes.length) writeAll(sock, bytes.subarray(sent));
    shutdownWrite(sock);
    return replyResult(readAll(sock), socketPath, method);
  } finally {
    closeQuietly(sock);
  }
}

/**
 * Makes one request on a sandbox's control socket without blocking this
 * thread (Deno's own socket): for the calls that wait (Wait, WaitPID), so
 * timers and signal listeners here keep running meanwhile. No descriptors
 * go with it.
 *
 * @param socketPath The control socket.
 * @param method The method.
 * @param arg Its argument.
 * @returns The result.
 * @throws {SandboxGone} When the sandbox does not answer.
 * @throws {Error} With the sandbox's message when the call failed.
 */
export async function callSandboxAsync(
  socketPath: string,
  method: string,
  arg: unknown = {},
): Promise<unknown> {
  let conn: Deno.UnixConn;
  const reach = reachableSocketPath(socketPath);
  try {
    conn = await Deno.connect({ transport: "unix", path: reach.path });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) {
      throw new SandboxGone(socketPath);
    }
    throw e;
  } finally {
    reach.release();
  }
  let raw: Uint8Array;
  try {
    await conn.write(new TextEncoder().encode(JSON.stringify({ method, arg })));
    await conn.closeWrite();
    raw = new Uint8Array(await new Response(conn.readable).arrayBuffer());
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed with its stream */ }
    if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe) {
      throw new SandboxGone(socketPath);
    }
    throw e;
  }
  return replyResult(raw, socketPath, method);
}

/** A reply's result; an empty reply means the sandbox went away. */
function replyResult(raw: Uint8Array, socketPath: string, method: string): unknown {
  if (raw.length === 0) throw new SandboxGone(socketPath);
  if (raw.length > MAX_CONTROL_MESSAGE) throw new Error("The sandbox's reply is too large");
  const reply = JSON.parse(new TextDecoder().decode(raw)) as ControlReply;
  if (!reply.success) throw new Error(reply.err ?? `${method} failed`);
  return reply.result;
}

/**
 * A request's argument for a container: with `cid` when the container
 * lives in another container's sandbox (a pod).
 *
 * @param s The container's state.
 * @param arg The argument.
 * @returns The argument to send.
 *
 * @example
 * ```ts
 * import { forContainer } from "./control_client.ts";
 * const a = forContainer({ id: "app", sandbox: "pod" }, { signo: 9 });
 * if (a.cid !== "app" || a.signo !== 9) throw new Error();
 * ```
 */
export function forContainer(
  s: { id: string; sandbox?: string },
  arg: Record<string, unknown> = {},
): Record<string, unknown> {
  return s.sandbox ? { ...arg, cid: s.id } : arg;
}
