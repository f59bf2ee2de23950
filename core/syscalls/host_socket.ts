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

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const AF_NETLINK = 16;
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

function sendmsg(c: SyscallContext, s: HostSocketFile, hdr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdr);
  // Control messages (IP_PKTINFO and the like) are not passed to the host.
  const to = h.name !== 0n && h.nameLen ? readAddr(c, h.name, h.nameLen) : null;
  return send(c, s, gather(c, h.iov), flags, to);
}

function recvmsg(c: SyscallContext, s: HostSocketFile, hdr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdr);
  const room = h.iov.reduce((n, [, l]) => n + l, 0);
  const buf = readBuffer(Math.min(room, 1 << 24));
  const r = s.receive(buf, flags);
  scatter(c, h.iov, buf.subarray(0, Math.min(r.n, buf.length)));
  if (h.name !== 0n) {
    c.mem.write(h.name, r.addr.subarray(0, Math.min(h.nameLen, r.addr.length)));
  }
  c.mem.write(hdr + 8n, int(h.name !== 0n ? r.addr.length : 0));
  c.mem.write(hdr + 40n, new Uint8Array(8)); // msg_controllen: none
  c.mem.write(hdr + 48n, int(r.n > buf.length ? 0x20 /* MSG_TRUNC */ : 0));
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
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) throw new LinuxError("EINVAL");
  const { socket, addr } = s.accept(flags & SOCK_NONBLOCK ? O.NONBLOCK : 0);
  const fd = c.p.fds.add(socket, (flags & SOCK_CLOEXEC) !== 0);
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
    const inet = family === AF_INET || family === AF_INET6;
    if (c.k.network !== "host" || (!inet && family !== AF_NETLINK)) return local.socket!(c);
    const { type, flags, cloexec } = socketFlags(i32(c.args[1]));
    if (inet) {
      // Raw and packet sockets would reach past the host's own protections.
      if (type !== SOCK_STREAM && type !== SOCK_DGRAM) throw new LinuxError("ESOCKTNOSUPPORT");
    } else {
      // rtnetlink only, read-only (HostSocketFile refuses changes).
      if (type !== SOCK_RAW && type !== SOCK_DGRAM) throw new LinuxError("ESOCKTNOSUPPORT");
      if (i32(c.args[2]) !== 0) throw new LinuxError("EPROTONOSUPPORT");
    }
    const s = HostSocketFile.open(family, type, i32(c.args[2]), flags, c.k.hostPoller);
    return c.p.fds.add(s, cloexec);
  };
  return out;
}
