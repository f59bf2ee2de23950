/**
 * Moving bytes between descriptors inside the Sentry: sendfile, splice,
 * tee, copy_file_range. Data passes through a Sentry buffer; a source is
 * consumed only by what the destination took, so a call that blocks or
 * writes short loses nothing.
 *
 * @module
 */
import { LinuxError, WouldBlock } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { O, type OpenFile, S_IFDIR, S_IFREG } from "../vfs/inode.ts";
import { PipeEnd } from "../vfs/pipe.ts";
import { i32, size, u32 } from "./args.ts";
import { fsizeLimit, pipeSignal } from "./fs.ts";

/** The most one call moves (Linux moves at most MAX_RW_COUNT, and callers loop). */
const CHUNK = 1 << 20;
const SPLICE_F_NONBLOCK = 2;
const SPLICE_FLAGS = 0xf;

/** Where a side reads or writes: its own offset, or one the caller passed by pointer. */
interface Side {
  file: OpenFile;
  /** The user's offset word, or 0n for the file's own offset. */
  offPtr: bigint;
  /** Nonblocking for this call (SPLICE_F_NONBLOCK on a pipe). */
  nonblock: boolean;
}

function fileOf(c: SyscallContext, fd: bigint | undefined): OpenFile {
  return c.p.fds.get(i32(fd));
}

function startOf(c: SyscallContext, s: Side): bigint {
  if (s.offPtr === 0n) return s.file.offset;
  const off = BigInt.asIntN(64, c.mem.readU64(s.offPtr));
  if (off < 0n) throw new LinuxError("EINVAL");
  return off;
}

function advance(c: SyscallContext, s: Side, at: bigint, n: number): void {
  if (s.offPtr === 0n) s.file.offset = at + BigInt(n);
  else c.mem.writeU64(s.offPtr, at + BigInt(n));
}

/** Runs `fn` with the pipe end's O_NONBLOCK forced on when asked. */
function withNonblock<T>(s: Side, fn: () => T): T {
  if (!s.nonblock || (s.file.flags & O.NONBLOCK)) return fn();
  s.file.flags |= O.NONBLOCK;
  try {
    return fn();
  } finally {
    s.file.flags &= ~O.NONBLOCK;
  }
}

/**
 * Copies up to `count` bytes from one side to the other.
 *
 * Preconditions: access modes and file kinds were checked by the caller.
 *
 * @param consume Take what was written from a pipe source (false: tee).
 * @returns Bytes moved.
 */
function move(c: SyscallContext, from: Side, to: Side, count: number, consume = true): number {
  if (count === 0) return 0;
  // An explicit destination offset is a pwrite; otherwise the file's own offset moves.
  const outAt = to.offPtr !== 0n ? startOf(c, to) : null;
  const buf = new Uint8Array(fsizeLimit(c, to.file, Math.min(count, CHUNK), outAt));
  const src = from.file;
  const seekableSrc = from.file.seekable;
  const inAt = seekableSrc ? startOf(c, from) : 0n;
  let got: number;
  if (src instanceof PipeEnd) {
    got = src.pipe.peek(buf, from.nonblock || (src.flags & O.NONBLOCK) !== 0);
  } else if (seekableSrc) {
    got = src.read(buf, inAt);
  } else {
    // A device or socket cannot be peeked: take no more than the destination has room for.
    let room = buf.length;
    if (to.file instanceof PipeEnd) {
      const pipe = to.file.pipe;
      if (pipe.readers === 0) return pipeSignal(c, new LinuxError("EPIPE"));
      room = pipe.capacity - pipe.length;
      if (room <= 0) {
        if (to.nonblock || (to.file.flags & O.NONBLOCK)) throw new LinuxError("EAGAIN");
        throw new WouldBlock([pipe.writable]);
      }
    }
    got = withNonblock(from, () => src.read(buf.subarray(0, room), null));
  }
  if (got === 0) return 0;
  let put: number;
  try {
    put = withNonblock(to, () => to.file.write(buf.subarray(0, got), outAt));
  } catch (e) {
    return pipeSignal(c, e);
  }
  if (outAt !== null) advance(c, to, outAt, put);
  if (src instanceof PipeEnd) {
    if (consume) src.pipe.drop(put);
  } else if (seekableSrc) {
    advance(c, from, inAt, put);
  }
  return put;
}

function readableSource(f: OpenFile): void {
  if (!f.readable) throw new LinuxError("EBADF");
  if (f.inode.type === S_IFDIR) throw new LinuxError("EISDIR");
}

function writableSink(f: OpenFile): void {
  if (!f.writable) throw new LinuxError("EBADF");
}

/** The handlers, by system call name. */
export const SPLICE_HANDLERS: Record<string, Handler> = {
  sendfile: (c) => {
    const out = fileOf(c, c.args[0]);
    const inp = fileOf(c, c.args[1]);
    readableSource(inp);
    writableSink(out);
    if (out.flags & O.APPEND) throw new LinuxError("EINVAL");
    const offPtr = c.args[2] ?? 0n;
    if (offPtr !== 0n && !inp.seekable) throw new LinuxError("ESPIPE");
    return move(
      c,
      { file: inp, offPtr, nonblock: false },
      { file: out, offPtr: 0n, nonblock: false },
      size(c.args[3]),
    );
  },
  splice: (c) => {
    const flags = u32(c.args[5]);
    if (flags & ~SPLICE_FLAGS) throw new LinuxError("EINVAL");
    const inp = fileOf(c, c.args[0]);
    const out = fileOf(c, c.args[2]);
    readableSource(inp);
    writableSink(out);
    const inPipe = inp instanceof PipeEnd;
    const outPipe = out instanceof PipeEnd;
    if (!inPipe && !outPipe) throw new LinuxError("EINVAL");
    if (inPipe && outPipe && inp.pipe === out.pipe) throw new LinuxError("EINVAL");
    const inOff = c.args[1] ?? 0n;
    const outOff = c.args[3] ?? 0n;
    if ((inOff !== 0n && !inp.seekable) || (outOff !== 0n && !out.seekable)) {
      throw new LinuxError("ESPIPE");
    }
    if (out.flags & O.APPEND) throw new LinuxError("EINVAL");
    const nonblock = (flags & SPLICE_F_NONBLOCK) !== 0;
    return move(
      c,
      { file: inp, offPtr: inOff, nonblock: nonblock && inPipe },
      { file: out, offPtr: outOff, nonblock: nonblock && outPipe },
      size(c.args[4]),
    );
  },
  tee: (c) => {
    const flags = u32(c.args[3]);
    if (flags & ~SPLICE_FLAGS) throw new LinuxError("EINVAL");
    const inp = fileOf(c, c.args[0]);
    const out = fileOf(c, c.args[1]);
    if (!(inp instanceof PipeEnd) || !(out instanceof PipeEnd) || inp.pipe === out.pipe) {
      throw new LinuxError("EINVAL");
    }
    readableSource(inp);
    writableSink(out);
    const nonblock = (flags & SPLICE_F_NONBLOCK) !== 0;
    return move(
      c,
      { file: inp, offPtr: 0n, nonblock },
      { file: out, offPtr: 0n, nonblock },
      size(c.args[2]),
      false,
    );
  },
  copy_file_range: (c) => {
    if (u32(c.args[5]) !== 0) throw new LinuxError("EINVAL");
    const inp = fileOf(c, c.args[0]);
    const out = fileOf(c, c.args[2]);
    if (!inp.readable || !out.writable || (out.flags & O.APPEND)) throw new LinuxError("EBADF");
    if (inp.inode.type === S_IFDIR || out.inode.type === S_IFDIR) throw new LinuxError("EISDIR");
    if (inp.inode.type !== S_IFREG || out.inode.type !== S_IFREG) throw new LinuxError("EINVAL");
    const from: Side = { file: inp, offPtr: c.args[1] ?? 0n, nonblock: false };
    const to: Side = { file: out, offPtr: c.args[3] ?? 0n, nonblock: false };
    const count = size(c.args[4]);
    if (inp.inode === out.inode) {
      const a = startOf(c, from);
      const b = startOf(c, to);
      const n = BigInt(count);
      if (a < b + n && b < a + n) throw new LinuxError("EINVAL");
    }
    return move(c, from, to, count);
  },
};
