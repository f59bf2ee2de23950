/**
 * The socket system calls on netlink sockets: socket(AF_NETLINK,
 * NETLINK_ROUTE) makes the Sentry's own rtnetlink socket (with the
 * sandbox's own network; with the host's, netlink stays refused), and every
 * call on one goes to core/vfs/netlink.ts.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { NetlinkSocket } from "../vfs/netlink.ts";
import { i32, size, u32 } from "./args.ts";
import {
  gather,
  int,
  NO_CONNECTIONS,
  optionValue,
  putOption,
  readMsgHdr,
  routeSockets,
  scatter,
  socketFlags,
  writeSockaddr as writeAddr,
} from "./socket.ts";
import { AF, SOCK } from "../net/families.ts";

const MSG_TRUNC = 0x20;
/** The kernel's address: family AF_NETLINK, port 0. */
const KERNEL = new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** A `struct sockaddr_nl` the caller gave: its port id and groups. */
function readNl(
  c: SyscallContext,
  addr: bigint | undefined,
  len: number,
): { port: number; groups: number } {
  if (len < 12) throw new LinuxError("EINVAL");
  const v = new DataView(c.mem.read(addr ?? 0n, 12).buffer);
  if (v.getUint16(0, true) !== AF.NETLINK) throw new LinuxError("EINVAL");
  return { port: v.getUint32(4, true), groups: v.getUint32(8, true) };
}

/** Only the kernel (port 0) answers in the sandbox. */
function checkDestination(c: SyscallContext, addr: bigint | undefined, len: number): void {
  if (!addr || !len) return;
  if (readNl(c, addr, len).port !== 0) throw new LinuxError("ECONNREFUSED");
}

const CALLS: Record<string, (c: SyscallContext, s: NetlinkSocket) => number> = {
  bind: (c, s) => {
    const a = readNl(c, c.args[1], u32(c.args[2]));
    s.bind(a.port, a.groups);
    return 0;
  },
  connect: (c, s) => {
    checkDestination(c, c.args[1], u32(c.args[2]));
    if (!s.port) s.bind(0, s.groups);
    return 0;
  },
  getsockname: (c, s) => {
    writeAddr(c, c.args[1], c.args[2], s.address());
    return 0;
  },
  getpeername: (c) => {
    writeAddr(c, c.args[1], c.args[2], KERNEL);
    return 0;
  },
  ...NO_CONNECTIONS,
  sendto: (c, s) => {
    checkDestination(c, c.args[4], u32(c.args[5]));
    return s.send(c.mem.read(c.args[1] ?? 0n, size(c.args[2])));
  },
  sendmsg: (c, s) => {
    const h = readMsgHdr(c, c.args[1] ?? 0n);
    checkDestination(c, h.name, h.nameLen);
    return s.send(gather(c, h.iov));
  },
  recvfrom: (c, s) => {
    const flags = i32(c.args[3]);
    const buf = new Uint8Array(size(c.args[2]));
    const r = s.receive(buf, flags);
    c.mem.write(c.args[1] ?? 0n, buf.subarray(0, r.n));
    writeAddr(c, c.args[4], c.args[5], KERNEL);
    return flags & MSG_TRUNC ? r.full : r.n;
  },
  recvmsg: (c, s) => {
    const hdr = c.args[1] ?? 0n;
    const flags = i32(c.args[2]);
    const h = readMsgHdr(c, hdr);
    const buf = new Uint8Array(h.iov.reduce((n, [, l]) => n + l, 0));
    const r = s.receive(buf, flags);
    scatter(c, h.iov, buf.subarray(0, r.n));
    if (h.name !== 0n) c.mem.write(h.name, KERNEL.subarray(0, Math.min(h.nameLen, 12)));
    c.mem.write(hdr + 8n, int(h.name !== 0n ? 12 : 0));
    c.mem.write(hdr + 40n, new Uint8Array(8)); // no control messages
    c.mem.write(hdr + 48n, int(r.full > r.n ? MSG_TRUNC : 0));
    return flags & MSG_TRUNC ? r.full : r.n;
  },
  shutdown: () => 0,
  setsockopt: (c, s) => {
    // Kept and reported (NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, buffer sizes); no effect.
    s.options.set(`${i32(c.args[1])}:${i32(c.args[2])}`, optionValue(c));
    return 0;
  },
  getsockopt: (c, s) => {
    const level = i32(c.args[1]);
    const name = i32(c.args[2]);
    let value = s.options.get(`${level}:${name}`);
    if (!value && level === 1) {
      // SOL_SOCKET: SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_RCVBUF, SO_SNDBUF, SO_ERROR.
      const known: Record<number, number> = {
        3: SOCK.RAW,
        39: AF.NETLINK,
        38: 0,
        8: 212992,
        7: 212992,
        4: 0,
      };
      if (known[name] === undefined) throw new LinuxError("ENOPROTOOPT");
      value = int(known[name]!);
    }
    putOption(c, value ?? int(0));
    return 0;
  },
};

/**
 * The socket handlers with netlink sockets served: `socket` makes one for
 * AF_NETLINK with NETLINK_ROUTE under the sandbox's own network, and the
 * other calls on one go to it.
 *
 * @param local The handlers for every other socket.
 * @returns The handlers to install.
 */
export function withNetlink(local: Record<string, Handler>): Record<string, Handler> {
  const out = routeSockets(local, CALLS, (f) => f instanceof NetlinkSocket ? f : null);
  out.socket = (c) => {
    if (i32(c.args[0]) !== AF.NETLINK || c.k.network === "host") return local.socket!(c);
    const { type, flags, cloexec } = socketFlags(i32(c.args[1]));
    if (type !== SOCK.RAW && type !== SOCK.DGRAM) throw new LinuxError("ESOCKTNOSUPPORT");
    if (i32(c.args[2]) !== 0) throw new LinuxError("EPROTONOSUPPORT"); // NETLINK_ROUTE only
    const s = new NetlinkSocket(flags, c.p.creds.euid, c.p.creds.egid, c.p.pid, c.k.net.sockets);
    return c.p.fds.add(s, cloexec);
  };
  return out;
}
