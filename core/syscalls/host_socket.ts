/**
 * The socket system calls on host sockets (`--network host`): socket(2)
 * makes a host socket for AF_INET and AF_INET6, and every call on one goes
 * to core/vfs/host_socket.ts; everything else stays with the Sentry's own
 * sockets (socket.ts).
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { HostSocketFile } from "../vfs/host_socket.ts";
import { O } from "../vfs/inode.ts";
import { i32, size, u32 } from "./args.ts";
import { pipeSignal, readBuffer } from "./fs.ts";
import {
  gather,
  int,
  messageCalls,
  optionRoom,
  optionValue,
  putOption,
  readMsgHdr,
  routeSockets,
  scatter,
  socketFlags,
  writeSockaddr as writeAddr,
} from "./socket.ts";
import { AF, SOCK, SOCK_FLAG } from "../net/families.ts";

const MSG_NOSIGNAL = 0x4000;
/** The largest sockaddr an application may pass. */
const ADDR_MAX = 128;

function readAddr(c: SyscallContext, addr: bigint | undefined, len: number): Uint8Array {
  if (len < 2 || len > ADDR_MAX) throw new LinuxError("EINVAL");
  return c.mem.read(addr ?? 0n, len);
}

function send(
  c: SyscallContext,
  s: HostSocketFile,
  data: Uint8Array,
  flags: number,
  to: Uint8Array | null,
): number {
  try {
    return s.send(data, flags & ~MSG_NOSIGNAL, to);
  } catch (e) {
    if (flags & MSG_NOSIGNAL) throw e;
    return pipeSignal(c, e);
  }
}

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const MSG_TRUNC = 0x20;
/** The most control message bytes passed either way (Linux's optmem_max is 20 KiB by default). */
const CONTROL_MAX = 1 << 16;

/**
 * The control messages of one direction, checked: descriptors and
 * credentials never cross (an inet socket ignores them, as Linux's; a
 * netlink socket's credentials would be the host's), everything else is
 * the host kernel's to take or refuse.
 *
 * @param raw cmsghdr records.
 * @param sending From the application (a bad record is EINVAL) or to it (dropped).
 * @returns The records kept.
 */
function hostControl(raw: Uint8Array, sending: boolean): Uint8Array {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const kept: Uint8Array[] = [];
  for (let at = 0; at + 16 <= raw.length;) {
    const len = Number(v.getBigUint64(at, true));
    if (len < 16 || at + len > raw.length) {
      if (sending) throw new LinuxError("EINVAL");
      break;
    }
    const level = v.getInt32(at + 8, true);
    const type = v.getInt32(at + 12, true);
    const passes = !(level === SOL_SOCKET && (type === SCM_RIGHTS || type === SCM_CREDENTIALS));
    const next = Math.min(raw.length, at + ((len + 7) & ~7));
    if (passes) kept.push(raw.subarray(at, next));
    at = next;
  }
  const out = new Uint8Array(kept.reduce((n, k) => n + k.length, 0));
  let at = 0;
  for (const k of kept) {
    out.set(k, at);
    at += k.length;
  }
  return out;
}

function sendmsg(c: SyscallContext, s: HostSocketFile, hdr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdr);
  const to = h.name !== 0n && h.nameLen ? readAddr(c, h.name, h.nameLen) : null;
  if (h.controlLen > CONTROL_MAX) throw new LinuxError("ENOBUFS");
  const control = h.control && h.controlLen
    ? hostControl(c.mem.read(h.control, h.controlLen), true)
    : new Uint8Array(0);
  const data = gather(c, h.iov);
  try {
    return s.sendMessage(data, flags & ~MSG_NOSIGNAL, to, control);
  } catch (e) {
    if (flags & MSG_NOSIGNAL) throw e;
    return pipeSignal(c, e);
  }
}

function recvmsg(c: SyscallContext, s: HostSocketFile, hdr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdr);
  const room = h.iov.reduce((n, [, l]) => n + l, 0);
  const buf = readBuffer(Math.min(room, 1 << 24));
  const controlRoom = h.control ? Math.min(h.controlLen, CONTROL_MAX) : 0;
  const r = s.receiveMessage(buf, flags, controlRoom);
  scatter(c, h.iov, buf.subarray(0, Math.min(r.n, buf.length)));
  if (h.name !== 0n) {
    c.mem.write(h.name, r.addr.subarray(0, Math.min(h.nameLen, r.addr.length)));
  }
  c.mem.write(hdr + 8n, int(h.name !== 0n ? r.addr.length : 0));
  const control = hostControl(r.control, false);
  if (control.length) c.mem.write(h.control, control);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(control.length), true);
  c.mem.write(hdr + 40n, len);
  c.mem.write(hdr + 48n, int(r.flags | (r.n > buf.length ? MSG_TRUNC : 0)));
  return r.n;
}

/** The calls on a host socket, by name. */
const HOST: Record<string, (c: SyscallContext, s: HostSocketFile) => number> = {
  bind: (c, s) => {
    s.bind(readAddr(c, c.args[1], u32(c.args[2])));
    return 0;
  },
  listen: (c, s) => {
    s.listen(i32(c.args[1]));
    return 0;
  },
  connect: (c, s) => {
    const a = readAddr(c, c.args[1], u32(c.args[2]));
    c.t.onEintr = () => s.interrupted();
    s.connect(a);
    return 0;
  },
  accept: (c, s) => accept(c, s, 0),
  accept4: (c, s) => accept(c, s, i32(c.args[3])),
  getsockname: (c, s) => {
    writeAddr(c, c.args[1], c.args[2], s.name(false));
    return 0;
  },
  getpeername: (c, s) => {
    writeAddr(c, c.args[1], c.args[2], s.name(true));
    return 0;
  },
  sendto: (c, s) => {
    const data = c.mem.read(c.args[1] ?? 0n, size(c.args[2]));
    const len = u32(c.args[5]);
    const to = c.args[4] && len ? readAddr(c, c.args[4], len) : null;
    return send(c, s, data, i32(c.args[3]), to);
  },
  recvfrom: (c, s) => {
    const buf = readBuffer(size(c.args[2]));
    const r = s.receive(buf, i32(c.args[3]));
    c.mem.write(c.args[1] ?? 0n, buf.subarray(0, Math.min(r.n, buf.length)));
    writeAddr(c, c.args[4], c.args[5], r.addr);
    return r.n;
  },
  ...messageCalls(sendmsg, recvmsg),
  getsockopt: (c, s) => {
    putOption(c, s.getsockopt(i32(c.args[1]), i32(c.args[2]), Math.min(optionRoom(c), 4096)));
    return 0;
  },
  setsockopt: (c, s) => {
    s.setsockopt(i32(c.args[1]), i32(c.args[2]), optionValue(c));
    return 0;
  },
};

function accept(c: SyscallContext, s: HostSocketFile, flags: number): number {
  if (flags & ~(SOCK_FLAG.NONBLOCK | SOCK_FLAG.CLOEXEC)) throw new LinuxError("EINVAL");
  const { socket, addr } = s.accept(flags & SOCK_FLAG.NONBLOCK ? O.NONBLOCK : 0);
  const fd = c.p.fds.add(socket, (flags & SOCK_FLAG.CLOEXEC) !== 0);
  try {
    writeAddr(c, c.args[1], c.args[2], addr);
  } catch (e) {
    c.p.fds.close(fd);
    throw e;
  }
  return fd;
}

/**
 * The socket handlers with host sockets routed to the host: `socket`
 * makes one for AF_INET and AF_INET6 when the sandbox has the host's
 * network, and the other calls on one go to it.
 *
 * @param local The Sentry's own socket handlers.
 * @returns The handlers to install.
 */
export function withHostSockets(local: Record<string, Handler>): Record<string, Handler> {
  const out = routeSockets(local, HOST, (f) => f instanceof HostSocketFile ? f : null);
  out.socket = (c) => {
    const family = i32(c.args[0]);
    const inet = family === AF.INET || family === AF.INET6;
    if (c.k.network !== "host" || (!inet && family !== AF.NETLINK)) return local.socket!(c);
    const { type, flags, cloexec } = socketFlags(i32(c.args[1]));
    if (inet) {
      // Raw and packet sockets would reach past the host's own protections.
      if (type !== SOCK.STREAM && type !== SOCK.DGRAM) throw new LinuxError("ESOCKTNOSUPPORT");
    } else {
      // rtnetlink only, read-only (HostSocketFile refuses changes).
      if (type !== SOCK.RAW && type !== SOCK.DGRAM) throw new LinuxError("ESOCKTNOSUPPORT");
      if (i32(c.args[2]) !== 0) throw new LinuxError("EPROTONOSUPPORT");
    }
    const s = HostSocketFile.open(family, type, i32(c.args[2]), flags, c.k.hostPoller);
    return c.p.fds.add(s, cloexec);
  };
  return out;
}
