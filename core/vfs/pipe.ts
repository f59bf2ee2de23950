/**
 * Pipes and FIFOs: a bounded byte buffer with a read end and a write end,
 * blocking, PIPE_BUF atomicity, EOF when the last writer closes and EPIPE
 * (the caller raises SIGPIPE) when the last reader has.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import {
  type FileSystem,
  Inode,
  O,
  OpenFile,
  POLL,
  PseudoFs,
  pseudoStat,
  S_IFIFO,
  type Stat,
} from "./inode.ts";

/** Writes up to this size are atomic. */
export const PIPE_BUF = 4096;
/** Default capacity (16 pages, as Linux). */
export const PIPE_DEFAULT_SIZE = 65536;
/** The largest capacity F_SETPIPE_SZ accepts (/proc/sys/fs/pipe-max-size). */
export const PIPE_MAX_SIZE = 1048576;

/** The pipe buffer shared by both ends. */
export class Pipe {
  #chunks: Uint8Array[] = [];
  #length = 0;
  /** Capacity in bytes. */
  capacity = PIPE_DEFAULT_SIZE;
  /** Open read ends. */
  readers = 0;
  /** Open write ends. */
  writers = 0;
  /** Ends ever opened for writing (a FIFO reader sees EOF only after one). */
  hadWriter = false;
  /** Notified when data arrives or the last writer leaves. */
  readonly readable = new WaitQueue();
  /** Notified when room appears or the last reader leaves. */
  readonly writable = new WaitQueue();

  /** Bytes buffered. */
  get length(): number {
    return this.#length;
  }

  /**
   * Takes bytes.
   *
   * @param buf Where to.
   * @param nonblock Fail with EAGAIN instead of waiting.
   * @returns Bytes read; 0 at end of file.
   */
  read(buf: Uint8Array, nonblock: boolean): number {
    const n = this.peek(buf, nonblock);
    this.drop(n);
    return n;
  }

  /**
   * Copies buffered bytes without taking them (tee, splice from a pipe).
   *
   * @param buf Where to.
   * @param nonblock Fail with EAGAIN instead of waiting.
   * @returns Bytes copied; 0 at end of file.
   */
  peek(buf: Uint8Array, nonblock: boolean): number {
    if (buf.length === 0) return 0;
    if (this.#length === 0) {
      if (this.writers === 0) return 0;
      if (nonblock) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.readable]);
    }
    let n = 0;
    for (const c of this.#chunks) {
      if (n === buf.length) break;
      const take = Math.min(c.length, buf.length - n);
      buf.set(c.subarray(0, take), n);
      n += take;
    }
    return n;
  }

  /**
   * Discards bytes from the front.
   *
   * @param count How many (at most {@linkcode length}).
   */
  drop(count: number): void {
    let left = Math.min(count, this.#length);
    this.#length -= left;
    while (left > 0) {
      const c = this.#chunks[0]!;
      if (c.length <= left) {
        left -= c.length;
        this.#chunks.shift();
      } else {
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    if (count > 0) this.writable.notify();
  }

  /**
   * Adds bytes.
   *
   * @param data What to write.
   * @param nonblock Fail with EAGAIN instead of waiting.
   * @returns Bytes written.
   * @throws {LinuxError} EPIPE when no reader is left.
   */
  write(data: Uint8Array, nonblock: boolean): number {
    if (this.readers === 0) throw new LinuxError("EPIPE");
    if (data.length === 0) return 0;
    const room = this.capacity - this.#length;
    const atomic = data.length <= PIPE_BUF;
    if (room <= 0 || (atomic && room < data.length)) {
      if (nonblock) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.writable]);
    }
    const n = Math.min(room, data.length);
    this.#chunks.push(data.slice(0, n));
    this.#length += n;
    this.readable.notify();
    return n;
  }

  /**
   * poll(2) bits for one end.
   *
   * @param reader Whether it is the read end.
   * @returns The ready bits.
   */
  pollBits(reader: boolean): number {
    if (reader) {
      let bits = this.#length > 0 ? POLL.IN | POLL.RDNORM : 0;
      if (this.writers === 0 && this.hadWriter) bits |= POLL.HUP;
      return bits;
    }
    let bits = this.capacity - this.#length >= PIPE_BUF ? POLL.OUT | POLL.WRNORM : 0;
    if (this.readers === 0) bits |= POLL.ERR;
    return bits;
  }
}

let nextPipeIno = 1n;

/** The pseudo file system anonymous pipes live on (`pipe:[ino]`). */
const PIPE_FS = new PseudoFs("pipefs", 0x0dn);

/** The inode of an anonymous pipe. */
export class PipeInode extends Inode {
  readonly fs: FileSystem = PIPE_FS;
  /** The buffer. */
  readonly pipe = new Pipe();
  readonly #ino = nextPipeIno++;
  readonly #created = BigInt(Date.now()) * 1_000_000n;
  /** Owner, as the creating task's credentials. */
  uid = 0;
  /** Group. */
  gid = 0;

  /** @returns S_IFIFO, mode 0600. */
  stat(): Stat {
    return pseudoStat(this.fs, this.#ino, S_IFIFO | 0o600, this, this.#created);
  }

  /**
   * Opens one end.
   *
   * @param flags O_RDONLY or O_WRONLY (and O_NONBLOCK).
   * @returns The end.
   */
  open(flags: number): OpenFile {
    return new PipeEnd(this, this.pipe, flags);
  }

  /** @returns `pipe:[ino]`, what /proc/PID/fd shows. */
  override readlink(): string {
    return `pipe:[${this.#ino}]`;
  }
}

/** One end of a pipe or FIFO. */
export class PipeEnd extends OpenFile {
  readonly #pipe: Pipe;
  readonly #reader: boolean;
  readonly #writer: boolean;

  /**
   * Opens an end; the pipe counts it.
   *
   * @param inode The pipe's inode.
   * @param pipe The buffer.
   * @param flags O_RDONLY, O_WRONLY or O_RDWR (FIFOs).
   */
  constructor(inode: Inode, pipe: Pipe, flags: number) {
    super(inode, flags);
    this.#pipe = pipe;
    const mode = flags & O.ACCMODE;
    this.#reader = mode !== O.WRONLY;
    this.#writer = mode !== O.RDONLY;
    if (this.#reader) pipe.readers++;
    if (this.#writer) {
      pipe.writers++;
      pipe.hadWriter = true;
    }
    pipe.readable.notify();
    pipe.writable.notify();
  }

  /** The shared buffer. */
  get pipe(): Pipe {
    return this.#pipe;
  }

  /** Reads, ignoring any offset (pipes have none). */
  override read(buf: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    const n = this.#pipe.read(buf, (this.flags & O.NONBLOCK) !== 0);
    if (n > 0) OpenFile.ioHook?.(this, false);
    return n;
  }

  /** Writes, ignoring any offset. */
  override write(data: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    const n = this.#pipe.write(data, (this.flags & O.NONBLOCK) !== 0);
    if (n > 0) OpenFile.ioHook?.(this, true);
    return n;
  }

  /** @returns Readiness of this end. */
  override poll(): { events: number; queue: WaitQueue | null } {
    const bits = (this.#reader ? this.#pipe.pollBits(true) : 0) |
      (this.#writer ? this.#pipe.pollBits(false) : 0);
    return { events: bits, queue: this.#reader ? this.#pipe.readable : this.#pipe.writable };
  }

  protected override release(): void {
    if (this.#reader) this.#pipe.readers--;
    if (this.#writer) this.#pipe.writers--;
    this.#pipe.readable.notify();
    this.#pipe.writable.notify();
  }
}

/**
 * Makes an anonymous pipe (pipe2).
 *
 * @param flags O_NONBLOCK for both ends.
 * @param owner Owner uid and gid.
 * @returns The read end and the write end.
 *
 * @example
 * ```ts
 * import { makePipe } from "./pipe.ts";
 * const [r, w] = makePipe(0, { uid: 0, gid: 0 });
 * w.write(new Uint8Array([7]), null);
 * const buf = new Uint8Array(1);
 * if (r.read(buf, null) !== 1 || buf[0] !== 7) throw new Error();
 * ```
 */
export function makePipe(flags: number, owner: { uid: number; gid: number }): [PipeEnd, PipeEnd] {
  const inode = new PipeInode();
  inode.uid = owner.uid;
  inode.gid = owner.gid;
  const nb = flags & O.NONBLOCK;
  return [
    new PipeEnd(inode, inode.pipe, O.RDONLY | nb),
    new PipeEnd(inode, inode.pipe, O.WRONLY | nb),
  ];
}
