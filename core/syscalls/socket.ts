/**
 * The socket system calls, for sockets inside the sandbox
 * (core/vfs/local_socket.ts): unix domain sockets, and TCP and UDP over
 * the sandbox's loopback (`--network none`; core/syscalls/inet.ts).
 * socket, socketpair, bind, listen, connect, accept, send and receive in
 * all their forms (with SCM_RIGHTS and SCM_CREDENTIALS), shutdown, the
 * names, and the socket options programs use. Other families (netlink,
 * packet) fail with EAFNOSUPPORT.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { O, type OpenFile, S_IFMT, S_IFSOCK } from "../vfs/inode.ts";
import { AT, AT_FDCWD, createAt, resolveAt } from "../vfs/ops.ts";
import { MAY, mayAccess } from "../vfs/perm.ts";
import {
  hex,
  type InetAddress,
  LocalSocket,
  makeSocketPair,
  type Message,
  type Received,
  type SocketAddress,
  type SocketNames,
  type Ucred,
} from "../vfs/local_socket.ts";
import { i32, size, u32 } from "./args.ts";
import {
  autobindInet,
  bindInet,
  decodeInet,
  encodeInet,
  isV4,
  lookupInet,
  sourceAddress,
} from "./inet.ts";
import { installPair, pipeSignal, readBuffer } from "./fs.ts";
import {
  getSocketOption,
  int,
  IPPROTO,
  MSG,
  setSocketOption,
  SO,
  SOL_SOCKET,
} from "./socket_options.ts";
import { AF, SOCK, SOCK_FLAG } from "../net/families.ts";

export { int };

const IPV6_V6ONLY = 26;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const SCM_MAX_FD = 253;
const CAP_NET_BIND_SERVICE = 10;
const ECONNREFUSED = 111;
/** Whether a level's options apply to a socket's family. */
function levelFits(s: LocalSocket, level: number): boolean {
  if (level === SOL_SOCKET) return true;
  if (s.family === AF.UNIX) return false;
  if (level === IPPROTO.TCP) return s.type === SOCK.STREAM;
  if (level === IPPROTO.IPV6) return s.family === AF.INET6;
  return level === IPPROTO.IP;
}

function names(c: SyscallContext): SocketNames {
  return c.k.net.names;
}

function socketOf(c: SyscallContext, fd: bigint | undefined): LocalSocket {
  const f = c.p.fds.get(i32(fd));
  if (!(f instanceof LocalSocket)) throw new LinuxError("ENOTSOCK");
  return f;
}

function credsOf(c: SyscallContext): Ucred {
  return { pid: c.p.pid, uid: c.p.creds.euid, gid: c.p.creds.egid };
}

/**
 * socket(2)'s type argument: the type, and SOCK_NONBLOCK and SOCK_CLOEXEC.
 *
 * @param raw The argument.
 * @returns The type, O_NONBLOCK or 0, and whether close-on-exec.
 * @throws {LinuxError} EINVAL for other flags.
 */
export function socketFlags(raw: number): { type: number; flags: number; cloexec: boolean } {
  if (raw & ~(0xf | SOCK_FLAG.NONBLOCK | SOCK_FLAG.CLOEXEC)) throw new LinuxError("EINVAL");
  return {
    type: raw & 0xf,
    flags: raw & SOCK_FLAG.NONBLOCK ? O.NONBLOCK : 0,
    cloexec: (raw & SOCK_FLAG.CLOEXEC) !== 0,
  };
}

function typeOf(raw: number): { type: number; flags: number; cloexec: boolean } {
  const t = socketFlags(raw);
  if (t.type !== SOCK.STREAM && t.type !== SOCK.DGRAM && t.type !== SOCK.SEQPACKET) {
    throw new LinuxError("ESOCKTNOSUPPORT");
  }
  return t;
}

/**
 * sendmmsg and recvmmsg: one message after another (`struct mmsghdr`s of
 * 64 bytes), each one's length stored after its msghdr. A failure after
 * the first ends the batch with what was done; after the first, a receive
 * takes only what is there (as MSG_DONTWAIT).
 *
 * @param c The call (fd, vector, count, flags).
 * @param one Sends or receives one message at a header's address.
 * @param receiving recvmmsg.
 * @param last Whether a message's length ends the batch (a stream's end).
 * @returns How many messages were done.
 */
export function eachMessage(
  c: SyscallContext,
  one: (hdr: bigint, flags: number) => number,
  receiving: boolean,
  last: (n: number) => boolean = () => false,
): number {
  const count = Math.min(u32(c.args[2]), 1024);
  let done = 0;
  while (done < count) {
    const at = (c.args[1] ?? 0n) + BigInt(64 * done);
    const flags = i32(c.args[3]) | (receiving && done > 0 ? MSG.DONTWAIT : 0);
    let n: number;
    try {
      n = one(at, flags);
    } catch (e) {
      if (done > 0) break;
      throw e;
    }
    c.mem.write(at + 56n, int(n));
    done++;
    if (last(n)) break;
  }
  return done;
}

/**
 * Socket handlers with the calls on one kind of socket routed to that
 * kind's own functions (host sockets, netlink sockets).
 *
 * @param local The handlers for every other socket.
 * @param calls The kind's functions, by system call name.
 * @param pick The kind's socket a call names (its first argument), or null.
 * @returns The handlers.
 */
export function routeSockets<T>(
  local: Record<string, Handler>,
  calls: Record<string, (c: SyscallContext, s: T) => number>,
  pick: (f: OpenFile) => T | null,
): Record<string, Handler> {
  const out: Record<string, Handler> = { ...local };
  for (const [name, call] of Object.entries(calls)) {
    const mine = local[name]!;
    out[name] = (c) => {
      const s = pick(c.p.fds.get(i32(c.args[0])));
      return s ? call(c, s) : mine(c);
    };
  }
  return out;
}

/** Reads a socket address for a socket of `family`. */
function readAddress(
  c: SyscallContext,
  addr: bigint,
  len: number,
  family: number = AF.UNIX,
): SocketAddress {
  if (family !== AF.UNIX) {
    if (len < 2 || len > 128) throw new LinuxError("EINVAL");
    return decodeInet(c.mem.read(addr, len));
  }
  if (len < 2 || len > 110) throw new LinuxError("EINVAL");
  const raw = c.mem.read(addr, len);
  if ((raw[0]! | (raw[1]! << 8)) !== AF.UNIX) throw new LinuxError("EINVAL");
  if (len === 2) return { kind: "unnamed" };
  if (raw[2] === 0) return { kind: "abstract", name: raw.slice(3) };
  const end = raw.indexOf(0, 2);
  const path = new TextDecoder().decode(raw.subarray(2, end < 0 ? len : end));
  return { kind: "path", path };
}

/** Encodes an address as a socket of `family` shows it. */
function encodeAddress(a: SocketAddress, family: number = AF.UNIX): Uint8Array {
  if (a.kind === "inet") return encodeInet(a, family);
  if (family !== AF.UNIX) {
    // Not bound yet: the unspecified address, port 0.
    return encodeInet({
      kind: "inet",
      family,
      ip: new Uint8Array(family === AF.INET ? 4 : 16),
      port: 0,
    }, family);
  }
  const body = a.kind === "path"
    ? [...new TextEncoder().encode(a.path), 0]
    : a.kind === "abstract"
    ? [0, ...a.name]
    : [];
  return new Uint8Array([AF.UNIX, 0, ...body]);
}

/** Writes an address to (addr, *lenp), truncated to the caller's length. */
function writeAddress(
  c: SyscallContext,
  addr: bigint,
  lenp: bigint,
  a: SocketAddress,
  family: number,
): void {
  if (addr === 0n || lenp === 0n) return;
  const room = new DataView(c.mem.read(lenp, 4).buffer).getInt32(0, true);
  if (room < 0) throw new LinuxError("EINVAL");
  const bytes = encodeAddress(a, family);
  c.mem.write(addr, bytes.subarray(0, Math.min(room, bytes.length)));
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, bytes.length, true);
  c.mem.write(lenp, out);
}

/** The socket an address names. */
function lookup(c: SyscallContext, a: SocketAddress): LocalSocket {
  if (a.kind === "abstract") {
    const s = names(c).abstract.get(hex(a.name));
    if (!s) throw new LinuxError("ECONNREFUSED");
    return s;
  }
  if (a.kind !== "path") throw new LinuxError("EINVAL");
  if (a.path === "") throw new LinuxError("ENOENT");
  const at = resolveAt(c.p.ns, c.p, AT_FDCWD, a.path, 0);
  const st = at.dentry.inode.stat();
  if ((st.mode & S_IFMT) !== S_IFSOCK) throw new LinuxError("ECONNREFUSED");
  if (!mayAccess(st, MAY.WRITE, c.p.creds)) throw new LinuxError("EACCES");
  const s = names(c).files.get(`${st.dev}:${st.ino}`);
  if (!s) throw new LinuxError("ECONNREFUSED");
  return s;
}

/**
 * listen(2)'s backlog as Linux takes it: at most net.core.somaxconn (a
 * negative one, taken unsigned, too).
 *
 * @param c The call.
 * @param backlog The backlog asked for.
 * @returns The backlog.
 */
function listenBacklog(c: SyscallContext, backlog: number): number {
  const most = c.k.net.settings.somaxconn;
  return backlog < 0 || backlog > most ? most : backlog;
}

/**
 * The lowest port the caller may bind: net.ipv4.ip_unprivileged_port_start,
 * or any with CAP_NET_BIND_SERVICE.
 *
 * @param c The call.
 * @returns The port.
 */
function lowestPort(c: SyscallContext): number {
  return c.p.creds.capable(CAP_NET_BIND_SERVICE) ? 0 : c.k.net.settings.unprivilegedPortStart;
}

function bind(c: SyscallContext, s: LocalSocket, a: SocketAddress): void {
  const n = names(c);
  if (s.family !== AF.UNIX) {
    if (a.kind !== "inet") throw new LinuxError("EINVAL");
    bindInet(n, s, a, lowestPort(c));
    return;
  }
  if (a.kind === "unnamed") {
    const name = n.autoName();
    s.bindTo({ kind: "abstract", name }, { map: n.abstract, key: hex(name) });
    return;
  }
  if (a.kind === "abstract") {
    s.bindTo(a, { map: n.abstract, key: hex(a.name) });
    return;
  }
  if (s.local.kind !== "unnamed") throw new LinuxError("EINVAL");
  if (a.kind !== "path") throw new LinuxError("EINVAL");
  try {
    createAt(c.p.ns, c.p, AT_FDCWD, a.path, (dir, name) => {
      dir.mknod(name, S_IFSOCK | (0o777 & ~c.p.fs.umask), c.p.creds, 0n);
    });
  } catch (e) {
    if (e instanceof LinuxError && e.errno === 17) throw new LinuxError("EADDRINUSE");
    throw e;
  }
  const st = resolveAt(c.p.ns, c.p, AT_FDCWD, a.path, AT.SYMLINK_NOFOLLOW).dentry.inode.stat();
  s.bindTo(a, { map: n.files, key: `${st.dev}:${st.ino}` });
}

/** Reads the iovecs of a msghdr. */
function iovecs(c: SyscallContext, addr: bigint, count: number): Array<[bigint, number]> {
  if (count < 0 || count > 1024) throw new LinuxError("EMSGSIZE");
  if (count === 0) return [];
  const raw = new DataView(c.mem.read(addr, 16 * count).buffer);
  const out: Array<[bigint, number]> = [];
  for (let i = 0; i < count; i++) {
    out.push([raw.getBigUint64(16 * i, true), Number(raw.getBigUint64(16 * i + 8, true))]);
  }
  return out;
}

/** A `struct msghdr`, as sendmsg and recvmsg take it. */
export interface MsgHdr {
  name: bigint;
  nameLen: number;
  iov: Array<[bigint, number]>;
  control: bigint;
  controlLen: number;
}

/**
 * Reads a `struct msghdr`.
 *
 * @param c The call.
 * @param addr Where it is.
 * @returns Its fields (the iovecs read too).
 */
export function readMsgHdr(c: SyscallContext, addr: bigint): MsgHdr {
  const v = new DataView(c.mem.read(addr, 56).buffer);
  return {
    name: v.getBigUint64(0, true),
    nameLen: v.getUint32(8, true),
    iov: iovecs(c, v.getBigUint64(16, true), Number(v.getBigUint64(24, true))),
    control: v.getBigUint64(32, true),
    controlLen: Number(v.getBigUint64(40, true)),
  };
}

/** The descriptions an SCM_RIGHTS message names, and credentials given (checked). */
function readControl(c: SyscallContext, h: MsgHdr): { files: OpenFile[]; creds: Ucred | null } {
  const files: OpenFile[] = [];
  let creds: Ucred | null = null;
  if (h.control === 0n || h.controlLen === 0) return { files, creds };
  const raw = c.mem.read(h.control, Math.min(h.controlLen, 1 << 16));
  const v = new DataView(raw.buffer);
  for (let at = 0; at + 16 <= raw.length;) {
    const len = Number(v.getBigUint64(at, true));
    const level = v.getInt32(at + 8, true);
    const type = v.getInt32(at + 12, true);
    if (len < 16 || at + len > raw.length) throw new LinuxError("EINVAL");
    if (level !== SOL_SOCKET) throw new LinuxError("EINVAL");
    if (type === SCM_RIGHTS) {
      const count = (len - 16) / 4;
      if (!Number.isInteger(count) || files.length + count > SCM_MAX_FD) {
        throw new LinuxError("EINVAL");
      }
      for (let i = 0; i < count; i++) files.push(c.p.fds.get(v.getInt32(at + 16 + 4 * i, true)));
    } else if (type === SCM_CREDENTIALS) {
      if (len < 28) throw new LinuxError("EINVAL");
      const given = {
        pid: v.getInt32(at + 16, true),
        uid: v.getUint32(at + 20, true),
        gid: v.getUint32(at + 24, true),
      };
      const mine = credsOf(c);
      const admin = c.p.creds.capable(21);
      if (
        (given.pid !== mine.pid && !admin) ||
        (given.uid !== mine.uid && given.uid !== c.p.creds.uid && !c.p.creds.capable(7)) ||
        (given.gid !== mine.gid && given.gid !== c.p.creds.gid && !c.p.creds.capable(6))
      ) throw new LinuxError("EPERM");
      creds = given;
    } else {
      throw new LinuxError("EINVAL");
    }
    at += (len + 7) & ~7;
  }
  return { files, creds };
}

/**
 * The bytes iovecs name, in one buffer.
 *
 * @param c The call.
 * @param iov The iovecs.
 * @returns The bytes.
 */
export function gather(c: SyscallContext, iov: Array<[bigint, number]>): Uint8Array {
  const total = iov.reduce((n, [, len]) => n + len, 0);
  if (total > 0x7ffff000) throw new LinuxError("EINVAL");
  const out = new Uint8Array(total);
  let at = 0;
  for (const [base, len] of iov) {
    if (len) out.set(c.mem.read(base, len), at);
    at += len;
  }
  return out;
}

/**
 * Writes bytes across iovecs, in order.
 *
 * @param c The call.
 * @param iov The iovecs.
 * @param data The bytes.
 */
export function scatter(c: SyscallContext, iov: Array<[bigint, number]>, data: Uint8Array): void {
  let at = 0;
  for (const [base, len] of iov) {
    if (at >= data.length) break;
    const n = Math.min(len, data.length - at);
    c.mem.write(base, data.subarray(at, at + n));
    at += n;
  }
}

function sendCommon(
  c: SyscallContext,
  s: LocalSocket,
  data: Uint8Array,
  flags: number,
  to: SocketAddress | null,
  control: { files: OpenFile[]; creds: Ucred | null },
): number {
  let target: LocalSocket | null;
  let from = s.local;
  let datagram: InetAddress | null = null;
  if (s.family !== AF.UNIX) {
    const dest = to ?? (s.type === SOCK.DGRAM ? s.remote : null);
    if (s.type === SOCK.DGRAM && !dest) throw new LinuxError("EDESTADDRREQ");
    if (s.type !== SOCK.DGRAM && to) throw new LinuxError("EISCONN");
    if (dest?.kind === "inet") {
      autobindInet(names(c), s, isV4(dest), false);
      target = lookupInet(names(c), s, dest);
      datagram = dest;
      // Nothing bound there: the datagram is lost, as on a network.
      if (!target) return countDatagram(c, dest, data.length, false);
      from = sourceAddress(s.local as InetAddress, dest);
    } else target = null;
  } else {
    target = to && to.kind !== "unnamed" ? lookup(c, to) : null;
    if (s.type === SOCK.DGRAM && s.local.kind === "unnamed" && (s.passCred || target?.passCred)) {
      bind(c, s, { kind: "unnamed" });
    }
  }
  const m: Message = {
    data,
    files: control.files,
    creds: control.creds ?? credsOf(c),
    from,
    ...(datagram && isV4(datagram) ? { udp4: true } : {}),
  };
  try {
    const n = s.send(m, target, (flags & MSG.DONTWAIT) !== 0 || (s.flags & O.NONBLOCK) !== 0);
    return datagram ? countDatagram(c, datagram, n, true) : n;
  } catch (e) {
    if (flags & MSG.NOSIGNAL) throw e;
    return pipeSignal(c, e);
  }
}

/**
 * Counts a UDP datagram sent on the loopback: one packet on lo (IP and
 * UDP headers with the data), and for IPv4 Linux's Udp counters.
 *
 * @returns Its length.
 */
function countDatagram(c: SyscallContext, to: InetAddress, length: number, taken: boolean): number {
  const counters = c.k.net.counters;
  const v4 = isV4(to);
  counters.packet((v4 ? 28 : 48) + length);
  if (v4) {
    counters.udp.outDatagrams++;
    if (!taken) counters.udp.noPorts++;
  }
  return length;
}

/** Receives as recvfrom and recvmsg do (flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT). */
function receive(s: LocalSocket, buf: Uint8Array, flags: number): Received {
  return s.receive(buf, {
    peek: (flags & MSG.PEEK) !== 0,
    waitAll: (flags & MSG.WAITALL) !== 0,
    nonblock: (flags & MSG.DONTWAIT) !== 0 || (s.flags & O.NONBLOCK) !== 0,
  });
}

function sendmsg(c: SyscallContext, s: LocalSocket, hdrAddr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdrAddr);
  const to = h.name !== 0n && h.nameLen ? readAddress(c, h.name, h.nameLen, s.family) : null;
  return sendCommon(c, s, gather(c, h.iov), flags, to, readControl(c, h));
}

/** Installs received descriptions and encodes the control messages that fit. */
function writeControl(
  c: SyscallContext,
  s: LocalSocket,
  h: MsgHdr,
  files: OpenFile[],
  creds: Ucred | null,
  flags: number,
): { length: number; truncated: boolean } {
  const parts: Uint8Array[] = [];
  let room = h.control === 0n ? 0 : h.controlLen;
  let truncated = false;
  if (s.passCred && creds) {
    const body = new Uint8Array(12);
    const v = new DataView(body.buffer);
    v.setInt32(0, creds.pid, true);
    v.setUint32(4, creds.uid, true);
    v.setUint32(8, creds.gid, true);
    const m = cmsg(SOL_SOCKET, SCM_CREDENTIALS, body);
    if (m.length <= room) {
      parts.push(m);
      room -= m.length;
    } else truncated = true;
  }
  if (files.length) {
    const fit = Math.max(0, Math.min(files.length, Math.floor((room - 16) / 4)));
    if (fit < files.length) truncated = true;
    const body = new Uint8Array(4 * fit);
    const v = new DataView(body.buffer);
    for (const [i, f] of files.entries()) {
      if (i < fit) {
        v.setInt32(4 * i, c.p.fds.add(f, (flags & MSG.CMSG_CLOEXEC) !== 0), true);
      } else f.unref();
    }
    if (fit) {
      const m = cmsg(SOL_SOCKET, SCM_RIGHTS, body);
      parts.push(m.subarray(0, Math.min(m.length, room)));
    }
  }
  let at = 0;
  for (const p of parts) {
    c.mem.write(h.control + BigInt(at), p);
    at += p.length;
  }
  return { length: at, truncated };
}

function recvmsg(c: SyscallContext, s: LocalSocket, hdrAddr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdrAddr);
  const total = h.iov.reduce((n, [, len]) => n + len, 0);
  const buf = readBuffer(Math.min(total, 1 << 24));
  const r = receive(s, buf, flags);
  scatter(c, h.iov, buf.subarray(0, r.n));
  const ctl = writeControl(c, s, h, r.files, r.creds, flags);
  let outFlags = 0;
  if (r.truncated) outFlags |= MSG.TRUNC;
  if (ctl.truncated) outFlags |= MSG.CTRUNC;
  finishRecvmsg(c, hdrAddr, h, encodeAddress(r.from, s.family), ctl.length, outFlags);
  return (flags & MSG.TRUNC) && s.datagrams ? r.full : r.n;
}

/**
 * The room getsockopt's caller gave for the value (its optlen word).
 *
 * @param c The call (getsockopt's arguments).
 * @returns The room.
 * @throws {LinuxError} EINVAL for a negative length.
 */
export function optionRoom(c: SyscallContext): number {
  const room = new DataView(c.mem.read(c.args[4] ?? 0n, 4).buffer).getInt32(0, true);
  if (room < 0) throw new LinuxError("EINVAL");
  return room;
}

/**
 * Gives getsockopt's caller an option's value: as much as its room holds,
 * and the length written in its optlen.
 *
 * @param c The call (getsockopt's arguments).
 * @param value The value.
 */
export function putOption(c: SyscallContext, value: Uint8Array): void {
  const n = Math.min(optionRoom(c), value.length);
  c.mem.write(c.args[3] ?? 0n, value.subarray(0, n));
  c.mem.write(c.args[4] ?? 0n, int(n));
}

/**
 * The value setsockopt's caller gives (at most 4096 bytes, as Linux's
 * sockets take).
 *
 * @param c The call (setsockopt's arguments).
 * @returns The bytes.
 * @throws {LinuxError} EINVAL for a longer one.
 */
export function optionValue(c: SyscallContext): Uint8Array {
  const len = u32(c.args[4]);
  if (len > 4096) throw new LinuxError("EINVAL");
  return len ? c.mem.read(c.args[3] ?? 0n, len) : new Uint8Array(0);
}

/**
 * sendmsg, recvmsg, their batches (sendmmsg, recvmmsg) and shutdown for
 * one kind of socket, from its one-message functions.
 *
 * @param sendmsg Sends the message whose msghdr is at an address.
 * @param recvmsg Receives into the msghdr at an address.
 * @returns The calls, by name.
 */
export function messageCalls<T extends { shutdown(how: number): void }>(
  sendmsg: (c: SyscallContext, s: T, hdr: bigint, flags: number) => number,
  recvmsg: (c: SyscallContext, s: T, hdr: bigint, flags: number) => number,
): Record<string, (c: SyscallContext, s: T) => number> {
  return {
    sendmsg: (c, s) => sendmsg(c, s, c.args[1] ?? 0n, i32(c.args[2])),
    recvmsg: (c, s) => recvmsg(c, s, c.args[1] ?? 0n, i32(c.args[2])),
    sendmmsg: (c, s) => eachMessage(c, (at, flags) => sendmsg(c, s, at, flags), false),
    recvmmsg: (c, s) => eachMessage(c, (at, flags) => recvmsg(c, s, at, flags), true),
    shutdown: (c, s) => {
      s.shutdown(i32(c.args[1]));
      return 0;
    },
  };
}

/** listen, accept and accept4 on a socket that takes no connections: EOPNOTSUPP. */
export const NO_CONNECTIONS: Record<string, () => number> = Object.fromEntries(
  ["listen", "accept", "accept4"].map((name) => [name, () => {
    throw new LinuxError("EOPNOTSUPP");
  }]),
);

/**
 * A control message (`struct cmsghdr` and its data, padded to 8 bytes).
 *
 * @param level Its level (SOL_SOCKET, IPPROTO_IP...).
 * @param type Its type.
 * @param body Its data.
 * @returns The bytes.
 *
 * @example
 * ```ts
 * import { cmsg } from "./socket.ts";
 * const m = cmsg(0, 2, new Uint8Array(4));
 * if (m.length !== 24 || m[0] !== 20) throw new Error();
 * ```
 */
export function cmsg(level: number, type: number, body: Uint8Array): Uint8Array {
  const len = 16 + body.length;
  const out = new Uint8Array((len + 7) & ~7);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt(len), true);
  v.setInt32(8, level, true);
  v.setInt32(12, type, true);
  out.set(body, 16);
  return out;
}

/**
 * Writes control messages to the caller's buffer as Linux's put_cmsg: one
 * that does not fit whole is cut to the room left (its length says so)
 * and MSG_CTRUNC is due; none is written in less room than a header.
 *
 * @param c The call.
 * @param h The msghdr.
 * @param parts The messages ({@linkcode cmsg}).
 * @returns The length written and whether any was cut or left out.
 */
export function putControl(
  c: SyscallContext,
  h: MsgHdr,
  parts: Uint8Array[],
): { length: number; truncated: boolean } {
  let room = h.control === 0n ? 0 : h.controlLen;
  let at = 0;
  for (const p of parts) {
    const len = Number(new DataView(p.buffer, p.byteOffset).getBigUint64(0, true));
    if (room < 16) return { length: at, truncated: true };
    if (room < len) {
      const cut = p.slice(0, room);
      new DataView(cut.buffer).setBigUint64(0, BigInt(room), true);
      c.mem.write(h.control + BigInt(at), cut);
      return { length: at + room, truncated: true };
    }
    c.mem.write(h.control + BigInt(at), p.subarray(0, Math.min(p.length, room)));
    at += Math.min(p.length, room);
    room -= Math.min(p.length, room);
  }
  return { length: at, truncated: false };
}

/**
 * Writes back what recvmsg(2) reports in the caller's msghdr: the sender's
 * address (cut to msg_namelen, its full length stored) when a name
 * buffer was given, the control length and the flags.
 *
 * @param c The call.
 * @param hdrAddr Where the msghdr is.
 * @param h The msghdr as read.
 * @param name The sender's address.
 * @param controlLength Bytes of control messages written.
 * @param flags MSG_TRUNC, MSG_CTRUNC...
 */
export function finishRecvmsg(
  c: SyscallContext,
  hdrAddr: bigint,
  h: MsgHdr,
  name: Uint8Array,
  controlLength: number,
  flags: number,
): void {
  const v = new DataView(c.mem.read(hdrAddr, 56).slice().buffer);
  if (h.name !== 0n) {
    c.mem.write(h.name, name.subarray(0, Math.min(h.nameLen, name.length)));
    v.setUint32(8, name.length, true);
  }
  v.setBigUint64(40, BigInt(controlLength), true);
  v.setInt32(48, flags, true);
  c.mem.write(hdrAddr, new Uint8Array(v.buffer));
}

/**
 * Writes a raw sockaddr as accept, getsockname and recvfrom do: cut to the
 * room the caller's length word gives, the full length written back.
 *
 * @param c The call.
 * @param addr Where (0: nothing is written).
 * @param lenp The caller's socklen_t.
 * @param a The sockaddr.
 * @throws {LinuxError} EINVAL for a negative length.
 */
export function writeSockaddr(
  c: SyscallContext,
  addr: bigint | undefined,
  lenp: bigint | undefined,
  a: Uint8Array,
): void {
  if (!addr || !lenp) return;
  const room = new DataView(c.mem.read(lenp, 4).buffer).getInt32(0, true);
  if (room < 0) throw new LinuxError("EINVAL");
  c.mem.write(addr, a.subarray(0, Math.min(room, a.length)));
  c.mem.write(lenp, int(a.length));
}

function getsockopt(
  c: SyscallContext,
  s: LocalSocket,
  level: number,
  name: number,
): Uint8Array {
  if (!levelFits(s, level)) throw new LinuxError("EOPNOTSUPP");
  if (level === IPPROTO.IPV6 && name === IPV6_V6ONLY) return int(s.v6only ? 1 : 0);
  switch (level === SOL_SOCKET ? name : -1) {
    case SO.PASSCRED:
      return int(s.passCred ? 1 : 0);
    case SO.PEERCRED: {
      const p = s.peerCreds ?? { pid: 0, uid: 65534, gid: 65534 };
      if (!s.peerCreds && s.state !== "connected") throw new LinuxError("ENOTCONN");
      const out = new Uint8Array(12);
      const v = new DataView(out.buffer);
      v.setInt32(0, p.pid, true);
      v.setUint32(4, p.uid, true);
      v.setUint32(8, p.gid, true);
      return out;
    }
  }
  return getSocketOption(s, level, name, c.k.net.settings);
}

function setsockopt(s: LocalSocket, level: number, name: number, value: Uint8Array): void {
  if (!levelFits(s, level)) throw new LinuxError("EOPNOTSUPP");
  const on = () => {
    if (value.length < 4) throw new LinuxError("EINVAL");
    return new DataView(value.buffer, value.byteOffset).getInt32(0, true) !== 0;
  };
  if (level === IPPROTO.IPV6 && name === IPV6_V6ONLY) {
    if (s.local.kind !== "unnamed") throw new LinuxError("EINVAL");
    s.v6only = on();
    return;
  }
  if (level === SOL_SOCKET && name === SO.PASSCRED) {
    s.passCred = on();
    return;
  }
  setSocketOption(s, level, name, value);
}

function acceptCall(c: SyscallContext, flags: number): number {
  if (flags & ~(SOCK_FLAG.NONBLOCK | SOCK_FLAG.CLOEXEC)) throw new LinuxError("EINVAL");
  const s = socketOf(c, c.args[0]);
  const conn = s.accept();
  if (flags & SOCK_FLAG.NONBLOCK) conn.flags |= O.NONBLOCK;
  const fd = c.p.fds.add(conn, (flags & SOCK_FLAG.CLOEXEC) !== 0);
  try {
    writeAddress(c, c.args[1]!, c.args[2]!, conn.peer?.local ?? { kind: "unnamed" }, s.family);
  } catch (e) {
    c.p.fds.close(fd);
    throw e;
  }
  return fd;
}

/** The socket system calls. */
export const SOCKET_HANDLERS: Record<string, Handler> = {
  socket: (c) => {
    const family = i32(c.args[0]);
    if (family !== AF.UNIX && family !== AF.INET && family !== AF.INET6) {
      throw new LinuxError("EAFNOSUPPORT");
    }
    const { type, flags, cloexec } = typeOf(i32(c.args[1]));
    const proto = i32(c.args[2]);
    if (family === AF.UNIX) {
      if (proto !== 0) throw new LinuxError("EPROTONOSUPPORT");
    } else {
      if (type === SOCK.SEQPACKET) throw new LinuxError("ESOCKTNOSUPPORT");
      const wanted = type === SOCK.DGRAM ? IPPROTO.UDP : IPPROTO.TCP;
      if (proto !== 0 && proto !== wanted) throw new LinuxError("EPROTONOSUPPORT");
    }
    const s = new LocalSocket(type, flags, credsOf(c), family);
    s.track(c.k.net);
    return c.p.fds.add(s, cloexec);
  },
  socketpair: (c) => {
    const family = i32(c.args[0]);
    if (family === AF.INET || family === AF.INET6) throw new LinuxError("EOPNOTSUPP");
    if (family !== AF.UNIX) throw new LinuxError("EAFNOSUPPORT");
    const { type, flags, cloexec } = typeOf(i32(c.args[1]));
    if (i32(c.args[2]) !== 0) throw new LinuxError("EPROTONOSUPPORT");
    const ends = makeSocketPair(type, flags, credsOf(c));
    for (const s of ends) s.track(c.k.net);
    return installPair(c, ends, cloexec, c.args[3]!);
  },
  bind: (c) => {
    const s = socketOf(c, c.args[0]);
    bind(c, s, readAddress(c, c.args[1]!, u32(c.args[2]), s.family));
    return 0;
  },
  listen: (c) => {
    const s = socketOf(c, c.args[0]);
    if (s.local.kind === "unnamed" && s.type !== SOCK.DGRAM) {
      bind(
        c,
        s,
        s.family === AF.UNIX ? { kind: "unnamed" } : {
          kind: "inet",
          family: s.family,
          ip: new Uint8Array(s.family === AF.INET ? 4 : 16),
          port: 0,
        },
      );
    }
    s.listen(listenBacklog(c, i32(c.args[1])));
    return 0;
  },
  connect: (c) => {
    const s = socketOf(c, c.args[0]);
    const a = readAddress(c, c.args[1]!, u32(c.args[2]), s.family);
    if (a.kind === "inet") {
      const n = names(c);
      autobindInet(n, s, isV4(a), true);
      if (s.type === SOCK.DGRAM) {
        lookupInet(n, s, a); // ENETUNREACH for an address outside the sandbox
        s.remote = a;
        return 0;
      }
      const server = lookupInet(n, s, a);
      try {
        if (!server) throw new LinuxError("ECONNREFUSED");
        s.connectTo(server, { local: { ...a, port: (server.local as { port: number }).port } });
      } catch (e) {
        // A SYN to a port nobody listens on is answered by a reset.
        if (e instanceof LinuxError && e.errno === ECONNREFUSED) {
          const tcp = c.k.net.counters.tcp;
          tcp.activeOpens++;
          tcp.attemptFails++;
          tcp.outRsts++;
        }
        throw e;
      }
      return 0;
    }
    if (s.type === SOCK.DGRAM) {
      // A datagram socket's default destination (AF_UNSPEC-like unnamed: none).
      s.peer = a.kind === "unnamed" ? null : lookup(c, a);
      if (s.peer) s.peerCreds = s.peer.creds;
      return 0;
    }
    s.connectTo(lookup(c, a));
    return 0;
  },
  accept: (c) => acceptCall(c, 0),
  accept4: (c) => acceptCall(c, i32(c.args[3])),
  getsockname: (c) => {
    const s = socketOf(c, c.args[0]);
    writeAddress(c, c.args[1]!, c.args[2]!, s.local, s.family);
    return 0;
  },
  getpeername: (c) => {
    const s = socketOf(c, c.args[0]);
    // A TCP connection reset or finished at both ends is closed.
    const closed = s.state === "listening" || (s.tcp && s.tcpState === 7);
    const peer = s.remote ?? (closed ? null : s.peer?.local);
    if (!peer) throw new LinuxError("ENOTCONN");
    writeAddress(c, c.args[1]!, c.args[2]!, peer, s.family);
    return 0;
  },
  sendto: (c) => {
    const s = socketOf(c, c.args[0]);
    const data = c.mem.read(c.args[1]!, size(c.args[2]));
    const addrLen = u32(c.args[5]);
    const to = c.args[4] && addrLen ? readAddress(c, c.args[4], addrLen, s.family) : null;
    return sendCommon(c, s, data, i32(c.args[3]), to, { files: [], creds: null });
  },
  recvfrom: (c) => {
    const s = socketOf(c, c.args[0]);
    const flags = i32(c.args[3]);
    const buf = readBuffer(size(c.args[2]));
    const r = receive(s, buf, flags);
    for (const f of r.files) f.unref();
    c.mem.write(c.args[1]!, buf.subarray(0, r.n));
    writeAddress(c, c.args[4]!, c.args[5]!, r.from, s.family);
    return (flags & MSG.TRUNC) && s.datagrams ? r.full : r.n;
  },
  sendmsg: (c) => sendmsg(c, socketOf(c, c.args[0]), c.args[1]!, i32(c.args[2])),
  recvmsg: (c) => recvmsg(c, socketOf(c, c.args[0]), c.args[1]!, i32(c.args[2])),
  sendmmsg: (c) => {
    const s = socketOf(c, c.args[0]);
    return eachMessage(c, (at, flags) => sendmsg(c, s, at, flags), false);
  },
  recvmmsg: (c) => {
    const s = socketOf(c, c.args[0]);
    // A stream's end (0 bytes) ends the batch.
    return eachMessage(
      c,
      (at, flags) => recvmsg(c, s, at, flags),
      true,
      (n) => n === 0 && !s.datagrams,
    );
  },
  shutdown: (c) => {
    socketOf(c, c.args[0]).shutdown(i32(c.args[1]));
    return 0;
  },
  getsockopt: (c) => {
    const s = socketOf(c, c.args[0]);
    putOption(c, getsockopt(c, s, i32(c.args[1]), i32(c.args[2])));
    return 0;
  },
  setsockopt: (c) => {
    setsockopt(socketOf(c, c.args[0]), i32(c.args[1]), i32(c.args[2]), optionValue(c));
    return 0;
  },
};
