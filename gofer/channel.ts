/**
 * One end of a gofer connection: sends and receives framed messages, with
 * descriptors passed by SCM_RIGHTS on a message's first bytes.
 *
 * @module
 */
import { closeQuietly, readFd } from "../platform/fd.ts";
import { Errno } from "../platform/errno.ts";
import { receiveFds, sendFds } from "../platform/socket.ts";
import { writeAll } from "../platform/fd.ts";
import { frame, HEADER_SIZE, MAX_PAYLOAD, ProtocolError } from "./protocol.ts";

/** A received message. */
export interface Message {
  /** Its id. */
  id: number;
  /** Its payload. */
  payload: Uint8Array;
  /** Descriptors that came with it (owned by the receiver). */
  fds: number[];
  /** The frame was larger than the protocol allows; its payload was skipped. */
  oversized?: boolean;
}

/** A connected unix stream socket speaking the gofer protocol. */
export class Channel {
  /** The socket. */
  readonly fd: number;

  /**
   * Wraps a connected socket (owned: closed by close()).
   *
   * @param fd The socket.
   */
  constructor(fd: number) {
    this.fd = fd;
  }

  /**
   * Sends one message.
   *
   * @param id Its id.
   * @param payload Its payload.
   * @param fds Descriptors to pass with it (the sender keeps its copies).
   */
  send(id: number, payload: Uint8Array, fds: number[] = []): void {
    const bytes = frame(id, payload);
    const first = sendFds(this.fd, bytes, fds);
    if (first < bytes.length) writeAll(this.fd, bytes.subarray(first));
  }

  /**
   * Receives one message, blocking.
   *
   * @returns The message, or null when the peer closed the connection. A
   *   frame larger than the protocol allows is skipped and returned with
   *   `oversized` set.
   * @throws {ProtocolError} When the peer closes inside a message.
   */
  receive(): Message | null {
    const header = new Uint8Array(HEADER_SIZE);
    const fds: number[] = [];
    let got = 0;
    while (got < HEADER_SIZE) {
      let r;
      try {
        r = receiveFds(this.fd, header.subarray(got));
      } catch (e) {
        if (e instanceof Errno && e.code === "EINTR") continue;
        throw e;
      }
      fds.push(...r.fds);
      if (r.bytes === 0) {
        fds.forEach(closeQuietly);
        if (got === 0) return null;
        throw new ProtocolError("connection closed inside a message header");
      }
      got += r.bytes;
    }
    const v = new DataView(header.buffer);
    const length = v.getUint32(0, true);
    const id = v.getUint16(4, true);
    if (length > MAX_PAYLOAD) {
      // Skip it, so the stream stays in step, and let the caller answer.
      fds.forEach(closeQuietly);
      const sink = new Uint8Array(65536);
      for (let left = length; left > 0;) {
        const n = readFd(this.fd, sink.subarray(0, Math.min(left, sink.length)));
        if (n === 0) throw new ProtocolError("connection closed inside a message");
        left -= n;
      }
      return { id, payload: new Uint8Array(0), fds: [], oversized: true };
    }
    const payload = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const n = readFd(this.fd, payload.subarray(at));
      if (n === 0) {
        fds.forEach(closeQuietly);
        throw new ProtocolError("connection closed inside a message");
      }
      at += n;
    }
    return { id, payload, fds };
  }

  /** Closes the socket. */
  close(): void {
    closeQuietly(this.fd);
  }
}
