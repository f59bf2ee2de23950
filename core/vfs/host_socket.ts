/**
 * An application's TCP or UDP socket under `--network host`: a host socket
 * the Sentry holds (gVisor's hostinet). The application has a Sentry
 * descriptor; every operation goes to the host socket, which is always
 * non-blocking: a call that would block parks the task until the event
 * loop says the socket is ready, so the Sentry never waits in the host.
 *
 * @module
 */
import { Errno } from "../../platform/errno.ts";
import { pollFd } from "../../platform/fd.ts";
import {
  hostAccept,
  hostBind,
  hostConnect,
  hostGetSockOpt,
  hostInterfaceList,
  hostListen,
  hostRecvFrom,
  hostRecvMsg,
  hostSendMsg,
  hostSendTo,
  hostSetSockOpt,
  hostShutdown,
  hostSocket,
  hostSocketIoctl,
  hostSockName,
} from "../../platform/host_socket.ts";
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { HostFdFile, type HostPoller } from "./host_file.ts";
import { O, POLL, type UserMemory } from "./inode.ts";
import { AF } from "../net/families.ts";

const MSG_DONTWAIT = 0x40;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
/** SIOCGIFNAME, FLAGS, ADDR, DSTADDR, BRDADDR, NETMASK, METRIC, MTU, HWADDR, INDEX, TXQLEN. */
const READ_INTERFACE = new Set([
  0x8910,
  0x8913,
  0x8915,
  0x8917,
  0x8919,
  0x891b,
  0x891d,
  0x8921,
  0x8927,
  0x8933,
  0x8942,
]);

/**
 * Splits netlink messages into the ones that may go to the host (the
 * rtnetlink GET requests: types 18, 22, 26, ..., low bits 2) and the ones
 * that would change the host's network, which the Sentry answers itself.
 */
function splitNetlink(data: Uint8Array): { allowed: Uint8Array[]; refused: Uint8Array[] } {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const allowed: Uint8Array[] = [];
  const refused: Uint8Array[] = [];
  for (let at = 0; at + 16 <= data.length;) {
    const len = v.getUint32(at, true);
    const type = v.getUint16(at + 4, true);
    if (len < 16 || at + len > data.length) break;
    (type >= 16 && (type & 3) === 2 ? allowed : refused).push(data.subarray(at, at + len));
    at += (len + 3) & ~3;
  }
  return { allowed, refused };
}

const NLMSG_ERROR = 2;
const NLM_F_CAPPED = 0x100;
const EPERM = 1;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;

/**
 * The NLMSG_ERROR answer Linux gives a request the sender may not make:
 * the error, then the request (its header alone with NETLINK_CAP_ACK).
 */
function netlinkError(
  request: Uint8Array,
  errno: number,
  portId: number,
  capped: boolean,
): Uint8Array {
  const echoed = capped ? request.subarray(0, 16) : request;
  const out = new Uint8Array(20 + echoed.length);
  const v = new DataView(out.buffer);
  const req = new DataView(request.buffer, request.byteOffset, request.byteLength);
  v.setUint32(0, out.length, true);
  v.setUint16(4, NLMSG_ERROR, true);
  v.setUint16(6, capped ? NLM_F_CAPPED : 0, true);
  v.setUint32(8, req.getUint32(8, true), true); // the request's sequence number
  v.setUint32(12, portId, true);
  v.setInt32(16, -errno, true);
  out.set(echoed, 20);
  return out;
}
const SOL_SOCKET = 1;
const SO_ERROR = 4;

/** Runs a host call, its errors as the application's. */
function host<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    asApplications(e);
  }
}

/** Throws a host call's error as the application's (an Errno as its LinuxError). */
function asApplications(e: unknown): never {
  if (e instanceof Errno) throw new LinuxError(e.errno);
  throw e;
}

/** Whether a host call failed with EAGAIN (nothing to do yet). */
function wouldBlock(e: unknown): boolean {
  return e instanceof Errno && e.errno === 11;
}

/**
 * A host socket.
 *
 * @example
 * ```ts ignore
 * const s = HostSocketFile.open(2, 1, 0, 0, poller);
 * ```
 */
export class HostSocketFile extends HostFdFile {
  readonly family: number;
  /** SOCK_STREAM or SOCK_DGRAM. */
  readonly type: number;
  readonly #poller: HostPoller;
  /** A blocking connect is under way: its retries wait for it to finish. */
  #connecting = false;
  /** Netlink answers the Sentry made (refused changes), read before the host's. */
  readonly #answers: Uint8Array[] = [];
  readonly #answered = new WaitQueue();

  /**
   * Wraps a host socket.
   *
   * @param fd The host descriptor (owned; non-blocking).
   * @param family AF_INET or AF_INET6.
   * @param type SOCK_STREAM or SOCK_DGRAM.
   * @param flags O_NONBLOCK as the application set it.
   * @param poller Waits for readiness.
   */
  constructor(fd: number, family: number, type: number, flags: number, poller: HostPoller) {
    super(fd, O.RDWR | flags, poller);
    this.family = family;
    this.type = type;
    this.#poller = poller;
  }

  /**
   * Makes a host socket for the application.
   *
   * @param family AF_INET or AF_INET6.
   * @param type SOCK_STREAM or SOCK_DGRAM.
   * @param protocol The protocol.
   * @param flags O_NONBLOCK or 0.
   * @param poller Waits for readiness.
   * @returns The socket.
   * @throws {LinuxError} What socket(2) fails with.
   */
  static open(
    family: number,
    type: number,
    protocol: number,
    flags: number,
    poller: HostPoller,
  ): HostSocketFile {
    return new HostSocketFile(
      host(() => hostSocket(family, type, protocol)),
      family,
      type,
      flags,
      poller,
    );
  }

  #nonblocking(flags = 0): boolean {
    return (this.flags & O.NONBLOCK) !== 0 || (flags & MSG_DONTWAIT) !== 0;
  }

  /** Parks the caller until the socket is ready for `events`, or says EAGAIN. */
  #wait(events: number, nonblocking: boolean): never {
    if (nonblocking) throw new LinuxError("EAGAIN");
    const queues = [this.#poller.queue(this.hostFd, events)];
    if (events & POLL.IN) queues.push(this.#answered);
    throw new WouldBlock(queues);
  }

  /**
   * bind(2).
   *
   * @param addr The sockaddr.
   */
  bind(addr: Uint8Array): void {
    host(() => hostBind(this.hostFd, addr));
  }

  /**
   * listen(2).
   *
   * @param backlog The backlog.
   */
  listen(backlog: number): void {
    host(() => hostListen(this.hostFd, backlog));
  }

  /**
   * connect(2): a blocking socket waits for the connection to be made (or
   * to fail), a non-blocking one gets EINPROGRESS.
   *
   * @param addr The sockaddr.
   * @throws {LinuxError} ECONNREFUSED, EINPROGRESS, ...
   * @throws {WouldBlock} While a blocking connect is under way.
   */
  connect(addr: Uint8Array): void {
    if (this.#connecting) {
      // A retry: done once the socket is writable; SO_ERROR says how it went.
      if ((pollFd(this.hostFd, POLL.OUT) & (POLL.OUT | POLL.ERR | POLL.HUP)) === 0) {
        this.#wait(POLL.OUT, false);
      }
      this.#connecting = false;
      const err = new DataView(this.getsockopt(SOL_SOCKET, SO_ERROR, 4).buffer).getInt32(0, true);
      if (err) throw new LinuxError(err);
      return;
    }
    try {
      hostConnect(this.hostFd, addr);
    } catch (e) {
      if (!(e instanceof Errno)) throw e;
      if (e.errno !== 115 /* EINPROGRESS */ || this.#nonblocking()) throw new LinuxError(e.errno);
      this.#connecting = true;
      this.#wait(POLL.OUT, false);
    }
  }

  /** Forgets a blocking connect a signal interrupted (it goes on in the host, as on Linux). */
  interrupted(): void {
    this.#connecting = false;
  }

  /**
   * accept4(2).
   *
   * @param flags O_NONBLOCK for the new socket.
   * @returns The connection and its peer's address.
   * @throws {WouldBlock} Until a connection comes (EAGAIN when non-blocking).
   */
  accept(flags: number): { socket: HostSocketFile; addr: Uint8Array } {
    try {
      const { fd, addr } = hostAccept(this.hostFd);
      return {
        socket: new HostSocketFile(fd, this.family, this.type, flags, this.#poller),
        addr,
      };
    } catch (e) {
      if (wouldBlock(e)) this.#wait(POLL.IN, this.#nonblocking());
      asApplications(e);
    }
  }

  /**
   * Sends.
   *
   * @param data The bytes.
   * @param flags MSG_* flags.
   * @param addr A destination, or null.
   * @returns Bytes sent.
   * @throws {LinuxError} EPIPE (the caller raises SIGPIPE), ...
   * @throws {WouldBlock} Until there is room (EAGAIN when non-blocking).
   */
  send(data: Uint8Array, flags: number, addr: Uint8Array | null): number {
    if (this.family === AF.NETLINK) {
      const { allowed, refused } = splitNetlink(data);
      if (refused.length) {
        // Changes to the host's network: refused with EPERM in an answer, as for a sender without CAP_NET_ADMIN.
        const port = this.#portId();
        const capped = this.getsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 4).some((b) => b !== 0);
        for (const m of refused) this.#answers.push(netlinkError(m, EPERM, port, capped));
        this.#answered.notify();
        if (!allowed.length) return data.length;
        const rest = new Uint8Array(allowed.reduce((n, m) => n + ((m.length + 3) & ~3), 0));
        let at = 0;
        for (const m of allowed) {
          rest.set(m, at);
          at += (m.length + 3) & ~3;
        }
        this.#sendHost(rest, flags, addr);
        return data.length;
      }
    }
    return this.#sendHost(data, flags, addr);
  }

  /**
   * Sends with control messages (sendmsg): the host's kernel takes
   * IP_PKTINFO, IP_TOS, IP_TTL, IPV6_PKTINFO and the like as they are.
   *
   * @param data The bytes.
   * @param flags MSG_* flags.
   * @param addr A destination, or null.
   * @param control Checked control messages (no descriptors or credentials).
   * @returns Bytes sent.
   */
  sendMessage(
    data: Uint8Array,
    flags: number,
    addr: Uint8Array | null,
    control: Uint8Array,
  ): number {
    if (this.family === AF.NETLINK || control.length === 0) return this.send(data, flags, addr);
    return this.#sendHost(data, flags, addr, control);
  }

  /**
   * Receives with control messages (recvmsg).
   *
   * @param buf Where to.
   * @param flags MSG_* flags.
   * @param controlRoom Room the caller has for control messages.
   * @returns Bytes, the sender's address, the host's control messages and msg_flags.
   * @throws {WouldBlock} Until something comes (EAGAIN when non-blocking).
   */
  receiveMessage(
    buf: Uint8Array,
    flags: number,
    controlRoom: number,
  ): { n: number; addr: Uint8Array; control: Uint8Array; flags: number } {
    if (controlRoom === 0 || this.#answers.length) {
      const r = this.receive(buf, flags);
      return { ...r, control: new Uint8Array(0), flags: r.n > buf.length ? MSG_TRUNC : 0 };
    }
    try {
      return hostRecvMsg(this.hostFd, buf, flags & ~MSG_DONTWAIT, controlRoom);
    } catch (e) {
      if (wouldBlock(e)) this.#wait(POLL.IN, this.#nonblocking(flags));
      asApplications(e);
    }
  }

  /** The netlink port id the host gave this socket (bound now if it was not). */
  #portId(): number {
    let name = this.name(false);
    let port = new DataView(name.buffer, name.byteOffset).getUint32(4, true);
    if (port === 0) {
      this.bind(new Uint8Array([AF.NETLINK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      name = this.name(false);
      port = new DataView(name.buffer, name.byteOffset).getUint32(4, true);
    }
    return port;
  }

  #sendHost(
    data: Uint8Array,
    flags: number,
    addr: Uint8Array | null,
    control: Uint8Array | null = null,
  ): number {
    try {
      const f = flags & ~MSG_DONTWAIT;
      return control && control.length
        ? hostSendMsg(this.hostFd, data, f, addr, control)
        : hostSendTo(this.hostFd, data, f, addr);
    } catch (e) {
      if (wouldBlock(e)) this.#wait(POLL.OUT, this.#nonblocking(flags));
      asApplications(e);
    }
  }

  /**
   * Receives.
   *
   * @param buf Where to.
   * @param flags MSG_* flags.
   * @returns Bytes received and the sender's address.
   * @throws {WouldBlock} Until something comes (EAGAIN when non-blocking).
   */
  receive(buf: Uint8Array, flags: number): { n: number; addr: Uint8Array } {
    const answer = this.#answers[0];
    if (answer) {
      // From the kernel: sockaddr_nl with port 0.
      const n = Math.min(buf.length, answer.length);
      buf.set(answer.subarray(0, n));
      if (!(flags & MSG_PEEK)) this.#answers.shift();
      return {
        n: flags & MSG_TRUNC ? answer.length : n,
        addr: new Uint8Array([AF.NETLINK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      };
    }
    try {
      return hostRecvFrom(this.hostFd, buf, flags & ~MSG_DONTWAIT);
    } catch (e) {
      if (wouldBlock(e)) this.#wait(POLL.IN, this.#nonblocking(flags));
      asApplications(e);
    }
  }

  override read(buf: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    if (buf.length === 0) return 0;
    return this.receive(buf, 0).n;
  }

  override write(data: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    if (data.length === 0 && this.type !== 2) return 0;
    return this.send(data, 0, null);
  }

  /**
   * getsockopt(2).
   *
   * @param level The level.
   * @param name The option.
   * @param size Room for the value.
   * @returns The value.
   */
  getsockopt(level: number, name: number, size: number): Uint8Array {
    return host(() => hostGetSockOpt(this.hostFd, level, name, size));
  }

  /**
   * setsockopt(2).
   *
   * @param level The level.
   * @param name The option.
   * @param value The value.
   */
  setsockopt(level: number, name: number, value: Uint8Array): void {
    host(() => hostSetSockOpt(this.hostFd, level, name, value));
  }

  /**
   * getsockname(2) or getpeername(2).
   *
   * @param peer The peer's.
   * @returns The sockaddr.
   */
  name(peer: boolean): Uint8Array {
    return host(() => hostSockName(this.hostFd, peer));
  }

  /**
   * shutdown(2).
   *
   * @param how SHUT_RD, SHUT_WR or SHUT_RDWR.
   */
  shutdown(how: number): void {
    host(() => hostShutdown(this.hostFd, how));
  }

  /**
   * The interface ioctls that read (SIOCGIF*), answered by the host
   * socket; the ones that change an interface are refused.
   */
  override ioctl(request: number, arg: bigint, memory: UserMemory): bigint {
    if (request === 0x8912) {
      // SIOCGIFCONF: struct ifconf { int len; char *buf; }.
      const conf = memory.read(arg, 16);
      const v = new DataView(conf.buffer, conf.byteOffset);
      const room = Math.max(0, Math.min(v.getInt32(0, true), 1 << 16));
      const buf = v.getBigUint64(8, true);
      const list = host(() => hostInterfaceList(this.hostFd, buf ? room : 0));
      if (buf) memory.write(buf, list);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setInt32(0, list.length, true);
      memory.write(arg, len);
      return 0n;
    }
    if (READ_INTERFACE.has(request)) {
      const req = memory.read(arg, 40).slice();
      host(() => hostSocketIoctl(this.hostFd, request, req));
      memory.write(arg, req);
      return 0n;
    }
    if (request >= 0x8910 && request <= 0x8970) throw new LinuxError("EPERM");
    return super.ioctl(request, arg, memory);
  }

  /** @returns The ready events, and a queue for the ones that are not (a socket does both). */
  override poll(): { events: number; queue: WaitQueue | null } {
    const bits = pollFd(this.hostFd, POLL.IN | POLL.OUT) |
      (this.#answers.length ? POLL.IN | POLL.RDNORM : 0);
    const waitFor = (POLL.IN | POLL.OUT) & ~bits;
    if (bits & (POLL.HUP | POLL.ERR) || waitFor === 0) return { events: bits, queue: null };
    return { events: bits, queue: this.#poller.queue(this.hostFd, waitFor) };
  }
}
