/**
 * The socket options every socket of the sandbox's own network has, in
 * one place for all its kinds (unix, TCP and UDP sockets, ICMP sockets):
 * the SOL_SOCKET ones (type, protocol, error, buffers, linger, timeouts)
 * and the options that are kept as set and reported back without effect
 * here (SO_REUSEADDR, TCP_NODELAY and the like), some of whose defaults
 * are the network namespace's settings.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { NetSettings } from "../net/namespace.ts";
import type { Linger } from "../vfs/local_socket.ts";

/** Protocol levels. */
export const IPPROTO = { IP: 0, ICMP: 1, TCP: 6, UDP: 17, IPV6: 41, ICMPV6: 58, RAW: 255 } as const;
/** The socket level. */
export const SOL_SOCKET = 1;
/** SO_* options (SOL_SOCKET). */
export const SO = {
  REUSEADDR: 2,
  TYPE: 3,
  ERROR: 4,
  DONTROUTE: 5,
  BROADCAST: 6,
  SNDBUF: 7,
  RCVBUF: 8,
  KEEPALIVE: 9,
  LINGER: 13,
  REUSEPORT: 15,
  PASSCRED: 16,
  PEERCRED: 17,
  RCVLOWAT: 18,
  SNDLOWAT: 19,
  RCVTIMEO: 20,
  SNDTIMEO: 21,
  TIMESTAMP: 29,
  ACCEPTCONN: 30,
  PASSSEC: 34,
  TIMESTAMPNS: 35,
  PROTOCOL: 38,
  DOMAIN: 39,
} as const;

/** MSG_* flags of the send and receive calls. */
export const MSG = {
  OOB: 0x1,
  PEEK: 0x2,
  CTRUNC: 0x8,
  TRUNC: 0x20,
  DONTWAIT: 0x40,
  EOR: 0x80,
  WAITALL: 0x100,
  ERRQUEUE: 0x2000,
  NOSIGNAL: 0x4000,
  CMSG_CLOEXEC: 0x40000000,
} as const;

/** What the socket-level options work on. */
export interface SocketLevel {
  /** SOCK_STREAM, SOCK_DGRAM, SOCK_RAW... */
  readonly type: number;
  /** AF_UNIX, AF_INET, AF_INET6. */
  readonly family: number;
  /** What SO_PROTOCOL reports. */
  readonly protocol: number;
  /** Whether it listens (SO_ACCEPTCONN). */
  readonly listening: boolean;
  rcvbuf: number;
  sndbuf: number;
  linger: Linger;
  /** The kept options' values, by {@linkcode opt}. */
  readonly options: Map<number, Uint8Array>;
  /** Takes its pending error (SO_ERROR), by name. */
  takeError(): string | null;
}

/**
 * An int as 4 bytes (option values, lengths written back).
 *
 * @param v The value.
 * @returns Its bytes.
 *
 * @example
 * ```ts
 * import { int } from "./socket_options.ts";
 * if (int(258)[1] !== 1) throw new Error();
 * ```
 */
export function int(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, v, true);
  return out;
}

/**
 * A (level, option) pair as one number (the keys of {@linkcode SocketLevel.options}).
 *
 * @param level The level.
 * @param name The option.
 * @returns The key.
 *
 * @example
 * ```ts
 * import { opt } from "./socket_options.ts";
 * if (opt(1, 20) !== 65556) throw new Error();
 * ```
 */
export function opt(level: number, name: number): number {
  return level * 65536 + name;
}

/**
 * Options kept as set and reported back, without effect here: their
 * default value (its size is theirs; some are the namespace's settings)
 * and whether they are on/off flags. SO_RCVTIMEO and SO_SNDTIMEO are kept
 * here and obeyed by the sockets that block.
 */
const KEPT = new Map<
  number,
  { value: Uint8Array | ((net: NetSettings) => Uint8Array); flag: boolean }
>([
  [opt(SOL_SOCKET, SO.RCVTIMEO), { value: new Uint8Array(16), flag: false }],
  [opt(SOL_SOCKET, SO.SNDTIMEO), { value: new Uint8Array(16), flag: false }],
  [opt(SOL_SOCKET, SO.RCVLOWAT), { value: int(1), flag: false }],
  [opt(SOL_SOCKET, SO.SNDLOWAT), { value: int(1), flag: false }],
  ...[SO.REUSEADDR, SO.REUSEPORT, SO.KEEPALIVE, SO.BROADCAST, SO.DONTROUTE, SO.PASSSEC].map((
    o,
  ) => [opt(SOL_SOCKET, o), { value: int(0), flag: true }] as const),
  // TCP_NODELAY, TCP_CORK, TCP_QUICKACK; TCP_MAXSEG, TCP_KEEPIDLE/INTVL/CNT, TCP_USER_TIMEOUT, TCP_FASTOPEN.
  ...[1, 3, 12].map((o) => [opt(IPPROTO.TCP, o), { value: int(0), flag: true }] as const),
  [opt(IPPROTO.TCP, 2), { value: int(65483), flag: false }],
  [opt(IPPROTO.TCP, 4), { value: (n) => int(n.keepalive.time), flag: false }],
  [opt(IPPROTO.TCP, 5), { value: (n) => int(n.keepalive.intvl), flag: false }],
  [opt(IPPROTO.TCP, 6), { value: (n) => int(n.keepalive.probes), flag: false }],
  [opt(IPPROTO.TCP, 18), { value: int(0), flag: false }],
  [opt(IPPROTO.TCP, 23), { value: int(0), flag: false }],
  // IP_TOS, IP_TTL; IPV6_UNICAST_HOPS, IPV6_TCLASS.
  [opt(IPPROTO.IP, 1), { value: int(0), flag: false }],
  [opt(IPPROTO.IP, 2), { value: (n) => int(n.defaultTtl), flag: false }],
  [opt(IPPROTO.IPV6, 16), { value: int(64), flag: false }],
  [opt(IPPROTO.IPV6, 67), { value: int(0), flag: false }],
]);

/**
 * An option value's int (EINVAL when shorter than one).
 *
 * @param value The value given.
 * @returns Its first 4 bytes as an int.
 *
 * @example
 * ```ts
 * import { int, intOf } from "./socket_options.ts";
 * if (intOf(int(-3)) !== -3) throw new Error();
 * ```
 */
export function intOf(value: Uint8Array): number {
  if (value.length < 4) throw new LinuxError("EINVAL");
  return new DataView(value.buffer, value.byteOffset).getInt32(0, true);
}

/**
 * getsockopt of the options every socket has: SOL_SOCKET's, and the kept ones.
 *
 * @param s The socket.
 * @param level The level.
 * @param name The option.
 * @param net The namespace's settings (some defaults are theirs).
 * @returns The value.
 * @throws {LinuxError} ENOPROTOOPT for another option.
 *
 * @example
 * ```ts ignore
 * getSocketOption(socket, SOL_SOCKET, SO.TYPE, k.net.settings);
 * ```
 */
export function getSocketOption(
  s: SocketLevel,
  level: number,
  name: number,
  net: NetSettings,
): Uint8Array {
  switch (level === SOL_SOCKET ? name : -1) {
    case SO.TYPE:
      return int(s.type);
    case SO.ERROR: {
      const e = s.takeError();
      return int(e ? new LinuxError(e).errno : 0);
    }
    case SO.DOMAIN:
      return int(s.family);
    case SO.PROTOCOL:
      return int(s.protocol);
    case SO.ACCEPTCONN:
      return int(s.listening ? 1 : 0);
    case SO.SNDBUF:
      return int(s.sndbuf);
    case SO.RCVBUF:
      return int(s.rcvbuf);
    case SO.LINGER: {
      const out = new Uint8Array(8);
      const v = new DataView(out.buffer);
      v.setInt32(0, s.linger.on ? 1 : 0, true);
      v.setInt32(4, s.linger.seconds, true);
      return out;
    }
  }
  const kept = KEPT.get(opt(level, name));
  if (!kept) throw new LinuxError("ENOPROTOOPT");
  const value = kept.value;
  return s.options.get(opt(level, name)) ?? (typeof value === "function" ? value(net) : value);
}

/**
 * setsockopt of the options every socket has.
 *
 * @param s The socket.
 * @param level The level.
 * @param name The option.
 * @param value The value given.
 * @throws {LinuxError} ENOPROTOOPT for another option, EINVAL for a short value.
 *
 * @example
 * ```ts ignore
 * setSocketOption(socket, SOL_SOCKET, SO.RCVBUF, int(65536));
 * ```
 */
export function setSocketOption(
  s: SocketLevel,
  level: number,
  name: number,
  value: Uint8Array,
): void {
  switch (level === SOL_SOCKET ? name : -1) {
    // As Linux: the value asked for, doubled, within bounds.
    case SO.SNDBUF:
      s.sndbuf = Math.max(4608, Math.min(intOf(value), 212992) * 2);
      return;
    case SO.RCVBUF:
      s.rcvbuf = Math.max(2304, Math.min(intOf(value), 212992) * 2);
      return;
    case SO.LINGER: {
      if (value.length < 8) throw new LinuxError("EINVAL");
      const seconds = new DataView(value.buffer, value.byteOffset).getInt32(4, true);
      // Off keeps the time, as Linux.
      s.linger = intOf(value) === 0
        ? { on: false, seconds: s.linger.seconds }
        : { on: true, seconds };
      return;
    }
  }
  const kept = KEPT.get(opt(level, name));
  if (!kept) throw new LinuxError("ENOPROTOOPT");
  const size = typeof kept.value === "function" ? 4 : kept.value.length;
  if (value.length < size) throw new LinuxError("EINVAL");
  // Flags read back as 0 or 1, as Linux.
  s.options.set(
    opt(level, name),
    kept.flag ? int(intOf(value) !== 0 ? 1 : 0) : value.slice(0, size),
  );
}
