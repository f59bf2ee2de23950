/**
 * timerfd on CLOCK_MONOTONIC: a timer that makes a descriptor readable when
 * it expires, so it can sit in an epoll set beside everything else.
 *
 * @module
 */
import { fdArg } from "./checks.ts";
import { checked, syscall, syscallBuffer } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";

const CLOCK_MONOTONIC = 1n;
const TFD_NONBLOCK = 0o4000;
const TFD_CLOEXEC = 0o2000000;
const EINTR = -4n;
const EAGAIN = -11n;
/** The longest delay or interval accepted, in milliseconds (about 317 years). */
export const TIMER_MAX_MS = 1e13;

/** How a timerfd behaves. */
export interface TimerfdOptions {
  /** Reading an unexpired timer returns 0 instead of blocking. */
  nonblock?: boolean;
}

/** What is left of an armed timer, from {@linkcode timerfdGet}. */
export interface TimerState {
  /** Milliseconds until the next expiration; 0 when disarmed. */
  remainingMs: number;
  /** The interval in milliseconds; 0 for a one-shot timer. */
  intervalMs: number;
}

/**
 * Creates a disarmed CLOCK_MONOTONIC timerfd; it is always close-on-exec.
 *
 * @param options Whether reads are non-blocking.
 * @returns The descriptor.
 * @throws {TypeError} If `options` is not an object.
 * @throws {Errno} If timerfd_create fails (EMFILE).
 *
 * @example
 * ```ts
 * import { timerfdCreate, timerfdRead } from "./timerfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = timerfdCreate({ nonblock: true });
 * if (timerfdRead(fd) !== 0) throw new Error("a new timer has not expired");
 * closeFd(fd);
 * ```
 */
export function timerfdCreate(options: TimerfdOptions = {}): number {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Invalid timerfd options: pass an object such as { nonblock: true }");
  }
  const flags = TFD_CLOEXEC | (options.nonblock ? TFD_NONBLOCK : 0);
  return checked(syscall(SYS.timerfd_create, CLOCK_MONOTONIC, BigInt(flags)), "timerfd_create");
}

/**
 * Arms a timer to expire once after `ms`, then every `intervalMs` if given.
 * Re-arming replaces the previous setting and clears pending expirations.
 *
 * @param fd The timerfd.
 * @param ms Milliseconds until the first expiration: more than 0 (fractions
 *   allowed, down to a nanosecond), at most {@linkcode TIMER_MAX_MS}.
 * @param intervalMs Milliseconds between later expirations; 0 (the default)
 *   for a one-shot timer.
 * @throws {TypeError} If `ms` or `intervalMs` is not a number.
 * @throws {RangeError} If `fd`, `ms` or `intervalMs` is out of range.
 * @throws {Errno} If timerfd_settime fails (EINVAL: not a timerfd).
 *
 * @example
 * ```ts
 * import { timerfdArm, timerfdCreate, timerfdRead } from "./timerfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = timerfdCreate();
 * timerfdArm(fd, 5);
 * if (timerfdRead(fd) !== 1) throw new Error("expected one expiration");
 * closeFd(fd);
 * ```
 */
export function timerfdArm(fd: number, ms: number, intervalMs = 0): void {
  const f = fdArg(fd, "timerfd");
  const value = msArg(ms, "timer delay", false);
  const interval = msArg(intervalMs, "timer interval", true);
  settime(f, value, interval, `timerfd_settime ${fd}`);
}

/**
 * Disarms a timer; pending expirations that were not read are dropped.
 *
 * @param fd The timerfd.
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If timerfd_settime fails (EINVAL: not a timerfd).
 *
 * @example
 * ```ts
 * import { timerfdArm, timerfdCreate, timerfdDisarm, timerfdGet } from "./timerfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = timerfdCreate();
 * timerfdArm(fd, 60_000);
 * timerfdDisarm(fd);
 * if (timerfdGet(fd).remainingMs !== 0) throw new Error("expected a disarmed timer");
 * closeFd(fd);
 * ```
 */
export function timerfdDisarm(fd: number): void {
  settime(fdArg(fd, "timerfd"), [0n, 0n], [0n, 0n], `timerfd_settime ${fd}`);
}

/**
 * Reads how many times a timer expired since the last read, and resets
 * that count. A blocking timerfd waits for the next expiration (forever if
 * it is disarmed).
 *
 * @param fd The timerfd.
 * @returns The expirations; 0 when a non-blocking timer has not expired.
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If read fails (EINVAL: not a timerfd).
 *
 * @example
 * ```ts
 * import { timerfdArm, timerfdCreate, timerfdRead } from "./timerfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = timerfdCreate({ nonblock: true });
 * timerfdArm(fd, 1, 1);
 * Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // sleep 10 ms
 * if (timerfdRead(fd) < 2) throw new Error("expected several expirations");
 * closeFd(fd);
 * ```
 */
export function timerfdRead(fd: number): number {
  const f = fdArg(fd, "timerfd");
  const buf = new Uint8Array(8);
  for (;;) {
    const r = syscallBuffer(SYS.read, f, buf, 8n);
    if (r === EINTR) continue;
    if (r === EAGAIN) return 0;
    checked(r, `read timerfd ${fd}`);
    return Number(new DataView(buf.buffer).getBigUint64(0, true));
  }
}

/**
 * Reports what is left of a timer (`timerfd_gettime`).
 *
 * @param fd The timerfd.
 * @returns Time to the next expiration and the interval, in milliseconds.
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If timerfd_gettime fails (EINVAL: not a timerfd).
 *
 * @example
 * ```ts
 * import { timerfdArm, timerfdCreate, timerfdGet } from "./timerfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = timerfdCreate();
 * timerfdArm(fd, 60_000, 250);
 * const state = timerfdGet(fd);
 * if (state.intervalMs !== 250 || state.remainingMs <= 59_000) throw new Error();
 * closeFd(fd);
 * ```
 */
export function timerfdGet(fd: number): TimerState {
  const f = fdArg(fd, "timerfd");
  const spec = new BigInt64Array(4);
  checked(syscall(SYS.timerfd_gettime, f, addressOf(spec)), `timerfd_gettime ${fd}`);
  return {
    intervalMs: toMs(spec[0]!, spec[1]!),
    remainingMs: toMs(spec[2]!, spec[3]!),
  };
}

/**
 * Checks a timer's delay and interval the way {@linkcode timerfdArm} does,
 * for callers that must reject bad input before creating a timerfd.
 *
 * @param ms Milliseconds until the first expiration (more than 0).
 * @param intervalMs Milliseconds between later expirations (0: one-shot).
 * @throws {TypeError} If either is not a number.
 * @throws {RangeError} If either is out of range.
 *
 * @example
 * ```ts
 * import { checkTimerArgs } from "./timerfd.ts";
 * checkTimerArgs(10, 0);
 * try {
 *   checkTimerArgs(NaN, 0);
 *   throw new Error("NaN was accepted");
 * } catch (e) {
 *   if (!(e instanceof RangeError)) throw e;
 * }
 * ```
 */
export function checkTimerArgs(ms: number, intervalMs: number): void {
  msArg(ms, "timer delay", false);
  msArg(intervalMs, "timer interval", true);
}

/** A duration as `[seconds, nanoseconds]`. */
type Timespec = [bigint, bigint];

function settime(fd: bigint, value: Timespec, interval: Timespec, what: string): void {
  // struct itimerspec { timespec it_interval; timespec it_value; }
  const spec = new BigInt64Array([interval[0], interval[1], value[0], value[1]]);
  checked(syscall(SYS.timerfd_settime, fd, 0n, addressOf(spec), 0n), what);
}

function msArg(ms: number, what: string, zeroAllowed: boolean): Timespec {
  if (typeof ms !== "number") {
    throw new TypeError(`Invalid ${what}: expected a number of milliseconds, got ${typeof ms}`);
  }
  if (!Number.isFinite(ms) || ms < 0 || (!zeroAllowed && ms === 0) || ms > TIMER_MAX_MS) {
    const low = zeroAllowed ? "from 0" : "above 0";
    throw new RangeError(
      `Invalid ${what} ${ms}: use a number of milliseconds ${low} up to ${TIMER_MAX_MS}`,
    );
  }
  const whole = Math.floor(ms);
  const seconds = Math.floor(whole / 1000);
  let nanos = (whole % 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000);
  // A positive delay that rounds to nothing must not disarm the timer.
  if (!zeroAllowed && seconds === 0 && nanos === 0) nanos = 1;
  if (nanos >= 1_000_000_000) return [BigInt(seconds + 1), BigInt(nanos - 1_000_000_000)];
  return [BigInt(seconds), BigInt(nanos)];
}

function toMs(seconds: bigint, nanos: bigint): number {
  return Number(seconds) * 1000 + Number(nanos) / 1_000_000;
}
