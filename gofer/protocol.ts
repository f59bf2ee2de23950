/**
 * The gofer protocol's wire format (see PROTOCOL.md): framing, message ids,
 * and the little-endian encoding of integers, strings and attributes that
 * the server (gofer/server.ts) and the client (core/vfs/gofer_client.ts)
 * share.
 *
 * @module
 */
import type { Stat } from "../platform/files.ts";

/** Bytes of a frame header: u32 payload length, u16 message id, u16 reserved. */
export const HEADER_SIZE = 8;
/** The largest payload either side accepts. */
export const MAX_PAYLOAD = 1 << 20;

/** Message ids (a response carries its request's id, or ERROR). */
export const MSG = {
  ERROR: 0,
  MOUNT: 1,
  STAT: 3,
  SETATTR: 4,
  WALK: 5,
  OPEN: 7,
  CREATE: 8,
  RELEASE: 9,
  MKDIR: 13,
  MKNOD: 14,
  SYMLINK: 15,
  LINK: 16,
  STATFS: 17,
  READLINK: 19,
  UNLINK: 22,
  RENAME: 23,
  READDIR: 24,
} as const;

/** SETATTR mask bits. */
export const SETATTR = {
  MODE: 1,
  UID: 2,
  GID: 4,
  SIZE: 8,
  ATIME: 16,
  MTIME: 32,
} as const;

/** Bytes of an encoded Stat. */
export const STAT_SIZE = 96;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds a payload. */
export class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #at = 0;

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#at + n));
    next.set(this.#buf);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.#room(1);
    this.#view.setUint8(this.#at, v);
    this.#at += 1;
    return this;
  }

  u32(v: number): this {
    this.#room(4);
    this.#view.setUint32(this.#at, v >>> 0, true);
    this.#at += 4;
    return this;
  }

  u64(v: bigint): this {
    this.#room(8);
    this.#view.setBigUint64(this.#at, BigInt.asUintN(64, v), true);
    this.#at += 8;
    return this;
  }

  i64(v: bigint): this {
    this.#room(8);
    this.#view.setBigInt64(this.#at, BigInt.asIntN(64, v), true);
    this.#at += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#at);
    this.#at += b.length;
    return this;
  }

  str(s: string): this {
    const b = encoder.encode(s);
    return this.u32(b.length).bytes(b);
  }

  stat(st: Stat): this {
    return this.u64(st.dev).u64(st.ino).u32(st.mode).u32(st.nlink).u32(st.uid).u32(st.gid).u64(
      st.rdev,
    )
      .u64(st.size).u32(st.blksize).u32(0).u64(st.blocks).i64(st.atimeNs).i64(st.mtimeNs).i64(
        st.ctimeNs,
      )
      .i64(st.btimeNs);
  }

  /** The payload so far. */
  done(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }
}

/** A malformed payload. */
export class ProtocolError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Reads a payload. */
export class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  /**
   * Reads `buf`.
   *
   * @param buf The payload.
   */
  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #need(n: number): void {
    if (this.#at + n > this.#buf.length) throw new ProtocolError("truncated message");
  }

  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.#at++);
  }

  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return v;
  }

  u64(): bigint {
    this.#need(8);
    const v = this.#view.getBigUint64(this.#at, true);
    this.#at += 8;
    return v;
  }

  i64(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.#at, true);
    this.#at += 8;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.#need(n);
    const b = this.#buf.slice(this.#at, this.#at + n);
    this.#at += n;
    return b;
  }

  str(): string {
    const n = this.u32();
    if (n > 65536) throw new ProtocolError("string too long");
    return decoder.decode(this.bytes(n));
  }

  stat(): Stat {
    const dev = this.u64();
    const ino = this.u64();
    const mode = this.u32();
    const nlink = this.u32();
    const uid = this.u32();
    const gid = this.u32();
    const rdev = this.u64();
    const size = this.u64();
    const blksize = this.u32();
    this.u32();
    const blocks = this.u64();
    const atimeNs = this.i64();
    const mtimeNs = this.i64();
    const ctimeNs = this.i64();
    const btimeNs = this.i64();
    return {
      dev,
      ino,
      mode,
      nlink,
      uid,
      gid,
      rdev,
      size,
      blksize,
      blocks,
      atimeNs,
      mtimeNs,
      ctimeNs,
      btimeNs,
    };
  }

  /** Bytes not read yet. */
  get left(): number {
    return this.#buf.length - this.#at;
  }
}

/**
 * Frames a payload.
 *
 * @param id The message id.
 * @param payload The payload.
 * @returns Header and payload.
 *
 * @example
 * ```ts
 * import { frame, MSG } from "./protocol.ts";
 * if (frame(MSG.STAT, new Uint8Array(8)).length !== 16) throw new Error();
 * ```
 */
export function frame(id: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_PAYLOAD) {
    throw new ProtocolError(`payload of ${payload.length} bytes is too large`);
  }
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, payload.length, true);
  v.setUint16(4, id, true);
  out.set(payload, HEADER_SIZE);
  return out;
}
