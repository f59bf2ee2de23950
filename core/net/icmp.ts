/**
 * ICMP and ICMPv6 on the sandbox's loopback (`--network none`), as Linux's
 * lo carries them: a message an ICMP socket sends to a loopback address
 * becomes an IP packet (for ping sockets with the socket's echo
 * identifier and a checksum the kernel computes; ICMPv6 checksums always),
 * every raw socket of its protocol whose address, peer and filter match
 * gets a copy (raw IPv4 sockets with the IPv4 header), and the kernel
 * answers an echo request with an echo reply, which travels the same way
 * and reaches the ping socket holding its identifier. Counters and lo's
 * statistics count each packet.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { InetAddress } from "../vfs/local_socket.ts";
import { isLocal, isV4 } from "../syscalls/inet.ts";
import type { IcmpCounters } from "./counters.ts";
import { checksum, ipv4Packet, pseudoHeaderSum, readIpv4, setChecksum } from "./ip_packet.ts";
import type { NetNamespace } from "./namespace.ts";
import { AF } from "./families.ts";

/** ICMP types (LAST: NR_ICMP_TYPES, the highest Linux handles). */
const ICMP = { ECHOREPLY: 0, ECHO: 8, TIMESTAMP: 13, TIMESTAMPREPLY: 14, LAST: 18 } as const;
const ICMPV6 = { ECHO_REQUEST: 128, ECHO_REPLY: 129 } as const;
/** The hop limit of ICMPv6 packets the kernel sends (lo's hop_limit). */
export const HOP_LIMIT = 64;
const LOOPBACK4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK6 = Uint8Array.of(...new Array(15).fill(0), 1);
const BROADCAST4 = Uint8Array.of(127, 255, 255, 255);

/** A packet as a socket receives it. */
export interface IcmpDatagram {
  /** What a read returns: the IPv4 packet (raw IPv4 sockets), else the ICMP message. */
  data: Uint8Array;
  /** The sender (port 0). */
  from: InetAddress;
  /** The address it was sent to (IP_PKTINFO, IPV6_PKTINFO). */
  to: InetAddress;
  /** Its TTL or hop limit. */
  ttl: number;
  /** Its TOS or traffic class. */
  tos: number;
  /** When it arrived, in nanoseconds since the epoch (SO_TIMESTAMP). */
  at: bigint;
}

/** An ICMP socket as the loopback sees it. */
export interface IcmpEndpoint {
  readonly family: number;
  /** SOCK_RAW (all ICMP packets) or a ping socket (echo replies to its identifier). */
  readonly raw: boolean;
  /** Its address: the unspecified one when not bound; a ping socket's port is its identifier. */
  readonly local: InetAddress;
  /** Where connect(2) pointed it. */
  readonly remote: InetAddress | null;
  /** A raw socket's ICMP_FILTER or ICMP6_FILTER blocks this type. */
  blocks(type: number): boolean;
  /** Takes a packet (or drops it when its receive buffer is full). */
  deliver(d: IcmpDatagram): void;
}

/** How a packet is sent. */
export interface IcmpSend {
  /** The socket's identifier when it is a ping socket (it gets one if it has none), else null. */
  ident: (() => number) | null;
  /** TTL or hop limit (-1: the default). */
  ttl: number;
  /** TOS or traffic class. */
  tos: number;
  /** IPv4: Don't Fragment (IP_MTU_DISCOVER). */
  df: boolean;
  /** SO_BROADCAST. */
  broadcast: boolean;
  /** Where the kernel writes the checksum (ping sockets, ICMPv6 raw ones: IPV6_CHECKSUM), or -1. */
  checksumAt: number;
}

/** An IPv4 address as an InetAddress. */
function v4(ip: Uint8Array): InetAddress {
  return { kind: "inet", family: AF.INET, ip, port: 0 };
}

/** An IPv6 address as an InetAddress. */
function v6(ip: Uint8Array): InetAddress {
  return { kind: "inet", family: AF.INET6, ip, port: 0 };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function unspecified(ip: Uint8Array): boolean {
  return ip.every((b) => b === 0);
}

function now(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/**
 * Where a message goes: a loopback address (the unspecified one means
 * this host), never out of the sandbox.
 *
 * @param to The destination.
 * @param family The socket's family.
 * @param broadcast SO_BROADCAST is on.
 * @returns The destination address bytes.
 * @throws {LinuxError} ENETUNREACH outside the loopback, EINVAL for an
 *   IPv4-mapped address on an IPv6 socket, EACCES for the broadcast
 *   address without SO_BROADCAST.
 */
export function icmpDestination(to: InetAddress, family: number, broadcast: boolean): Uint8Array {
  if (family === AF.INET6) {
    if (isV4(to)) throw new LinuxError("EINVAL");
    if (!isLocal(to)) throw new LinuxError("ENETUNREACH");
    return unspecified(to.ip) ? LOOPBACK6 : to.ip;
  }
  if (!isLocal(to)) throw new LinuxError("ENETUNREACH");
  if (same(to.ip, BROADCAST4) && !broadcast) throw new LinuxError("EACCES");
  return unspecified(to.ip) ? LOOPBACK4 : to.ip;
}

/**
 * Sends an ICMP message from a socket to a loopback address.
 *
 * @param net The namespace (its sockets get the packets; its counters count them).
 * @param from The sending socket.
 * @param message The ICMP message as the application gave it.
 * @param to The destination.
 * @param how Identifier, TTL, TOS, DF, SO_BROADCAST.
 * @returns Bytes sent.
 * @throws {LinuxError} EMSGSIZE, EINVAL (a ping socket's message that is
 *   not an echo request), ENETUNREACH, EACCES.
 *
 * @example
 * ```ts ignore
 * sendIcmp(k.net, socket, request, { kind: "inet", family: 2, ip: lo, port: 0 }, how);
 * ```
 */
export function sendIcmp(
  net: NetNamespace,
  from: IcmpEndpoint,
  message: Uint8Array,
  to: InetAddress,
  how: IcmpSend,
): number {
  const family = from.family;
  if (message.length > 0xffff) throw new LinuxError("EMSGSIZE");
  const data = message.slice();
  if (how.ident) {
    // A ping socket sends echo requests only, with its identifier.
    const request = family === AF.INET ? ICMP.ECHO : ICMPV6.ECHO_REQUEST;
    if (data.length < 8 || data[0] !== request || data[1] !== 0) throw new LinuxError("EINVAL");
  }
  if (how.checksumAt >= 0 && how.checksumAt + 2 > data.length) throw new LinuxError("EINVAL");
  const dst = icmpDestination(to, family, how.broadcast);
  if (how.ident) {
    const id = how.ident();
    data[4] = id >> 8;
    data[5] = id & 0xff;
  }
  const src = unspecified(from.local.ip)
    ? (family === AF.INET ? LOOPBACK4 : LOOPBACK6)
    : from.local.ip;
  if (family === AF.INET) {
    if (how.checksumAt >= 0) setChecksum(data, how.checksumAt);
    const ttl = how.ttl < 0 ? net.settings.defaultTtl : how.ttl;
    const header = { tos: how.tos, id: net.nextIpId(), df: how.df, ttl, protocol: 1, src, dst };
    route4(net, ipv4Packet(header, data));
  } else {
    if (how.checksumAt >= 0) {
      setChecksum(data, how.checksumAt, pseudoHeaderSum(src, dst, data.length, 58));
    }
    route6(net, data, src, dst, how.ttl < 0 ? HOP_LIMIT : how.ttl, how.tos);
  }
  return message.length;
}

/** Counts a message sent and the packet on lo. */
function sent(
  counters: IcmpCounters,
  net: NetNamespace,
  type: number | undefined,
  length: number,
): void {
  if (type !== undefined) counters.out[type]!++;
  net.counters.packet(length);
}

/**
 * An IPv4 packet on lo: raw sockets get copies, then the ICMP layer
 * takes it (an echo request is answered, an echo reply goes to its ping
 * socket).
 */
function route4(net: NetNamespace, packet: Uint8Array): void {
  const h = readIpv4(packet)!;
  const message = packet.subarray(h.headerLength);
  sent(net.counters.icmp, net, message[0], packet.length);
  const d = { from: v4(h.src), to: v4(h.dst), ttl: h.ttl, tos: h.tos, at: now() };
  for (const s of net.icmp) {
    if (!s.raw || s.family !== AF.INET) continue;
    if (!matches(s, h.src, h.dst) || (message.length && s.blocks(message[0]!))) continue;
    s.deliver({ ...d, data: packet.slice() });
  }
  const counters = net.counters.icmp;
  counters.inMsgs++;
  if (checksum(message) !== 0) {
    counters.inCsumErrors++;
    counters.inErrors++;
    return;
  }
  if (message.length < 8) {
    counters.inErrors++;
    return;
  }
  const type = message[0]!;
  counters.in[type]!++;
  const broadcast = same(h.dst, BROADCAST4);
  // Echo and timestamp requests to the broadcast address are dropped as errors.
  const asked = type === ICMP.ECHO || type === ICMP.TIMESTAMP;
  if ((broadcast && asked && net.settings.echoIgnoreBroadcasts) || type > ICMP.LAST) {
    counters.inErrors++;
    return;
  }
  if (type === ICMP.ECHOREPLY) {
    toPingSocket(net, AF.INET, message, { ...d, data: message.slice() });
    return;
  }
  let reply: Uint8Array;
  if (type === ICMP.ECHO && !net.settings.echoIgnoreAll) {
    reply = message.slice();
    reply[0] = ICMP.ECHOREPLY;
  } else if (type === ICMP.TIMESTAMP && message.length >= 20) {
    // The originate timestamp back, with the receive and transmit ones: ms since midnight UTC.
    reply = message.slice(0, 20);
    reply[0] = ICMP.TIMESTAMPREPLY;
    const v = new DataView(reply.buffer);
    const ms = Date.now() % 86_400_000;
    v.setUint32(12, ms);
    v.setUint32(16, ms);
  } else {
    return;
  }
  setChecksum(reply, 2);
  const header = {
    tos: h.tos,
    id: net.nextIpId(),
    df: false,
    ttl: net.settings.defaultTtl,
    protocol: 1,
    src: broadcast ? LOOPBACK4 : h.dst,
    dst: h.src,
  };
  route4(net, ipv4Packet(header, reply));
}

/** An ICMPv6 packet on lo: raw ICMPv6 sockets get the message, then the ICMPv6 layer takes it. */
function route6(
  net: NetNamespace,
  message: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  hops: number,
  tclass: number,
): void {
  sent(net.counters.icmp6, net, message[0], 40 + message.length);
  const d = { from: v6(src), to: v6(dst), ttl: hops, tos: tclass, at: now() };
  for (const s of net.icmp) {
    if (!s.raw || s.family !== AF.INET6) continue;
    if (!matches(s, src, dst) || s.blocks(message[0]!)) continue;
    s.deliver({ ...d, data: message.slice() });
  }
  const counters = net.counters.icmp6;
  counters.inMsgs++;
  if (message.length < 4 || checksum(message, pseudoHeaderSum(src, dst, message.length, 58))) {
    counters.inErrors++;
    if (message.length >= 4) counters.inCsumErrors++;
    return;
  }
  const type = message[0]!;
  counters.in[type]!++;
  if (type === ICMPV6.ECHO_REQUEST && message.length >= 8 && !net.settings.echo6IgnoreAll) {
    const reply = message.slice();
    reply[0] = ICMPV6.ECHO_REPLY;
    setChecksum(reply, 2, pseudoHeaderSum(dst, src, reply.length, 58));
    route6(net, reply, dst, src, HOP_LIMIT, tclass);
  } else if (type === ICMPV6.ECHO_REPLY && message.length >= 8) {
    toPingSocket(net, AF.INET6, message, { ...d, data: message.slice() });
  }
}

/** A raw socket takes packets to its bound address and from its peer. */
function matches(s: IcmpEndpoint, src: Uint8Array, dst: Uint8Array): boolean {
  if (!unspecified(s.local.ip) && !same(s.local.ip, dst)) return false;
  return !s.remote || same(s.remote.ip, src);
}

/**
 * An echo reply reaches one ping socket: of its family, holding its
 * identifier (the last bound first), bound to where it went.
 */
function toPingSocket(
  net: NetNamespace,
  family: number,
  message: Uint8Array,
  d: IcmpDatagram,
): void {
  const id = (message[4]! << 8) | message[5]!;
  for (const holder of net.pingIdents.get(id) ?? []) {
    const s = holder as IcmpEndpoint;
    if (s.family !== family) continue;
    if (!unspecified(s.local.ip) && !same(s.local.ip, d.to.ip)) continue;
    s.deliver(d);
    return;
  }
}
