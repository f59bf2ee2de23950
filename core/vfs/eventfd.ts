/**
 * eventfd: a 64-bit counter as a file. write adds, read takes the whole
 * count (or one, in semaphore mode) and waits while it is zero; a write
 * that would pass the maximum waits for a read.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { AnonInode, O, OpenFile, POLL, PseudoFs } from "./inode.ts";

/** eventfd2's flags. */
export const EFD = { SEMAPHORE: 1, NONBLOCK: O.NONBLOCK, CLOEXEC: O.CLOEXEC } as const;

const MAX = 0xfffffffffffffffen;
const EVENTFD_FS = new PseudoFs("[eventfd]", 0x11n);

/**
 * An eventfd.
 *
 * @example
 * ```ts
 * import { EventFd } from "./eventfd.ts";
 * const e = new EventFd(2n, 0);
 * e.write(new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0]), null);
 * const buf = new Uint8Array(8);
 * e.read(buf, null);
 * if (new DataView(buf.buffer).getBigUint64(0, true) !== 5n) throw new Error();
 * ```
 */
export class EventFd extends OpenFile {
  #count: bigint;
  readonly #semaphore: boolean;
  /** Notified when the count changes. */
  readonly queue = new WaitQueue();

  /**
   * Makes one.
   *
   * @param initial The starting count.
   * @param flags EFD_SEMAPHORE, O_NONBLOCK.
   */
  constructor(initial: bigint, flags: number) {
    super(new AnonInode(EVENTFD_FS), O.RDWR | (flags & O.NONBLOCK));
    this.#count = initial;
    this.#semaphore = (flags & EFD.SEMAPHORE) !== 0;
  }

  override fdinfo(): string {
    return `eventfd-count: ${this.#count.toString(16).padStart(16)}\n`;
  }

  /** Takes the count (or one). */
  override read(buf: Uint8Array, _offset: bigint | null): number {
    if (buf.length < 8) throw new LinuxError("EINVAL");
    if (this.#count === 0n) {
      if (this.flags & O.NONBLOCK) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.queue]);
    }
    const v = this.#semaphore ? 1n : this.#count;
    this.#count -= v;
    new DataView(buf.buffer, buf.byteOffset).setBigUint64(0, v, true);
    this.queue.notify();
    return 8;
  }

  /** Adds to the count. */
  override write(data: Uint8Array, _offset: bigint | null): number {
    if (data.length < 8) throw new LinuxError("EINVAL");
    const v = new DataView(data.buffer, data.byteOffset).getBigUint64(0, true);
    if (v === 0xffffffffffffffffn) throw new LinuxError("EINVAL");
    if (this.#count + v > MAX) {
      if (this.flags & O.NONBLOCK) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.queue]);
    }
    this.#count += v;
    if (v) this.queue.notify();
    return 8;
  }

  /** @returns IN when the count is not zero, OUT while one more can be added. */
  override poll(): { events: number; queue: WaitQueue | null } {
    let bits = this.#count > 0n ? POLL.IN | POLL.RDNORM : 0;
    if (this.#count < MAX) bits |= POLL.OUT | POLL.WRNORM;
    return { events: bits, queue: this.queue };
  }

  /** The count (for /proc/PID/fdinfo). */
  get count(): bigint {
    return this.#count;
  }
}
