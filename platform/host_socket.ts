/**
 * Host network sockets the Sentry holds for the application under
 * `--network host` (as gVisor's hostinet): typed calls on a host socket
 * descriptor, always non-blocking (the Sentry never waits in the host; the
 * task waits for readiness through the event loop instead). Addresses and
 * option values are the raw bytes the application passed or gets.
 *
 * @module
 */
import { addressOf } from "./native_unsafe.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const SOCK_NONBLOCK = 0o4000n;
const SOCK_CLOEXEC = 0o2000000n;
const EINTR = -4n;
/** The largest socket address (struct sockaddr_storage). */
const ADDR_MAX = 128;

/** Runs a call again while it is interrupted (the Sentry's own signals). */
function retrying(call: () => bigint): bigint {
  for (;;) {
    const r = call();
    if (r !== EINTR) return r;
  }
}

/**
 * Makes a non-blocking, close-on-exec host socket.
 *
 * @param family AF_INET or AF_INET6.
 * @param type SOCK_STREAM or SOCK_DGRAM (without flags).
 * @param protocol The protocol (0, IPPROTO_TCP, IPPROTO_UDP).
 * @returns The descriptor.
 * @throws {Errno} If socket fails.
 *
 * @example
 * ```ts
 * import { hostSocket, hostSockName } from "./host_socket.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = hostSocket(2, 2, 0);
 * if (hostSockName(fd, false)[0] !== 2) throw new Error("AF_INET");
 * closeFd(fd);
 * ```
 */
export function hostSocket(family: number, type: number, protocol: number): number {
  return checked(
    syscall(
      SYS.socket,
      BigInt(family),
      BigInt(type) | SOCK_NONBLOCK | SOCK_CLOEXEC,
      BigInt(protocol),
    ),
    "socket",
  );
}

/**
 * Binds a socket.
 *
 * @param fd The socket.
 * @param addr A sockaddr.
 * @throws {Errno} If bind fails.
 */
export function hostBind(fd: number, addr: Uint8Array): void {
  checked(syscall(SYS.bind, BigInt(fd), addressOf(addr), BigInt(addr.length)), "bind");
}

/**
 * Starts or checks a connection (non-blocking: EINPROGRESS while it is
 * being made, EALREADY or EISCONN when asked again).
 *
 * @param fd The socket.
 * @param addr A sockaddr.
 * @throws {Errno} If connect fails.
 */
export function hostConnect(fd: number, addr: Uint8Array): void {
  checked(
    retrying(() => syscall(SYS.connect, BigInt(fd), addressOf(addr), BigInt(addr.length))),
    "connect",
  );
}

/**
 * Listens.
 *
 * @param fd The socket.
 * @param backlog The backlog.
 * @throws {Errno} If listen fails.
 */
export function hostListen(fd: number, backlog: number): void {
  checked(syscall(SYS.listen, BigInt(fd), BigInt(backlog)), "listen");
}

/**
 * Takes a waiting connection.
 *
 * @param fd A listening socket.
 * @returns The connection (non-blocking, close-on-exec) and its peer's address.
 * @throws {Errno} EAGAIN when none waits.
 */
export function hostAccept(fd: number): { fd: number; addr: Uint8Array } {
  const addr = new Uint8Array(ADDR_MAX);
  const len = new Uint32Array([ADDR_MAX]);
  const r = checked(
    retrying(() =>
      syscall(
        SYS.accept4,
        BigInt(fd),
        addressOf(addr),
        addressOf(len),
        SOCK_NONBLOCK | SOCK_CLOEXEC,
      )
    ),
    "accept4",
  );
  return { fd: r, addr: addr.slice(0, Math.min(len[0]!, ADDR_MAX)) };
}

/**
 * Sends (never blocking).
 *
 * @param fd The socket.
 * @param data The bytes.
 * @param flags MSG_* flags (MSG_DONTWAIT is added).
 * @param addr A destination, or null.
 * @returns Bytes sent.
 * @throws {Errno} EAGAIN when there is no room, EPIPE, ECONNRESET, ...
 */
export function hostSendTo(
  fd: number,
  data: Uint8Array,
  flags: number,
  addr: Uint8Array | null,
): number {
  return checked(
    retrying(() =>
      syscall(
        SYS.sendto,
        BigInt(fd),
        addressOf(data),
        BigInt(data.length),
        BigInt(flags | 0x40 /* MSG_DONTWAIT */ | 0x4000 /* MSG_NOSIGNAL */),
        addr ? addressOf(addr) : 0n,
        addr ? BigInt(addr.length) : 0n,
      )
    ),
    "sendto",
  );
}

/**
 * Receives (never blocking).
 *
 * @param fd The socket.
 * @param buf Where to.
 * @param flags MSG_* flags (MSG_DONTWAIT is added).
 * @returns Bytes received (the message's length with MSG_TRUNC) and the sender's address.
 * @throws {Errno} EAGAIN when nothing is there.
 */
export function hostRecvFrom(
  fd: number,
  buf: Uint8Array,
  flags: number,
): { n: number; addr: Uint8Array } {
  const addr = new Uint8Array(ADDR_MAX);
  const len = new Uint32Array([ADDR_MAX]);
  const n = checked(
    retrying(() =>
      syscall(
        SYS.recvfrom,
        BigInt(fd),
        addressOf(buf),
        BigInt(buf.length),
        BigInt(flags | 0x40 /* MSG_DONTWAIT */),
        addressOf(addr),
        addressOf(len),
      )
    ),
    "recvfrom",
  );
  return { n, addr: addr.slice(0, Math.min(len[0]!, ADDR_MAX)) };
}

/** The room for control messages a host recvmsg gets at most. */
const CONTROL_MAX = 1 << 16;

/** A struct msghdr for one buffer: its words, to keep alive until the call returns. */
function msghdr(
  buf: Uint8Array,
  name: Uint8Array | null,
  control: Uint8Array | null,
): { hdr: BigUint64Array; iov: BigUint64Array } {
  const iov = new BigUint64Array([addressOf(buf), BigInt(buf.length)]);
  const hdr = new BigUint64Array(7);
  hdr[0] = name ? addressOf(name) : 0n;
  hdr[1] = name ? BigInt(name.length) : 0n; // msg_namelen (u32) and padding
  hdr[2] = addressOf(iov);
  hdr[3] = 1n;
  hdr[4] = control && control.length ? addressOf(control) : 0n;
  hdr[5] = control ? BigInt(control.length) : 0n;
  return { hdr, iov };
}

/**
 * Sends with control messages (never blocking).
 *
 * @param fd The socket.
 * @param data The bytes.
 * @param flags MSG_* flags (MSG_DONTWAIT and MSG_NOSIGNAL are added).
 * @param addr A destination, or null.
 * @param control Control messages (cmsghdr records), already checked by the caller.
 * @returns Bytes sent.
 * @throws {Errno} EAGAIN when there is no room, EINVAL for a control message the kernel refuses, ...
 */
export function hostSendMsg(
  fd: number,
  data: Uint8Array,
  flags: number,
  addr: Uint8Array | null,
  control: Uint8Array,
): number {
  const m = msghdr(data, addr, control);
  return checked(
    retrying(() =>
      syscall(SYS.sendmsg, BigInt(fd), addressOf(m.hdr), BigInt(flags | 0x40 | 0x4000))
    ),
    "sendmsg",
  );
}

/**
 * Receives with control messages (never blocking).
 *
 * @param fd The socket.
 * @param buf Where to.
 * @param flags MSG_* flags (MSG_DONTWAIT is added).
 * @param controlRoom Room for control messages.
 * @returns Bytes received, the sender's address, the control messages and msg_flags.
 * @throws {Errno} EAGAIN when nothing is there.
 */
export function hostRecvMsg(
  fd: number,
  buf: Uint8Array,
  flags: number,
  controlRoom: number,
): { n: number; addr: Uint8Array; control: Uint8Array; flags: number } {
  const addr = new Uint8Array(ADDR_MAX);
  const control = new Uint8Array(Math.min(controlRoom, CONTROL_MAX));
  const m = msghdr(buf, addr, control);
  const n = checked(
    retrying(() => syscall(SYS.recvmsg, BigInt(fd), addressOf(m.hdr), BigInt(flags | 0x40))),
    "recvmsg",
  );
  const nameLen = Number(m.hdr[1]! & 0xffffffffn);
  return {
    n,
    addr: addr.slice(0, Math.min(nameLen, ADDR_MAX)),
    control: control.slice(0, Number(m.hdr[5]!)),
    flags: Number(m.hdr[6]! & 0xffffffffn),
  };
}

/**
 * Reads a socket option.
 *
 * @param fd The socket.
 * @param level SOL_SOCKET, IPPROTO_TCP, ...
 * @param name The option.
 * @param size Room for its value.
 * @returns The value.
 * @throws {Errno} If getsockopt fails.
 */
export function hostGetSockOpt(fd: number, level: number, name: number, size: number): Uint8Array {
  const value = new Uint8Array(Math.max(size, 1));
  const len = new Uint32Array([value.length]);
  checked(
    syscall(
      SYS.getsockopt,
      BigInt(fd),
      BigInt(level),
      BigInt(name),
      addressOf(value),
      addressOf(len),
    ),
    "getsockopt",
  );
  return value.slice(0, Math.min(len[0]!, size));
}

/**
 * Sets a socket option.
 *
 * @param fd The socket.
 * @param level SOL_SOCKET, IPPROTO_TCP, ...
 * @param name The option.
 * @param value Its value.
 * @throws {Errno} If setsockopt fails.
 */
export function hostSetSockOpt(fd: number, level: number, name: number, value: Uint8Array): void {
  checked(
    syscall(
      SYS.setsockopt,
      BigInt(fd),
      BigInt(level),
      BigInt(name),
      value.length ? addressOf(value) : 0n,
      BigInt(value.length),
    ),
    "setsockopt",
  );
}

/**
 * The socket's own address, or its peer's.
 *
 * @param fd The socket.
 * @param peer getpeername instead of getsockname.
 * @returns The sockaddr.
 * @throws {Errno} ENOTCONN for the peer of an unconnected socket.
 */
export function hostSockName(fd: number, peer: boolean): Uint8Array {
  const addr = new Uint8Array(ADDR_MAX);
  const len = new Uint32Array([ADDR_MAX]);
  checked(
    syscall(peer ? SYS.getpeername : SYS.getsockname, BigInt(fd), addressOf(addr), addressOf(len)),
    peer ? "getpeername" : "getsockname",
  );
  return addr.slice(0, Math.min(len[0]!, ADDR_MAX));
}

/**
 * Shuts down one or both directions.
 *
 * @param fd The socket.
 * @param how SHUT_RD, SHUT_WR or SHUT_RDWR.
 * @throws {Errno} ENOTCONN.
 */
export function hostShutdown(fd: number, how: number): void {
  checked(syscall(SYS.shutdown, BigInt(fd), BigInt(how)), "shutdown");
}

/**
 * An ioctl on a host socket whose argument is a buffer (`struct ifreq`):
 * the buffer goes in and comes back changed.
 *
 * @param fd The socket.
 * @param request The request (a SIOCGIF* one).
 * @param buf The argument, updated in place.
 * @throws {Errno} If ioctl fails.
 */
export function hostSocketIoctl(fd: number, request: number, buf: Uint8Array): void {
  checked(syscall(SYS.ioctl, BigInt(fd), BigInt(request), addressOf(buf)), "ioctl");
}

/**
 * SIOCGIFCONF on a host socket: the interfaces' IPv4 addresses.
 *
 * @param fd The socket.
 * @param room Bytes the caller has for `struct ifreq`s (0: ask for the size).
 * @returns The `struct ifreq`s, or a buffer of the size needed when `room` is 0.
 * @throws {Errno} If ioctl fails.
 */
export function hostInterfaceList(fd: number, room: number): Uint8Array {
  const inner = new Uint8Array(room);
  const conf = new Uint8Array(16);
  const v = new DataView(conf.buffer);
  v.setInt32(0, room, true);
  v.setBigUint64(8, room ? addressOf(inner) : 0n, true);
  checked(syscall(SYS.ioctl, BigInt(fd), 0x8912n, addressOf(conf)), "ioctl SIOCGIFCONF");
  const len = v.getInt32(0, true);
  return room ? inner.slice(0, len) : new Uint8Array(len);
}
