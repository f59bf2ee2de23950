/**
 * ICMP sockets of the sandbox's own network (`--network none`): ping
 * sockets (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, and ICMPv6 ones),
 * which send echo requests under an identifier of their own and receive
 * the echo replies to it, and raw ICMP sockets (`SOCK_RAW`), which send
 * any ICMP message and receive a copy of every ICMP packet the loopback
 * carries that their filter lets through (IPv4 ones with the IP header).
 * The loopback itself is core/net/icmp.ts.
 *
 * @module
 */
import { LinuxError, WaitQueue } from "../errors.ts";
import { type IcmpDatagram, type IcmpEndpoint, type IcmpSend, sendIcmp } from "../net/icmp.ts";
import type { NetNamespace } from "../net/namespace.ts";
import { O, OpenFile, POLL, type UserMemory } from "./inode.ts";
import {
  DEFAULT_BUFFER,
  type InetAddress,
  type Linger,
  SocketInode,
  waitOrTimeOut,
} from "./local_socket.ts";
import { loopbackIoctl } from "./netlink.ts";
import { AF, SOCK } from "../net/families.ts";

/** SOCK_DGRAM (ping sockets) and SOCK_RAW. */
/** SO_RCVTIMEO and SO_REUSEADDR's keys in `options` (level SOL_SOCKET). */
const RCVTIMEO = 65536 + 20;
const REUSEADDR = 65536 + 2;
/** SO_BROADCAST's key. */
const BROADCAST = 65536 + 6;
const FIONREAD = 0x541b;
const TIOCOUTQ = 0x5411;
/** POLLWRBAND: a datagram socket is writable in every band. */
const POLL_WRBAND = 0x200;

/** What a receive got. */
export interface IcmpReceived {
  /** Bytes copied. */
  n: number;
  /** The datagram (its full length is `datagram.data.length`). */
  datagram: IcmpDatagram;
}

/**
 * An ICMP socket.
 *
 * @example
 * ```ts
 * import { IcmpSocket } from "./icmp_socket.ts";
 * import { NetNamespace } from "../net/namespace.ts";
 * const net = new NetNamespace();
 * const s = new IcmpSocket(net, 2, false, 0, 0, 0);
 * const lo = new Uint8Array([127, 0, 0, 1]);
 * s.send(new Uint8Array([8, 0, 0, 0, 0, 0, 0, 1]), { kind: "inet", family: 2, ip: lo, port: 0 });
 * const r = s.receive(new Uint8Array(64), false, true);
 * if (r?.n !== 8 || r.datagram.data[0] !== 0) throw new Error("an echo reply");
 * ```
 */
export class IcmpSocket extends OpenFile implements IcmpEndpoint {
  /** AF_INET or AF_INET6. */
  readonly family: number;
  /** SOCK_RAW, or SOCK_DGRAM for a ping socket. */
  readonly type: number;
  /** IPPROTO_ICMP or IPPROTO_ICMPV6. */
  readonly protocol: number;
  readonly raw: boolean;
  readonly listening = false;
  rcvbuf = DEFAULT_BUFFER;
  sndbuf = DEFAULT_BUFFER;
  linger: Linger = { on: false, seconds: 0 };
  /** Kept SOL_SOCKET options (SO_RCVTIMEO, SO_BROADCAST...). */
  readonly options = new Map<number, Uint8Array>();
  /** Its address (unspecified until bound or connected); a ping socket's port is its identifier. */
  local: InetAddress;
  /** Where connect(2) pointed it. */
  remote: InetAddress | null = null;
  /** IP_TTL or IPV6_UNICAST_HOPS (-1: the default). */
  ttl = -1;
  /** IP_TOS or IPV6_TCLASS. */
  tos = 0;
  /** IP_MTU_DISCOVER: Linux's default, IP_PMTUDISC_WANT, sends with Don't Fragment. */
  pmtudisc = 1;
  /** The control messages asked for: pktinfo, ttl, tos (IPv4); pktinfo, hoplimit, tclass, hoplimit2292 (IPv6). */
  readonly wants = new Set<string>();
  /** IP_RECVERR or IPV6_RECVERR (nothing on the loopback ever queues an error). */
  recvErr = false;
  /** IPV6_V6ONLY (an ICMPv6 socket never meets IPv4). */
  v6only = false;
  /** IPV6_CHECKSUM of a raw ICMPv6 socket: where the kernel puts the checksum (-1: nowhere). */
  checksumAt = 2;
  /** SO_TIMESTAMP ("us") or SO_TIMESTAMPNS ("ns"). */
  timestamps: "" | "us" | "ns" = "";
  /** ICMP_FILTER (one word) or ICMP6_FILTER (eight): a set bit blocks its type. */
  readonly filter: Uint32Array;
  /** Datagrams dropped because the receive buffer was full. */
  drops = 0;
  /** Notified when its readiness may have changed. */
  readonly events = new WaitQueue();
  readonly #net: NetNamespace;
  #queue: IcmpDatagram[] = [];
  #queued = 0;
  #readShut = false;
  #writeShut = false;
  /** bind(2) gave an address, or (ping sockets) an identifier: a disconnect keeps them. */
  #addressBound = false;
  #identBound = false;

  /**
   * Makes one, in a network namespace.
   *
   * @param net The namespace.
   * @param family AF_INET or AF_INET6.
   * @param raw SOCK_RAW (else a ping socket).
   * @param flags O_NONBLOCK.
   * @param uid Its owner.
   * @param gid Its group.
   */
  constructor(
    net: NetNamespace,
    family: number,
    raw: boolean,
    flags: number,
    uid: number,
    gid: number,
  ) {
    super(new SocketInode(uid, gid), O.RDWR | (flags & O.NONBLOCK));
    this.#net = net;
    this.family = family;
    this.raw = raw;
    this.type = raw ? SOCK.RAW : SOCK.DGRAM;
    this.protocol = family === AF.INET ? 1 : 58;
    this.local = { kind: "inet", family, ip: new Uint8Array(family === AF.INET ? 4 : 16), port: 0 };
    this.filter = new Uint32Array(family === AF.INET ? 1 : 8);
    // Linux's raw and ping sockets start with SO_REUSEADDR on.
    this.options.set(REUSEADDR, new Uint8Array([1, 0, 0, 0]));
    net.sockets.add(this);
    net.icmp.add(this);
  }

  /** Bytes waiting to be received. */
  get queued(): number {
    return this.#queued;
  }

  /** Whether it was connected. */
  get connected(): boolean {
    return this.remote !== null;
  }

  /** ICMP sockets keep no error: nothing on the loopback fails after a send. */
  takeError(): string | null {
    return null;
  }

  /**
   * A ping socket takes an echo identifier: the one asked for, or the
   * next free one (bind with port 0, or its first send or connect).
   *
   * @param wanted The identifier, or 0.
   * @throws {LinuxError} EADDRINUSE when another socket holds it (unless both set SO_REUSEADDR).
   */
  takeIdent(wanted: number): void {
    const reuse = (s: unknown) =>
      this.options.get(REUSEADDR)?.[0] === 1 &&
      s instanceof IcmpSocket && s.options.get(REUSEADDR)?.[0] === 1;
    const id = this.#net.takePingIdent(this, wanted, reuse);
    this.local = { ...this.local, port: id };
  }

  /**
   * bind(2): the address (already checked), and for a ping socket its identifier.
   *
   * @param ip The address.
   * @param ident The identifier asked for (0: the next free one).
   */
  bindTo(ip: Uint8Array, ident: number): void {
    if (!this.raw) this.takeIdent(ident);
    this.local = { ...this.local, ip };
    this.#addressBound = !ip.every((b) => b === 0);
    this.#identBound = ident !== 0;
  }

  /**
   * connect(2) with AF_UNSPEC, as Linux's udp_disconnect: the peer goes,
   * an address bind(2) did not give goes, and the socket leaves the
   * tables unless bind gave it its port: a raw socket then receives
   * nothing more, a ping socket gives its identifier back.
   */
  disconnect(): void {
    this.remote = null;
    if (!this.#addressBound) this.local = { ...this.local, ip: this.local.ip.map(() => 0) };
    if (this.#identBound) return;
    if (this.raw) this.#net.icmp.delete(this);
    else if (this.local.port) {
      this.#net.dropPingIdent(this, this.local.port);
      this.local = { ...this.local, port: 0 };
    }
  }

  /** Whether the loopback delivers to it (a raw socket leaves when disconnected). */
  get hashed(): boolean {
    return this.#net.icmp.has(this);
  }

  /** @returns A ping socket's identifier, taken now if it has none. */
  #ident(): number {
    if (!this.local.port) this.takeIdent(0);
    return this.local.port;
  }

  /**
   * Whether ICMP_FILTER or ICMP6_FILTER blocks a type (raw sockets).
   *
   * @param type The ICMP type.
   * @returns True when the packet is not for this socket.
   */
  blocks(type: number): boolean {
    if (!this.raw) return false;
    if (this.family === AF.INET) return type < 32 && ((this.filter[0]! >>> type) & 1) === 1;
    return ((this.filter[type >> 5]! >>> (type & 31)) & 1) === 1;
  }

  /**
   * Queues a packet, or drops it when the receive buffer is full (as
   * Linux, which drops once what is queued reaches SO_RCVBUF).
   *
   * @param d The packet.
   */
  deliver(d: IcmpDatagram): void {
    if (this.#readShut || this.#queued >= this.rcvbuf) {
      this.drops++;
      return;
    }
    this.#queue.push(d);
    this.#queued += d.data.length;
    this.events.notify();
  }

  /**
   * Sends a message (sendto, sendmsg, write).
   *
   * @param message The ICMP message.
   * @param to The destination, or null for the connected peer.
   * @returns Bytes sent.
   * @throws {LinuxError} EPIPE after shutdown, EDESTADDRREQ without a
   *   destination, and what the loopback refuses (core/net/icmp.ts).
   */
  send(message: Uint8Array, to: InetAddress | null): number {
    if (this.#writeShut) throw new LinuxError("EPIPE");
    const dest = to ?? this.remote;
    if (!dest) throw new LinuxError("EDESTADDRREQ");
    const how: IcmpSend = {
      ident: this.raw ? null : () => this.#ident(),
      ttl: this.ttl,
      tos: this.tos,
      // IP_PMTUDISC_WANT (1), DO (2) and PROBE (3) send with Don't Fragment.
      df: this.pmtudisc >= 1 && this.pmtudisc <= 3,
      broadcast: this.options.get(BROADCAST)?.[0] === 1,
      checksumAt: this.raw && this.family === AF.INET ? -1 : this.raw ? this.checksumAt : 2,
    };
    return sendIcmp(this.#net, this, message, dest, how);
  }

  /**
   * Receives the next packet.
   *
   * @param buf Where to copy it.
   * @param peek MSG_PEEK.
   * @param nonblock MSG_DONTWAIT or O_NONBLOCK.
   * @returns The bytes copied and the packet, or null at the end (after SHUT_RD).
   */
  receive(buf: Uint8Array, peek: boolean, nonblock: boolean): IcmpReceived | null {
    const d = this.#queue[0];
    if (!d) {
      if (this.#readShut) return null;
      waitOrTimeOut(this.events, this.options.get(RCVTIMEO), nonblock);
    }
    const n = Math.min(buf.length, d.data.length);
    buf.set(d.data.subarray(0, n));
    if (!peek) {
      this.#queue.shift();
      this.#queued -= d.data.length;
    }
    return { n, datagram: d };
  }

  /**
   * shutdown(2): Linux marks the directions shut even when it says
   * ENOTCONN (not connected).
   *
   * @param how 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR.
   */
  shutdown(how: number): void {
    if (how < 0 || how > 2) throw new LinuxError("EINVAL");
    if (how !== 1) this.#readShut = true;
    if (how !== 0) this.#writeShut = true;
    this.events.notify();
    if (!this.remote) throw new LinuxError("ENOTCONN");
  }

  /** @returns Its readiness, as Linux's datagram_poll. */
  override poll(): { events: number; queue: WaitQueue | null } {
    let bits = POLL.OUT | POLL.WRNORM | POLL_WRBAND;
    if (this.#readShut) bits |= POLL.RDHUP | POLL.IN | POLL.RDNORM;
    if (this.#readShut && this.#writeShut) bits |= POLL.HUP;
    if (this.#queue.length) bits |= POLL.IN | POLL.RDNORM;
    return { events: bits, queue: this.events };
  }

  /** Reads as recv(2) with no flags. */
  override read(buf: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    return this.receive(buf, false, (this.flags & O.NONBLOCK) !== 0)?.n ?? 0;
  }

  /** Writes as send(2) to the connected peer. */
  override write(data: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    return this.send(data, null);
  }

  /**
   * FIONREAD (the next packet's length) and SIOCOUTQ (nothing waits) on
   * raw sockets (ping sockets have neither: ENOTTY), and the interface requests.
   */
  override ioctl(request: number, arg: bigint, memory: UserMemory): bigint {
    if ((request === FIONREAD || request === TIOCOUTQ) && this.raw) {
      const n = request === FIONREAD ? (this.#queue[0]?.data.length ?? 0) : 0;
      memory.write(arg, new Uint8Array(new Int32Array([n]).buffer));
      return 0n;
    }
    const r = loopbackIoctl(request, arg, memory);
    if (r === null) throw new LinuxError("ENOTTY");
    return BigInt(r);
  }

  protected override release(): void {
    this.#net.sockets.delete(this);
    this.#net.icmp.delete(this);
    if (!this.raw && this.local.port) this.#net.dropPingIdent(this, this.local.port);
    this.#queue = [];
    this.#queued = 0;
    this.events.notify();
  }
}
