/**
 * timerfd: a timer as a file. It counts its expirations; read takes the
 * count (waiting while it is zero); poll shows IN once it has expired.
 * Times are kept on the Sentry's monotonic timeline; CLOCK_REALTIME
 * absolute times are converted when armed.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { AnonInode, O, OpenFile, POLL, PseudoFs } from "./inode.ts";

const TIMERFD_FS = new PseudoFs("[timerfd]", 0x12n);

/** Schedules a callback after `ms`; returns its cancel. */
export type Schedule = (ms: number, fn: () => void) => () => void;

/**
 * A timerfd.
 *
 * @example
 * ```ts
 * import { TimerFd } from "./timerfd.ts";
 * let fire = () => {};
 * const t = new TimerFd((_ms, fn) => (fire = fn, () => {}), 0);
 * t.arm(5, 0);
 * await new Promise((r) => setTimeout(r, 10));
 * fire();
 * const buf = new Uint8Array(8);
 * t.read(buf, null);
 * if (new DataView(buf.buffer).getBigUint64(0, true) < 1n) throw new Error();
 * ```
 */
export class TimerFd extends OpenFile {
  readonly #schedule: Schedule;
  #due: number | null = null;
  #interval = 0;
  #count = 0n;
  #cancel: () => void = () => {};
  /** Notified when it expires or is read. */
  readonly queue = new WaitQueue();

  /**
   * Makes one, disarmed.
   *
   * @param schedule The Sentry's timers.
   * @param flags O_NONBLOCK.
   */
  constructor(schedule: Schedule, flags: number) {
    super(new AnonInode(TIMERFD_FS), O.RDWR | (flags & O.NONBLOCK));
    this.#schedule = schedule;
  }

  /**
   * Arms (dueMs > 0 from now) or disarms it; the count is reset.
   *
   * @param dueMs Milliseconds to the first expiry (0: disarm).
   * @param intervalMs Then every this often (0: once).
   * @returns What was left of the old setting.
   */
  arm(dueMs: number, intervalMs: number): { value: number; interval: number } {
    const old = this.remaining();
    this.#cancel();
    this.#count = 0n;
    this.#interval = intervalMs;
    this.#due = dueMs > 0 ? performance.now() + dueMs : null;
    if (this.#due !== null) this.#wait();
    return old;
  }

  /** @returns Milliseconds to the next expiry (0: disarmed) and the interval. */
  remaining(): { value: number; interval: number } {
    return {
      value: this.#due === null ? 0 : Math.max(this.#due - performance.now(), 0.000001),
      interval: this.#interval,
    };
  }

  #wait(): void {
    const due = this.#due!;
    this.#cancel = this.#schedule(Math.max(due - performance.now(), 0), () => this.#fire());
  }

  #fire(): void {
    if (this.#due === null) return;
    const now = performance.now();
    if (now < this.#due) return this.#wait();
    const n = this.#interval > 0 ? Math.floor((now - this.#due) / this.#interval) + 1 : 1;
    this.#count += BigInt(n);
    if (this.#interval > 0) {
      this.#due += n * this.#interval;
      this.#wait();
    } else {
      this.#due = null;
    }
    this.queue.notify();
  }

  /** Takes the expiration count. */
  override read(buf: Uint8Array, _offset: bigint | null): number {
    if (buf.length < 8) throw new LinuxError("EINVAL");
    if (this.#count === 0n) {
      if (this.flags & O.NONBLOCK) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.queue]);
    }
    new DataView(buf.buffer, buf.byteOffset).setBigUint64(0, this.#count, true);
    this.#count = 0n;
    return 8;
  }

  /** @returns IN once expired. */
  override poll(): { events: number; queue: WaitQueue | null } {
    return { events: this.#count > 0n ? POLL.IN | POLL.RDNORM : 0, queue: this.queue };
  }

  protected override release(): void {
    this.#cancel();
    this.#due = null;
  }
}
