/**
 * Unix domain sockets made through FFI, and file descriptor passing with
 * `SCM_RIGHTS`. Deno's own sockets expose no descriptor, so every socket
 * that carries descriptors (control socket, gofer channels, console socket,
 * seccomp listeners) is made here.
 *
 * @module
 */
import { bytesArg, cString, fdArg, intArg } from "./checks.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";
import { closeQuietly, O, openFile } from "./fd.ts";

const AF_UNIX = 1n;
/** Socket types. */
export const SOCK = {
  STREAM: 1,
  DGRAM: 2,
  SEQPACKET: 5,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
} as const;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CTRUNC = 0x8;
/** Linux's SCM_MAX_FD: the most descriptors one message can carry. */
export const MAX_FDS_PER_MESSAGE = 253;

/**
 * Makes a connected pair of unix sockets, both close-on-exec.
 *
 * @param type `SOCK.STREAM`, `SOCK.DGRAM` or `SOCK.SEQPACKET`.
 * @returns The two ends.
 * @throws {Errno} If socketpair fails.
 *
 * @example
 * ```ts
 * import { socketPair, SOCK } from "./socket.ts";
 * import { closeFd } from "./fd.ts";
 * const [a, b] = socketPair(SOCK.STREAM);
 * closeFd(a);
 * closeFd(b);
 * ```
 */
export function socketPair(type: number = SOCK.STREAM): [number, number] {
  socketType(type);
  const fds = new Int32Array(2);
  checked(
    syscall(
      SYS.socketpair,
      AF_UNIX,
      BigInt(type | SOCK.CLOEXEC),
      0n,
      addressOf(fds),
    ),
    "socketpair",
  );
  return [fds[0]!, fds[1]!];
}

/** The longest path a `sockaddr_un` holds (108 bytes with the NUL). */
const MAX_SUN_PATH = 107;

/**
 * A path that reaches a socket file whose own path is too long for a
 * `sockaddr_un` (Docker's state root and 64-character ids make 110 bytes):
 * its directory opened and named through `/proc/self/fd`. Short paths are
 * returned as they are.
 *
 * @param path The socket's path.
 * @returns A path to bind or connect to, and what to call once done with it.
 * @throws {Errno} If the directory cannot be opened.
 *
 * @example
 * ```ts
 * import { reachableSocketPath } from "./socket.ts";
 * const long = "/tmp/" + "d".repeat(120) + "/s";
 * const r = reachableSocketPath(long);
 * if (!r.path.startsWith("/proc/self/fd/")) throw new Error(r.path);
 * r.release();
 * ```
 */
export function reachableSocketPath(path: string): { path: string; release(): void } {
  if (new TextEncoder().encode(path).length <= MAX_SUN_PATH) return { path, release() {} };
  const slash = path.lastIndexOf("/");
  const dir = slash <= 0 ? "/" : path.slice(0, slash);
  let fd = -1;
  try {
    fd = openFile(dir, O.PATH | O.DIRECTORY);
  } catch (e) {
    // A directory that does not exist: connecting fails as it would have.
    if ((e as { code?: string }).code !== "ENOENT") throw e;
    return { path: `/proc/self/fd/-1/${path.slice(slash + 1)}`, release() {} };
  }
  return {
    path: `/proc/self/fd/${fd}/${path.slice(slash + 1)}`,
    release: () => closeQuietly(fd),
  };
}

/**
 * A new unix socket and the address that reaches `path` (see
 * {@linkcode reachableSocketPath}); call `release` once bound or connected.
 */
function unixSocketFor(
  path: string,
  type: number,
): { fd: number; addr: Uint8Array; release(): void } {
  socketType(type);
  const reach = reachableSocketPath(path);
  try {
    const addr = unixAddress(reach.path);
    const fd = checked(
      syscall(SYS.socket, AF_UNIX, BigInt(type | SOCK.CLOEXEC), 0n),
      "socket",
    );
    return { fd, addr, release: reach.release };
  } catch (e) {
    reach.release();
    throw e;
  }
}

/**
 * Encodes a `sockaddr_un` for a path (never an abstract name).
 *
 * @param path The socket's path, at most 107 bytes.
 * @returns The address bytes.
 * @throws {RangeError} If the path is too long for a unix socket.
 */
function unixAddress(path: string): Uint8Array {
  const bytes = cString(path, "socket path");
  if (bytes.length > MAX_SUN_PATH + 1) {
    throw new RangeError(
      `Socket path ${path} is ${bytes.length - 1} bytes; unix sockets allow ${MAX_SUN_PATH}`,
    );
  }
  if (bytes.length <= 1) throw new RangeError("The socket path is empty");
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, Number(AF_UNIX), true);
  addr.set(bytes, 2);
  return addr;
}

/**
 * Creates a unix socket bound to a path and listening.
 *
 * @param path The path (must not exist).
 * @param type `SOCK.STREAM` or `SOCK.SEQPACKET`.
 * @param backlog The listen backlog.
 * @returns The listening socket (close-on-exec).
 * @throws {Errno} If the path exists (EADDRINUSE) or cannot be created.
 *
 * @example
 * ```ts
 * import { listenUnix } from "./socket.ts";
 * import { closeFd } from "./fd.ts";
 * const dir = Deno.makeTempDirSync();
 * closeFd(listenUnix(`${dir}/s`));
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function listenUnix(
  path: string,
  type: number = SOCK.STREAM,
  backlog = 128,
): number {
  const { fd, addr, release } = unixSocketFor(path, type);
  try {
    checked(
      syscall(SYS.bind, BigInt(fd), addressOf(addr), BigInt(addr.length)),
      `bind ${path}`,
    );
    checked(
      syscall(SYS.listen, BigInt(fd), intArg(backlog, 0, 65535, "backlog")),
      `listen ${path}`,
    );
    return fd;
  } catch (e) {
    syscall(SYS.close, BigInt(fd));
    throw e;
  } finally {
    release();
  }
}

/**
 * Connects to a unix socket by path.
 *
 * @param path The socket's path.
 * @param type `SOCK.STREAM` or `SOCK.SEQPACKET`.
 * @returns The connected socket (close-on-exec).
 * @throws {Errno} If nothing listens there (ECONNREFUSED, ENOENT).
 *
 * @example
 * ```ts
 * import { acceptConnection, connectUnix, listenUnix } from "./socket.ts";
 * import { closeFd } from "./fd.ts";
 * const dir = Deno.makeTempDirSync();
 * const l = listenUnix(`${dir}/s`);
 * const c = connectUnix(`${dir}/s`);
 * const s = acceptConnection(l);
 * [l, c, s].forEach(closeFd);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function connectUnix(path: string, type: number = SOCK.STREAM): number {
  const { fd, addr, release } = unixSocketFor(path, type);
  try {
    return connectAt(fd, addr, path);
  } finally {
    release();
  }
}

function connectAt(fd: number, addr: Uint8Array, path: string): number {
  for (;;) {
    const r = syscall(
      SYS.connect,
      BigInt(fd),
      addressOf(addr),
      BigInt(addr.length),
    );
    if (r === -4n) continue;
    if (r < 0n) {
      syscall(SYS.close, BigInt(fd));
      checked(r, `connect ${path}`);
    }
    return fd;
  }
}

/**
 * Accepts one connection (blocking unless the socket is non-blocking).
 *
 * @param listener A listening socket.
 * @returns The connection (close-on-exec).
 * @throws {Errno} If accept fails (EAGAIN when non-blocking and none waits).
 */
export function acceptConnection(listener: number): number {
  for (;;) {
    const r = syscall(
      SYS.accept4,
      fdArg(listener, "socket"),
      0n,
      0n,
      BigInt(SOCK.CLOEXEC),
    );
    if (r === -4n) continue;
    return checked(r, "accept4");
  }
}

/**
 * Sends bytes and descriptors in one message (`sendmsg` with `SCM_RIGHTS`).
 *
 * @param socket A connected unix socket.
 * @param data The bytes; at least one byte so the descriptors have a carrier.
 * @param fds The descriptors to pass (the caller keeps its own copies).
 * @returns Bytes sent.
 * @throws {RangeError} If there is no data or more than 253 descriptors.
 * @throws {Errno} If sendmsg fails (EPIPE when the peer is gone).
 *
 * @example
 * ```ts
 * import { receiveFds, sendFds, socketPair } from "./socket.ts";
 * import { closeFd, pipe } from "./fd.ts";
 * const [a, b] = socketPair();
 * const [r, w] = pipe();
 * sendFds(a, new Uint8Array([1]), [w]);
 * const got = receiveFds(b, new Uint8Array(1));
 * [a, b, r, w, ...got.fds].forEach(closeFd);
 * ```
 */
export function sendFds(
  socket: number,
  data: Uint8Array,
  fds: readonly number[],
): number {
  bytesArg(data, "data to send");
  if (!Array.isArray(fds)) throw new TypeError("Invalid descriptors to pass: expected an array");
  if (data.length === 0) {
    throw new RangeError("Sending descriptors needs at least one byte of data");
  }
  if (fds.length > MAX_FDS_PER_MESSAGE) {
    throw new RangeError(
      `Cannot pass ${fds.length} descriptors in one message: the limit is ${MAX_FDS_PER_MESSAGE}`,
    );
  }
  fds.forEach((fd) => fdArg(fd, "descriptor to pass"));
  const iov = new BigUint64Array([addressOf(data), BigInt(data.length)]);
  const controlLen = fds.length === 0 ? 0 : cmsgSpace(fds.length);
  const control = new Uint8Array(Math.max(controlLen, 8));
  if (fds.length) {
    const cv = new DataView(control.buffer);
    cv.setBigUint64(0, BigInt(16 + 4 * fds.length), true);
    cv.setInt32(8, SOL_SOCKET, true);
    cv.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((fd, i) => cv.setInt32(16 + 4 * i, fd, true));
  }
  const msg = new BigUint64Array(7);
  msg[2] = addressOf(iov);
  msg[3] = 1n;
  msg[4] = controlLen ? addressOf(control) : 0n;
  msg[5] = BigInt(controlLen);
  for (;;) {
    const r = syscall(
      SYS.sendmsg,
      fdArg(socket, "socket"),
      addressOf(msg),
      BigInt(MSG_NOSIGNAL),
    );
    if (r === -4n) continue;
    return checked(r, "sendmsg");
  }
}

/** A message received with {@linkcode receiveFds}. */
export interface Received {
  /** Bytes received (0 when the peer closed). */
  bytes: number;
  /** Descriptors received, close-on-exec; the caller owns them. */
  fds: number[];
}

/**
 * Receives bytes and any descriptors that came with them.
 *
 * @param socket A unix socket.
 * @param buf Where the bytes go.
 * @param options `dontWait` makes the call fail with EAGAIN instead of blocking.
 * @returns What arrived.
 * @throws {Errno} If recvmsg fails, or EMSGSIZE when descriptors were cut
 *   off (those that did arrive are closed first).
 */
export function receiveFds(
  socket: number,
  buf: Uint8Array,
  options: { dontWait?: boolean } = {},
): Received {
  bytesArg(buf, "receive buffer");
  const iov = new BigUint64Array([addressOf(buf), BigInt(buf.length)]);
  const control = new Uint8Array(cmsgSpace(MAX_FDS_PER_MESSAGE));
  const msg = new BigUint64Array(7);
  msg[2] = addressOf(iov);
  msg[3] = 1n;
  msg[4] = addressOf(control);
  msg[5] = BigInt(control.length);
  const flags = MSG_CMSG_CLOEXEC | (options.dontWait ? MSG_DONTWAIT : 0);
  let r: bigint;
  do {
    r = syscall(
      SYS.recvmsg,
      fdArg(socket, "socket"),
      addressOf(msg),
      BigInt(flags),
    );
  } while (r === -4n);
  const bytes = checked(r, "recvmsg");
  const fds = parseRights(control, Number(msg[5]));
  const msgFlags = Number(msg[6]! & 0xffffffffn);
  if (msgFlags & MSG_CTRUNC) {
    fds.forEach((fd) => syscall(SYS.close, BigInt(fd)));
    checked(-90n, "recvmsg: descriptors were truncated");
  }
  return { bytes, fds };
}

function socketType(type: number): void {
  const base = type & ~(SOCK.NONBLOCK | SOCK.CLOEXEC);
  if (!Number.isInteger(type) || ![SOCK.STREAM, SOCK.DGRAM, SOCK.SEQPACKET].includes(base as 1)) {
    throw new RangeError(
      `Invalid socket type ${type}: use SOCK.STREAM, SOCK.DGRAM or SOCK.SEQPACKET (optionally | SOCK.NONBLOCK)`,
    );
  }
}

function cmsgSpace(nfds: number): number {
  return 16 + ((4 * nfds + 7) & ~7);
}

function parseRights(control: Uint8Array, length: number): number[] {
  const view = new DataView(
    control.buffer,
    control.byteOffset,
    control.byteLength,
  );
  const fds: number[] = [];
  let at = 0;
  while (at + 16 <= length) {
    const len = Number(view.getBigUint64(at, true));
    if (len < 16 || at + len > length) break;
    if (
      view.getInt32(at + 8, true) === SOL_SOCKET &&
      view.getInt32(at + 12, true) === SCM_RIGHTS
    ) {
      for (let o = at + 16; o + 4 <= at + len; o += 4) {
        fds.push(view.getInt32(o, true));
      }
    }
    at += (len + 7) & ~7;
  }
  return fds;
}

/**
 * Ends the sending side of a connection (`shutdown(SHUT_WR)`): the peer
 * reads end of file, and can still answer.
 *
 * @param socket A connected socket.
 * @throws {Errno} If shutdown fails.
 *
 * @example
 * ```ts
 * import { shutdownWrite, socketPair } from "./socket.ts";
 * import { closeFd, readFd } from "./fd.ts";
 * const [a, b] = socketPair();
 * shutdownWrite(a);
 * if (readFd(b, new Uint8Array(1)) !== 0) throw new Error();
 * [a, b].forEach(closeFd);
 * ```
 */
export function shutdownWrite(socket: number): void {
  checked(syscall(SYS.shutdown, fdArg(socket, "socket"), 1n), "shutdown");
}
