/**
 * Sockets whose both ends are in the sandbox: unix domain sockets
 * (stream, datagram and seqpacket; bound to a path, i.e. a socket file in
 * the container's file system, to an abstract name, or unnamed) and TCP
 * and UDP over the sandbox's loopback (`--network none`): connected
 * pairs; listening sockets with a backlog; messages that carry
 * descriptors (SCM_RIGHTS) and the sender's credentials; shutdown. Blocking calls throw {@linkcode WouldBlock} and
 * are run again when the queue they wait on is notified, so nothing here
 * changes state before it knows the call can complete.
 *
 * @module
 */
import { callHooks, LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import type { NetNamespace } from "../net/namespace.ts";
import {
  type FileSystem,
  Inode,
  O,
  OpenFile,
  POLL,
  PseudoFs,
  pseudoStat,
  S_IFSOCK,
  type Stat,
} from "./inode.ts";
import { AF, SOCK } from "../net/families.ts";

/** Default receive and send buffer size (net.core.rmem_default). */
export const DEFAULT_BUFFER = 212992;
/** The option keys (level SOL_SOCKET) of SO_RCVTIMEO and SO_SNDTIMEO in {@linkcode LocalSocket.options}. */
const RCVTIMEO = 65536 + 20;
const SNDTIMEO = 65536 + 21;
/** The longest path a sockaddr_un holds. */
export const UNIX_PATH_MAX = 108;

/** Who sent a message (SCM_CREDENTIALS, SO_PEERCRED). */
export interface Ucred {
  pid: number;
  uid: number;
  gid: number;
}

/** A socket address. */
export type SocketAddress =
  | { kind: "path"; path: string }
  | { kind: "abstract"; name: Uint8Array }
  | { kind: "unnamed" }
  | InetAddress;

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address and port. */
export interface InetAddress {
  kind: "inet";
  /** AF_INET (2) or AF_INET6 (10). */
  family: number;
  /** The address bytes. */
  ip: Uint8Array;
  port: number;
}

/** What a send carries. */
export interface Message {
  data: Uint8Array;
  /** Descriptions passed with it (SCM_RIGHTS), one reference each. */
  files: OpenFile[];
  creds: Ucred;
  /** The sender's address (datagrams). */
  from: SocketAddress;
  /** A UDP datagram over IPv4 (Linux counts those in its Udp MIB when read). */
  udp4?: boolean;
}

/** What a receive got. */
export interface Received {
  /** Bytes copied. */
  n: number;
  /** The message's full length (datagrams; for MSG_TRUNC). */
  full: number;
  /** The data did not all fit (datagrams). */
  truncated: boolean;
  /** Descriptions passed with the data (the receiver installs them). */
  files: OpenFile[];
  /** The sender's credentials (of the first message read). */
  creds: Ucred | null;
  /** The sender's address (datagrams). */
  from: SocketAddress;
}

const SOCKET_FS = new PseudoFs("sockfs", 0x0en);
let nextIno = 1n;

/** The inode of a socket (what fstat and /proc/PID/fd show). */
export class SocketInode extends Inode {
  readonly fs: FileSystem = SOCKET_FS;
  readonly #ino = nextIno++;
  readonly #created = BigInt(Date.now()) * 1_000_000n;

  /**
   * Makes one.
   *
   * @param uid Owner.
   * @param gid Group.
   */
  constructor(readonly uid: number, readonly gid: number) {
    super();
  }

  /** @returns S_IFSOCK, mode 0777. */
  stat(): Stat {
    return pseudoStat(this.fs, this.#ino, S_IFSOCK | 0o777, this, this.#created);
  }

  /** Sockets are not opened by path (open(2) of a socket file: ENXIO). */
  open(_flags: number): OpenFile {
    throw new LinuxError("ENXIO");
  }

  /** @returns `socket:[ino]`. */
  override readlink(): string {
    return `socket:[${this.#ino}]`;
  }
}

/** The names sockets are bound to in one sandbox: abstract ones, socket files, ports. */
export class SocketNames {
  /** Abstract names (hex) to sockets. */
  readonly abstract = new Map<string, LocalSocket>();
  /** Socket files (`dev:ino`) to sockets. */
  readonly files = new Map<string, LocalSocket>();
  /** TCP and UDP ports (`tcp:PORT`, `udp:PORT`) to sockets. */
  readonly ports = new Map<string, LocalSocket>();
  #auto = 0;
  #nextPort = 0;
  readonly #range: () => readonly [number, number];

  /**
   * Makes the table.
   *
   * @param range The ephemeral port range now (net.ipv4.ip_local_port_range).
   */
  constructor(range: () => readonly [number, number] = () => [32768, 60999]) {
    this.#range = range;
  }

  /**
   * An unused port of the ephemeral range (net.ipv4.ip_local_port_range),
   * the one after the last given first.
   *
   * @param proto "tcp" or "udp".
   * @returns The port.
   * @throws {LinuxError} EADDRINUSE when every one is taken.
   */
  ephemeralPort(proto: string): number {
    const [low, high] = this.#range();
    for (let i = 0; i <= high - low; i++) {
      const port = this.#nextPort >= low && this.#nextPort <= high ? this.#nextPort : low;
      this.#nextPort = port >= high ? low : port + 1;
      if (!this.ports.has(`${proto}:${port}`)) return port;
    }
    throw new LinuxError("EADDRINUSE");
  }

  /**
   * An unused abstract name for autobind (five hex digits, as Linux).
   *
   * @returns The name.
   */
  autoName(): Uint8Array {
    for (;;) {
      const name = new TextEncoder().encode((this.#auto++ & 0xfffff).toString(16).padStart(5, "0"));
      if (!this.abstract.has(hex(name))) return name;
    }
  }
}

/**
 * An abstract name as a map key.
 *
 * @param name The name's bytes.
 * @returns Hex text.
 */
export function hex(name: Uint8Array): string {
  return Array.from(name, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SO_LINGER's value. */
export interface Linger {
  on: boolean;
  seconds: number;
}

/**
 * Waits on `queue`, or says EAGAIN: at once when non-blocking, after the
 * timeout (SO_RCVTIMEO or SO_SNDTIMEO's `struct timeval`, counted from the
 * call's first try) when one is set.
 *
 * @param queue What to wait on.
 * @param timeout The option's value, if set.
 * @param nonblock Whether the call must not block.
 * @throws {WouldBlock} To wait.
 * @throws {LinuxError} EAGAIN.
 *
 * @example
 * ```ts
 * import { waitOrTimeOut } from "./local_socket.ts";
 * import { LinuxError, WaitQueue } from "../errors.ts";
 * try {
 *   waitOrTimeOut(new WaitQueue(), undefined, true);
 * } catch (e) {
 *   if (!(e instanceof LinuxError)) throw e;
 * }
 * ```
 */
export function waitOrTimeOut(
  queue: WaitQueue,
  timeout: Uint8Array | undefined,
  nonblock: boolean,
): never {
  if (nonblock) throw new LinuxError("EAGAIN");
  let ms = 0;
  if (timeout) {
    const v = new DataView(timeout.buffer, timeout.byteOffset, timeout.byteLength);
    ms = Number(v.getBigInt64(0, true)) * 1000 + Number(v.getBigInt64(8, true)) / 1000;
  }
  if (ms <= 0) throw new WouldBlock([queue]);
  const make = () => performance.now() + ms;
  const deadline = (callHooks.keep ? callHooks.keep(make) : make()) ?? make();
  if (performance.now() >= deadline) throw new LinuxError("EAGAIN");
  throw new WouldBlock([queue], deadline);
}

/** Where a bound socket is registered, to unregister it at close. */
type Binding = { map: Map<string, LocalSocket>; key: string };

/** One end of a unix socket. */
export class LocalSocket extends OpenFile {
  /** SOCK.STREAM, DGRAM or SEQPACKET. */
  readonly type: number;
  /** AF_UNIX (1), AF_INET (2) or AF_INET6 (10). */
  readonly family: number;
  /** IPV6_V6ONLY (AF_INET6): no IPv4 peers. */
  v6only = false;
  /** Where it stands. */
  state: "unconnected" | "listening" | "connected" = "unconnected";
  /** The other end (stream, seqpacket), or the default destination (unix datagram). */
  peer: LocalSocket | null = null;
  /** A UDP socket's default destination (connect). */
  remote: SocketAddress | null = null;
  /** Its own address. */
  local: SocketAddress = { kind: "unnamed" };
  /** Its creator's credentials (what SO_PEERCRED shows the other end). */
  readonly creds: Ucred;
  /** The other end's credentials, from connect, accept or socketpair. */
  peerCreds: Ucred | null = null;
  /** Receive buffer size. */
  rcvbuf = DEFAULT_BUFFER;
  /** Send buffer size. */
  sndbuf = DEFAULT_BUFFER;
  /** SO_PASSCRED. */
  passCred = false;
  /** Options kept and reported as set (SO_REUSEADDR, SO_KEEPALIVE, timeouts). */
  readonly options = new Map<number, Uint8Array>();
  /** SO_LINGER: a TCP close with it on and 0 seconds resets the connection. */
  linger: Linger = { on: false, seconds: 0 };
  /** Notified when its own readiness may have changed. */
  readonly events = new WaitQueue();
  /** Notified when its receive queue drains (senders wait here). */
  readonly room = new WaitQueue();
  #queue: Message[] = [];
  #queued = 0;
  /** Connections waiting for accept. */
  #pending: LocalSocket[] = [];
  #backlog = 0;
  /** This end shut reading / writing (shutdown). */
  #readShut = false;
  #writeShut = false;
  /** The other end closed or shut writing: reads reach end of file. */
  #peerDone = false;
  #closed = false;
  /** TCP: the connection was reset (a reset came from the other end). */
  #wasReset = false;
  /** TCP: the error a reset or a refusal left, reported once (SO_ERROR, the next call). */
  #error: "ECONNRESET" | "EPIPE" | "ECONNREFUSED" | null = null;
  /**
   * TCP: a non-blocking connect(2) waiting for room in a full listener's
   * queue (SYN_SENT), and where it goes; it completes when the listener
   * accepts one, or is refused when the listener closes.
   */
  #connecting: { server: LocalSocket; local: SocketAddress | null } | null = null;
  /** A connect that said EINPROGRESS has completed: the next connect says 0 (then EISCONN). */
  #connectedLater = false;
  /** TCP: a connect that was waiting was refused (the socket is closed, as Linux's after the reset). */
  #refused = false;
  /** A listener's non-blocking connects waiting for room, first come first. */
  #synWaiting: LocalSocket[] = [];
  #binding: Binding | null = null;
  /** TCP: the other end's FIN came and no read has returned the end of file yet. */
  #finUnread = false;
  /** The network namespace that lists it (/proc/net) and counts its connections. */
  #net: NetNamespace | null = null;

  /**
   * Makes a socket.
   *
   * @param type SOCK.*.
   * @param flags O_NONBLOCK.
   * @param creds Its creator.
   * @param family AF_UNIX (default), AF_INET or AF_INET6.
   */
  constructor(type: number, flags: number, creds: Ucred, family: number = AF.UNIX) {
    super(new SocketInode(creds.uid, creds.gid), O.RDWR | (flags & O.NONBLOCK));
    this.type = type;
    this.creds = creds;
    this.family = family;
  }

  /** Waits on `queue`, or says EAGAIN (see {@linkcode waitOrTimeOut}). */
  #wait(queue: WaitQueue, option: number, nonblock: boolean): never {
    waitOrTimeOut(queue, this.options.get(option), nonblock);
  }

  /** Whether the socket keeps message boundaries. */
  get datagrams(): boolean {
    return this.type !== SOCK.STREAM;
  }

  /** Bytes waiting to be received. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * What a TCP socket has received and the application not read, in
   * sequence space: the data queued, and the other end's FIN until a read
   * returns the end of file (/proc/net/tcp's rx_queue).
   */
  get unreadSequence(): number {
    return this.#queued + (this.#finUnread ? 1 : 0);
  }

  /** Connections waiting for accept. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** The server's ends of the connections waiting for accept. */
  get pending(): readonly LocalSocket[] {
    return this.#pending;
  }

  /** The listen backlog (what listen(2) asked for, at most net.core.somaxconn). */
  get backlog(): number {
    return this.#backlog;
  }

  /** What SO_PROTOCOL reports: IPPROTO_TCP, IPPROTO_UDP, or 0 (unix). */
  get protocol(): number {
    if (this.family === AF.UNIX) return 0;
    return this.type === SOCK.DGRAM ? 17 : 6;
  }

  /** Whether it listens. */
  get listening(): boolean {
    return this.state === "listening";
  }

  /** Whether it is a TCP socket. */
  get tcp(): boolean {
    return this.family !== AF.UNIX && this.type === SOCK.STREAM;
  }

  /**
   * The TCP state as Linux numbers it (/proc/net/tcp): 1 ESTABLISHED, 5
   * FIN_WAIT2 (this end shut writing; the other end acknowledged at once),
   * 7 CLOSE (not connected, reset, or both ends done: the Sentry keeps no
   * TIME_WAIT), 8 CLOSE_WAIT (the other end is done), 10 LISTEN, 2
   * SYN_SENT (a non-blocking connect waiting for the listener's room).
   */
  get tcpState(): number {
    if (this.state === "listening") return 10;
    if (this.#connecting) return 2;
    if (this.state !== "connected" || this.#wasReset) return 7;
    if (this.#writeShut) return this.#peerDone ? 7 : 5;
    return this.#peerDone ? 8 : 1;
  }

  /**
   * Puts it in a network namespace's list of sockets (/proc/net) until it
   * closes; a listener's connections join when accepted.
   *
   * @param net The namespace.
   */
  track(net: NetNamespace): void {
    this.#net = net;
    net.sockets.add(this);
  }

  /**
   * Takes the pending error (SO_ERROR).
   *
   * @returns The error's name, or null.
   */
  takeError(): string | null {
    const e = this.#error;
    this.#error = null;
    return e;
  }
  /**
   * Records its address and where it is registered.
   *
   * @param local The address.
   * @param binding The map and key, to remove at close.
   */
  bindTo(local: SocketAddress, binding: Binding | null): void {
    if (this.local.kind !== "unnamed") throw new LinuxError("EINVAL");
    if (!binding) {
      this.local = local;
      return;
    }
    if (binding.map.has(binding.key)) throw new LinuxError("EADDRINUSE");
    binding.map.set(binding.key, this);
    this.local = local;
    this.#binding = binding;
  }

  /**
   * Starts listening.
   *
   * @param backlog How many connections may wait (already at most net.core.somaxconn).
   */
  listen(backlog: number): void {
    if (this.type === SOCK.DGRAM) throw new LinuxError("EOPNOTSUPP");
    if (this.state === "connected") throw new LinuxError("EINVAL");
    this.state = "listening";
    this.#backlog = backlog;
    this.events.notify();
  }

  /**
   * Connects a stream or seqpacket socket to a listening one.
   *
   * @param server The listening socket.
   * @param accepted The address the connection was made to (the server's end shows it).
   * @throws {LinuxError} ECONNREFUSED when it does not listen; when its
   *   backlog is full, EAGAIN (non-blocking unix sockets) or EINPROGRESS
   *   (non-blocking TCP: the connection completes once the listener has
   *   room); EALREADY while one is in progress.
   * @throws {WouldBlock} When its backlog is full.
   */
  connectTo(server: LocalSocket, accepted: { local: SocketAddress } | null = null): void {
    if (this.#connecting) throw new LinuxError("EALREADY");
    if (this.state === "connected" && this.#connectedLater) {
      // As Linux's SS_CONNECTING socket: the call that sees the connection made succeeds.
      this.#connectedLater = false;
      return;
    }
    if (this.state === "connected") throw new LinuxError("EISCONN");
    if (this.state === "listening") throw new LinuxError("EINVAL");
    // A connect that was refused reports it to the next call.
    if (this.#refused && this.#error) throw new LinuxError(this.takeError()!);
    this.#refused = false;
    if (server.type !== this.type) throw new LinuxError("EPROTOTYPE");
    if (server.state !== "listening" || server.#closed) throw new LinuxError("ECONNREFUSED");
    if (server.#pending.length > server.#backlog) {
      const nonblock = (this.flags & O.NONBLOCK) !== 0;
      if (this.tcp && nonblock) {
        // Linux sends the SYN and returns; it gets in once the queue has room.
        this.#connecting = { server, local: accepted?.local ?? null };
        server.#synWaiting.push(this);
        if (server.#net) server.#net.counters.tcp.activeOpens++;
        throw new LinuxError("EINPROGRESS");
      }
      this.#wait(server.room, SNDTIMEO, nonblock);
    }
    if (this.tcp && server.#net) server.#net.counters.tcp.activeOpens++;
    this.#join(server, accepted?.local ?? null);
    if (this.tcp && (this.flags & O.NONBLOCK)) {
      // Linux's non-blocking TCP connect says EINPROGRESS even when the
      // loopback completes the handshake at once; the next connect says 0.
      this.#connectedLater = true;
      throw new LinuxError("EINPROGRESS");
    }
  }

  /** The connection is made: the server's end waits in its queue for accept. */
  #join(server: LocalSocket, local: SocketAddress | null): void {
    const end = new LocalSocket(this.type, 0, server.creds, server.family);
    end.local = local ?? server.local;
    end.#net = server.#net;
    if (this.tcp && server.#net) server.#net.counters.tcp.passiveOpens++;
    pair(this, end);
    this.peerCreds = server.creds;
    end.peerCreds = this.creds;
    server.#pending.push(end);
    server.events.notify();
  }

  /** A listener with room takes the connects that waited for it. */
  #admitWaiting(): void {
    while (this.#synWaiting.length && this.#pending.length <= this.#backlog) {
      const c = this.#synWaiting.shift()!;
      const local = c.#connecting!.local;
      c.#connecting = null;
      c.#connectedLater = true;
      c.#join(this, local);
      c.events.notify();
    }
  }

  /**
   * Takes the next waiting connection.
   *
   * @returns The server's end of it.
   */
  accept(): LocalSocket {
    if (this.state !== "listening") throw new LinuxError("EINVAL");
    const s = this.#pending.shift();
    if (!s) this.#wait(this.events, RCVTIMEO, (this.flags & O.NONBLOCK) !== 0);
    if (s.#net) s.track(s.#net);
    this.#admitWaiting();
    this.room.notify();
    return s;
  }

  /**
   * Sends (stream: what fits; datagram: the whole message or nothing).
   *
   * @param m The message.
   * @param to The destination (unconnected datagrams), else the peer.
   * @param nonblock MSG_DONTWAIT or O_NONBLOCK.
   * @returns Bytes sent.
   * @throws {LinuxError} EPIPE when the other end is gone or shut, ENOTCONN, EMSGSIZE.
   */
  send(m: Message, to: LocalSocket | null, nonblock: boolean): number {
    // TCP: a reset's error first (once), then EPIPE.
    if (this.#writeShut || this.#wasReset) throw new LinuxError(this.takeError() ?? "EPIPE");
    let target: LocalSocket;
    if (this.type === SOCK.DGRAM) {
      const t = to ?? this.peer;
      if (!t) throw new LinuxError(to === null ? "ENOTCONN" : "ECONNREFUSED");
      if (t.#closed) throw new LinuxError("ECONNREFUSED");
      if (t.type !== SOCK.DGRAM) throw new LinuxError("EPROTOTYPE");
      if (this.family === AF.UNIX && t.peer && t.peer !== this) throw new LinuxError("EPERM");
      target = t;
    } else {
      if (to) throw new LinuxError("EISCONN");
      if (this.#connecting) this.#wait(this.events, SNDTIMEO, nonblock);
      // (TCP: EPIPE, as Linux.)
      if (this.state !== "connected") {
        throw new LinuxError(this.family === AF.UNIX ? "ENOTCONN" : "EPIPE");
      }
      if (!this.peer || this.peer.#closed || this.peer.#readShut) {
        // TCP: the first write after the other end closed goes out and is
        // answered by a reset; the next one fails (EPIPE), as on Linux.
        if (this.family === AF.UNIX) throw new LinuxError("EPIPE");
        this.#net && this.#net.counters.tcp.outRsts++;
        this.#resetBy("EPIPE");
        return m.data.length;
      }
      target = this.peer;
    }
    if (this.datagrams && m.data.length > this.sndbuf) throw new LinuxError("EMSGSIZE");
    const room = target.rcvbuf - target.#queued;
    const need = this.datagrams ? Math.max(m.data.length, 1) : 1;
    if (room < need) this.#wait(target.room, SNDTIMEO, nonblock);
    const n = this.datagrams ? m.data.length : Math.min(m.data.length, room);
    for (const f of m.files) f.ref();
    // The caller's buffer is its own (read from the application for this call): no copy.
    target.#queue.push({ ...m, data: n === m.data.length ? m.data : m.data.slice(0, n) });
    target.#queued += n;
    target.events.notify();
    return n;
  }

  /**
   * Receives into a buffer.
   *
   * @param buf Where to.
   * @param o peek (MSG_PEEK), waitAll (MSG_WAITALL), nonblock.
   * @returns What was received.
   */
  receive(buf: Uint8Array, o: { peek: boolean; waitAll: boolean; nonblock: boolean }): Received {
    const empty: Received = {
      n: 0,
      full: 0,
      truncated: false,
      files: [],
      creds: null,
      from: { kind: "unnamed" },
    };
    const eof = this.#readShut || this.#peerDone || this.#wasReset ||
      (this.type !== SOCK.DGRAM && this.state === "connected" && !this.peer);
    if (this.#queue.length === 0) {
      // After a reset, its error once (unless the other end's FIN came first).
      if (this.#error && !this.#peerDone) throw new LinuxError(this.takeError()!);
      if (this.#connecting) this.#wait(this.events, RCVTIMEO, o.nonblock);
      if (eof) {
        // TCP: the FIN has been read (it takes one sequence number, as data does).
        if (!o.peek && this.#peerDone) this.#finUnread = false;
        return empty;
      }
      if (this.type !== SOCK.DGRAM && this.state !== "connected") throw new LinuxError("EINVAL");
      this.#wait(this.events, RCVTIMEO, o.nonblock);
    }
    if (this.datagrams) {
      const m = this.#queue[0]!;
      const n = Math.min(buf.length, m.data.length);
      buf.set(m.data.subarray(0, n));
      if (!o.peek) this.#consume(1, 0);
      if (!o.peek && m.udp4 && this.#net) this.#net.counters.udp.inDatagrams++;
      return {
        n,
        full: m.data.length,
        truncated: n < m.data.length,
        files: o.peek ? [] : m.files,
        creds: m.creds,
        from: m.from,
      };
    }
    // A stream: as much as is there, without crossing into data that
    // carries descriptors after some was read (those come with their first byte).
    if (o.waitAll && !o.nonblock && !eof && this.#queued < buf.length) {
      // MSG_WAITALL: after the timeout, what is there.
      try {
        this.#wait(this.events, RCVTIMEO, false);
      } catch (e) {
        if (!(e instanceof LinuxError)) throw e;
      }
    }
    let n = 0;
    let whole = 0;
    let partial = 0;
    const files: OpenFile[] = [];
    for (const m of this.#queue) {
      if (n === buf.length) break;
      if (n > 0 && m.files.length) break;
      const take = Math.min(m.data.length, buf.length - n);
      buf.set(m.data.subarray(0, take), n);
      n += take;
      files.push(...m.files);
      if (take === m.data.length) whole++;
      else partial = take;
    }
    const creds = this.#queue[0]!.creds;
    if (!o.peek) this.#consume(whole, partial);
    return {
      n,
      full: n,
      truncated: false,
      files: o.peek ? [] : files,
      creds,
      from: this.peer?.local ?? { kind: "unnamed" },
    };
  }

  /** Drops `whole` messages and `partial` bytes of the next. */
  #consume(whole: number, partial: number): void {
    for (let i = 0; i < whole; i++) {
      const m = this.#queue.shift()!;
      this.#queued -= m.data.length;
    }
    if (partial) {
      const m = this.#queue[0]!;
      m.data = m.data.subarray(partial);
      // Its descriptors went with its first byte.
      m.files = [];
      this.#queued -= partial;
    }
    this.room.notify();
    this.peer?.events.notify();
  }

  /**
   * shutdown(2).
   *
   * @param how 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR.
   */
  shutdown(how: number): void {
    if (how < 0 || how > 2) throw new LinuxError("EINVAL");
    if (this.state !== "connected" && this.type !== SOCK.DGRAM) throw new LinuxError("ENOTCONN");
    if (this.tcp && this.#wasReset) throw new LinuxError("ENOTCONN");
    if (how !== 1) this.#readShut = true;
    if (how !== 0) {
      this.#writeShut = true;
      if (this.peer && this.type !== SOCK.DGRAM) {
        this.peer.#peerDone = true;
        this.peer.#finUnread = this.tcp;
        this.peer.events.notify();
      }
    }
    this.events.notify();
    this.room.notify();
  }

  /** @returns Its readiness. */
  override poll(): { events: number; queue: WaitQueue | null } {
    let bits = 0;
    if (this.state === "listening") {
      if (this.#pending.length) bits |= POLL.IN | POLL.RDNORM;
      return { events: bits, queue: this.events };
    }
    if (this.tcp && this.state === "connected") {
      return { events: this.#tcpPoll(), queue: this.events };
    }
    if (this.#connecting) return { events: 0, queue: this.events };
    if (this.#refused) {
      // Closed by the reset: both directions done.
      bits = POLL.IN | POLL.RDNORM | POLL.RDHUP | POLL.OUT | POLL.WRNORM | POLL.HUP;
      return { events: bits | (this.#error ? POLL.ERR : 0), queue: this.events };
    }
    if (this.#queue.length || this.#readShut || this.#peerDone) bits |= POLL.IN | POLL.RDNORM;
    if (this.#peerDone) bits |= POLL.RDHUP;
    if (this.#readShut && this.#writeShut) bits |= POLL.HUP;
    if (this.type !== SOCK.DGRAM && this.state === "connected") {
      const p = this.peer;
      if (!p || p.#closed) bits |= POLL.HUP | POLL.IN | POLL.RDNORM;
      else if (!this.#writeShut && p.rcvbuf - p.#queued > 0) bits |= POLL.OUT | POLL.WRNORM;
    } else if (this.type === SOCK.DGRAM) {
      const p = this.peer;
      if (!p || p.rcvbuf - p.#queued > 0) bits |= POLL.OUT | POLL.WRNORM;
    } else {
      bits |= POLL.OUT | POLL.WRNORM | POLL.HUP;
    }
    return { events: bits, queue: this.events };
  }

  /**
   * A connected TCP socket's readiness, as Linux's tcp_poll: hang-up once
   * both directions are shut (or reset), readable at the other end's FIN,
   * writable while the other end takes data (or once writing is shut:
   * the write fails at once), an error after a reset.
   */
  #tcpPoll(): number {
    let bits = 0;
    const rcvShut = this.#readShut || this.#peerDone || this.#wasReset;
    const sndShut = this.#writeShut || this.#wasReset;
    if (rcvShut && sndShut) bits |= POLL.HUP;
    if (rcvShut) bits |= POLL.IN | POLL.RDNORM | POLL.RDHUP;
    if (this.#queue.length) bits |= POLL.IN | POLL.RDNORM;
    const p = this.peer;
    // A closed peer still takes a write (answered by a reset).
    if (sndShut || !p || p.#closed || p.rcvbuf - p.#queued > 0) bits |= POLL.OUT | POLL.WRNORM;
    if (this.#error) bits |= POLL.ERR;
    return bits;
  }

  /**
   * TCP: a reset came from the other end: both directions end, the error
   * is pending, and an established connection counts as reset.
   *
   * @param error What the next call reports: ECONNRESET, or EPIPE when the
   *   other end had already finished (CLOSE_WAIT), as Linux.
   */
  #resetBy(error: "ECONNRESET" | "EPIPE"): void {
    if (this.#wasReset) return;
    const state = this.tcpState;
    if (this.#net && (state === 1 || state === 8)) this.#net.counters.tcp.estabResets++;
    this.#wasReset = true;
    this.#error = error;
    this.events.notify();
    this.room.notify();
  }

  /** TCP: this end goes away with a reset (SO_LINGER 0, unread data, a listener's queue). */
  #sendReset(): void {
    if (this.#wasReset) return;
    const net = this.#net;
    if (net) {
      net.counters.tcp.outRsts++;
      const state = this.tcpState;
      if (state === 1 || state === 8) net.counters.tcp.estabResets++;
    }
    this.#wasReset = true;
    const p = this.peer;
    if (p && p.peer === this && !p.#closed) p.#resetBy(p.#peerDone ? "EPIPE" : "ECONNRESET");
  }

  /** Reads as recv(2) with no flags. */
  override read(buf: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    if (buf.length === 0) return 0;
    const r = this.receive(buf, {
      peek: false,
      waitAll: false,
      nonblock: (this.flags & O.NONBLOCK) !== 0,
    });
    // Descriptors sent with data read by read(2) are dropped.
    for (const f of r.files) f.unref();
    return r.n;
  }

  /** Writes as send(2) with no flags. */
  override write(data: Uint8Array, offset: bigint | null): number {
    if (offset !== null) throw new LinuxError("ESPIPE");
    return this.send(
      { data, files: [], creds: this.creds, from: this.local },
      null,
      (this.flags & O.NONBLOCK) !== 0,
    );
  }

  protected override release(): void {
    if (this.tcp) {
      // Linux resets instead of finishing when SO_LINGER says 0 seconds or
      // data was left unread; a listener resets the connections it never accepted.
      const unread = this.#queue.length > 0;
      if (this.state === "connected" && ((this.linger.on && this.linger.seconds === 0) || unread)) {
        this.#sendReset();
      }
      for (const s of this.#pending) s.#sendReset();
      // Connects still waiting meet a closed port: refused.
      for (const c of this.#synWaiting.splice(0)) {
        c.#connecting = null;
        c.#refused = true;
        c.#error = "ECONNREFUSED";
        if (this.#net) {
          this.#net.counters.tcp.attemptFails++;
          this.#net.counters.tcp.outRsts++;
        }
        c.events.notify();
      }
      if (this.#connecting) {
        const waiting = this.#connecting.server.#synWaiting;
        waiting.splice(waiting.indexOf(this), 1);
      }
    }
    this.#net?.sockets.delete(this);
    this.#closed = true;
    if (this.#binding) this.#binding.map.delete(this.#binding.key);
    for (const s of this.#pending.splice(0)) s.unref();
    for (const m of this.#queue.splice(0)) for (const f of m.files) f.unref();
    this.#queued = 0;
    const p = this.peer;
    if (p && p.peer === this) {
      // A FIN, unless this end reset the connection.
      if (!this.#wasReset && !p.#peerDone) {
        p.#peerDone = true;
        p.#finUnread = this.tcp;
      }
      p.peer = this.type === SOCK.DGRAM ? null : p.peer;
      p.events.notify();
      p.room.notify();
    }
    this.room.notify();
    this.events.notify();
  }
}

/**
 * Connects two sockets to each other (socketpair, and accept's pair).
 *
 * @param a One.
 * @param b The other.
 */
export function pair(a: LocalSocket, b: LocalSocket): void {
  a.peer = b;
  b.peer = a;
  a.state = "connected";
  b.state = "connected";
  a.peerCreds = b.creds;
  b.peerCreds = a.creds;
}

/**
 * Makes a connected pair (socketpair).
 *
 * @param type SOCK.*.
 * @param flags O_NONBLOCK for both.
 * @param creds The creator.
 * @returns The two ends.
 *
 * @example
 * ```ts
 * import { makeSocketPair } from "./local_socket.ts";
 * import { SOCK } from "../net/families.ts";
 * const [a, b] = makeSocketPair(SOCK.SEQPACKET, 0, { pid: 1, uid: 0, gid: 0 });
 * a.write(new Uint8Array([1, 2, 3]), null);
 * a.write(new Uint8Array([4]), null);
 * const buf = new Uint8Array(8);
 * if (b.read(buf, null) !== 3 || b.read(buf, null) !== 1) throw new Error("boundaries");
 * ```
 */
export function makeSocketPair(
  type: number,
  flags: number,
  creds: Ucred,
): [LocalSocket, LocalSocket] {
  const a = new LocalSocket(type, flags, creds);
  const b = new LocalSocket(type, flags, creds);
  pair(a, b);
  return [a, b];
}
