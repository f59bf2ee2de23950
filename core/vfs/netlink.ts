/**
 * NETLINK_ROUTE sockets for the sandbox's own network (`--network none`):
 * enough of rtnetlink for `getifaddrs`, `if_nameindex`, glibc's address
 * configuration checks and `ip addr` / `ip link` / `ip route` to list the
 * sandbox's one interface, the loopback `lo` with 127.0.0.1/8 and ::1/128.
 * Dumps and single gets of links, addresses and routes are answered
 * (neighbours and rules dump empty); anything that would change the
 * network is refused with EPERM, as in a namespace without CAP_NET_ADMIN.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { O, OpenFile, POLL } from "./inode.ts";
import { SocketInode } from "./local_socket.ts";
import { AF } from "../net/families.ts";

/** nlmsghdr types and flags. */
const NLMSG = { ERROR: 2, DONE: 3 } as const;
const NLM_F = { REQUEST: 1, MULTI: 2, ACK: 4, DUMP: 0x300 } as const;
/** rtnetlink message types. */
const RTM = {
  NEWLINK: 16,
  GETLINK: 18,
  NEWADDR: 20,
  GETADDR: 22,
  NEWROUTE: 24,
  GETROUTE: 26,
  GETNEIGH: 30,
  GETRULE: 34,
} as const;
const LO_INDEX = 1;
/** Seconds since boot, for IFA_CACHEINFO's stamps (hundredths). */
const BOOT = performance.now();

/** A netlink attribute: type and value. */
type Attr = [number, Uint8Array];

function u8(v: number): Uint8Array {
  return new Uint8Array([v]);
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

function str(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

const align = (n: number) => (n + 3) & ~3;

/** Header bytes followed by attributes (each `struct rtattr`, 4-byte aligned). */
function withAttrs(header: Uint8Array, attrs: Attr[]): Uint8Array {
  const size = align(header.length) + attrs.reduce((n, [, v]) => n + align(4 + v.length), 0);
  const out = new Uint8Array(size);
  out.set(header);
  const dv = new DataView(out.buffer);
  let at = align(header.length);
  for (const [type, value] of attrs) {
    dv.setUint16(at, 4 + value.length, true);
    dv.setUint16(at + 2, type, true);
    out.set(value, at + 4);
    at += align(4 + value.length);
  }
  return out;
}

/** The loopback link (RTM_NEWLINK's ifinfomsg and attributes). */
function loopbackLink(): Uint8Array {
  const info = new Uint8Array(16);
  const v = new DataView(info.buffer);
  v.setUint16(2, 772, true); // ARPHRD_LOOPBACK
  v.setInt32(4, LO_INDEX, true);
  v.setUint32(8, 0x1 | 0x8 | 0x40 | 0x10000, true); // UP, LOOPBACK, RUNNING, LOWER_UP
  return withAttrs(info, [
    [3, str("lo")], // IFLA_IFNAME
    [13, u32(1000)], // IFLA_TXQLEN
    [16, u8(0)], // IFLA_OPERSTATE: unknown, as Linux's lo
    [17, u8(0)], // IFLA_LINKMODE
    [4, u32(65536)], // IFLA_MTU
    [50, u32(0)], // IFLA_MIN_MTU
    [51, u32(0)], // IFLA_MAX_MTU
    [27, u32(0)], // IFLA_GROUP
    [30, u32(0)], // IFLA_PROMISCUITY
    [31, u32(1)], // IFLA_NUM_TX_QUEUES
    [32, u32(1)], // IFLA_NUM_RX_QUEUES
    [33, u8(1)], // IFLA_CARRIER
    [6, str("noqueue")], // IFLA_QDISC
    [1, new Uint8Array(6)], // IFLA_ADDRESS
    [2, new Uint8Array(6)], // IFLA_BROADCAST
  ]);
}

/** The loopback's addresses of a family (RTM_NEWADDR's ifaddrmsg and attributes). */
function loopbackAddrs(family: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const cache = new Uint8Array(16);
  const cv = new DataView(cache.buffer);
  cv.setUint32(0, 0xffffffff, true);
  cv.setUint32(4, 0xffffffff, true);
  const stamp = Math.floor((performance.now() - BOOT) / 10);
  cv.setUint32(8, stamp, true);
  cv.setUint32(12, stamp, true);
  const msg = (fam: number, prefix: number, addr: number[], attrs: Attr[]) => {
    const h = new Uint8Array([
      fam,
      prefix,
      0x80, /* IFA_F_PERMANENT */
      254, /* scope host */
      0,
      0,
      0,
      0,
    ]);
    new DataView(h.buffer).setUint32(4, LO_INDEX, true);
    return withAttrs(h, [[1, Uint8Array.from(addr)], ...attrs, [6, cache], [8, u32(0x80)]]);
  };
  if (family === 0 || family === AF.INET) {
    out.push(
      msg(AF.INET, 8, [127, 0, 0, 1], [[2, Uint8Array.from([127, 0, 0, 1])], [3, str("lo")]]),
    );
  }
  if (family === 0 || family === AF.INET6) {
    out.push(msg(AF.INET6, 128, [...new Array(15).fill(0), 1], []));
  }
  return out;
}

/** The routes to the loopback, as Linux has them for lo (RTM_NEWROUTE's rtmsg and attributes). */
function loopbackRoutes(family: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  // family, dst_len, src_len, tos, table, protocol, scope, type; flags
  const route = (h: number[], attrs: Attr[]) =>
    withAttrs(Uint8Array.from([...h, 0, 0, 0, 0]), attrs);
  const table = (t: number): Attr => [15, u32(t)]; // RTA_TABLE
  const oif: Attr = [4, u32(LO_INDEX)];
  const lo4 = Uint8Array.from([127, 0, 0, 1]);
  if (family === 0 || family === AF.INET) {
    // local 127.0.0.0/8, local 127.0.0.1, broadcast 127.255.255.255 (table local, proto kernel).
    out.push(
      route([AF.INET, 8, 0, 0, 255, 2, 254, 2], [table(255), [1, Uint8Array.from([127, 0, 0, 0])], [
        7,
        lo4,
      ], oif]),
    );
    out.push(route([AF.INET, 32, 0, 0, 255, 2, 254, 2], [table(255), [1, lo4], [7, lo4], oif]));
    out.push(
      route([AF.INET, 32, 0, 0, 255, 2, 253, 3], [
        table(255),
        [1, Uint8Array.from([127, 255, 255, 255])],
        [7, lo4],
        oif,
      ]),
    );
  }
  if (family === 0 || family === AF.INET6) {
    const lo6 = Uint8Array.from([...new Array(15).fill(0), 1]);
    // ::1 dev lo proto kernel metric 256 (main), local ::1 (table local).
    out.push(
      route([AF.INET6, 128, 0, 0, 254, 2, 0, 1], [table(254), [1, lo6], oif, [6, u32(256)]]),
    );
    out.push(route([AF.INET6, 128, 0, 0, 255, 2, 0, 2], [table(255), [1, lo6], oif, [6, u32(0)]]));
  }
  return out;
}

/**
 * A NETLINK_ROUTE socket: requests go in with send, answers come out, one
 * datagram per batch, with receive.
 *
 * @example
 * ```ts
 * import { NetlinkSocket } from "./netlink.ts";
 * const s = new NetlinkSocket(0, 0, 0, 7);
 * const req = new Uint8Array(32);
 * const v = new DataView(req.buffer);
 * v.setUint32(0, 32, true); v.setUint16(4, 18, true); v.setUint16(6, 0x301, true);
 * s.send(req);
 * const buf = new Uint8Array(8192);
 * const n = s.receive(buf, 0).n;
 * if (new DataView(buf.buffer).getUint16(4, true) !== 16) throw new Error("RTM_NEWLINK");
 * if (n <= 32) throw new Error();
 * ```
 */
export class NetlinkSocket extends OpenFile {
  /** The port id (bound or given at the first send), 0 until then. */
  port = 0;
  /** Multicast groups bound (kept; no events are ever sent). */
  groups = 0;
  /** Options kept and reported (NETLINK_EXT_ACK and the like, buffer sizes). */
  readonly options = new Map<string, Uint8Array>();
  readonly changed = new WaitQueue();
  readonly #queue: Uint8Array[] = [];
  readonly #pid: number;

  /**
   * Makes a socket.
   *
   * @param flags O_NONBLOCK.
   * @param uid Owner.
   * @param gid Group.
   * @param pid The creating process (the default port id).
   * @param sockets The network namespace's sockets, which hold it until it closes.
   */
  constructor(
    flags: number,
    uid: number,
    gid: number,
    pid: number,
    readonly sockets: Set<object> | null = null,
  ) {
    super(new SocketInode(uid, gid), O.RDWR | (flags & O.NONBLOCK));
    this.#pid = pid;
    sockets?.add(this);
  }

  protected override release(): void {
    this.sockets?.delete(this);
  }

  /**
   * bind(2): a port id (0: the process's pid) and groups.
   *
   * @param port The port id asked for.
   * @param groups Multicast groups.
   */
  bind(port: number, groups: number): void {
    this.port = port || this.#pid;
    this.groups = groups;
  }

  /** The socket's address, `struct sockaddr_nl`. */
  address(): Uint8Array {
    const a = new Uint8Array(12);
    const v = new DataView(a.buffer);
    v.setUint16(0, 16, true);
    v.setUint32(4, this.port, true);
    v.setUint32(8, this.groups, true);
    return a;
  }

  /**
   * Takes requests (one or more messages) and queues the answers.
   *
   * @param data The messages.
   * @returns Bytes taken.
   */
  send(data: Uint8Array): number {
    if (!this.port) this.port = this.#pid;
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const replies: Uint8Array[] = [];
    for (let at = 0; at + 16 <= data.length;) {
      const len = v.getUint32(at, true);
      if (len < 16 || at + len > data.length) break;
      this.#answer(data.subarray(at, at + len), replies);
      at += align(len);
    }
    if (replies.length) {
      const total = replies.reduce((n, r) => n + r.length, 0);
      const dgram = new Uint8Array(total);
      let at = 0;
      for (const r of replies) {
        dgram.set(r, at);
        at += r.length;
      }
      this.#queue.push(dgram);
      this.changed.notify();
    }
    return data.length;
  }

  #answer(msg: Uint8Array, out: Uint8Array[]): void {
    const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const type = v.getUint16(4, true);
    const flags = v.getUint16(6, true);
    const seq = v.getUint32(8, true);
    const reply = (t: number, f: number, body: Uint8Array) => {
      const m = new Uint8Array(16 + align(body.length));
      const mv = new DataView(m.buffer);
      mv.setUint32(0, 16 + body.length, true);
      mv.setUint16(4, t, true);
      mv.setUint16(6, f, true);
      mv.setUint32(8, seq, true);
      mv.setUint32(12, this.port, true);
      m.set(body, 16);
      out.push(m);
    };
    // An error carries the whole request; an acknowledgement only its header (NLM_F_CAPPED).
    const error = (errno: number) => {
      const echoed = errno ? msg : msg.subarray(0, 16);
      const body = new Uint8Array(4 + echoed.length);
      new DataView(body.buffer).setInt32(0, -errno, true);
      body.set(echoed, 4);
      reply(NLMSG.ERROR, errno ? 0 : 0x100, body);
    };
    if (!(flags & NLM_F.REQUEST)) return;
    const family = msg.length > 16 ? msg[16]! : 0;
    const dump = (flags & NLM_F.DUMP) === NLM_F.DUMP;
    let answers: [number, Uint8Array[]] | null = null;
    switch (type) {
      case RTM.GETLINK: {
        if (!dump) {
          const index = msg.length >= 24 ? v.getInt32(20, true) : 0;
          const name = attrName(msg, 32, 3);
          if ((index && index !== LO_INDEX) || (!index && name !== null && name !== "lo")) {
            error(19); // ENODEV
            return;
          }
        }
        answers = [RTM.NEWLINK, [loopbackLink()]];
        break;
      }
      case RTM.GETADDR:
        answers = [RTM.NEWADDR, loopbackAddrs(family)];
        break;
      case RTM.GETROUTE:
        answers = [RTM.NEWROUTE, loopbackRoutes(family)];
        break;
      case RTM.GETNEIGH:
      case RTM.GETRULE:
        answers = [0, []];
        break;
      default:
        // A change to the network (NEWLINK, NEWADDR, NEWROUTE, DEL*, SET*), or a kind not kept.
        error(type >= 16 && type < 100 && (type & 3) !== 2 ? 1 /* EPERM */ : 95 /* EOPNOTSUPP */);
        return;
    }
    const [kind, bodies] = answers;
    if (dump) {
      for (const b of bodies) reply(kind, NLM_F.MULTI, b);
      reply(NLMSG.DONE, NLM_F.MULTI, u32(0));
    } else {
      if (bodies[0]) reply(kind, 0, bodies[0]);
      else error(2); // ENOENT
    }
    if (flags & NLM_F.ACK && !dump) error(0);
  }

  /**
   * Queues a datagram from the kernel for the reader (an mq_notify cookie).
   *
   * @param datagram The bytes.
   */
  deliver(datagram: Uint8Array): void {
    this.#queue.push(datagram);
    this.changed.notify();
  }

  /**
   * Takes the next answer datagram.
   *
   * @param buf Where to.
   * @param flags MSG_PEEK (2), MSG_TRUNC (0x20), MSG_DONTWAIT (0x40).
   * @returns Bytes copied, the datagram's full length, and whether it was cut.
   * @throws {WouldBlock} While there is nothing (EAGAIN when non-blocking).
   */
  receive(buf: Uint8Array, flags: number): { n: number; full: number } {
    const d = this.#queue[0];
    if (!d) {
      if ((this.flags & O.NONBLOCK) || (flags & 0x40)) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.changed]);
    }
    const n = Math.min(buf.length, d.length);
    buf.set(d.subarray(0, n));
    if (!(flags & 2)) this.#queue.shift();
    return { n, full: d.length };
  }

  override read(buf: Uint8Array, _offset: bigint | null): number {
    return this.receive(buf, 0).n;
  }

  override write(data: Uint8Array, _offset: bigint | null): number {
    return this.send(data);
  }

  override get seekable(): boolean {
    return false;
  }

  override poll(): { events: number; queue: WaitQueue | null } {
    const ev = POLL.OUT | POLL.WRNORM | (this.#queue.length ? POLL.IN | POLL.RDNORM : 0);
    return { events: ev, queue: this.changed };
  }
}

/** The string value of attribute `type` in the attributes from `at`, or null. */
function attrName(msg: Uint8Array, at: number, type: number): string | null {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  while (at + 4 <= msg.length) {
    const len = v.getUint16(at, true);
    if (len < 4) break;
    if (v.getUint16(at + 2, true) === type) {
      const raw = msg.subarray(at + 4, at + len);
      const end = raw.indexOf(0);
      return new TextDecoder().decode(end >= 0 ? raw.subarray(0, end) : raw);
    }
    at += align(len);
  }
  return null;
}

/** The interface ioctls (`struct ifreq` requests) a socket answers. */
const SIOC = {
  GIFNAME: 0x8910,
  GIFCONF: 0x8912,
  GIFFLAGS: 0x8913,
  GIFADDR: 0x8915,
  GIFBRDADDR: 0x8919,
  GIFNETMASK: 0x891b,
  GIFMTU: 0x8921,
  GIFHWADDR: 0x8927,
  GIFINDEX: 0x8933,
  GIFTXQLEN: 0x8942,
} as const;

/**
 * The interface ioctls on a socket of the sandbox's own network (what
 * if_nametoindex, if_indextoname and ifconfig-style tools use): the
 * loopback `lo` is the only interface; setting anything is refused.
 *
 * @param request The ioctl request.
 * @param arg The `struct ifreq` (or `struct ifconf`) address.
 * @param memory The caller's memory.
 * @returns 0, or null when `request` is not an interface ioctl.
 * @throws {LinuxError} ENODEV for another interface, EPERM for a change.
 */
export function loopbackIoctl(
  request: number,
  arg: bigint,
  memory: { read(a: bigint, n: number): Uint8Array; write(a: bigint, d: Uint8Array): void },
): number | null {
  if (request < 0x8910 || request > 0x8970) return null;
  const sockaddr = (family: number, ip: number[]) => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setUint16(0, family, true);
    b.set(ip, 4);
    return b;
  };
  const named = (req: Uint8Array) => {
    const raw = req.subarray(0, 16);
    const end = raw.indexOf(0);
    if (new TextDecoder().decode(end >= 0 ? raw.subarray(0, end) : raw) !== "lo") {
      throw new LinuxError("ENODEV");
    }
  };
  if (request === SIOC.GIFCONF) {
    const v = new DataView(memory.read(arg, 16).buffer);
    const len = v.getInt32(0, true);
    const buf = v.getBigUint64(8, true);
    const one = new Uint8Array(40);
    one.set(str("lo"));
    one.set(sockaddr(AF.INET, [127, 0, 0, 1]), 16);
    const fits = buf !== 0n && len >= 40;
    if (fits) memory.write(buf, one);
    memory.write(arg, u32(fits || buf === 0n ? 40 : 0));
    return 0;
  }
  const req = memory.read(arg, 40).slice();
  const out = new DataView(req.buffer);
  switch (request) {
    case SIOC.GIFNAME:
      if (out.getInt32(16, true) !== LO_INDEX) throw new LinuxError("ENODEV");
      req.fill(0, 0, 16);
      req.set(str("lo"));
      break;
    case SIOC.GIFINDEX:
      named(req);
      out.setInt32(16, LO_INDEX, true);
      break;
    case SIOC.GIFFLAGS:
      named(req);
      out.setInt16(16, 0x49, true); // UP, LOOPBACK, RUNNING
      break;
    case SIOC.GIFADDR:
      named(req);
      req.set(sockaddr(AF.INET, [127, 0, 0, 1]), 16);
      break;
    case SIOC.GIFNETMASK:
      named(req);
      req.set(sockaddr(AF.INET, [255, 0, 0, 0]), 16);
      break;
    case SIOC.GIFBRDADDR:
      named(req);
      req.set(sockaddr(AF.INET, [0, 0, 0, 0]), 16);
      break;
    case SIOC.GIFMTU:
      named(req);
      out.setInt32(16, 65536, true);
      break;
    case SIOC.GIFTXQLEN:
      named(req);
      out.setInt32(16, 1000, true);
      break;
    case SIOC.GIFHWADDR:
      named(req);
      req.fill(0, 16, 32);
      out.setUint16(16, 772, true); // ARPHRD_LOOPBACK
      break;
    default:
      // The SIOCS* ones change the network; the others are not kept.
      throw new LinuxError((request & 0xff) >= 0x10 && request !== 0x8940 ? "EPERM" : "EINVAL");
  }
  memory.write(arg, req);
  return 0;
}
