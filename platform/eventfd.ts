/**
 * eventfd: a kernel counter behind a descriptor. Writing adds to it and
 * makes it readable; reading returns it and resets it (or, in semaphore
 * mode, takes one). Used to wake a thread blocked in epoll.
 *
 * @module
 */
import { fdArg, intArg, wideIntArg } from "./checks.ts";
import { checked, syscall, syscallBuffer } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const EFD_SEMAPHORE = 1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const EINTR = -4n;
const EAGAIN = -11n;
/** The largest value the counter can hold (2^64 - 2). */
export const EVENTFD_MAX = 0xfffffffffffffffen;

/** How an eventfd behaves. */
export interface EventfdOptions {
  /** Each read takes 1 from the counter instead of all of it. */
  semaphore?: boolean;
  /** Reads of a zero counter and writes that would overflow fail instead of blocking. */
  nonblock?: boolean;
  /** The counter's starting value (0 to 2^32-1). */
  initial?: number;
}

/**
 * Creates an eventfd; it is always close-on-exec.
 *
 * @param options Semaphore mode, non-blocking mode and the starting value.
 * @returns The descriptor.
 * @throws {TypeError} If `options` is not an object.
 * @throws {RangeError} If `initial` is not an integer from 0 to 2^32-1.
 * @throws {Errno} If eventfd2 fails (EMFILE).
 *
 * @example
 * ```ts
 * import { eventfdCreate, eventfdRead } from "./eventfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = eventfdCreate({ initial: 2, nonblock: true });
 * if (eventfdRead(fd) !== 2n) throw new Error("expected the starting value");
 * if (eventfdRead(fd) !== 0n) throw new Error("expected an empty counter");
 * closeFd(fd);
 * ```
 */
export function eventfdCreate(options: EventfdOptions = {}): number {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Invalid eventfd options: pass an object such as { nonblock: true }");
  }
  const initial = intArg(options.initial ?? 0, 0, 0xffffffff, "eventfd starting value");
  const flags = EFD_CLOEXEC | (options.semaphore ? EFD_SEMAPHORE : 0) |
    (options.nonblock ? EFD_NONBLOCK : 0);
  return checked(syscall(SYS.eventfd2, initial, BigInt(flags)), "eventfd2");
}

/**
 * Adds to an eventfd's counter, waking whoever waits for it.
 *
 * @param fd The eventfd.
 * @param count What to add: an integer from 1 to 2^64-2 (number or bigint).
 * @returns True if added; false if the descriptor is non-blocking and the
 *   counter was too full to take it (a waiter is already woken then).
 * @throws {TypeError} If `count` is neither a number nor a bigint.
 * @throws {RangeError} If `fd` or `count` is out of range.
 * @throws {Errno} If write fails (EBADF, EINVAL: not an eventfd).
 *
 * @example
 * ```ts
 * import { eventfdCreate, eventfdRead, eventfdSignal } from "./eventfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = eventfdCreate();
 * eventfdSignal(fd);
 * eventfdSignal(fd, 4n);
 * if (eventfdRead(fd) !== 5n) throw new Error("expected 1 + 4");
 * closeFd(fd);
 * ```
 */
export function eventfdSignal(fd: number, count: number | bigint = 1): boolean {
  const f = fdArg(fd, "eventfd");
  const value = countArg(count);
  const buf = new Uint8Array(8);
  new DataView(buf.buffer).setBigUint64(0, value, true);
  for (;;) {
    const r = syscallBuffer(SYS.write, f, buf, 8n);
    if (r === EINTR) continue;
    if (r === EAGAIN) return false;
    checked(r, `write eventfd ${fd}`);
    return true;
  }
}

/**
 * Reads an eventfd: the whole counter (reset to 0), or 1 in semaphore mode.
 * A blocking eventfd waits while the counter is 0.
 *
 * @param fd The eventfd.
 * @returns The value read; 0n when a non-blocking eventfd's counter is 0
 *   (a successful read never yields 0, so 0n always means "nothing").
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If read fails (EBADF, EINVAL: not an eventfd).
 *
 * @example
 * ```ts
 * import { eventfdCreate, eventfdRead, eventfdSignal } from "./eventfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = eventfdCreate({ semaphore: true, nonblock: true });
 * eventfdSignal(fd, 2);
 * const got = [eventfdRead(fd), eventfdRead(fd), eventfdRead(fd)];
 * if (got.join() !== "1,1,0") throw new Error(got.join());
 * closeFd(fd);
 * ```
 */
export function eventfdRead(fd: number): bigint {
  const f = fdArg(fd, "eventfd");
  const buf = new Uint8Array(8);
  for (;;) {
    const r = syscallBuffer(SYS.read, f, buf, 8n);
    if (r === EINTR) continue;
    if (r === EAGAIN) return 0n;
    checked(r, `read eventfd ${fd}`);
    return new DataView(buf.buffer).getBigUint64(0, true);
  }
}

function countArg(count: number | bigint): bigint {
  return wideIntArg(count, 1n, EVENTFD_MAX, "eventfd count");
}
