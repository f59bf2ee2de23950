/**
 * Files that are host descriptors the sandbox was given: the container's
 * stdin, stdout and stderr (a terminal, pipes, files). Reads and writes
 * never block the Sentry: the descriptor is polled first and the task waits
 * for readiness through the host poller otherwise.
 *
 * @module
 */
import { closeQuietly, pollFd, readFd, writeFd } from "../../platform/fd.ts";
import { FileCalls } from "../../platform/files.ts";
import { LinuxError, type WaitQueue, WouldBlock } from "../errors.ts";
import {
  type FileSystem,
  Inode,
  OpenFile,
  POLL,
  PseudoFs,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  type Stat,
} from "./inode.ts";

/** Waits for host descriptors to become ready (the kernel's event loop). */
export interface HostPoller {
  /**
   * A queue notified once when `fd` is ready for `events`.
   *
   * @param fd The host descriptor.
   * @param events POLL.IN or POLL.OUT.
   * @returns The queue.
   */
  queue(fd: number, events: number): WaitQueue;
  /** Forgets a descriptor about to be closed (its waiters try again). */
  forget?(fd: number): void;
}

const HOST_FD_FS = new PseudoFs("hostfd", 0x0fn);
const calls = new FileCalls();

/** A host descriptor seen as an inode. */
export class HostFdInode extends Inode {
  readonly fs: FileSystem = HOST_FD_FS;
  /** The descriptor. */
  readonly fd: number;

  /**
   * Wraps a descriptor (owned: closed when the last open file goes).
   *
   * @param fd The descriptor.
   */
  constructor(fd: number) {
    super();
    this.fd = fd;
  }

  stat(): Stat {
    return calls.statFd(this.fd);
  }

  /** A host socket shows as Linux names sockets, `socket:[ino]` (the host's inode: /proc/net's rows name it). */
  override readlink(): string {
    const st = this.stat();
    if ((st.mode & S_IFMT) !== S_IFSOCK) throw new LinuxError("EINVAL");
    return `socket:[${st.ino}]`;
  }

  open(flags: number): OpenFile {
    throw new LinuxError("ENXIO", `reopen of host descriptor ${this.fd} with ${flags}`);
  }
}

/** An open host descriptor. */
export class HostFdFile extends OpenFile {
  readonly #fd: number;
  readonly #poller: HostPoller;
  readonly #regular: boolean;

  /**
   * Wraps a host descriptor.
   *
   * @param fd The descriptor (owned).
   * @param flags Open flags as the application sees them.
   * @param poller Waits for readiness.
   */
  constructor(fd: number, flags: number, poller: HostPoller) {
    const inode = new HostFdInode(fd);
    super(inode, flags);
    this.#fd = fd;
    this.#poller = poller;
    this.#regular = (inode.stat().mode & S_IFMT) === S_IFREG;
  }

  /** @returns For a regular file: writes go to the descriptor at once. */
  override get copiesWrites(): boolean {
    return this.#regular;
  }

  /** The host descriptor (for subclasses' ioctls). */
  protected get hostFd(): number {
    return this.#fd;
  }

  override read(buf: Uint8Array, offset: bigint | null): number {
    if (offset !== null && !this.#regular) throw new LinuxError("ESPIPE");
    if (!this.#regular && (pollFd(this.#fd, POLL.IN) & (POLL.IN | POLL.HUP | POLL.ERR)) === 0) {
      if (this.flags & 0o4000) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.#poller.queue(this.#fd, POLL.IN)]);
    }
    return readFd(this.#fd, buf);
  }

  override write(data: Uint8Array, offset: bigint | null): number {
    if (offset !== null && !this.#regular) throw new LinuxError("ESPIPE");
    if (!this.#regular) {
      const ready = pollFd(this.#fd, POLL.OUT);
      if (ready & POLL.ERR) throw new LinuxError("EPIPE");
      if ((ready & POLL.OUT) === 0) {
        if (this.flags & 0o4000) throw new LinuxError("EAGAIN");
        throw new WouldBlock([this.#poller.queue(this.#fd, POLL.OUT)]);
      }
      // Ready means room for at least PIPE_BUF bytes: never block the Sentry.
      return writeFd(this.#fd, data.subarray(0, 4096));
    }
    return writeFd(this.#fd, data);
  }

  override poll(): { events: number; queue: WaitQueue | null } {
    const bits = pollFd(this.#fd, POLL.IN | POLL.OUT);
    // Wait for what this descriptor is for: a terminal is always writable,
    // so "anything ready" would never wait for input.
    const access = this.flags & 3;
    const want = access === 1 ? POLL.OUT : access === 0 || !(bits & POLL.IN) ? POLL.IN : POLL.OUT;
    const done = bits & (want | POLL.HUP | POLL.ERR);
    return { events: bits, queue: done ? null : this.#poller.queue(this.#fd, want) };
  }

  protected override release(): void {
    this.#poller.forget?.(this.#fd);
    closeQuietly(this.#fd);
  }
}
