/**
 * The sandbox's side of the control socket (as runsc's `controller.go`):
 * served from the Sentry's event loop, one request per connection. A
 * handler answers at once or keeps the reply for later (Wait); a request
 * that is too large, not JSON or for an unknown method gets an error reply
 * and the sandbox keeps serving.
 *
 * @module
 */
import { closeQuietly, setNonblocking, writeFd } from "../../platform/fd.ts";
import { Errno } from "../../platform/errno.ts";
import { acceptConnection, receiveFds, shutdownWrite } from "../../platform/socket.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { POLL } from "../vfs/inode.ts";
import {
  type ControlReply,
  type ControlRequest,
  decodeRequest,
  MAX_CONTROL_MESSAGE,
} from "./protocol.ts";

/** Sends the reply to one request (once). */
export type Respond = (reply: ControlReply) => void;

/**
 * Serves one method.
 *
 * @param arg The request's argument.
 * @param fds Descriptors that came with it (the handler owns them).
 * @param respond Call once, now or later.
 */
export type ControlHandler = (arg: unknown, fds: number[], respond: Respond) => void;

/** The control socket's server. */
export class ControlServer {
  readonly #k: Kernel;
  readonly #listener: number;
  readonly #handlers: Record<string, ControlHandler>;
  readonly #open = new Set<number>();

  /**
   * Serves a listening socket (owned).
   *
   * @param k The kernel whose loop watches the sockets.
   * @param listener The listening socket.
   * @param handlers By method name.
   */
  constructor(k: Kernel, listener: number, handlers: Record<string, ControlHandler>) {
    this.#k = k;
    this.#listener = listener;
    this.#handlers = handlers;
    setNonblocking(listener, true);
    this.#watchListener();
  }

  /** Closes the listener and every connection (replies still pending are dropped). */
  close(): void {
    closeQuietly(this.#listener);
    for (const fd of this.#open) closeQuietly(fd);
    this.#open.clear();
  }

  #watchListener(): void {
    this.#k.hostQueue(this.#listener, POLL.IN).subscribe(() => {
      for (;;) {
        let conn: number;
        try {
          conn = acceptConnection(this.#listener);
        } catch (e) {
          if (e instanceof Errno && e.code === "ECONNABORTED") continue;
          if (e instanceof Errno && e.code === "EAGAIN") break; // every waiting client accepted
          // Anything else would repeat forever: stop serving, say why.
          this.#k.log.warn(`control socket: ${e instanceof Error ? e.message : e}: not serving`);
          closeQuietly(this.#listener);
          return;
        }
        setNonblocking(conn, true);
        this.#open.add(conn);
        this.#read(conn);
      }
      this.#watchListener();
    });
  }

  /**
   * Receives from a connection without blocking this thread until the
   * client shuts its side down: `take` gets each chunk (a view, valid
   * during the call) and its descriptors, and returns false to stop
   * reading; then `end(true)`, or `end(false)` when the connection failed.
   */
  #receive(
    conn: number,
    take: (chunk: Uint8Array, fds: number[]) => boolean,
    end: (ok: boolean) => void,
  ): void {
    const buf = new Uint8Array(64 * 1024);
    const step = () => {
      if (!this.#open.has(conn)) return; // closed with the server
      for (;;) {
        let got;
        try {
          got = receiveFds(conn, buf, { dontWait: true });
        } catch (e) {
          if (e instanceof Errno && e.code === "EAGAIN") {
            this.#k.hostQueue(conn, POLL.IN).subscribe(step);
            return;
          }
          end(false);
          return;
        }
        if (!take(buf.subarray(0, got.bytes), got.fds)) return;
        if (got.bytes === 0) break;
      }
      end(true);
    };
    step();
  }

  /** Reads a request, then answers it. */
  #read(conn: number): void {
    const chunks: Uint8Array[] = [];
    const fds: number[] = [];
    let total = 0;
    this.#receive(conn, (chunk, got) => {
      fds.push(...got);
      total += chunk.length;
      if (total <= MAX_CONTROL_MESSAGE) {
        chunks.push(chunk.slice());
        return true;
      }
      fds.forEach(closeQuietly);
      this.#refuseTooLarge(conn);
      return false;
    }, (ok) => {
      if (!ok) {
        fds.forEach(closeQuietly);
        this.#drop(conn);
        return;
      }
      const all = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.#serve(conn, all, fds);
    });
  }

  /** Decodes a request and runs its handler. */
  #serve(conn: number, all: Uint8Array, fds: number[]): void {
    let request: ControlRequest;
    try {
      request = decodeRequest(all);
    } catch (e) {
      fds.forEach(closeQuietly);
      this.#reply(conn, { success: false, err: e instanceof Error ? e.message : String(e) });
      return;
    }
    const handler = this.#handlers[request.method];
    if (!handler) {
      fds.forEach(closeQuietly);
      this.#reply(conn, { success: false, err: `Unknown method ${request.method}` });
      return;
    }
    let replied = false;
    try {
      handler(request.arg, fds, (reply) => {
        if (replied) return;
        replied = true;
        this.#reply(conn, reply);
      });
    } catch (e) {
      if (!replied) {
        replied = true;
        this.#reply(conn, { success: false, err: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /**
   * Answers a request over the limit at once, then reads and drops the
   * rest until the client is done sending: closing with its bytes unread
   * would reset the connection and lose the answer.
   */
  #refuseTooLarge(conn: number): void {
    this.#send(conn, { success: false, err: "The request is too large" }, (sent) => {
      let ok = sent;
      if (ok) {
        try {
          shutdownWrite(conn);
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        this.#drop(conn);
        return;
      }
      this.#receive(conn, (_chunk, got) => {
        got.forEach(closeQuietly);
        return true;
      }, () => this.#drop(conn));
    });
  }

  #reply(conn: number, reply: ControlReply): void {
    if (!this.#open.has(conn)) return;
    this.#send(conn, reply, () => this.#drop(conn));
  }

  /**
   * Writes a reply without blocking this thread (a client that does not
   * read yet holds its connection, not the Sentry), then calls `done(true)`,
   * or `done(false)` if the client went away.
   */
  #send(conn: number, reply: ControlReply, done: (ok: boolean) => void): void {
    const bytes = new TextEncoder().encode(JSON.stringify(reply));
    let at = 0;
    const step = () => {
      if (!this.#open.has(conn)) return; // closed with the server
      while (at < bytes.length) {
        try {
          at += writeFd(conn, bytes.subarray(at));
        } catch (e) {
          if (e instanceof Errno && e.code === "EAGAIN") {
            this.#k.hostQueue(conn, POLL.OUT).subscribe(step);
            return;
          }
          if (e instanceof Errno && e.code === "EINTR") continue;
          done(false);
          return;
        }
      }
      done(true);
    };
    step();
  }

  /** Closes a connection (once: its number may be reused after). */
  #drop(conn: number): void {
    if (!this.#open.delete(conn)) return;
    this.#k.forgetHostFd(conn);
    closeQuietly(conn);
  }
}
