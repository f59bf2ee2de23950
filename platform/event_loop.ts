/**
 * The event loop a thread blocks in: one epoll set watching descriptors,
 * process exits (pidfds) and timers (timerfds), plus an eventfd through
 * which any other thread can wake the waiter.
 *
 * A Worker blocks in {@linkcode EventLoop.waitSync}; the main thread awaits
 * {@linkcode EventLoop.wait}, which waits on Deno's blocking thread pool.
 * Another thread wakes either with {@linkcode wake}, given the serialisable
 * {@linkcode WakerInfo} from {@linkcode EventLoop.waker} (sent with
 * postMessage; each thread loads its own FFI handle).
 *
 * @module
 */
import { Arena } from "./arena_unsafe.ts";
import { fdArg } from "./checks.ts";
import { EPOLL, epollAdd, epollCreate, epollDelete, EpollEvents, epollModify } from "./epoll.ts";
import { epollMask, epollTimeout, epollWait, epollWaitAsync } from "./epoll.ts";
import { eventfdCreate, eventfdRead, eventfdSignal } from "./eventfd.ts";
import { closeQuietly } from "./fd.ts";
import { checkTimerArgs, timerfdArm, timerfdCreate, timerfdRead } from "./timerfd.ts";

/** One thing that happened, from {@linkcode EventLoop.wait}. */
export interface LoopEvent {
  /** The token given to watch, watchPidfd or addTimer. */
  token: number;
  /** `EPOLL.*` bits that were ready (`EPOLL.IN` for a timer or an exited process). */
  events: number;
  /** For a timer, how often it expired since it was last reported; else 0. */
  expirations: number;
}

/** What one wait returned. */
export interface WaitResult {
  /** True if another thread called {@linkcode wake} (or the loop was closed during the wait). */
  woken: boolean;
  /** The ready descriptors, exited processes and expired timers. */
  events: LoopEvent[];
}

/**
 * What another thread needs to wake a loop: the eventfd's number and a
 * shared word saying whether the loop is still open. Plain data, so it can
 * be sent with postMessage.
 */
export interface WakerInfo {
  /** The loop's eventfd. */
  readonly fd: number;
  /** `[closed flag, wakers in progress]` as two shared 32-bit words. */
  readonly state: SharedArrayBuffer;
}

/** Options of an {@linkcode EventLoop}. */
export interface EventLoopOptions {
  /** The most events one wait returns (1 to 65536, default 64). */
  maxEvents?: number;
}

const CLOSED = 0;
const WAKERS = 1;
const WAKE_SERIAL = 0;

type Kind = "fd" | "pidfd" | "timer";

interface Entry {
  kind: Kind;
  fd: number;
  token: number;
  timer?: LoopTimer;
  oneShot?: boolean;
}

/**
 * A timer added with {@linkcode EventLoop.addTimer}. A one-shot timer is
 * removed by itself once its expiration was reported; cancel (or dispose)
 * an interval timer to stop it.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./event_loop.ts";
 * using loop = new EventLoop();
 * using timer = loop.addTimer(60_000, 1);
 * timer.cancel();
 * if (timer.active) throw new Error("expected a cancelled timer");
 * ```
 */
export class LoopTimer {
  /** The token reported when the timer expires. */
  readonly token: number;
  #cancel: (() => void) | null;

  /**
   * Made by {@linkcode EventLoop.addTimer}.
   *
   * @param token The timer's token.
   * @param cancel Removes the timer from its loop.
   * @internal
   */
  constructor(token: number, cancel: () => void) {
    this.token = token;
    this.#cancel = cancel;
  }

  /** False once the timer was cancelled, fired for the last time, or its loop closed. */
  get active(): boolean {
    return this.#cancel !== null;
  }

  /** Stops the timer and frees its descriptor. Idempotent. */
  cancel(): void {
    const cancel = this.#cancel;
    this.#cancel = null;
    cancel?.();
  }

  /** Same as {@linkcode LoopTimer.cancel}, for `using`. */
  [Symbol.dispose](): void {
    this.cancel();
  }
}

/**
 * An epoll-based event loop that one thread waits in and any thread can wake.
 *
 * Watched descriptors and pidfds stay the caller's: the loop never closes
 * them, and the caller unwatches a descriptor before closing it. Timers'
 * descriptors belong to the loop. One wait at a time.
 *
 * @example
 * ```ts
 * import { EventLoop } from "./event_loop.ts";
 * using loop = new EventLoop();
 * loop.addTimer(5, 7);
 * const result = loop.waitSync(1000);
 * if (result.events[0]?.token !== 7 || result.events[0].expirations !== 1) throw new Error();
 * ```
 */
export class EventLoop {
  #epfd: number;
  #eventfd: number;
  #arena: Arena;
  #buffer: EpollEvents;
  #state: SharedArrayBuffer;
  #flags: Int32Array;
  #entries = new Map<number, Entry>();
  #byFd = new Map<number, number>();
  #nextSerial = WAKE_SERIAL + 1;
  #waiting = false;
  #closed = false;
  #released = false;

  /**
   * Creates the epoll set and the wake eventfd (both close-on-exec).
   *
   * @param options The largest batch of events per wait.
   * @throws {TypeError} If `options` is not an object.
   * @throws {RangeError} If `maxEvents` is out of range.
   * @throws {Errno} If a descriptor cannot be created (EMFILE).
   */
  constructor(options: EventLoopOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Invalid event loop options: pass an object such as { maxEvents: 64 }");
    }
    const maxEvents = options.maxEvents ?? 64;
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
      throw new RangeError(`Invalid maxEvents ${maxEvents}: use an integer from 1 to 65536`);
    }
    this.#state = new SharedArrayBuffer(8);
    this.#flags = new Int32Array(this.#state);
    this.#arena = new Arena(maxEvents * 12);
    let epfd = -1;
    let eventfd = -1;
    try {
      this.#buffer = new EpollEvents(this.#arena, maxEvents);
      epfd = epollCreate();
      eventfd = eventfdCreate({ nonblock: true });
      epollAdd(epfd, eventfd, EPOLL.IN, WAKE_SERIAL);
    } catch (e) {
      closeQuietly(epfd);
      closeQuietly(eventfd);
      this.#arena.dispose();
      throw e;
    }
    this.#epfd = epfd;
    this.#eventfd = eventfd;
  }

  /**
   * The epoll descriptor, for a thread that cannot block in
   * {@linkcode EventLoop.waitSync} itself (the tracer gives it to
   * `Machine.startDoorbell`). Only wait on it; never add or remove entries.
   */
  get epollFd(): number {
    this.#checkOpen();
    return this.#epfd;
  }

  /** True once {@linkcode EventLoop.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Watches a descriptor; the loop reports `token` while it is ready
   * (level-triggered unless `EPOLL.ET` or `EPOLL.ONESHOT` is in `events`).
   *
   * @param fd The descriptor; it stays the caller's.
   * @param events `EPOLL.*` bits to wait for (ERR and HUP always count).
   * @param token A safe integer reported with its events.
   * @throws {TypeError} If `token` is not a number.
   * @throws {RangeError} If `fd`, `events` or `token` is out of range.
   * @throws {Error} If the loop is closed.
   * @throws {Errno} If epoll_ctl fails (EEXIST: already watched; EPERM: a regular file).
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * import { EPOLL } from "./epoll.ts";
   * import { closeFd, pipe, writeFd } from "./fd.ts";
   * const [r, w] = pipe();
   * using loop = new EventLoop();
   * loop.watch(r, EPOLL.IN, 3);
   * writeFd(w, new Uint8Array([1]));
   * if (loop.waitSync(1000).events[0]?.token !== 3) throw new Error();
   * loop.unwatch(r);
   * closeFd(r);
   * closeFd(w);
   * ```
   */
  watch(fd: number, events: number, token: number): void {
    this.#add("fd", fd, events, token);
  }

  /**
   * Changes the events a watched descriptor waits for (and re-arms an
   * `EPOLL.ONESHOT` watch).
   *
   * @param fd A descriptor given to {@linkcode EventLoop.watch}.
   * @param events The new `EPOLL.*` bits.
   * @throws {RangeError} If `fd` is not watched by this loop or `events` is out of range.
   * @throws {Error} If the loop is closed.
   * @throws {Errno} If epoll_ctl fails.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * import { EPOLL } from "./epoll.ts";
   * import { closeFd, pipe } from "./fd.ts";
   * const [r, w] = pipe();
   * using loop = new EventLoop();
   * loop.watch(w, EPOLL.OUT, 1);
   * loop.modify(w, 0);
   * if (loop.waitSync(0).events.length !== 0) throw new Error("expected nothing");
   * loop.unwatch(w);
   * closeFd(r);
   * closeFd(w);
   * ```
   */
  modify(fd: number, events: number): void {
    this.#checkOpen();
    fdArg(fd);
    const serial = this.#byFd.get(fd);
    const entry = serial === undefined ? undefined : this.#entries.get(serial);
    if (serial === undefined || entry?.kind !== "fd") {
      throw new RangeError(`Descriptor ${fd} is not watched by this loop: watch it first`);
    }
    epollModify(this.#epfd, fd, events, serial);
  }

  /**
   * Watches a pidfd: `token` is reported once, with `EPOLL.IN`, when the
   * process exits (it still has to be reaped). The watch then ends.
   *
   * @param pidfd The process's pidfd; it stays the caller's.
   * @param token A safe integer reported when the process exits.
   * @throws {TypeError} If `token` is not a number.
   * @throws {RangeError} If `pidfd` or `token` is out of range.
   * @throws {Error} If the loop is closed.
   * @throws {Errno} If epoll_ctl fails (EEXIST: already watched).
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * import { spawn } from "./spawn.ts";
   * using child = spawn({ path: "/bin/busybox", args: ["true"] });
   * using loop = new EventLoop();
   * loop.watchPidfd(child.pidfd, 9);
   * if (loop.waitSync(5000).events[0]?.token !== 9) throw new Error();
   * if (child.waitSync().code !== 0) throw new Error();
   * ```
   */
  watchPidfd(pidfd: number, token: number): void {
    this.#add("pidfd", pidfd, EPOLL.IN | EPOLL.ONESHOT, token);
  }

  /**
   * Stops watching a descriptor or pidfd. A descriptor that was already
   * closed is simply forgotten.
   *
   * @param fd The descriptor.
   * @returns False if this loop was not watching it.
   * @throws {RangeError} If `fd` is not a valid descriptor number.
   * @throws {Error} If the loop is closed.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * using loop = new EventLoop();
   * if (loop.unwatch(0)) throw new Error("stdin was never watched");
   * ```
   */
  unwatch(fd: number): boolean {
    this.#checkOpen();
    fdArg(fd);
    const serial = this.#byFd.get(fd);
    if (serial === undefined) return false;
    const entry = this.#entries.get(serial);
    if (entry?.kind === "timer") return false;
    this.#forget(serial);
    return true;
  }

  /**
   * Adds a CLOCK_MONOTONIC timer: `token` is reported after `ms`, then
   * every `intervalMs` if given, with the number of expirations since the
   * last report.
   *
   * @param ms Milliseconds to the first expiration (more than 0).
   * @param token A safe integer reported when the timer expires.
   * @param intervalMs Milliseconds between later expirations; 0 for once.
   * @returns The timer's handle, to cancel it.
   * @throws {TypeError} If an argument is not a number.
   * @throws {RangeError} If an argument is out of range.
   * @throws {Error} If the loop is closed.
   * @throws {Errno} If the timerfd cannot be created (EMFILE).
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * using loop = new EventLoop();
   * using ticker = loop.addTimer(1, 5, 1);
   * Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // sleep 10 ms
   * const [tick] = loop.waitSync(1000).events;
   * if (tick?.token !== 5 || tick.expirations < 2 || !ticker.active) throw new Error();
   * ```
   */
  addTimer(ms: number, token: number, intervalMs = 0): LoopTimer {
    this.#checkOpen();
    checkTimerArgs(ms, intervalMs);
    tokenArg(token);
    const fd = timerfdCreate({ nonblock: true });
    let serial = -1;
    try {
      serial = this.#register("timer", fd, EPOLL.IN, token);
      timerfdArm(fd, ms, intervalMs);
    } catch (e) {
      if (serial >= 0) this.#forget(serial);
      closeQuietly(fd);
      throw e;
    }
    const timer = new LoopTimer(token, () => this.#removeTimer(serial));
    const entry = this.#entries.get(serial)!;
    entry.timer = timer;
    entry.oneShot = intervalMs === 0;
    return timer;
  }

  /**
   * Blocks the calling thread until something is ready, another thread
   * wakes the loop, or the timeout passes. For Workers; the main thread
   * uses {@linkcode EventLoop.wait}.
   *
   * @param timeoutMs Milliseconds (fractions round up); -1 or `Infinity`
   *   (the default) to wait without a timeout; 0 to poll.
   * @returns What happened; no events and `woken: false` on timeout.
   * @throws {TypeError} If the timeout is not a number.
   * @throws {RangeError} If the timeout is NaN, negative or too large.
   * @throws {Error} If the loop is closed or already waiting.
   * @throws {Errno} If epoll_wait fails.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * using loop = new EventLoop();
   * loop.wake();
   * const result = loop.waitSync(1000);
   * if (!result.woken || result.events.length !== 0) throw new Error();
   * if (loop.waitSync(0).woken) throw new Error("a wake is reported once");
   * ```
   */
  waitSync(timeoutMs = -1): WaitResult {
    this.#checkOpen();
    epollTimeout(timeoutMs);
    this.#checkIdle();
    this.#waiting = true;
    let n: number;
    try {
      n = epollWait(this.#epfd, this.#buffer, timeoutMs);
    } finally {
      this.#waiting = false;
    }
    return this.#collect(n);
  }

  /**
   * Waits on Deno's blocking thread pool until something is ready, the
   * loop is woken (by {@linkcode wake}, {@linkcode EventLoop.wake} or
   * {@linkcode EventLoop.close}), or the timeout passes; this thread's
   * event loop keeps running meanwhile.
   *
   * @param timeoutMs Milliseconds (fractions round up); -1 or `Infinity`
   *   (the default) to wait without a timeout; 0 to poll.
   * @returns A promise of what happened; closing the loop during the wait
   *   resolves it with `woken: true` and no events.
   * @throws {TypeError} If the timeout is not a number.
   * @throws {RangeError} If the timeout is NaN, negative or too large.
   * @throws {Error} If the loop is closed or already waiting.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * using loop = new EventLoop();
   * const waiting = loop.wait(5000);
   * setTimeout(() => loop.wake(), 10);
   * if (!(await waiting).woken) throw new Error("expected a wake");
   * ```
   */
  async wait(timeoutMs = -1): Promise<WaitResult> {
    this.#checkOpen();
    epollTimeout(timeoutMs);
    this.#checkIdle();
    this.#waiting = true;
    let n: number;
    try {
      n = await epollWaitAsync(this.#epfd, this.#buffer, timeoutMs);
    } finally {
      this.#waiting = false;
      if (this.#closed) this.#release();
    }
    if (this.#closed) return { woken: true, events: [] };
    return this.#collect(n);
  }

  /**
   * Returns what another thread needs to wake this loop with {@linkcode wake}.
   *
   * @returns Plain data to send with postMessage.
   * @throws {Error} If the loop is closed.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * using loop = new EventLoop();
   * const info = structuredClone(loop.waker());
   * if (!Number.isInteger(info.fd)) throw new Error();
   * ```
   */
  waker(): WakerInfo {
    this.#checkOpen();
    return { fd: this.#eventfd, state: this.#state };
  }

  /**
   * Wakes this loop from the thread that owns it (a wait in progress, or
   * the next one, returns with `woken: true`).
   *
   * @throws {Error} If the loop is closed.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * using loop = new EventLoop();
   * loop.wake();
   * loop.wake();
   * if (!loop.waitSync(0).woken) throw new Error();
   * ```
   */
  wake(): void {
    this.#checkOpen();
    eventfdSignal(this.#eventfd);
  }

  /**
   * Closes the loop: cancels its timers and closes its own descriptors
   * (watched ones stay open). A wait in progress on the thread pool is
   * woken and resolves with `woken: true`; the memory it uses is freed once
   * it returned. Later {@linkcode wake} calls from other threads return
   * false. Idempotent.
   *
   * @example
   * ```ts
   * import { EventLoop } from "./event_loop.ts";
   * const loop = new EventLoop();
   * loop.close();
   * loop.close();
   * if (!loop.closed) throw new Error();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#flags, CLOSED, 1);
    for (;;) {
      const busy = Atomics.load(this.#flags, WAKERS);
      if (busy === 0) break;
      Atomics.wait(this.#flags, WAKERS, busy, 1);
    }
    if (this.#waiting) {
      eventfdSignal(this.#eventfd);
    } else {
      this.#release();
    }
  }

  /** Same as {@linkcode EventLoop.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("The event loop is closed: create a new one");
  }

  #checkIdle(): void {
    if (this.#waiting) {
      throw new Error("The event loop is already waiting: only one wait at a time");
    }
  }

  #add(kind: Kind, fd: number, events: number, token: number): void {
    this.#checkOpen();
    fdArg(fd, kind === "pidfd" ? "pidfd" : "file descriptor");
    epollMask(events);
    tokenArg(token);
    this.#register(kind, fd, events, token);
  }

  #register(kind: Kind, fd: number, events: number, token: number): number {
    const serial = this.#nextSerial++;
    epollAdd(this.#epfd, fd, events, serial);
    const stale = this.#byFd.get(fd);
    // The number was watched before and closed without unwatch; the kernel
    // already dropped that registration.
    if (stale !== undefined) this.#entries.delete(stale);
    this.#entries.set(serial, { kind, fd, token });
    this.#byFd.set(fd, serial);
    return serial;
  }

  #forget(serial: number): void {
    const entry = this.#entries.get(serial);
    if (!entry) return;
    this.#entries.delete(serial);
    if (this.#byFd.get(entry.fd) === serial) this.#byFd.delete(entry.fd);
    try {
      epollDelete(this.#epfd, entry.fd);
    } catch { /* closed by its owner already: the kernel removed it */ }
  }

  #removeTimer(serial: number): void {
    const entry = this.#entries.get(serial);
    if (!entry || this.#released) return;
    this.#forget(serial);
    closeQuietly(entry.fd);
  }

  #collect(n: number): WaitResult {
    const events: LoopEvent[] = [];
    let woken = false;
    for (let i = 0; i < n; i++) {
      const serial = Number(this.#buffer.data(i));
      const bits = this.#buffer.events(i);
      if (serial === WAKE_SERIAL) {
        eventfdRead(this.#eventfd);
        woken = true;
        continue;
      }
      const entry = this.#entries.get(serial);
      if (!entry) continue; // removed after the kernel reported it
      if (entry.kind === "timer") {
        const expirations = timerfdRead(entry.fd);
        if (expirations === 0) continue;
        events.push({ token: entry.token, events: bits, expirations });
        if (entry.oneShot) entry.timer?.cancel();
      } else {
        events.push({ token: entry.token, events: bits, expirations: 0 });
        if (entry.kind === "pidfd") this.#forget(serial);
      }
    }
    return { woken, events };
  }

  #release(): void {
    if (this.#released) return;
    for (const entry of [...this.#entries.values()]) entry.timer?.cancel();
    this.#released = true;
    this.#entries.clear();
    this.#byFd.clear();
    closeQuietly(this.#epfd);
    closeQuietly(this.#eventfd);
    this.#arena.dispose();
  }
}

/**
 * Wakes an {@linkcode EventLoop} owned by any thread: its wait in progress,
 * or its next one, returns with `woken: true`. Safe to call after the loop
 * was closed (the descriptor is not touched then).
 *
 * @param info What {@linkcode EventLoop.waker} returned (possibly in another thread).
 * @returns False if the loop was closed, else true.
 * @throws {TypeError} If `info` is not a waker.
 * @throws {RangeError} If its descriptor number is invalid.
 *
 * @example
 * ```ts
 * import { EventLoop, wake } from "./event_loop.ts";
 * const loop = new EventLoop();
 * const info = loop.waker();
 * if (!wake(info) || !loop.waitSync(1000).woken) throw new Error();
 * loop.close();
 * if (wake(info)) throw new Error("a closed loop cannot be woken");
 * ```
 */
export function wake(info: WakerInfo): boolean {
  if (typeof info !== "object" || info === null) {
    throw new TypeError("Invalid waker: pass what EventLoop.waker() returned");
  }
  if (!(info.state instanceof SharedArrayBuffer) || info.state.byteLength < 8) {
    throw new TypeError("Invalid waker: its state is not the loop's SharedArrayBuffer");
  }
  fdArg(info.fd, "waker descriptor");
  const flags = new Int32Array(info.state, 0, 2);
  Atomics.add(flags, WAKERS, 1);
  try {
    if (Atomics.load(flags, CLOSED) !== 0) return false;
    eventfdSignal(info.fd); // false only when the counter is full: already woken
    return true;
  } finally {
    if (Atomics.sub(flags, WAKERS, 1) === 1) Atomics.notify(flags, WAKERS);
  }
}

function tokenArg(token: number): void {
  if (typeof token !== "number") {
    throw new TypeError(`Invalid token: expected a number, got ${typeof token}`);
  }
  if (!Number.isSafeInteger(token)) {
    throw new RangeError(`Invalid token ${token}: use a safe integer`);
  }
}
