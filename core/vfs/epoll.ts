/**
 * epoll instances: an interest list of descriptors, each with the events
 * asked for and the caller's data; level-triggered by default, edge-
 * triggered (EPOLLET: reported once per change of the file) and one-shot
 * (EPOLLONESHOT: reported once until EPOLL_CTL_MOD). Readiness comes from
 * each file's poll(); an instance is itself pollable (nested epoll).
 *
 * @module
 */
import { LinuxError, WaitQueue } from "../errors.ts";
import { AnonInode, O, OpenFile, POLL, PseudoFs } from "./inode.ts";

/** epoll_ctl's flags beyond the poll bits. */
export const EPOLL = {
  EXCLUSIVE: 1 << 28,
  WAKEUP: 1 << 29,
  ONESHOT: 1 << 30,
  ET: 2 ** 31,
} as const;

const EPOLL_FS = new PseudoFs("[eventpoll]", 0x10n);
/** One watched descriptor. */
interface Interest {
  fd: number;
  file: OpenFile;
  events: number;
  data: bigint;
  /** One-shot and reported: silent until modified. */
  disabled: boolean;
  /** Its file notified since the last report (edge-triggered). */
  changed: boolean;
  cancel: () => void;
}

/** An epoll instance. */
export class EpollFile extends OpenFile {
  readonly #interests = new Map<number, Interest>();
  /** Notified when a watched file may have become ready. */
  readonly queue = new WaitQueue();

  /**
   * Makes one (epoll_create1).
   */
  constructor() {
    super(new AnonInode(EPOLL_FS), O.RDWR);
  }
  override fdinfo(): string {
    return [...this.#interests.values()].map((i) => {
      const st = i.file.inode.stat();
      return `tfd: ${String(i.fd).padStart(8)} events: ${
        (i.events >>> 0).toString(16).padStart(8)
      } data: ${BigInt.asUintN(64, i.data).toString(16).padStart(16)}  pos:${i.file.offset} ino:${
        st.ino.toString(16)
      } sdev:${st.dev.toString(16)}\n`;
    }).join("");
  }

  #watch(i: Interest): void {
    const { queue } = i.file.poll();
    if (!queue) {
      i.cancel = () => {};
      return;
    }
    i.cancel = queue.subscribe(() => {
      i.changed = true;
      // Subscriptions fire once: watch again, then wake the waiters.
      if (this.#interests.get(i.fd) === i) this.#watch(i);
      this.queue.notify();
    });
  }

  /**
   * epoll_ctl.
   *
   * @param op 1 ADD, 2 DEL, 3 MOD.
   * @param fd The descriptor.
   * @param file Its file.
   * @param events What to watch for, with EPOLL flags.
   * @param data What to report with its events.
   */
  control(op: number, fd: number, file: OpenFile, events: number, data: bigint): void {
    if (file === this) throw new LinuxError("EINVAL");
    const t = file.inode.stat().mode & 0o170000;
    // Regular files and directories are always ready: Linux refuses them.
    if (t === 0o100000 || t === 0o040000) throw new LinuxError("EPERM");
    const existing = this.#interests.get(fd);
    const live = existing?.file === file ? existing : undefined;
    if (existing && !live) {
      // The descriptor now names another file: the old interest went with it.
      existing.cancel();
      this.#interests.delete(fd);
    }
    if (op === 1) {
      if (live) throw new LinuxError("EEXIST");
      if (file instanceof EpollFile && file.#watches(this)) throw new LinuxError("ELOOP");
      const i: Interest = {
        fd,
        file,
        events,
        data,
        disabled: false,
        changed: true,
        cancel: () => {},
      };
      this.#interests.set(fd, i);
      this.#watch(i);
    } else if (op === 2 || op === 3) {
      if (!live) throw new LinuxError("ENOENT");
      if (op === 2) {
        live.cancel();
        this.#interests.delete(fd);
      } else {
        if (events & EPOLL.EXCLUSIVE || live.events & EPOLL.EXCLUSIVE) {
          throw new LinuxError("EINVAL");
        }
        live.events = events;
        live.data = data;
        live.disabled = false;
        live.changed = true;
      }
    } else {
      throw new LinuxError("EINVAL");
    }
    this.queue.notify();
  }

  /** Whether this instance watches `other`, directly or through nested instances. */
  #watches(other: EpollFile, depth = 0): boolean {
    if (depth > 5) return true;
    for (const i of this.#interests.values()) {
      if (i.file === other) return true;
      if (i.file instanceof EpollFile && i.file.#watches(other, depth + 1)) return true;
    }
    return false;
  }

  /**
   * Collects ready events, consuming edge-triggered and one-shot ones.
   *
   * @param max At most this many.
   * @param stillOpen Whether a watched descriptor still names its file (closed ones are dropped).
   * @param consume Report them (epoll_wait), or only look (poll of the instance).
   * @returns Events and data.
   */
  collect(
    max: number,
    stillOpen: (fd: number, file: OpenFile) => boolean,
    consume = true,
  ): Array<{ events: number; data: bigint }> {
    const out: Array<{ events: number; data: bigint }> = [];
    for (const i of [...this.#interests.values()]) {
      if (out.length >= max) break;
      if (!stillOpen(i.fd, i.file)) {
        i.cancel();
        this.#interests.delete(i.fd);
        continue;
      }
      if (i.disabled) continue;
      const edge = (i.events & EPOLL.ET) !== 0;
      if (edge && !i.changed) continue;
      const got = i.file.poll().events & ((i.events & 0xffff) | POLL.ERR | POLL.HUP);
      if (!got) continue;
      out.push({ events: got, data: i.data });
      if (!consume) continue;
      if (edge) i.changed = false;
      if (i.events & EPOLL.ONESHOT) i.disabled = true;
    }
    return out;
  }

  /** @returns IN when some watched file is ready. */
  override poll(): { events: number; queue: WaitQueue | null } {
    const ready = this.collect(1, () => true, false).length > 0;
    return { events: ready ? POLL.IN | POLL.RDNORM : 0, queue: this.queue };
  }

  protected override release(): void {
    for (const i of this.#interests.values()) i.cancel();
    this.#interests.clear();
  }
}
