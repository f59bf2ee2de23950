/**
 * File system calls: descriptors, I/O, paths, metadata.
 *
 * @module
 */
import { type IdRange, toHost } from "../vfs/id_map.ts";
import { HostTtyFile } from "../vfs/host_tty.ts";
import { jobControlIoctl, openSlave } from "./tty.ts";
import { PTY, PtyMaster, PtySlave } from "../vfs/pty.ts";
import { LocalSocket } from "../vfs/local_socket.ts";
import { loopbackIoctl, NetlinkSocket } from "../vfs/netlink.ts";
import { LinuxError, WouldBlock } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { SI, SIG } from "../kernel/signals.ts";
import { fsizeAllows, fsizeAllowsSize } from "../kernel/rlimits.ts";
import {
  O,
  type OpenFile,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
} from "../vfs/inode.ts";
import {
  AT,
  AT_FDCWD,
  chmodAt,
  chownAt,
  createAt,
  linkAt,
  openPath,
  removeAt,
  renamePath,
  resolveAt,
  walkContext,
} from "../vfs/ops.ts";
import { MAY, mayAccess } from "../vfs/perm.ts";
import { makePipe, PIPE_MAX_SIZE, PipeEnd } from "../vfs/pipe.ts";
import { SEAL, TmpNode } from "../vfs/tmpfs.ts";
import { flock } from "../vfs/flock.ts";
import { changeEvent, IN, InotifyFile, notifyFile, notifyPath } from "../vfs/inotify.ts";
import { conflicting, LOCK_TYPE, setLock, TO_END } from "../vfs/record_locks.ts";
import { type Resolved, walk, type WalkOptions } from "../vfs/walk.ts";
import type { VPath } from "../vfs/mount.ts";
import { decodeTimespec, encodeStat, encodeStatx, i32, i64, size, u32 } from "./args.ts";

const MAX_IO = 8 << 20;

function str(c: SyscallContext, a: bigint | undefined): string {
  return c.mem.readCString(a ?? 0n, 4095);
}

function file(c: SyscallContext, fd: bigint | undefined): OpenFile {
  return c.p.fds.get(i32(fd));
}

/**
 * Reading or writing failed with EPIPE: the writer also gets SIGPIPE.
 *
 * @param c The call.
 * @param e What was thrown.
 */
export function pipeSignal(c: SyscallContext, e: unknown): never {
  if (e instanceof LinuxError && e.errno === 32) {
    c.k.signalThread(c.t, { sig: SIG.PIPE, code: SI.KERNEL, pid: 0, uid: 0 });
  }
  throw e;
}

/**
 * RLIMIT_FSIZE on a write of `n` bytes to a file at `offset` (null: its
 * offset, or its end with O_APPEND): how many bytes may be written. A
 * write from the limit on raises SIGXFSZ and fails with EFBIG. Only
 * regular files are limited.
 *
 * @param c The call.
 * @param f The file.
 * @param n Bytes wanted.
 * @param offset Where, if not at the file's offset.
 * @returns Bytes allowed.
 */
export function fsizeLimit(
  c: SyscallContext,
  f: OpenFile,
  n: number,
  offset: bigint | null,
): number {
  if (f.inode.type !== S_IFREG) return n;
  try {
    return fsizeAllows(
      c.p,
      () => offset ?? (f.flags & O.APPEND ? f.inode.stat().size : f.offset),
      n,
    );
  } catch (e) {
    xfsz(c);
    throw e;
  }
}

/**
 * chown's common part: an id the container's user namespace does not map
 * is EINVAL before any permission check, as Linux's make_kuid; then the
 * VFS's rules.
 */
function chown(c: SyscallContext, at: Resolved, uid: number, gid: number): number {
  const m = c.k.idMappings.get(c.p.container);
  const unmapped = (ranges: IdRange[], id: number) =>
    id !== -1 && id !== 0xffffffff && toHost(ranges, id >>> 0) === null;
  if (m && (unmapped(m.uid, uid) || unmapped(m.gid, gid))) throw new LinuxError("EINVAL");
  chownAt(at, uid, gid, c.p.creds);
  return 0;
}

/** SIGXFSZ to the caller, for going past RLIMIT_FSIZE. */
function xfsz(c: SyscallContext): void {
  c.k.signalThread(c.t, { sig: SIG.XFSZ, code: SI.KERNEL, pid: 0, uid: 0 });
}

function doReadOnce(
  c: SyscallContext,
  f: OpenFile,
  addr: bigint,
  count: number,
  offset: bigint | null,
): number {
  if (!f.readable) throw new LinuxError("EBADF");
  if ((f.inode.stat().mode & S_IFMT) === S_IFDIR) throw new LinuxError("EISDIR");
  // A zero-length read returns 0, except that inotify says EINVAL for a queued event.
  if (count === 0) return f instanceof InotifyFile ? f.read(new Uint8Array(0), offset) : 0;
  const buf = readBuffer(Math.min(count, MAX_IO));
  const n = f.read(buf, offset);
  c.mem.write(addr, buf.subarray(0, n));
  return n;
}

/**
 * /proc/PID/io's counts of a read or write call: bytes and calls, once per
 * call however often it waited (a retry after a wait is the same call).
 */
function counted(c: SyscallContext, write: boolean, call: () => number): number {
  let n = 0;
  let finished = true;
  try {
    n = call();
    return n;
  } catch (e) {
    if (e instanceof WouldBlock) finished = false;
    throw e;
  } finally {
    if (finished) {
      const io = c.p.io;
      if (write) {
        io.syscw++;
        io.wchar += n;
      } else {
        io.syscr++;
        io.rchar += n;
      }
    }
  }
}

const doRead = (c: SyscallContext, f: OpenFile, addr: bigint, count: number, at: bigint | null) =>
  counted(c, false, () => doReadOnce(c, f, addr, count, at));
const doWrite = (c: SyscallContext, f: OpenFile, addr: bigint, count: number, at: bigint | null) =>
  counted(c, true, () => doWriteOnce(c, f, addr, count, at));
const readv = (c: SyscallContext, f: OpenFile, vecs: Array<[bigint, number]>, at: bigint | null) =>
  counted(c, false, () => readvOnce(c, f, vecs, at));
const writev = (c: SyscallContext, f: OpenFile, vecs: Array<[bigint, number]>, at: bigint | null) =>
  counted(c, true, () => writevOnce(c, f, vecs, at));

/** A buffer used call after call (a fresh zeroed one per call costs more than the copy). */
class Scratch {
  #buf = new Uint8Array(65536);

  /** @returns `n` bytes of it, valid until the next take (over 1 MiB: a fresh buffer). */
  take(n: number): Uint8Array {
    if (n > 1 << 20) return new Uint8Array(n);
    if (this.#buf.length < n) this.#buf = new Uint8Array(Math.max(n, this.#buf.length * 2));
    return this.#buf.subarray(0, n);
  }
}

/** One for reads, one for writes to files that copy what they are given. */
const reads = new Scratch();
const writes = new Scratch();

/**
 * A buffer to read `n` bytes into, valid until the next call: what was read
 * is copied to the caller's memory at once.
 *
 * @param n Bytes.
 * @returns The buffer, exactly `n` long.
 */
export function readBuffer(n: number): Uint8Array {
  return reads.take(n);
}

function doWriteOnce(
  c: SyscallContext,
  f: OpenFile,
  addr: bigint,
  count: number,
  offset: bigint | null,
): number {
  if (!f.writable) throw new LinuxError("EBADF");
  if (count === 0) return 0;
  const n = fsizeLimit(c, f, Math.min(count, MAX_IO), offset);
  // A file that copies what it is given (file data, a memfd, the gofer's
  // file) can take it through a reused buffer; pipes and sockets queue the
  // buffer itself, so theirs is fresh.
  let data: Uint8Array;
  if (f.copiesWrites) {
    data = writes.take(n);
    c.mem.readInto(addr, data);
  } else data = c.mem.read(addr, n);
  try {
    return f.write(data, offset);
  } catch (e) {
    return pipeSignal(c, e);
  }
}

function iovecs(c: SyscallContext, addr: bigint, count: number): Array<[bigint, number]> {
  if (count < 0 || count > 1024) throw new LinuxError("EINVAL");
  if (count === 0) return [];
  const raw = c.mem.read(addr, 16 * count);
  const v = new DataView(raw.buffer);
  const out: Array<[bigint, number]> = [];
  for (let i = 0; i < count; i++) {
    const len = v.getBigUint64(16 * i + 8, true);
    if (len > 0x7ffff000n) throw new LinuxError("EINVAL");
    out.push([v.getBigUint64(16 * i, true), Number(len)]);
  }
  return out;
}

function readvOnce(
  c: SyscallContext,
  f: OpenFile,
  vecs: Array<[bigint, number]>,
  offset: bigint | null,
): number {
  if (!f.readable) throw new LinuxError("EBADF");
  const total = Math.min(vecs.reduce((s, [, l]) => s + l, 0), MAX_IO);
  if (total === 0) return 0;
  const buf = new Uint8Array(total);
  const n = f.read(buf, offset);
  let done = 0;
  for (const [base, len] of vecs) {
    if (done >= n) break;
    const take = Math.min(len, n - done);
    c.mem.write(base, buf.subarray(done, done + take));
    done += take;
  }
  return n;
}

function writevOnce(
  c: SyscallContext,
  f: OpenFile,
  vecs: Array<[bigint, number]>,
  offset: bigint | null,
): number {
  if (!f.writable) throw new LinuxError("EBADF");
  const parts = vecs.filter(([, l]) => l > 0).map(([b, l]) => c.mem.read(b, Math.min(l, MAX_IO)));
  const wanted = parts.reduce((s, p) => s + p.length, 0);
  if (wanted === 0) return 0;
  const total = fsizeLimit(c, f, wanted, offset);
  const data = new Uint8Array(wanted);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  try {
    return f.write(data.subarray(0, total), offset);
  } catch (e) {
    return pipeSignal(c, e);
  }
}

function installFd(c: SyscallContext, f: OpenFile, flags: number): number {
  try {
    return c.p.fds.add(f, (flags & O.CLOEXEC) !== 0);
  } catch (e) {
    f.unref();
    throw e;
  }
}

function open(
  c: SyscallContext,
  dirfd: number,
  path: string,
  flags: number,
  mode: number,
  resolve: WalkOptions = {},
): number {
  const f = openPath(c.p.ns, c.p, dirfd, path, flags, mode, resolve);
  return installFd(c, f, flags);
}

function statOf(c: SyscallContext, dirfd: number, path: string, flags: number) {
  const at = resolveAt(c.p.ns, c.p, dirfd, path, flags);
  return at.file ? at.file.inode.stat() : at.dentry.inode.stat();
}

/**
 * getdents64, or with `old` getdents: `struct linux_dirent`, whose type
 * byte is the record's last, after the name's NUL.
 */
function getdents(c: SyscallContext, old = false): number {
  const f = file(c, c.args[0]);
  const addr = c.args[1]!;
  const count = size(c.args[2], 1 << 20);
  const inode = f.inode;
  if ((inode.stat().mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
  if (f.offset === 0n || !f.listing) {
    const self = inode.stat();
    const loc = f.location as VPath | null;
    const parentIno = loc ? c.p.ns.parentOf(loc, c.p.fs.root).dentry.inode.stat().ino : self.ino;
    f.listing = [
      { name: ".", ino: self.ino, type: 4 },
      { name: "..", ino: parentIno, type: 4 },
      ...inode.readdir(),
    ];
  }
  const out = new Uint8Array(count);
  const v = new DataView(out.buffer);
  let at = 0;
  let index = Number(f.offset);
  const enc = new TextEncoder();
  while (index < f.listing.length) {
    const e = f.listing[index]!;
    const name = enc.encode(e.name);
    const reclen = old ? (18 + name.length + 2 + 7) & ~7 : (19 + name.length + 1 + 7) & ~7;
    if (at + reclen > count) {
      if (at === 0) throw new LinuxError("EINVAL");
      break;
    }
    v.setBigUint64(at, e.ino, true);
    v.setBigInt64(at + 8, BigInt(index + 1), true);
    v.setUint16(at + 16, reclen, true);
    if (old) {
      out.set(name, at + 18);
      v.setUint8(at + reclen - 1, e.type);
    } else {
      v.setUint8(at + 18, e.type);
      out.set(name, at + 19);
    }
    at += reclen;
    index++;
  }
  f.offset = BigInt(index);
  c.mem.write(addr, out.subarray(0, at));
  // Every listing call is an access, the last (empty) one too, as Linux's iterate_dir.
  notifyFile(f, IN.ACCESS);
  return at;
}

function access(
  c: SyscallContext,
  dirfd: number,
  path: string,
  mode: number,
  flags: number,
): number {
  if (mode & ~7) throw new LinuxError("EINVAL");
  const p = c.p;
  // Without AT_EACCESS the check uses the real ids.
  const creds = flags & AT.EACCESS ? p.creds : Object.assign(p.creds.clone(), {
    fsuid: p.creds.uid,
    fsgid: p.creds.gid,
  });
  if (!(flags & AT.EACCESS) && p.creds.uid !== 0) creds.effective = 0n;
  const at = walk(
    { ...walkContext(c.p.ns, p), creds },
    dirfd === AT_FDCWD || path.startsWith("/") ? p.fs.cwd : (p.fds.get(dirfd).location as VPath),
    path,
    { follow: !(flags & AT.SYMLINK_NOFOLLOW) },
  );
  if (mode === 0) return 0;
  const st = at.dentry.inode.stat();
  if (
    (mode & 2) && at.mount.flags.readOnly &&
    ((st.mode & S_IFMT) === S_IFREG || (st.mode & S_IFMT) === S_IFDIR)
  ) {
    throw new LinuxError("EROFS");
  }
  if (!mayAccess(st, mode, creds)) throw new LinuxError("EACCES");
  return 0;
}

function utimens(
  c: SyscallContext,
  dirfd: number,
  pathAddr: bigint,
  times: bigint,
  flags: number,
): number {
  const path = pathAddr === 0n ? "" : str(c, pathAddr);
  const at = resolveAt(c.p.ns, c.p, dirfd, path, pathAddr === 0n ? flags | AT.EMPTY_PATH : flags);
  const inode = at.file ? at.file.inode : at.dentry.inode;
  const now = BigInt(Date.now()) * 1_000_000n;
  const UTIME_NOW = (1n << 30n) - 1n;
  const UTIME_OMIT = (1n << 30n) - 2n;
  let atime: bigint | undefined = now;
  let mtime: bigint | undefined = now;
  const st = inode.stat();
  if (times !== 0n) {
    const raw = c.mem.read(times, 32);
    const v = new DataView(raw.buffer);
    const pick = (o: number): bigint | undefined => {
      const ns = v.getBigInt64(o + 8, true);
      if (ns === UTIME_OMIT) return undefined;
      if (ns === UTIME_NOW) return now;
      const t = decodeTimespec(raw.subarray(o, o + 16));
      if (t === null) throw new LinuxError("EINVAL");
      return t;
    };
    atime = pick(0);
    mtime = pick(16);
    if ((atime !== undefined && atime !== now) || (mtime !== undefined && mtime !== now)) {
      if (c.p.creds.fsuid !== st.uid && !c.p.creds.capable(3)) throw new LinuxError("EPERM");
    }
  }
  if (c.p.creds.fsuid !== st.uid && !c.p.creds.capable(3) && !mayAccess(st, MAY.WRITE, c.p.creds)) {
    throw new LinuxError("EACCES");
  }
  if (!at.file && at.mount.flags.readOnly) throw new LinuxError("EROFS");
  const attrs = {
    ...(atime !== undefined ? { atimeNs: atime } : {}),
    ...(mtime !== undefined ? { mtimeNs: mtime } : {}),
  };
  inode.setattr(attrs);
  notifyPath(at, changeEvent(attrs));
  return 0;
}

function truncate(c: SyscallContext, inode: OpenFile["inode"], length: bigint): number {
  if (length < 0n) throw new LinuxError("EINVAL");
  const type = inode.stat().mode & S_IFMT;
  if (type === S_IFDIR) throw new LinuxError("EISDIR");
  if (type !== S_IFREG) throw new LinuxError("EINVAL");
  growWithin(c, length);
  inode.setattr({ size: length });
  return 0;
}

/** RLIMIT_FSIZE on a regular file's new size (truncate, fallocate): SIGXFSZ and EFBIG past it. */
function growWithin(c: SyscallContext, size: bigint): void {
  if (fsizeAllowsSize(c.p, size)) return;
  xfsz(c);
  throw new LinuxError("EFBIG");
}

function fcntl(c: SyscallContext): number {
  const fd = i32(c.args[0]);
  const cmd = i32(c.args[1]);
  const arg = c.args[2] ?? 0n;
  const f = c.p.fds.get(fd);
  switch (cmd) {
    case 0: // F_DUPFD
    case 1030: { // F_DUPFD_CLOEXEC
      const min = i32(arg);
      if (min < 0) throw new LinuxError("EINVAL");
      f.ref();
      try {
        return c.p.fds.add(f, cmd === 1030, min);
      } catch (e) {
        f.unref();
        throw e;
      }
    }
    case 1: // F_GETFD
      return c.p.fds.cloexec(fd) ? 1 : 0;
    case 2: // F_SETFD
      c.p.fds.setCloexec(fd, (i32(arg) & 1) !== 0);
      return 0;
    case 3: // F_GETFL
      return f.flags | (f.flags & O.PATH ? 0 : O.LARGEFILE);
    case 4: { // F_SETFL: O_APPEND, O_NONBLOCK, O_ASYNC, O_DIRECT, O_NOATIME
      const settable = O.APPEND | O.NONBLOCK | 0o20000 | O.DIRECT | O.NOATIME;
      f.flags = (f.flags & ~settable) | (i32(arg) & settable);
      return 0;
    }
    case 1031: { // F_SETPIPE_SZ
      if (!(f instanceof PipeEnd)) throw new LinuxError("EBADF");
      const want = Number(arg);
      if (want > PIPE_MAX_SIZE && !c.p.creds.capable(24)) throw new LinuxError("EPERM");
      let cap = 4096;
      while (cap < want) cap *= 2;
      if (cap < f.pipe.length) throw new LinuxError("EBUSY");
      f.pipe.capacity = cap;
      return cap;
    }
    case 1032: // F_GETPIPE_SZ
      if (!(f instanceof PipeEnd)) throw new LinuxError("EBADF");
      return f.pipe.capacity;
    case 1033: // F_ADD_SEALS
    case 1034: { // F_GET_SEALS
      // Only tmpfs files (memfds among them) carry seals.
      const node = f.inode;
      if (!(node instanceof TmpNode) || (node.mode & S_IFMT) !== S_IFREG) {
        throw new LinuxError("EINVAL");
      }
      if (cmd === 1034) return node.seals;
      const add = u32(arg);
      if (add & ~0x3f) throw new LinuxError("EINVAL");
      if (!f.writable || (node.seals & SEAL.SEAL)) throw new LinuxError("EPERM");
      node.seals |= add;
      return 0;
    }
    case 5: // F_GETLK
    case 6: // F_SETLK
    case 7: // F_SETLKW
    case 36: // F_OFD_GETLK
    case 37: // F_OFD_SETLK
    case 38: // F_OFD_SETLKW
      return recordLock(c, f, cmd, arg);
    case 8: // F_SETOWN
    case 9: // F_GETOWN
    case 10: // F_SETSIG
    case 11: // F_GETSIG
      return 0;
  }
  throw new LinuxError("EINVAL");
}

/** fcntl's record lock commands, with their `struct flock`. */
function recordLock(c: SyscallContext, f: OpenFile, cmd: number, arg: bigint): number {
  const raw = c.mem.read(arg, 32);
  const v = new DataView(raw.buffer);
  const type = v.getInt16(0, true);
  const whence = v.getInt16(2, true);
  const ofd = cmd >= 36;
  if (ofd && v.getInt32(24, true) !== 0) throw new LinuxError("EINVAL");
  const base = whence === 0
    ? 0n
    : whence === 1
    ? f.offset
    : whence === 2
    ? f.inode.stat().size
    : (() => {
      throw new LinuxError("EINVAL");
    })();
  let start = base + v.getBigInt64(8, true);
  const len = v.getBigInt64(16, true);
  let end = len === 0n ? TO_END : start + len - 1n;
  if (len < 0n) [start, end] = [start + len, start - 1n];
  if (start < 0n) throw new LinuxError("EINVAL");
  const owner = ofd ? f : c.p.fds;
  if (cmd === 5 || cmd === 36) {
    if (type !== LOCK_TYPE.RDLCK && type !== LOCK_TYPE.WRLCK) throw new LinuxError("EINVAL");
    const l = conflicting(f, owner, type, start, end);
    if (!l) v.setInt16(0, LOCK_TYPE.UNLCK, true);
    else {
      v.setInt16(0, l.type, true);
      v.setInt16(2, 0, true);
      v.setBigInt64(8, l.start, true);
      v.setBigInt64(16, l.end === TO_END ? 0n : l.end - l.start + 1n, true);
      v.setInt32(24, l.pid, true);
    }
    c.mem.write(arg, raw);
    return 0;
  }
  if (type === LOCK_TYPE.RDLCK && !f.readable) throw new LinuxError("EBADF");
  if (type === LOCK_TYPE.WRLCK && !f.writable) throw new LinuxError("EBADF");
  setLock(f, owner, ofd ? -1 : c.p.pid, type, start, end, cmd === 7 || cmd === 38);
  return 0;
}

function ioctl(c: SyscallContext): bigint | number {
  const f = file(c, c.args[0]);
  const req = u32(c.args[1]);
  const arg = c.args[2] ?? 0n;
  switch (req) {
    case 0x5421: { // FIONBIO
      const on = c.mem.readI32(arg) !== 0;
      f.flags = on ? f.flags | O.NONBLOCK : f.flags & ~O.NONBLOCK;
      return 0;
    }
    case 0x5451: // FIOCLEX
      c.p.fds.setCloexec(i32(c.args[0]), true);
      return 0;
    case 0x5450: // FIONCLEX
      c.p.fds.setCloexec(i32(c.args[0]), false);
      return 0;
    case 0x541b: { // FIONREAD
      if (f instanceof PipeEnd) {
        c.mem.writeI32(arg, f.pipe.length);
        return 0;
      }
      if ((f.inode.stat().mode & S_IFMT) === S_IFREG) {
        const left = f.inode.stat().size - f.offset;
        c.mem.writeI32(arg, Number(left > 0n ? left : 0n));
        return 0;
      }
      break;
    }
  }
  if (f instanceof LocalSocket || f instanceof NetlinkSocket) {
    // The sandbox's own network: its interfaces (lo).
    const r = loopbackIoctl(req, arg, c.mem);
    if (r !== null) return r;
  }
  if (f instanceof HostTtyFile || f instanceof PtySlave) {
    const r = jobControlIoctl(c, f, req, arg);
    if (r !== null) return r;
  }
  if (f instanceof PtyMaster && req === PTY.TIOCGPTPEER) {
    // The slave, opened from the master (no path walk: another mount namespace's too).
    const term = f.terminal;
    const node = c.k.terminalNode(term.tty, c.p.creds.fsuid);
    if (!node) throw new LinuxError("ENOENT");
    const flags = Number(arg);
    if (flags & ~(O.ACCMODE | O.NOCTTY | O.NONBLOCK | O.CLOEXEC)) throw new LinuxError("EINVAL");
    return c.p.fds.add(openSlave(c.k, term, node, flags), (flags & O.CLOEXEC) !== 0);
  }
  return f.ioctl(req, arg, c.mem);
}

const TYPE_OK = new Set([S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, 0]);

/** The handlers, by system call name. */
export const FS_HANDLERS: Record<string, Handler> = {
  read: (c) => doRead(c, file(c, c.args[0]), c.args[1]!, size(c.args[2]), null),
  write: (c) => doWrite(c, file(c, c.args[0]), c.args[1]!, size(c.args[2]), null),
  pread64: (c) => {
    const f = file(c, c.args[0]);
    if (!f.seekable) throw new LinuxError("ESPIPE");
    if (i64(c.args[3]) < 0n) throw new LinuxError("EINVAL");
    return doRead(c, f, c.args[1]!, size(c.args[2]), i64(c.args[3]));
  },
  pwrite64: (c) => {
    const f = file(c, c.args[0]);
    if (!f.seekable) throw new LinuxError("ESPIPE");
    if (i64(c.args[3]) < 0n) throw new LinuxError("EINVAL");
    return doWrite(c, f, c.args[1]!, size(c.args[2]), i64(c.args[3]));
  },
  readv: (c) => readv(c, file(c, c.args[0]), iovecs(c, c.args[1]!, i32(c.args[2])), null),
  writev: (c) => writev(c, file(c, c.args[0]), iovecs(c, c.args[1]!, i32(c.args[2])), null),
  preadv: (c) =>
    readv(c, file(c, c.args[0]), iovecs(c, c.args[1]!, i32(c.args[2])), i64(c.args[3])),
  pwritev: (c) =>
    writev(c, file(c, c.args[0]), iovecs(c, c.args[1]!, i32(c.args[2])), i64(c.args[3])),
  preadv2: (c) => {
    const off = i64(c.args[3]);
    return readv(
      c,
      file(c, c.args[0]),
      iovecs(c, c.args[1]!, i32(c.args[2])),
      off === -1n ? null : off,
    );
  },
  pwritev2: (c) => {
    const off = i64(c.args[3]);
    return writev(
      c,
      file(c, c.args[0]),
      iovecs(c, c.args[1]!, i32(c.args[2])),
      off === -1n ? null : off,
    );
  },
  vmsplice: (c) => {
    // Copies between the caller's memory and a pipe (the gift of pages is not
    // made: SPLICE_F_GIFT is accepted and the data copied, as Linux does for
    // pages it cannot steal).
    const flags = u32(c.args[3]);
    if (flags & ~0xf) throw new LinuxError("EINVAL");
    const f = file(c, c.args[0]);
    if (!(f instanceof PipeEnd)) throw new LinuxError("EBADF");
    const vecs = iovecs(c, c.args[1]!, i32(c.args[2]));
    const nonblock = (flags & 2) !== 0 && !(f.flags & O.NONBLOCK);
    if (nonblock) f.flags |= O.NONBLOCK;
    try {
      return f.writable ? writev(c, f, vecs, null) : readv(c, f, vecs, null);
    } finally {
      if (nonblock) f.flags &= ~O.NONBLOCK;
    }
  },
  open: (c) => open(c, AT_FDCWD, str(c, c.args[0]), i32(c.args[1]), u32(c.args[2])),
  creat: (c) => open(c, AT_FDCWD, str(c, c.args[0]), O.CREAT | O.WRONLY | O.TRUNC, u32(c.args[1])),
  openat: (c) => open(c, i32(c.args[0]), str(c, c.args[1]), i32(c.args[2]), u32(c.args[3])),
  openat2: (c) => {
    const howSize = size(c.args[3], 4096);
    if (howSize < 24) throw new LinuxError("EINVAL");
    const how = c.mem.read(c.args[2]!, 24);
    const v = new DataView(how.buffer);
    const flags = v.getBigUint64(0, true);
    const mode = v.getBigUint64(8, true);
    const resolve = Number(v.getBigUint64(16, true));
    if (flags > 0xffffffffn || (mode && !(Number(flags) & (O.CREAT | O.TMPFILE)))) {
      throw new LinuxError("EINVAL");
    }
    if (resolve & ~0x3f) throw new LinuxError("EINVAL");
    return open(c, i32(c.args[0]), str(c, c.args[1]), Number(flags), Number(mode), {
      noXdev: (resolve & 1) !== 0,
      noMagicLinks: (resolve & 2) !== 0,
      noSymlinks: (resolve & 4) !== 0,
      beneath: (resolve & 8) !== 0,
      inRoot: (resolve & 16) !== 0,
    });
  },
  close: (c) => {
    c.p.fds.close(i32(c.args[0]));
    return 0;
  },
  close_range: (c) => {
    const first = u32(c.args[0]);
    const last = u32(c.args[1]);
    const flags = u32(c.args[2]);
    if (first > last || flags & ~6) throw new LinuxError("EINVAL");
    for (const fd of c.p.fds.numbers()) {
      if (fd < first || fd > last) continue;
      if (flags & 4) c.p.fds.setCloexec(fd, true);
      else c.p.fds.close(fd);
    }
    return 0;
  },
  lseek: (c) => file(c, c.args[0]).seek(i64(c.args[1]), i32(c.args[2])),
  dup: (c) => {
    const f = file(c, c.args[0]);
    f.ref();
    return installFd(c, f, 0);
  },
  dup2: (c) => {
    const oldfd = i32(c.args[0]);
    const newfd = i32(c.args[1]);
    const f = c.p.fds.get(oldfd);
    if (oldfd === newfd) return newfd;
    f.ref();
    c.p.fds.set(newfd, f, false);
    return newfd;
  },
  dup3: (c) => {
    const oldfd = i32(c.args[0]);
    const newfd = i32(c.args[1]);
    const flags = i32(c.args[2]);
    if (oldfd === newfd || flags & ~O.CLOEXEC) throw new LinuxError("EINVAL");
    const f = c.p.fds.get(oldfd);
    f.ref();
    c.p.fds.set(newfd, f, (flags & O.CLOEXEC) !== 0);
    return newfd;
  },
  fcntl,
  ioctl,
  pipe: (c) => pipeCall(c, 0),
  pipe2: (c) => pipeCall(c, i32(c.args[1])),
  stat: (c) => writeStat(c, statOf(c, AT_FDCWD, str(c, c.args[0]), 0), c.args[1]!),
  lstat: (c) =>
    writeStat(c, statOf(c, AT_FDCWD, str(c, c.args[0]), AT.SYMLINK_NOFOLLOW), c.args[1]!),
  fstat: (c) => writeStat(c, file(c, c.args[0]).inode.stat(), c.args[1]!),
  newfstatat: (c) => {
    const flags = i32(c.args[3]);
    if (flags & ~(AT.SYMLINK_NOFOLLOW | AT.EMPTY_PATH | AT.NO_AUTOMOUNT)) {
      throw new LinuxError("EINVAL");
    }
    return writeStat(c, statOf(c, i32(c.args[0]), str(c, c.args[1]), flags), c.args[2]!);
  },
  statx: (c) => {
    const flags = i32(c.args[2]);
    const path = c.args[1] === 0n ? "" : str(c, c.args[1]);
    const st = statOf(c, i32(c.args[0]), path, flags | (c.args[1] === 0n ? AT.EMPTY_PATH : 0));
    c.mem.write(c.args[4]!, encodeStatx(st));
    return 0;
  },
  getdents64: (c) => getdents(c),
  getdents: (c) => getdents(c, true),
  getcwd: (c) => {
    const path = c.p.ns.pathOf(c.p.fs.cwd, c.p.fs.root);
    const bytes = new TextEncoder().encode(path + "\0");
    if (bytes.length > size(c.args[1])) throw new LinuxError("ERANGE");
    c.mem.write(c.args[0]!, bytes);
    return bytes.length;
  },
  chdir: (c) => chdirTo(c, walk(walkContext(c.p.ns, c.p), c.p.fs.cwd, str(c, c.args[0]))),
  fchdir: (c) => {
    const f = file(c, c.args[0]);
    const loc = f.location as VPath | null;
    if (!loc) throw new LinuxError("ENOTDIR");
    return chdirTo(c, loc);
  },
  chroot: (c) => {
    if (!c.p.creds.capable(18)) throw new LinuxError("EPERM");
    const at = walk(walkContext(c.p.ns, c.p), c.p.fs.cwd, str(c, c.args[0]));
    if ((at.dentry.inode.stat().mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
    if (!mayAccess(at.dentry.inode.stat(), MAY.EXEC, c.p.creds)) throw new LinuxError("EACCES");
    c.p.fs.root = at;
    return 0;
  },
  mkdir: (c) => mkdirCall(c, AT_FDCWD, str(c, c.args[0]), u32(c.args[1])),
  mkdirat: (c) => mkdirCall(c, i32(c.args[0]), str(c, c.args[1]), u32(c.args[2])),
  mknod: (c) => mknodCall(c, AT_FDCWD, str(c, c.args[0]), u32(c.args[1]), c.args[2] ?? 0n),
  mknodat: (c) => mknodCall(c, i32(c.args[0]), str(c, c.args[1]), u32(c.args[2]), c.args[3] ?? 0n),
  rmdir: (c) => {
    removeAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), true);
    return 0;
  },
  unlink: (c) => {
    removeAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), false);
    return 0;
  },
  unlinkat: (c) => {
    const flags = i32(c.args[2]);
    if (flags & ~AT.REMOVEDIR) throw new LinuxError("EINVAL");
    removeAt(c.p.ns, c.p, i32(c.args[0]), str(c, c.args[1]), (flags & AT.REMOVEDIR) !== 0);
    return 0;
  },
  rename: (c) => {
    renamePath(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), AT_FDCWD, str(c, c.args[1]), 0);
    return 0;
  },
  renameat: (c) => {
    renamePath(
      c.p.ns,
      c.p,
      i32(c.args[0]),
      str(c, c.args[1]),
      i32(c.args[2]),
      str(c, c.args[3]),
      0,
    );
    return 0;
  },
  renameat2: (c) => {
    const flags = u32(c.args[4]);
    if (flags & ~3 || flags === 3) throw new LinuxError("EINVAL");
    renamePath(
      c.p.ns,
      c.p,
      i32(c.args[0]),
      str(c, c.args[1]),
      i32(c.args[2]),
      str(c, c.args[3]),
      flags,
    );
    return 0;
  },
  link: (c) => {
    linkAt(
      c.p.ns,
      c.p,
      resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0, false),
      AT_FDCWD,
      str(c, c.args[1]),
    );
    return 0;
  },
  linkat: (c) => {
    const flags = i32(c.args[4]);
    if (flags & ~(AT.SYMLINK_FOLLOW | AT.EMPTY_PATH)) throw new LinuxError("EINVAL");
    const target = resolveAt(c.p.ns, c.p, i32(c.args[0]), str(c, c.args[1]), flags, false);
    linkAt(c.p.ns, c.p, target, i32(c.args[2]), str(c, c.args[3]));
    return 0;
  },
  symlink: (c) => symlinkCall(c, str(c, c.args[0]), AT_FDCWD, str(c, c.args[1])),
  symlinkat: (c) => symlinkCall(c, str(c, c.args[0]), i32(c.args[1]), str(c, c.args[2])),
  readlink: (c) => readlinkCall(c, AT_FDCWD, str(c, c.args[0]), c.args[1]!, i32(c.args[2])),
  readlinkat: (c) => readlinkCall(c, i32(c.args[0]), str(c, c.args[1]), c.args[2]!, i32(c.args[3])),
  chmod: (c) => {
    chmodAt(resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0), u32(c.args[1]), c.p.creds);
    return 0;
  },
  fchmod: (c) => {
    const f = file(c, c.args[0]);
    chmodAt({ ...c.p.fs.cwd, file: f }, u32(c.args[1]), c.p.creds);
    return 0;
  },
  fchmodat: (c) => {
    chmodAt(
      resolveAt(c.p.ns, c.p, i32(c.args[0]), str(c, c.args[1]), 0),
      u32(c.args[2]),
      c.p.creds,
    );
    return 0;
  },
  fchmodat2: (c) => {
    const flags = i32(c.args[3]);
    const at = resolveAt(c.p.ns, c.p, i32(c.args[0]), str(c, c.args[1]), flags);
    if ((at.dentry.inode.stat().mode & S_IFMT) === S_IFLNK) throw new LinuxError("EOPNOTSUPP");
    chmodAt(at, u32(c.args[2]), c.p.creds);
    return 0;
  },
  chown: (c) => {
    const at = resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0);
    return chown(c, at, i32(c.args[1]), i32(c.args[2]));
  },
  lchown: (c) => {
    const at = resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), AT.SYMLINK_NOFOLLOW);
    return chown(c, at, i32(c.args[1]), i32(c.args[2]));
  },
  fchown: (c) =>
    chown(c, { ...c.p.fs.cwd, file: file(c, c.args[0]) }, i32(c.args[1]), i32(c.args[2])),
  fchownat: (c) => {
    const flags = i32(c.args[4]);
    const at = resolveAt(c.p.ns, c.p, i32(c.args[0]), str(c, c.args[1]), flags);
    return chown(c, at, i32(c.args[2]), i32(c.args[3]));
  },
  umask: (c) => {
    const old = c.p.fs.umask;
    c.p.fs.umask = u32(c.args[0]) & 0o777;
    return old;
  },
  access: (c) => access(c, AT_FDCWD, str(c, c.args[0]), i32(c.args[1]), 0),
  faccessat: (c) => access(c, i32(c.args[0]), str(c, c.args[1]), i32(c.args[2]), 0),
  faccessat2: (c) => {
    const flags = i32(c.args[3]);
    if (flags & ~(AT.EACCESS | AT.SYMLINK_NOFOLLOW | AT.EMPTY_PATH)) throw new LinuxError("EINVAL");
    return access(c, i32(c.args[0]), str(c, c.args[1]), i32(c.args[2]), flags);
  },
  truncate: (c) => {
    const at = resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0);
    if ((at.dentry.inode.stat().mode & S_IFMT) === S_IFDIR) throw new LinuxError("EISDIR");
    if (!mayAccess(at.dentry.inode.stat(), MAY.WRITE, c.p.creds)) throw new LinuxError("EACCES");
    if (at.mount.flags.readOnly) throw new LinuxError("EROFS");
    truncate(c, at.dentry.inode, i64(c.args[1]));
    notifyPath(at, IN.MODIFY);
    return 0;
  },
  ftruncate: (c) => {
    const f = file(c, c.args[0]);
    if (!f.writable) throw new LinuxError("EINVAL");
    truncate(c, f.inode, i64(c.args[1]));
    notifyFile(f, IN.MODIFY, false);
    return 0;
  },
  utimensat: (c) => utimens(c, i32(c.args[0]), c.args[1] ?? 0n, c.args[2] ?? 0n, i32(c.args[3])),
  utimes: (c) => utimesCall(c, AT_FDCWD, c.args[0]!, c.args[1] ?? 0n),
  futimesat: (c) => utimesCall(c, i32(c.args[0]), c.args[1]!, c.args[2] ?? 0n),
  utime: (c) => {
    const times = c.args[1] ?? 0n;
    if (times === 0n) return utimens(c, AT_FDCWD, c.args[0]!, 0n, 0);
    const raw = c.mem.read(times, 16);
    const v = new DataView(raw.buffer);
    return setTimes(
      c,
      AT_FDCWD,
      c.args[0]!,
      v.getBigInt64(0, true) * 1_000_000_000n,
      v.getBigInt64(8, true) * 1_000_000_000n,
    );
  },
  statfs: (c) => {
    const at = resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0);
    c.mem.write(c.args[1]!, at.mount.fs.statfs());
    return 0;
  },
  fstatfs: (c) => {
    const f = file(c, c.args[0]);
    const loc = f.location as VPath | null;
    c.mem.write(c.args[1]!, (loc ? loc.mount.fs : f.inode.fs).statfs());
    return 0;
  },
  sync: () => 0,
  syncfs: (c) => (file(c, c.args[0]), 0),
  flock: (c) => (flock(file(c, c.args[0]), i32(c.args[1])), 0),
  fsync: (c) => (file(c, c.args[0]), 0),
  fdatasync: (c) => (file(c, c.args[0]), 0),
  getxattr: (c) => (resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0), noXattr()),
  lgetxattr: (
    c,
  ) => (resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), AT.SYMLINK_NOFOLLOW), noXattr()),
  fgetxattr: (c) => (file(c, c.args[0]), noXattr()),
  listxattr: (c) => (resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0), 0),
  llistxattr: (c) => (resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), AT.SYMLINK_NOFOLLOW), 0),
  flistxattr: (c) => (file(c, c.args[0]), 0),
  setxattr: () => {
    throw new LinuxError("EOPNOTSUPP");
  },
  lsetxattr: () => {
    throw new LinuxError("EOPNOTSUPP");
  },
  fsetxattr: () => {
    throw new LinuxError("EOPNOTSUPP");
  },
  removexattr: (c) => (resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), 0), noXattr()),
  lremovexattr: (
    c,
  ) => (resolveAt(c.p.ns, c.p, AT_FDCWD, str(c, c.args[0]), AT.SYMLINK_NOFOLLOW), noXattr()),
  fremovexattr: (c) => (file(c, c.args[0]), noXattr()),
  fadvise64: (c) => {
    const f = file(c, c.args[0]);
    if ((f.inode.stat().mode & S_IFMT) === S_IFIFO) throw new LinuxError("ESPIPE");
    return 0;
  },
  fallocate: (c) => {
    const f = file(c, c.args[0]);
    const mode = i32(c.args[1]);
    const off = i64(c.args[2]);
    const len = i64(c.args[3]);
    if (off < 0n || len <= 0n) throw new LinuxError("EINVAL");
    if (!f.writable) throw new LinuxError("EBADF");
    if ((f.inode.stat().mode & S_IFMT) !== S_IFREG) throw new LinuxError("ENODEV");
    if (mode !== 0 && mode !== 1) throw new LinuxError("EOPNOTSUPP");
    if (mode === 0) growWithin(c, off + len);
    if (mode === 0 && off + len > f.inode.stat().size) f.inode.setattr({ size: off + len });
    notifyFile(f, IN.MODIFY);
    return 0;
  },
};

/** No file has extended attributes (yet): ENODATA, as for a missing name. */
function noXattr(): never {
  throw new LinuxError("ENODATA");
}

function writeStat(
  c: SyscallContext,
  st: ReturnType<OpenFile["inode"]["stat"]>,
  addr: bigint,
): number {
  c.mem.write(addr, encodeStat(st));
  return 0;
}

function pipeCall(c: SyscallContext, flags: number): number {
  if (flags & ~(O.NONBLOCK | O.CLOEXEC | O.DIRECT)) throw new LinuxError("EINVAL");
  const [r, w] = makePipe(flags, { uid: c.p.creds.euid, gid: c.p.creds.egid });
  return installPair(c, [r, w], (flags & O.CLOEXEC) !== 0, c.args[0]!);
}

/**
 * Installs two new files (pipe2, socketpair) and writes their descriptor
 * numbers to the caller's int[2]; on failure neither is left installed.
 *
 * @param c The call.
 * @param files The files (one reference each, taken).
 * @param cloexec Close them at execve.
 * @param addr Where the two numbers go.
 * @returns 0.
 */
export function installPair(
  c: SyscallContext,
  [a, b]: [OpenFile, OpenFile],
  cloexec: boolean,
  addr: bigint,
): number {
  let fa: number, fb: number;
  try {
    fa = c.p.fds.add(a, cloexec);
  } catch (e) {
    a.unref();
    b.unref();
    throw e;
  }
  try {
    fb = c.p.fds.add(b, cloexec);
  } catch (e) {
    // EMFILE for the second: the first goes too.
    c.p.fds.close(fa);
    b.unref();
    throw e;
  }
  const fds = new Uint8Array(8);
  const v = new DataView(fds.buffer);
  v.setInt32(0, fa, true);
  v.setInt32(4, fb, true);
  try {
    c.mem.write(addr, fds);
  } catch (e) {
    c.p.fds.close(fa);
    c.p.fds.close(fb);
    throw e;
  }
  return 0;
}

function chdirTo(c: SyscallContext, at: VPath): number {
  const st = at.dentry.inode.stat();
  if ((st.mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
  if (!mayAccess(st, MAY.EXEC, c.p.creds)) throw new LinuxError("EACCES");
  c.p.fs.cwd = at;
  return 0;
}

function mkdirCall(c: SyscallContext, dirfd: number, path: string, mode: number): number {
  createAt(
    c.p.ns,
    c.p,
    dirfd,
    path,
    (dir, name) => dir.mkdir(name, mode & 0o7777 & ~c.p.fs.umask, c.p.creds),
    true,
  );
  return 0;
}

function mknodCall(
  c: SyscallContext,
  dirfd: number,
  path: string,
  mode: number,
  dev: bigint,
): number {
  const type = mode & S_IFMT;
  if (!TYPE_OK.has(type)) throw new LinuxError("EINVAL");
  if ((type === S_IFCHR || type === S_IFBLK) && !c.p.creds.capable(27)) {
    throw new LinuxError("EPERM");
  }
  createAt(c.p.ns, c.p, dirfd, path, (dir, name) => {
    dir.mknod(name, (type || S_IFREG) | (mode & 0o7777 & ~c.p.fs.umask), c.p.creds, dev);
  });
  return 0;
}

function symlinkCall(c: SyscallContext, target: string, dirfd: number, path: string): number {
  if (target.length === 0) throw new LinuxError("ENOENT");
  createAt(c.p.ns, c.p, dirfd, path, (dir, name) => dir.symlink(name, target, c.p.creds));
  return 0;
}

function readlinkCall(
  c: SyscallContext,
  dirfd: number,
  path: string,
  buf: bigint,
  len: number,
): number {
  if (len <= 0) throw new LinuxError("EINVAL");
  const at = resolveAt(c.p.ns, c.p, dirfd, path, AT.SYMLINK_NOFOLLOW | AT.EMPTY_PATH, false);
  const inode = at.dentry.inode;
  if ((inode.stat().mode & S_IFMT) !== S_IFLNK) throw new LinuxError("EINVAL");
  const bytes = new TextEncoder().encode(inode.readlink());
  const n = Math.min(bytes.length, len);
  c.mem.write(buf, bytes.subarray(0, n));
  return n;
}

function utimesCall(c: SyscallContext, dirfd: number, path: bigint, times: bigint): number {
  if (times === 0n) return utimens(c, dirfd, path, 0n, 0);
  const raw = c.mem.read(times, 32);
  const v = new DataView(raw.buffer);
  const tv = (o: number) => {
    const usec = v.getBigInt64(o + 8, true);
    if (usec < 0n || usec >= 1_000_000n) throw new LinuxError("EINVAL");
    return v.getBigInt64(o, true) * 1_000_000_000n + usec * 1000n;
  };
  return setTimes(c, dirfd, path, tv(0), tv(16));
}

function setTimes(
  c: SyscallContext,
  dirfd: number,
  path: bigint,
  atime: bigint,
  mtime: bigint,
): number {
  const at = resolveAt(c.p.ns, c.p, dirfd, str(c, path), 0);
  const st = at.dentry.inode.stat();
  if (c.p.creds.fsuid !== st.uid && !c.p.creds.capable(3)) throw new LinuxError("EPERM");
  if (at.mount.flags.readOnly) throw new LinuxError("EROFS");
  at.dentry.inode.setattr({ atimeNs: atime, mtimeNs: mtime });
  notifyPath(at, IN.ATTRIB);
  return 0;
}
