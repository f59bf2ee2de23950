/**
 * The socket system calls on ICMP sockets (core/vfs/icmp_socket.ts):
 * socket(2) makes a ping socket for `SOCK_DGRAM` with IPPROTO_ICMP or
 * IPPROTO_ICMPV6 when the caller's group is in
 * net.ipv4.ping_group_range (else EACCES), and a raw ICMP socket for
 * `SOCK_RAW` with CAP_NET_RAW (else EPERM); every call on one comes here:
 * addresses checked as Linux's ping and raw sockets check them, the
 * control messages ping programs ask for (timestamps, TTL or hop limit,
 * TOS or traffic class, packet info), the ICMP filters and IP options.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { HOP_LIMIT, icmpDestination } from "../net/icmp.ts";
import { IcmpSocket } from "../vfs/icmp_socket.ts";
import { O } from "../vfs/inode.ts";
import type { InetAddress } from "../vfs/local_socket.ts";
import { i32, size, u32 } from "./args.ts";
import { pipeSignal, readBuffer } from "./fs.ts";
import { encodeInet, isLocal, isV4 } from "./inet.ts";
import {
  cmsg,
  finishRecvmsg,
  gather,
  messageCalls,
  type MsgHdr,
  NO_CONNECTIONS,
  optionValue,
  putControl,
  putOption,
  readMsgHdr,
  routeSockets,
  scatter,
  socketFlags,
  writeSockaddr,
} from "./socket.ts";
import {
  getSocketOption,
  int,
  intOf,
  IPPROTO,
  MSG,
  setSocketOption,
  SO,
  SOL_SOCKET,
} from "./socket_options.ts";
import { AF, SOCK } from "../net/families.ts";

const CAP_NET_RAW = 13;
/** IPPROTO_IP options. */
const IP = {
  TOS: 1,
  TTL: 2,
  HDRINCL: 3,
  PKTINFO: 8,
  MTU_DISCOVER: 10,
  RECVERR: 11,
  RECVTTL: 12,
  RECVTOS: 13,
};
/** IPPROTO_IPV6 options. */
const IPV6 = {
  CHECKSUM: 7,
  HOPLIMIT_2292: 8,
  UNICAST_HOPS: 16,
  MTU_DISCOVER: 23,
  RECVERR: 25,
  V6ONLY: 26,
  RECVPKTINFO: 49,
  PKTINFO: 50,
  RECVHOPLIMIT: 51,
  HOPLIMIT: 52,
  RECVTCLASS: 66,
  TCLASS: 67,
};
/** ICMP_FILTER (SOL_RAW) and ICMP6_FILTER (IPPROTO_ICMPV6). */
const ICMP_FILTER = 1;
/** The flag options that ask for a control message, by level and option: the message's name. */
const WANTS = new Map<number, string>([
  [IP.PKTINFO, "pktinfo"],
  [IP.RECVTTL, "ttl"],
  [IP.RECVTOS, "tos"],
  [65536 * IPPROTO.IPV6 + IPV6.RECVPKTINFO, "pktinfo"],
  [65536 * IPPROTO.IPV6 + IPV6.RECVHOPLIMIT, "hoplimit"],
  [65536 * IPPROTO.IPV6 + IPV6.RECVTCLASS, "tclass"],
  [65536 * IPPROTO.IPV6 + IPV6.HOPLIMIT_2292, "hoplimit2292"],
]);

/** Which address a call takes, as Linux's ping and raw sockets check it. */
type Use = "bind" | "connect" | "send";

/**
 * Reads the sockaddr a call gives an ICMP socket.
 *
 * @returns The address (in the socket's family).
 * @throws {LinuxError} EINVAL when too short, EAFNOSUPPORT (or EINVAL) for another family.
 */
function readAddress(
  c: SyscallContext,
  s: IcmpSocket,
  addr: bigint | undefined,
  len: number,
  use: Use,
): InetAddress {
  const v6 = s.family === AF.INET6;
  const least = !v6 ? 16 : use === "send" && !s.raw ? 28 : 24;
  if (len < least || len > 128) throw new LinuxError("EINVAL");
  const raw = c.mem.read(addr ?? 0n, len);
  const family = raw[0]! | (raw[1]! << 8);
  const ip = v6 ? raw.slice(8, 24) : raw.slice(4, 8);
  const any = ip.every((b) => b === 0);
  const ok = family === s.family ||
    (s.raw && !v6 && use === "bind") ||
    (s.raw && use === "send" && family === AF.UNSPEC) ||
    (!s.raw && !v6 && use === "bind" && family === AF.UNSPEC && any);
  if (!ok) throw new LinuxError(s.raw && v6 && use === "bind" ? "EINVAL" : "EAFNOSUPPORT");
  return { kind: "inet", family: s.family, ip, port: (raw[2]! << 8) | raw[3]! };
}

/** The socket's own address as getsockname shows it: a raw socket's port is its protocol (while in the tables). */
function ownName(s: IcmpSocket): Uint8Array {
  const port = !s.raw ? s.local.port : s.hashed ? s.protocol : 0;
  return encodeInet({ ...s.local, port }, s.family);
}

function bind(c: SyscallContext, s: IcmpSocket): number {
  const a = readAddress(c, s, c.args[1], u32(c.args[2]), "bind");
  if (s.family === AF.INET6 && isV4(a)) throw new LinuxError(s.raw ? "EADDRNOTAVAIL" : "EINVAL");
  // A ping socket's address must be this host's own (not the broadcast one).
  const broadcast = s.family === AF.INET && a.ip.every((b, i) => b === [127, 255, 255, 255][i]);
  if (!isLocal(a) || (!s.raw && broadcast)) throw new LinuxError("EADDRNOTAVAIL");
  if (s.raw ? s.connected : s.local.port !== 0) throw new LinuxError("EINVAL");
  s.bindTo(a.ip, a.port);
  return 0;
}

function connect(c: SyscallContext, s: IcmpSocket): number {
  const len = u32(c.args[2]);
  if (len < 2) throw new LinuxError("EINVAL");
  if ((c.mem.read(c.args[1] ?? 0n, 2)[0]! | 0) === AF.UNSPEC) {
    s.disconnect();
    return 0;
  }
  const a = readAddress(c, s, c.args[1], len, "connect");
  if (!s.raw && !s.local.port) s.takeIdent(0);
  const dst = icmpDestination(a, s.family, s.options.get(65536 + SO.BROADCAST)?.[0] === 1);
  s.remote = { ...a, ip: dst };
  // The source address is fixed now (the loopback's).
  if (s.local.ip.every((b) => b === 0)) {
    s.local = { ...s.local, ip: s.family === AF.INET ? Uint8Array.of(127, 0, 0, 1) : dst };
  }
  return 0;
}

function send(
  c: SyscallContext,
  s: IcmpSocket,
  data: Uint8Array,
  flags: number,
  to: InetAddress | null,
): number {
  if (flags & MSG.OOB) throw new LinuxError("EOPNOTSUPP");
  try {
    return s.send(data, to);
  } catch (e) {
    if (flags & MSG.NOSIGNAL) throw e;
    return pipeSignal(c, e);
  }
}

function sendmsg(c: SyscallContext, s: IcmpSocket, hdr: bigint, flags: number): number {
  const h = readMsgHdr(c, hdr);
  const to = h.name !== 0n && h.nameLen ? readAddress(c, s, h.name, h.nameLen, "send") : null;
  return send(c, s, gather(c, h.iov), flags, to);
}

/** Receives one packet (MSG_ERRQUEUE: the error queue, always empty here). */
function receive(s: IcmpSocket, buf: Uint8Array, flags: number) {
  if (flags & MSG.OOB) throw new LinuxError("EOPNOTSUPP");
  if (flags & MSG.ERRQUEUE) throw new LinuxError("EAGAIN");
  const nonblock = (flags & MSG.DONTWAIT) !== 0 || (s.flags & O.NONBLOCK) !== 0;
  return s.receive(buf, (flags & MSG.PEEK) !== 0, nonblock);
}

/** The control messages a packet comes with, in Linux's order. */
function controls(
  s: IcmpSocket,
  d: NonNullable<ReturnType<typeof receive>>["datagram"],
): Uint8Array[] {
  const parts: Uint8Array[] = [];
  if (s.timestamps) {
    const t = new DataView(new ArrayBuffer(16));
    const ns = d.at;
    t.setBigInt64(0, ns / 1_000_000_000n, true);
    t.setBigInt64(
      8,
      s.timestamps === "ns" ? ns % 1_000_000_000n : (ns % 1_000_000_000n) / 1000n,
      true,
    );
    const type = s.timestamps === "ns" ? SO.TIMESTAMPNS : SO.TIMESTAMP;
    parts.push(cmsg(SOL_SOCKET, type, new Uint8Array(t.buffer)));
  }
  if (s.family === AF.INET) {
    if (s.wants.has("pktinfo")) {
      const info = new Uint8Array(12);
      new DataView(info.buffer).setInt32(0, 1, true); // lo
      // A raw socket learns the local address too (a ping socket: none).
      if (s.raw) info.set(d.to.ip, 4);
      info.set(d.to.ip, 8);
      parts.push(cmsg(IPPROTO.IP, IP.PKTINFO, info));
    }
    if (s.wants.has("ttl")) parts.push(cmsg(IPPROTO.IP, IP.TTL, int(d.ttl)));
    if (s.wants.has("tos")) parts.push(cmsg(IPPROTO.IP, IP.TOS, Uint8Array.of(d.tos)));
    return parts;
  }
  if (s.wants.has("pktinfo")) {
    const info = new Uint8Array(20);
    info.set(d.to.ip, 0);
    new DataView(info.buffer).setUint32(16, 1, true); // lo
    parts.push(cmsg(IPPROTO.IPV6, IPV6.PKTINFO, info));
  }
  if (s.wants.has("hoplimit")) parts.push(cmsg(IPPROTO.IPV6, IPV6.HOPLIMIT, int(d.ttl)));
  if (s.wants.has("tclass")) parts.push(cmsg(IPPROTO.IPV6, IPV6.TCLASS, int(d.tos)));
  if (s.wants.has("hoplimit2292")) parts.push(cmsg(IPPROTO.IPV6, IPV6.HOPLIMIT_2292, int(d.ttl)));
  return parts;
}

function recvmsg(c: SyscallContext, s: IcmpSocket, hdr: bigint, flags: number): number {
  const h: MsgHdr = readMsgHdr(c, hdr);
  const buf = readBuffer(Math.min(h.iov.reduce((n, [, l]) => n + l, 0), 1 << 24));
  const r = receive(s, buf, flags);
  if (!r) {
    finishRecvmsg(c, hdr, h, new Uint8Array(0), 0, 0);
    return 0;
  }
  scatter(c, h.iov, buf.subarray(0, r.n));
  const ctl = putControl(c, h, controls(s, r.datagram));
  const full = r.datagram.data.length;
  const out = (full > r.n ? MSG.TRUNC : 0) | (ctl.truncated ? MSG.CTRUNC : 0);
  finishRecvmsg(c, hdr, h, encodeInet(r.datagram.from, s.family), ctl.length, out);
  return truncReturn(s, flags, full, r.n);
}

/** With MSG_TRUNC a raw socket's receive says the packet's full length (a ping socket's: what was copied). */
function truncReturn(s: IcmpSocket, flags: number, full: number, n: number): number {
  return flags & MSG.TRUNC && s.raw ? full : n;
}

/** An int option in [min, max] (EINVAL outside). */
function ranged(value: Uint8Array, min: number, max: number): number {
  const v = intOf(value);
  if (v < min || v > max) throw new LinuxError("EINVAL");
  return v;
}

function getsockopt(c: SyscallContext, s: IcmpSocket, level: number, name: number): Uint8Array {
  const v4 = s.family === AF.INET;
  if (level === SOL_SOCKET) {
    if (name === SO.TIMESTAMP) return int(s.timestamps === "us" ? 1 : 0);
    if (name === SO.TIMESTAMPNS) return int(s.timestamps === "ns" ? 1 : 0);
    return getSocketOption(s, level, name, c.k.net.settings);
  }
  const wanted = WANTS.get(v4 ? name : 65536 * level + name);
  if (level === (v4 ? IPPROTO.IP : IPPROTO.IPV6) && wanted) return int(s.wants.has(wanted) ? 1 : 0);
  if (v4 && level === IPPROTO.IP) {
    switch (name) {
      case IP.TOS:
        return int(s.tos);
      case IP.TTL:
        return int(s.ttl < 0 ? c.k.net.settings.defaultTtl : s.ttl);
      case IP.MTU_DISCOVER:
        return int(s.pmtudisc);
      case IP.RECVERR:
        return int(s.recvErr ? 1 : 0);
    }
  } else if (!v4 && level === IPPROTO.IPV6) {
    switch (name) {
      case IPV6.UNICAST_HOPS:
        return int(s.ttl < 0 ? HOP_LIMIT : s.ttl);
      case IPV6.TCLASS:
        return int(s.tos);
      case IPV6.MTU_DISCOVER:
        return int(s.pmtudisc);
      case IPV6.RECVERR:
        return int(s.recvErr ? 1 : 0);
      case IPV6.V6ONLY:
        return int(s.v6only ? 1 : 0);
      case IPV6.CHECKSUM:
        if (s.raw) return int(s.checksumAt);
    }
  } else if (s.raw && v4 && level === IPPROTO.RAW && name === ICMP_FILTER) {
    return new Uint8Array(s.filter.buffer.slice(0));
  } else if (s.raw && !v4 && level === IPPROTO.RAW && name === IPV6.CHECKSUM) {
    return int(s.checksumAt);
  } else if (s.raw && !v4 && level === IPPROTO.ICMPV6 && name === ICMP_FILTER) {
    return new Uint8Array(s.filter.buffer.slice(0));
  }
  // IPv4's getsockopt says EOPNOTSUPP for a level it does not know.
  const known = level === IPPROTO.IP || (s.raw && level === IPPROTO.RAW);
  throw new LinuxError(v4 && !known ? "EOPNOTSUPP" : "ENOPROTOOPT");
}

function setsockopt(s: IcmpSocket, level: number, name: number, value: Uint8Array): void {
  const v4 = s.family === AF.INET;
  if (level === SOL_SOCKET) {
    if (name === SO.TIMESTAMP || name === SO.TIMESTAMPNS) {
      const on = intOf(value) !== 0;
      s.timestamps = !on ? "" : name === SO.TIMESTAMPNS ? "ns" : "us";
      return;
    }
    setSocketOption(s, level, name, value);
    return;
  }
  const wanted = WANTS.get(v4 ? name : 65536 * level + name);
  if (level === (v4 ? IPPROTO.IP : IPPROTO.IPV6) && wanted) {
    // IPv4 flags take a byte too.
    const on = value.length >= 4 ? intOf(value) !== 0 : (value[0] ?? 0) !== 0;
    if (on) s.wants.add(wanted);
    else s.wants.delete(wanted);
    return;
  }
  if (v4 && level === IPPROTO.IP) {
    switch (name) {
      case IP.TOS:
        s.tos = (value.length >= 4 ? intOf(value) : value[0] ?? 0) & 0xff;
        return;
      case IP.TTL: {
        const v = ranged(value, -1, 255);
        if (v === 0) throw new LinuxError("EINVAL");
        s.ttl = v;
        return;
      }
      case IP.MTU_DISCOVER:
        s.pmtudisc = ranged(value, 0, 5);
        return;
      case IP.RECVERR:
        s.recvErr = intOf(value) !== 0;
        return;
    }
  } else if (!v4 && level === IPPROTO.IPV6) {
    switch (name) {
      case IPV6.UNICAST_HOPS:
        s.ttl = ranged(value, -1, 255);
        return;
      case IPV6.TCLASS:
        s.tos = Math.max(0, ranged(value, -1, 255));
        return;
      case IPV6.MTU_DISCOVER:
        s.pmtudisc = ranged(value, 0, 5);
        return;
      case IPV6.RECVERR:
        s.recvErr = intOf(value) !== 0;
        return;
      case IPV6.V6ONLY:
        s.v6only = intOf(value) !== 0;
        return;
      case IPV6.CHECKSUM:
        // RFC 3542: not at this level on an ICMPv6 socket.
        if (s.raw) throw new LinuxError("EINVAL");
    }
  } else if (s.raw && v4 && level === IPPROTO.RAW && name === ICMP_FILTER) {
    setFilter(s, value);
    return;
  } else if (s.raw && !v4 && level === IPPROTO.RAW && name === IPV6.CHECKSUM) {
    const v = intOf(value);
    if (v > 0 && (v & 1)) throw new LinuxError("EINVAL");
    s.checksumAt = v < 0 ? -1 : v;
    return;
  } else if (s.raw && !v4 && level === IPPROTO.ICMPV6 && name === ICMP_FILTER) {
    setFilter(s, value);
    return;
  }
  throw new LinuxError("ENOPROTOOPT");
}

/** ICMP_FILTER and ICMP6_FILTER: as many bytes as given, up to the filter's size. */
function setFilter(s: IcmpSocket, value: Uint8Array): void {
  const bytes = new Uint8Array(s.filter.buffer);
  bytes.set(value.subarray(0, bytes.length));
}

const CALLS: Record<string, (c: SyscallContext, s: IcmpSocket) => number> = {
  ...NO_CONNECTIONS,
  bind,
  connect,
  getsockname: (c, s) => {
    writeSockaddr(c, c.args[1], c.args[2], ownName(s));
    return 0;
  },
  getpeername: (c, s) => {
    // Linux has a peer only where connect(2) gave a port.
    if (!s.remote?.port) throw new LinuxError("ENOTCONN");
    writeSockaddr(c, c.args[1], c.args[2], encodeInet(s.remote, s.family));
    return 0;
  },
  sendto: (c, s) => {
    const data = c.mem.read(c.args[1] ?? 0n, size(c.args[2]));
    const len = u32(c.args[5]);
    const to = c.args[4] && len ? readAddress(c, s, c.args[4], len, "send") : null;
    return send(c, s, data, i32(c.args[3]), to);
  },
  recvfrom: (c, s) => {
    const flags = i32(c.args[3]);
    const buf = readBuffer(size(c.args[2]));
    const r = receive(s, buf, flags);
    if (!r) return 0;
    c.mem.write(c.args[1] ?? 0n, buf.subarray(0, r.n));
    writeSockaddr(c, c.args[4], c.args[5], encodeInet(r.datagram.from, s.family));
    return truncReturn(s, flags, r.datagram.data.length, r.n);
  },
  ...messageCalls(sendmsg, recvmsg),
  getsockopt: (c, s) => {
    putOption(c, getsockopt(c, s, i32(c.args[1]), i32(c.args[2])));
    return 0;
  },
  setsockopt: (c, s) => {
    setsockopt(s, i32(c.args[1]), i32(c.args[2]), optionValue(c));
    return 0;
  },
};

/**
 * The socket handlers with ICMP sockets served: `socket` makes a ping or
 * raw ICMP socket of the sandbox's own network, and the other calls on
 * one go to it.
 *
 * @param local The handlers for every other socket.
 * @returns The handlers to install.
 *
 * @example
 * ```ts ignore
 * const handlers = withIcmp(SOCKET_HANDLERS);
 * ```
 */
export function withIcmp(local: Record<string, Handler>): Record<string, Handler> {
  const out = routeSockets(local, CALLS, (f) => f instanceof IcmpSocket ? f : null);
  out.socket = (c) => {
    const family = i32(c.args[0]);
    if (family !== AF.INET && family !== AF.INET6) return local.socket!(c);
    const { type, flags, cloexec } = socketFlags(i32(c.args[1]));
    const proto = i32(c.args[2]);
    const icmp = family === AF.INET ? IPPROTO.ICMP : IPPROTO.ICMPV6;
    if (type === SOCK.RAW) {
      // Raw sockets of other protocols are not served.
      if (proto !== icmp) throw new LinuxError("EPROTONOSUPPORT");
      if (!c.p.creds.capable(CAP_NET_RAW)) throw new LinuxError("EPERM");
    } else if (type === SOCK.DGRAM && (proto === IPPROTO.ICMP || proto === IPPROTO.ICMPV6)) {
      if (proto !== icmp) throw new LinuxError("EPROTONOSUPPORT");
      if (!c.k.net.mayPing(c.p.creds.egid, c.p.creds.groups)) throw new LinuxError("EACCES");
    } else {
      return local.socket!(c);
    }
    const s = new IcmpSocket(
      c.k.net,
      family,
      type === SOCK.RAW,
      flags,
      c.p.creds.euid,
      c.p.creds.egid,
    );
    return c.p.fds.add(s, cloexec);
  };
  return out;
}
