/**
 * Raw system calls for the rest of platform/: the kernel's return value, and
 * `checked()` which turns `-errno` into a thrown {@linkcode Errno}.
 *
 * Arguments are BigInt so that V8 keeps the call on its fast path (a JS
 * number for a 64-bit parameter costs about 0.7 us more per call).
 *
 * @module
 */
import { Errno } from "./errno.ts";
import { native } from "./native_unsafe.ts";

/**
 * Makes a raw system call.
 *
 * @param nr The system call number (see sysno.ts).
 * @returns The kernel's result: a value, or `-errno` in -4095..-1.
 *
 * @example
 * ```ts
 * import { syscall } from "./syscall.ts";
 * import { SYS } from "./sysno.ts";
 * if (Number(syscall(SYS.getpid)) !== Deno.pid) throw new Error();
 * ```
 */
export function syscall(
  nr: number,
  a0 = 0n,
  a1 = 0n,
  a2 = 0n,
  a3 = 0n,
  a4 = 0n,
  a5 = 0n,
): bigint {
  return native().syscall(nr, a0, a1, a2, a3, a4, a5);
}

/**
 * Makes a raw system call with a typed array as its second argument
 * (`read(fd, buf, n)`, `openat(dir, path, ...)`), without computing the
 * array's address in JavaScript.
 *
 * @param nr The system call number.
 * @param a0 The first argument.
 * @param buf The second argument.
 * @returns The kernel's result.
 *
 * @example
 * ```ts
 * import { syscallBuffer } from "./syscall.ts";
 * import { SYS } from "./sysno.ts";
 * const AT_FDCWD = -100n;
 * const root = new TextEncoder().encode("/\0");
 * if (syscallBuffer(SYS.faccessat, AT_FDCWD, root, 0n) !== 0n) throw new Error();
 * ```
 */
export function syscallBuffer(
  nr: number,
  a0: bigint,
  buf: Uint8Array,
  a2 = 0n,
  a3 = 0n,
  a4 = 0n,
  a5 = 0n,
): bigint {
  return native().syscallBuffer1(nr, a0, buf, a2, a3, a4, a5);
}

/**
 * Makes a raw system call on Deno's blocking thread pool, for calls that
 * wait (epoll_wait, waitid). About 20 us of overhead; never use it for
 * ptrace, whose requests must come from the tracing thread.
 *
 * @param nr The system call number.
 * @returns A promise of the kernel's result.
 *
 * @example
 * ```ts
 * import { syscallAsync } from "./syscall.ts";
 * import { SYS } from "./sysno.ts";
 * if (Number(await syscallAsync(SYS.getpid)) !== Deno.pid) throw new Error();
 * ```
 */
export function syscallAsync(
  nr: number,
  a0 = 0n,
  a1 = 0n,
  a2 = 0n,
  a3 = 0n,
  a4 = 0n,
  a5 = 0n,
): Promise<bigint> {
  return native().syscallAsync(nr, a0, a1, a2, a3, a4, a5);
}

/**
 * Returns a system call's result, or throws it as an {@linkcode Errno}.
 *
 * @param result What {@linkcode syscall} returned.
 * @param call What was being done, for the error (`open /etc/passwd`).
 * @returns The result as a number.
 * @throws {Errno} If the result is `-errno`.
 *
 * @example
 * ```ts
 * import { checked, syscall } from "./syscall.ts";
 * import { Errno } from "./errno.ts";
 * try {
 *   checked(syscall(3, 99999n), "close 99999");
 * } catch (e) {
 *   if (!(e instanceof Errno) || e.code !== "EBADF") throw e;
 * }
 * ```
 */
export function checked(result: bigint, call: string): number {
  if (result < 0n && result >= -4095n) throw new Errno(Number(-result), call);
  return Number(result);
}

/**
 * Like {@linkcode checked}, keeping the result a BigInt (addresses).
 *
 * @param result What {@linkcode syscall} returned.
 * @param call What was being done, for the error.
 * @returns The result.
 * @throws {Errno} If the result is `-errno`.
 *
 * @example
 * ```ts
 * import { checkedBig, syscall } from "./syscall.ts";
 * import { SYS } from "./sysno.ts";
 * if (checkedBig(syscall(SYS.getpid), "getpid") <= 0n) throw new Error();
 * ```
 */
export function checkedBig(result: bigint, call: string): bigint {
  if (result < 0n && result >= -4095n) throw new Errno(Number(-result), call);
  return result;
}
