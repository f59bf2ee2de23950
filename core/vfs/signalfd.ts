/**
 * signalfd: the reader's pending signals in a mask, as a file. read takes
 * them (struct signalfd_siginfo, 128 bytes each) from the reading thread's
 * and its process's pending signals, waiting while there is none; poll
 * shows IN while one is pending. The signals are normally blocked, so
 * they stay pending for it.
 *
 * @module
 */
import { LinuxError, type WaitQueue, WouldBlock } from "../errors.ts";
import type { Task } from "../kernel/task.ts";
import { sigbit, UNBLOCKABLE } from "../kernel/signals.ts";
import { AnonInode, O, OpenFile, POLL, PseudoFs } from "./inode.ts";

const SIGNALFD_FS = new PseudoFs("[signalfd]", 0x13n);
/** sizeof(struct signalfd_siginfo). */
export const SIGINFO_SIZE = 128;

/** A signalfd. */
export class SignalFd extends OpenFile {
  /** The signals it reports (SIGKILL and SIGSTOP never). */
  mask: bigint;
  readonly #current: () => Task | null;

  /**
   * Makes one.
   *
   * @param current The task making the system call now (the reader).
   * @param mask The signals.
   * @param flags O_NONBLOCK.
   */
  constructor(current: () => Task | null, mask: bigint, flags: number) {
    super(new AnonInode(SIGNALFD_FS), O.RDWR | (flags & O.NONBLOCK));
    this.#current = current;
    this.mask = mask & ~UNBLOCKABLE;
  }

  #has(t: Task): boolean {
    return [...t.pending, ...t.process.pending].some((s) => (sigbit(s.sig) & this.mask) !== 0n);
  }

  override fdinfo(): string {
    return `sigmask:\t${this.mask.toString(16).padStart(16, "0")}\n`;
  }

  /** Takes pending signals of the mask, as many as fit. */
  override read(buf: Uint8Array, _offset: bigint | null): number {
    if (buf.length < SIGINFO_SIZE) throw new LinuxError("EINVAL");
    const t = this.#current();
    if (!t) throw new LinuxError("EINVAL");
    let n = 0;
    // The thread's own first, then its process's; lowest signal first, as Linux dequeues.
    for (const list of [t.pending, t.process.pending]) {
      const picks = list.filter((s) => (sigbit(s.sig) & this.mask) !== 0n)
        .sort((a, b) => a.sig - b.sig);
      for (const s of picks) {
        if (n + SIGINFO_SIZE > buf.length) break;
        list.splice(list.indexOf(s), 1);
        const v = new DataView(buf.buffer, buf.byteOffset + n, SIGINFO_SIZE);
        buf.fill(0, n, n + SIGINFO_SIZE);
        v.setUint32(0, s.sig, true);
        v.setInt32(8, s.code, true);
        v.setUint32(12, s.pid, true);
        v.setUint32(16, s.uid, true);
        if (s.status !== undefined) v.setInt32(40, s.status, true);
        if (s.value !== undefined) {
          // SI_TIMER: ssi_tid, ssi_overrun, ssi_int and ssi_ptr.
          v.setUint32(24, s.pid, true);
          v.setUint32(32, s.uid, true);
          v.setInt32(44, Number(BigInt.asIntN(32, s.value)), true);
          v.setBigUint64(48, s.value, true);
        }
        if (s.addr !== undefined) v.setBigUint64(72, s.addr, true);
        n += SIGINFO_SIZE;
      }
    }
    if (n > 0) return n;
    if (this.flags & O.NONBLOCK) throw new LinuxError("EAGAIN");
    throw new WouldBlock([t.signalArrived]);
  }

  /** @returns IN while a signal of the mask is pending for the caller. */
  override poll(): { events: number; queue: WaitQueue | null } {
    const t = this.#current();
    if (!t) return { events: 0, queue: null };
    return { events: this.#has(t) ? POLL.IN | POLL.RDNORM : 0, queue: t.signalArrived };
  }
}
