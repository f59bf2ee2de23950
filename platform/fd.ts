/**
 * File descriptor basics on raw system calls: open, close, read, write,
 * pipes, dup, fcntl flags and ioctl. Every descriptor made here is
 * close-on-exec unless the caller asks otherwise.
 *
 * @module
 */
import { bytesArg, cString, fdArg, intArg, u64Arg } from "./checks.ts";
import { checked, syscall, syscallBuffer } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";

/** `open(2)` flags. */
export const O = {
  ACCMODE: 3,
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

const AT_FDCWD = -100n;
const F_DUPFD_CLOEXEC = 1030n;
const F_GETFD = 1n;
const F_SETFD = 2n;
const F_GETFL = 3n;
const F_SETFL = 4n;
const FD_CLOEXEC = 1n;

/**
 * Opens a file; the descriptor is always close-on-exec.
 *
 * @param path The path.
 * @param flags `O.*` flags.
 * @param mode Permission bits for a created file.
 * @returns The descriptor.
 * @throws {Errno} If open fails.
 *
 * @example
 * ```ts
 * import { closeFd, O, openFile } from "./fd.ts";
 * closeFd(openFile("/dev/null", O.RDWR));
 * ```
 */
export function openFile(path: string, flags: number, mode = 0o644): number {
  const p = cString(path, "path", 4095);
  intArg(flags, 0, 0x7fffffff, "open flags");
  intArg(mode, 0, 0o7777, "file mode");
  return checked(
    syscallBuffer(
      SYS.openat,
      AT_FDCWD,
      p,
      BigInt((flags | O.CLOEXEC) >>> 0),
      BigInt(mode),
    ),
    `open ${path}`,
  );
}

/**
 * Closes a descriptor.
 *
 * @param fd The descriptor.
 * @throws {Errno} If close fails (EBADF: it was not open).
 *
 * @example
 * ```ts
 * import { closeFd, pipe } from "./fd.ts";
 * const [r, w] = pipe();
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export function closeFd(fd: number): void {
  checked(syscall(SYS.close, fdArg(fd)), `close ${fd}`);
}

/**
 * Closes a descriptor, ignoring errors; for cleanup paths.
 *
 * @param fd The descriptor, or -1/undefined for none.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./fd.ts";
 * closeQuietly(-1);
 * ```
 */
export function closeQuietly(fd: number | undefined): void {
  if (fd === undefined || !Number.isInteger(fd) || fd < 0) return;
  syscall(SYS.close, BigInt(fd));
}

/**
 * Reads once into a buffer.
 *
 * @param fd The descriptor.
 * @param buf Where to read to.
 * @returns Bytes read, 0 at end of file.
 * @throws {Errno} If read fails (EAGAIN on an empty non-blocking descriptor).
 *
 * @example
 * ```ts
 * import { closeFd, O, openFile, readFd } from "./fd.ts";
 * const fd = openFile("/dev/zero", O.RDONLY);
 * if (readFd(fd, new Uint8Array(4)) !== 4) throw new Error();
 * closeFd(fd);
 * ```
 */
export function readFd(fd: number, buf: Uint8Array): number {
  bytesArg(buf, "read buffer");
  return checked(
    syscallBuffer(SYS.read, fdArg(fd), buf, BigInt(buf.length)),
    `read ${fd}`,
  );
}

/**
 * Writes once from a buffer.
 *
 * @param fd The descriptor.
 * @param buf What to write.
 * @returns Bytes written.
 * @throws {Errno} If write fails.
 *
 * @example
 * ```ts
 * import { closeFd, O, openFile, writeFd } from "./fd.ts";
 * const fd = openFile("/dev/null", O.WRONLY);
 * if (writeFd(fd, new Uint8Array(3)) !== 3) throw new Error();
 * closeFd(fd);
 * ```
 */
export function writeFd(fd: number, buf: Uint8Array): number {
  bytesArg(buf, "write buffer");
  return checked(
    syscallBuffer(SYS.write, fdArg(fd), buf, BigInt(buf.length)),
    `write ${fd}`,
  );
}

/**
 * Writes a whole buffer, retrying short writes and EINTR.
 *
 * @param fd The descriptor.
 * @param buf What to write.
 * @throws {Errno} If write fails.
 *
 * @example
 * ```ts
 * import { closeFd, O, openFile, writeAll } from "./fd.ts";
 * const fd = openFile("/dev/null", O.WRONLY);
 * writeAll(fd, new TextEncoder().encode("hello"));
 * closeFd(fd);
 * ```
 */
export function writeAll(fd: number, buf: Uint8Array): void {
  bytesArg(buf, "write buffer");
  let done = 0;
  while (done < buf.length) {
    const r = syscallBuffer(
      SYS.write,
      fdArg(fd),
      buf.subarray(done),
      BigInt(buf.length - done),
    );
    if (r === -4n) continue;
    done += checked(r, `write ${fd}`);
  }
}

/**
 * Reads until end of file.
 *
 * @param fd The descriptor (blocking).
 * @returns Everything read.
 * @throws {Errno} If read fails.
 *
 * @example
 * ```ts
 * import { closeFd, O, openFile, readAll } from "./fd.ts";
 * const fd = openFile("/proc/self/comm", O.RDONLY);
 * if (readAll(fd).length === 0) throw new Error();
 * closeFd(fd);
 * ```
 */
export function readAll(fd: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = new Uint8Array(65536);
    const r = syscallBuffer(SYS.read, fdArg(fd), chunk, 65536n);
    if (r === -4n) continue;
    const n = checked(r, `read ${fd}`);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Makes a pipe; both ends are close-on-exec.
 *
 * @param flags Extra `pipe2` flags (`O.NONBLOCK`).
 * @returns `[read end, write end]`.
 * @throws {Errno} If pipe2 fails.
 *
 * @example
 * ```ts
 * import { closeFd, pipe } from "./fd.ts";
 * const [r, w] = pipe();
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export function pipe(flags = 0): [number, number] {
  intArg(flags, 0, 0x7fffffff, "pipe2 flags");
  const fds = new Int32Array(2);
  checked(
    syscall(SYS.pipe2, addressOf(fds), BigInt((flags | O.CLOEXEC) >>> 0)),
    "pipe2",
  );
  return [fds[0]!, fds[1]!];
}

/**
 * Duplicates a descriptor onto the lowest free number >= `min`.
 *
 * @param fd The descriptor.
 * @param min The lowest acceptable number.
 * @returns The new, close-on-exec, descriptor.
 * @throws {Errno} If fcntl fails.
 *
 * @example
 * ```ts
 * import { closeFd, dupFd } from "./fd.ts";
 * const fd = dupFd(0, 100);
 * if (fd < 100) throw new Error();
 * closeFd(fd);
 * ```
 */
export function dupFd(fd: number, min = 0): number {
  return checked(
    syscall(
      SYS.fcntl,
      fdArg(fd),
      F_DUPFD_CLOEXEC,
      fdArg(min, "lowest descriptor"),
    ),
    `dup ${fd}`,
  );
}

/**
 * Duplicates a descriptor onto a given number (`dup3`).
 *
 * @param fd The descriptor.
 * @param target The number it must have.
 * @param cloexec Whether the copy is close-on-exec.
 * @throws {Errno} If dup3 fails.
 *
 * @example
 * ```ts
 * import { closeFd, dupTo } from "./fd.ts";
 * dupTo(0, 150, true);
 * closeFd(150);
 * ```
 */
export function dupTo(fd: number, target: number, cloexec: boolean): void {
  checked(
    syscall(
      SYS.dup3,
      fdArg(fd),
      fdArg(target),
      cloexec ? BigInt(O.CLOEXEC) : 0n,
    ),
    `dup3 ${fd} to ${target}`,
  );
}

/**
 * Turns `O_NONBLOCK` on or off.
 *
 * @param fd The descriptor.
 * @param on Whether it should be non-blocking.
 * @throws {Errno} If fcntl fails.
 *
 * @example
 * ```ts
 * import { closeFd, pipe, setNonblocking } from "./fd.ts";
 * const [r, w] = pipe();
 * setNonblocking(r, true);
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export function setNonblocking(fd: number, on: boolean): void {
  const flags = checked(syscall(SYS.fcntl, fdArg(fd), F_GETFL), `fcntl ${fd}`);
  const next = on ? flags | O.NONBLOCK : flags & ~O.NONBLOCK;
  checked(syscall(SYS.fcntl, fdArg(fd), F_SETFL, BigInt(next)), `fcntl ${fd}`);
}

/**
 * Turns close-on-exec on or off.
 *
 * @param fd The descriptor.
 * @param on Whether it should be closed at execve.
 * @throws {Errno} If fcntl fails.
 *
 * @example
 * ```ts
 * import { closeFd, isCloexec, pipe, setCloexec } from "./fd.ts";
 * const [r, w] = pipe();
 * setCloexec(r, false);
 * if (isCloexec(r)) throw new Error();
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export function setCloexec(fd: number, on: boolean): void {
  checked(
    syscall(SYS.fcntl, fdArg(fd), F_SETFD, on ? FD_CLOEXEC : 0n),
    `fcntl ${fd}`,
  );
}

/**
 * Reports whether a descriptor is close-on-exec.
 *
 * @param fd The descriptor.
 * @returns True if it is.
 * @throws {Errno} If fcntl fails (EBADF).
 *
 * @example
 * ```ts
 * import { closeFd, isCloexec, pipe } from "./fd.ts";
 * const [r, w] = pipe();
 * if (!isCloexec(r)) throw new Error();
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export function isCloexec(fd: number): boolean {
  return (checked(syscall(SYS.fcntl, fdArg(fd), F_GETFD), `fcntl ${fd}`) &
    1) !== 0;
}

/**
 * Issues an ioctl whose argument is a buffer (or an integer).
 *
 * @param fd The descriptor.
 * @param request The request number.
 * @param arg A buffer the kernel reads or fills, or an integer value.
 * @param what What is being done, for the error.
 * @returns The ioctl's non-negative result.
 * @throws {Errno} If the ioctl fails.
 *
 * @example
 * ```ts
 * import { closeFd, ioctl, O, openFile } from "./fd.ts";
 * import { Errno } from "./errno.ts";
 * const fd = openFile("/dev/null", O.RDONLY);
 * try {
 *   ioctl(fd, 0x5401, new Uint8Array(60), "TCGETS"); // not a tty
 * } catch (e) {
 *   if (!(e instanceof Errno) || e.code !== "ENOTTY") throw e;
 * }
 * closeFd(fd);
 * ```
 */
export function ioctl(
  fd: number,
  request: number,
  arg: Uint8Array | bigint,
  what = `ioctl 0x${request.toString(16)}`,
): number {
  intArg(request, 0, 0xffffffff, "ioctl request");
  const a = typeof arg === "bigint"
    ? u64Arg(arg, "ioctl argument")
    : addressOf(bytesArg(arg, "ioctl argument"));
  return checked(syscall(SYS.ioctl, fdArg(fd), BigInt(request), a), what);
}

/**
 * Polls one descriptor (`ppoll`).
 *
 * @param fd The descriptor.
 * @param events POLLIN (1), POLLOUT (4)...
 * @param timeoutMs How long to wait; 0 checks without waiting.
 * @returns The returned events (0 on timeout).
 *
 * @example
 * ```ts
 * import { closeFd, pipe, pollFd, writeFd } from "./fd.ts";
 * const [r, w] = pipe();
 * if (pollFd(r, 1) !== 0) throw new Error("empty pipe is not readable");
 * writeFd(w, new Uint8Array([1]));
 * if ((pollFd(r, 1) & 1) === 0) throw new Error();
 * closeFd(r);
 * closeFd(w);
 * ```
 */
export function pollFd(fd: number, events: number, timeoutMs = 0): number {
  intArg(events, 0, 0xffff, "poll events");
  intArg(timeoutMs, 0, 0x7fffffff, "poll timeout");
  const pfd = new Int32Array([fd, events]);
  const ts = new BigInt64Array([
    BigInt(Math.floor(timeoutMs / 1000)),
    BigInt((timeoutMs % 1000) * 1_000_000),
  ]);
  for (;;) {
    const r = syscall(SYS.ppoll, addressOf(pfd), 1n, addressOf(ts), 0n, 8n);
    if (r === -4n) continue;
    checked(r, `poll ${fd}`);
    return pfd[1]! >>> 16;
  }
}
