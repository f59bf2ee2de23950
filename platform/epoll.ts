/**
 * Thin typed wrappers over epoll: create a set, add, modify and delete
 * descriptors, and wait for events into a buffer in an {@linkcode Arena}
 * (so that a wait on Deno's blocking thread pool writes to memory V8 never
 * moves or frees).
 *
 * On x86-64 `struct epoll_event` is packed: 12 bytes, `u32 events` at 0 and
 * `u64 data` at 4.
 *
 * @module
 */
import { fdArg, intArg, wideIntArg } from "./checks.ts";
import { checked, syscall, syscallAsync } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { Arena } from "./arena_unsafe.ts";
import { addressOf } from "./native_unsafe.ts";

/** epoll event bits, for masks given to {@linkcode epollAdd} and read back from a wait. */
export const EPOLL = {
  /** Readable (for a pidfd: the process exited). */
  IN: 0x1,
  /** Urgent data (or a pty packet-mode change). */
  PRI: 0x2,
  /** Writable. */
  OUT: 0x4,
  /** An error is pending; always reported. */
  ERR: 0x8,
  /** Hung up (the peer closed); always reported. */
  HUP: 0x10,
  /** The peer shut down its writing half. */
  RDHUP: 0x2000,
  /** Wake only one of several epoll sets waiting on the same descriptor. */
  EXCLUSIVE: 0x10000000,
  /** Report once, then disable until re-armed with {@linkcode epollModify}. */
  ONESHOT: 0x40000000,
  /** Edge-triggered: report changes only, not ongoing readiness. */
  ET: 0x80000000,
} as const;

/** Bytes in one packed `struct epoll_event`. */
export const EPOLL_EVENT_SIZE = 12;
/** The most events one {@linkcode EpollEvents} buffer may hold. */
export const EPOLL_MAX_EVENTS = 65536;

const EPOLL_CLOEXEC = 0o2000000n;
const EPOLL_CTL_ADD = 1n;
const EPOLL_CTL_DEL = 2n;
const EPOLL_CTL_MOD = 3n;
const EINTR = -4n;
const TIMEOUT_MAX = 0x7fffffff;
const U64_MAX = 0xffffffffffffffffn;

/** Buffers a wait is writing to right now. */
const busy = new WeakSet<EpollEvents>();

/**
 * Room for the events one wait returns, allocated in an arena.
 *
 * Preconditions: the arena outlives the buffer and is not disposed while a
 * wait is in flight; one wait at a time per buffer (a second one throws).
 *
 * @example
 * ```ts
 * import { Arena } from "./arena_unsafe.ts";
 * import { EpollEvents } from "./epoll.ts";
 * using arena = new Arena(4096);
 * const events = new EpollEvents(arena, 16);
 * if (events.capacity !== 16 || events.address % 4n !== 0n) throw new Error();
 * ```
 */
export class EpollEvents {
  /** The arena holding the events. */
  readonly arena: Arena;
  /** Offset of the first event in the arena. */
  readonly offset: number;
  /** How many events fit. */
  readonly capacity: number;
  /** Address of the first event. */
  readonly address: bigint;

  /**
   * Allocates room for `capacity` events in `arena`.
   *
   * @param arena Where the events live.
   * @param capacity How many events fit (1 to {@linkcode EPOLL_MAX_EVENTS}).
   * @throws {TypeError} If `arena` is not an {@linkcode Arena}.
   * @throws {RangeError} If `capacity` is out of range or the arena is full.
   */
  constructor(arena: Arena, capacity = 64) {
    if (!(arena instanceof Arena)) {
      throw new TypeError("Invalid epoll event buffer: pass an Arena to allocate it in");
    }
    intArg(capacity, 1, EPOLL_MAX_EVENTS, "epoll event capacity");
    this.arena = arena;
    this.capacity = capacity;
    this.offset = arena.alloc(EPOLL_EVENT_SIZE * capacity, 8);
    this.address = arena.addr(this.offset);
  }

  /**
   * Returns the event bits of the `i`th event of the last wait.
   *
   * @param i The index, below what the wait returned.
   * @returns `EPOLL.*` bits.
   * @throws {RangeError} If `i` is outside the buffer.
   */
  events(i: number): number {
    return this.arena.view.getUint32(this.#at(i), true);
  }

  /**
   * Returns the data word of the `i`th event of the last wait.
   *
   * @param i The index, below what the wait returned.
   * @returns The data given to {@linkcode epollAdd}.
   * @throws {RangeError} If `i` is outside the buffer.
   */
  data(i: number): bigint {
    return this.arena.view.getBigUint64(this.#at(i) + 4, true);
  }

  #at(i: number): number {
    intArg(i, 0, this.capacity - 1, "epoll event index");
    return this.offset + EPOLL_EVENT_SIZE * i;
  }
}

/**
 * Creates an epoll set; it is always close-on-exec.
 *
 * @returns The epoll descriptor.
 * @throws {Errno} If epoll_create1 fails (EMFILE).
 *
 * @example
 * ```ts
 * import { epollCreate } from "./epoll.ts";
 * import { closeFd } from "./fd.ts";
 * closeFd(epollCreate());
 * ```
 */
export function epollCreate(): number {
  return checked(syscall(SYS.epoll_create1, EPOLL_CLOEXEC), "epoll_create1");
}

/**
 * Adds a descriptor to an epoll set.
 *
 * @param epfd The epoll set.
 * @param fd The descriptor to watch.
 * @param events `EPOLL.*` bits to wait for (ERR and HUP are always reported).
 * @param data A 64-bit word handed back with each of its events.
 * @throws {TypeError} If `data` is neither a number nor a bigint.
 * @throws {RangeError} If a descriptor, the mask or `data` is out of range.
 * @throws {Errno} If epoll_ctl fails (EEXIST: already in the set, EPERM:
 *   a regular file).
 *
 * @example
 * ```ts
 * import { EPOLL, epollAdd, epollCreate, epollDelete } from "./epoll.ts";
 * import { closeFd, pipe } from "./fd.ts";
 * const ep = epollCreate();
 * const [r, w] = pipe();
 * epollAdd(ep, r, EPOLL.IN, 7);
 * epollDelete(ep, r);
 * [ep, r, w].forEach(closeFd);
 * ```
 */
export function epollAdd(epfd: number, fd: number, events: number, data: number | bigint): void {
  control(epfd, EPOLL_CTL_ADD, fd, events, data, "add");
}

/**
 * Changes the events and data of a descriptor already in an epoll set
 * (and re-arms an `EPOLL.ONESHOT` registration).
 *
 * @param epfd The epoll set.
 * @param fd The watched descriptor.
 * @param events The new `EPOLL.*` bits.
 * @param data The new data word.
 * @throws {TypeError} If `data` is neither a number nor a bigint.
 * @throws {RangeError} If a descriptor, the mask or `data` is out of range.
 * @throws {Errno} If epoll_ctl fails (ENOENT: not in the set).
 *
 * @example
 * ```ts
 * import { EPOLL, epollAdd, epollCreate, epollModify } from "./epoll.ts";
 * import { closeFd, pipe } from "./fd.ts";
 * const ep = epollCreate();
 * const [r, w] = pipe();
 * epollAdd(ep, w, EPOLL.OUT, 1);
 * epollModify(ep, w, EPOLL.OUT | EPOLL.ONESHOT, 2);
 * [ep, r, w].forEach(closeFd);
 * ```
 */
export function epollModify(
  epfd: number,
  fd: number,
  events: number,
  data: number | bigint,
): void {
  control(epfd, EPOLL_CTL_MOD, fd, events, data, "modify");
}

/**
 * Removes a descriptor from an epoll set.
 *
 * @param epfd The epoll set.
 * @param fd The watched descriptor.
 * @throws {RangeError} If a descriptor is out of range.
 * @throws {Errno} If epoll_ctl fails (ENOENT: not in the set, EBADF: closed).
 *
 * @example
 * ```ts
 * import { epollCreate, epollDelete } from "./epoll.ts";
 * import { Errno } from "./errno.ts";
 * import { closeFd, pipe } from "./fd.ts";
 * const ep = epollCreate();
 * const [r, w] = pipe();
 * try {
 *   epollDelete(ep, r);
 *   throw new Error("the pipe was never added");
 * } catch (e) {
 *   if (!(e instanceof Errno) || e.code !== "ENOENT") throw e;
 * }
 * [ep, r, w].forEach(closeFd);
 * ```
 */
export function epollDelete(epfd: number, fd: number): void {
  const ep = fdArg(epfd, "epoll descriptor");
  const f = fdArg(fd);
  checked(syscall(SYS.epoll_ctl, ep, EPOLL_CTL_DEL, f, 0n), `epoll_ctl delete ${fd}`);
}

/**
 * Waits for events, blocking the calling thread (for a Worker, or with a
 * timeout of 0 to poll). A wait interrupted by a signal resumes with the
 * time that is left.
 *
 * @param epfd The epoll set.
 * @param buffer Where the events go.
 * @param timeoutMs Milliseconds to wait (fractions round up); -1 or
 *   `Infinity` to wait until an event.
 * @returns How many events are in `buffer`; 0 on timeout.
 * @throws {TypeError} If `buffer` is not an {@linkcode EpollEvents} or the
 *   timeout is not a number.
 * @throws {RangeError} If `epfd` or the timeout is out of range.
 * @throws {Error} If `buffer` is in use by another wait.
 * @throws {Errno} If epoll_wait fails (EINVAL: not an epoll descriptor).
 *
 * @example
 * ```ts
 * import { Arena } from "./arena_unsafe.ts";
 * import { EPOLL, epollAdd, epollCreate, EpollEvents, epollWait } from "./epoll.ts";
 * import { closeFd, pipe, writeFd } from "./fd.ts";
 * using arena = new Arena(4096);
 * const events = new EpollEvents(arena, 8);
 * const ep = epollCreate();
 * const [r, w] = pipe();
 * epollAdd(ep, r, EPOLL.IN, 42n);
 * if (epollWait(ep, events, 0) !== 0) throw new Error("nothing to read yet");
 * writeFd(w, new Uint8Array([1]));
 * if (epollWait(ep, events, 1000) !== 1 || events.data(0) !== 42n) throw new Error();
 * if ((events.events(0) & EPOLL.IN) === 0) throw new Error("expected EPOLLIN");
 * [ep, r, w].forEach(closeFd);
 * ```
 */
export function epollWait(epfd: number, buffer: EpollEvents, timeoutMs: number): number {
  const ep = fdArg(epfd, "epoll descriptor");
  checkBuffer(buffer);
  const timeout = epollTimeout(timeoutMs);
  const deadline = performance.now() + timeout;
  busy.add(buffer);
  try {
    let left = timeout;
    for (;;) {
      const r = syscall(SYS.epoll_wait, ep, buffer.address, BigInt(buffer.capacity), BigInt(left));
      if (r !== EINTR) return checked(r, "epoll_wait");
      if (timeout >= 0 && (left = Math.ceil(deadline - performance.now())) <= 0) return 0;
    }
  } finally {
    busy.delete(buffer);
  }
}

/**
 * Waits for events on Deno's blocking thread pool, so the calling thread's
 * event loop keeps running (for the main thread). The kernel writes into
 * `buffer`'s arena from another thread, which is why it must be an arena.
 *
 * @param epfd The epoll set.
 * @param buffer Where the events go; do not dispose its arena before the
 *   promise settles.
 * @param timeoutMs Milliseconds to wait (fractions round up); -1 or
 *   `Infinity` to wait until an event.
 * @returns A promise of how many events are in `buffer`; 0 on timeout.
 * @throws {TypeError} If `buffer` is not an {@linkcode EpollEvents} or the
 *   timeout is not a number.
 * @throws {RangeError} If `epfd` or the timeout is out of range.
 * @throws {Error} If `buffer` is in use by another wait.
 *
 * @example
 * ```ts
 * import { Arena } from "./arena_unsafe.ts";
 * import { EPOLL, epollAdd, epollCreate, EpollEvents, epollWaitAsync } from "./epoll.ts";
 * import { closeFd, pipe, writeFd } from "./fd.ts";
 * using arena = new Arena(4096);
 * const events = new EpollEvents(arena, 8);
 * const ep = epollCreate();
 * const [r, w] = pipe();
 * epollAdd(ep, r, EPOLL.IN, 5);
 * const waiting = epollWaitAsync(ep, events, 5000);
 * setTimeout(() => writeFd(w, new Uint8Array([1])), 10);
 * if (await waiting !== 1 || events.data(0) !== 5n) throw new Error();
 * [ep, r, w].forEach(closeFd);
 * ```
 */
export async function epollWaitAsync(
  epfd: number,
  buffer: EpollEvents,
  timeoutMs: number,
): Promise<number> {
  const ep = fdArg(epfd, "epoll descriptor");
  checkBuffer(buffer);
  const timeout = epollTimeout(timeoutMs);
  const deadline = performance.now() + timeout;
  busy.add(buffer);
  try {
    let left = timeout;
    for (;;) {
      const r = await syscallAsync(
        SYS.epoll_wait,
        ep,
        buffer.address,
        BigInt(buffer.capacity),
        BigInt(left),
      );
      if (r !== EINTR) return checked(r, "epoll_wait");
      if (timeout >= 0 && (left = Math.ceil(deadline - performance.now())) <= 0) return 0;
    }
  } finally {
    busy.delete(buffer);
  }
}

/**
 * Checks a wait timeout and converts it to epoll_wait's whole milliseconds.
 *
 * @param timeoutMs Milliseconds (fractions round up), or -1 / `Infinity`
 *   for no timeout.
 * @returns The timeout for epoll_wait: -1 or 0..2^31-1.
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is NaN, negative (other than -1) or too large.
 *
 * @example
 * ```ts
 * import { epollTimeout } from "./epoll.ts";
 * if (epollTimeout(1.2) !== 2 || epollTimeout(Infinity) !== -1) throw new Error();
 * ```
 */
export function epollTimeout(timeoutMs: number): number {
  if (typeof timeoutMs !== "number") {
    throw new TypeError(
      `Invalid timeout: expected a number of milliseconds, got ${typeof timeoutMs}`,
    );
  }
  if (timeoutMs === -1 || timeoutMs === Infinity) return -1;
  if (!(timeoutMs >= 0) || timeoutMs > TIMEOUT_MAX) {
    throw new RangeError(
      `Invalid timeout ${timeoutMs}: use milliseconds from 0 to ${TIMEOUT_MAX}, or -1 or Infinity to wait without one`,
    );
  }
  return Math.ceil(timeoutMs);
}

function checkBuffer(buffer: EpollEvents): void {
  if (!(buffer instanceof EpollEvents)) {
    throw new TypeError("Invalid epoll event buffer: pass an EpollEvents");
  }
  if (busy.has(buffer)) {
    throw new Error("The epoll event buffer is in use by another wait: give each waiter its own");
  }
}

function control(
  epfd: number,
  op: bigint,
  fd: number,
  events: number,
  data: number | bigint,
  what: string,
): void {
  const ep = fdArg(epfd, "epoll descriptor");
  const f = fdArg(fd);
  const mask = epollMask(events);
  const word = dataArg(data);
  if (ep === f) throw new RangeError("An epoll set cannot watch itself");
  const event = new Uint8Array(EPOLL_EVENT_SIZE);
  const view = new DataView(event.buffer);
  view.setUint32(0, mask, true);
  view.setBigUint64(4, word, true);
  checked(syscall(SYS.epoll_ctl, ep, op, f, addressOf(event)), `epoll_ctl ${what} ${fd}`);
}

/**
 * Checks an event mask. `EPOLL.IN | EPOLL.ET` is negative in JavaScript
 * (bitwise operators give signed 32-bit results), so signed values count too.
 *
 * @param events The mask.
 * @returns It as an unsigned 32-bit number.
 * @throws {RangeError} If it is not a 32-bit integer.
 *
 * @example
 * ```ts
 * import { EPOLL, epollMask } from "./epoll.ts";
 * if (epollMask(EPOLL.IN | EPOLL.ET) !== 0x80000001) throw new Error();
 * ```
 */
export function epollMask(events: number): number {
  if (!Number.isInteger(events) || events < -0x80000000 || events > 0xffffffff) {
    throw new RangeError(
      `Invalid epoll event mask ${events}: use EPOLL.* bits (a 32-bit integer)`,
    );
  }
  return events >>> 0;
}

function dataArg(data: number | bigint): bigint {
  return wideIntArg(data, 0n, U64_MAX, "epoll data");
}
