/**
 * IPv4 and IPv6 socket addresses on the sandbox's loopback (`--network
 * none`): sockaddr_in and sockaddr_in6 read and written, which addresses
 * are this host (127.0.0.0/8, ::1, the unspecified ones, and IPv4-mapped
 * forms of them), and binding to ports.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { InetAddress, LocalSocket, SocketNames } from "../vfs/local_socket.ts";
import { AF, SOCK } from "../net/families.ts";

const LOOPBACK4 = new Uint8Array([127, 0, 0, 1]);
const LOOPBACK6 = new Uint8Array([...new Array(15).fill(0), 1]);

/**
 * Reads a sockaddr_in or sockaddr_in6.
 *
 * @param raw The bytes.
 * @returns The address.
 * @throws {LinuxError} EINVAL when too short, EAFNOSUPPORT for another family.
 *
 * @example
 * ```ts
 * import { decodeInet } from "./inet.ts";
 * const a = decodeInet(new Uint8Array([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
 * if (a.port !== 8080 || a.ip.join(".") !== "127.0.0.1") throw new Error();
 * ```
 */
export function decodeInet(raw: Uint8Array): InetAddress {
  const family = raw[0]! | (raw[1]! << 8);
  const port = (raw[2]! << 8) | raw[3]!;
  if (family === AF.INET) {
    if (raw.length < 16) throw new LinuxError("EINVAL");
    return { kind: "inet", family, ip: raw.slice(4, 8), port };
  }
  if (family === AF.INET6) {
    if (raw.length < 24) throw new LinuxError("EINVAL");
    return { kind: "inet", family, ip: raw.slice(8, 24), port };
  }
  throw new LinuxError("EAFNOSUPPORT");
}

/**
 * Writes an address as a socket of `family` shows it (an IPv4 peer of an
 * IPv6 socket as `::ffff:a.b.c.d`).
 *
 * @param a The address.
 * @param family The socket's family.
 * @returns sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes).
 */
export function encodeInet(a: InetAddress, family: number): Uint8Array {
  const ip = family === AF.INET6 && a.family === AF.INET
    ? new Uint8Array([...new Array(10).fill(0), 0xff, 0xff, ...a.ip])
    : family === AF.INET && a.family === AF.INET6
    ? (v4Of(a) ?? new Uint8Array(4))
    : a.ip;
  const out = new Uint8Array(family === AF.INET6 ? 28 : 16);
  out[0] = family;
  out[2] = a.port >> 8;
  out[3] = a.port & 0xff;
  out.set(ip, family === AF.INET6 ? 8 : 4);
  return out;
}

/** The IPv4 address an address stands for (itself, or a mapped one), or null. */
function v4Of(a: InetAddress): Uint8Array | null {
  if (a.family === AF.INET) return a.ip;
  const mapped = a.ip.subarray(0, 10).every((b) => b === 0) && a.ip[10] === 0xff &&
    a.ip[11] === 0xff;
  return mapped ? a.ip.subarray(12) : null;
}

/** Whether an address is unspecified (0.0.0.0, ::). */
function isAny(a: InetAddress): boolean {
  const v4 = v4Of(a);
  return (v4 ?? a.ip).every((b) => b === 0);
}

/**
 * Whether an address is this sandbox (loopback or unspecified).
 *
 * @param a The address.
 * @returns True if so.
 *
 * @example
 * ```ts
 * import { isLocal } from "./inet.ts";
 * const v4 = (ip: number[]) => ({ kind: "inet" as const, family: 2, ip: new Uint8Array(ip), port: 0 });
 * if (!isLocal(v4([127, 0, 0, 5])) || isLocal(v4([10, 0, 0, 1]))) throw new Error();
 * ```
 */
export function isLocal(a: InetAddress): boolean {
  if (isAny(a)) return true;
  const v4 = v4Of(a);
  if (v4) return v4[0] === 127;
  return a.ip.every((b, i) => b === LOOPBACK6[i]);
}

/** Whether an address is IPv4 (or IPv4-mapped). */
export function isV4(a: InetAddress): boolean {
  return v4Of(a) !== null;
}

function proto(s: LocalSocket): string {
  return s.type === SOCK.DGRAM ? "udp" : "tcp";
}

/**
 * Binds a socket to a local address and port (0: an ephemeral one).
 *
 * @param names The sandbox's names.
 * @param s The socket (AF_INET or AF_INET6).
 * @param a The address.
 * @param lowest The lowest port the caller may bind (net.ipv4.ip_unprivileged_port_start, 0 with CAP_NET_BIND_SERVICE).
 */
export function bindInet(names: SocketNames, s: LocalSocket, a: InetAddress, lowest = 0): void {
  if (a.family !== s.family) throw new LinuxError(s.family === AF.INET ? "EAFNOSUPPORT" : "EINVAL");
  if (!isLocal(a)) throw new LinuxError("EADDRNOTAVAIL");
  if (s.family === AF.INET6 && s.v6only && isV4(a) && !isAny(a)) throw new LinuxError("EINVAL");
  if (a.port && a.port < lowest) throw new LinuxError("EACCES");
  const port = a.port || names.ephemeralPort(proto(s));
  s.bindTo({ ...a, port }, { map: names.ports, key: `${proto(s)}:${port}` });
}

/** The loopback address a socket of `family` uses toward an IPv4 or IPv6 peer. */
function loopbackFor(family: number, towardV4: boolean): Uint8Array {
  return family === AF.INET
    ? LOOPBACK4
    : towardV4
    ? new Uint8Array([...new Array(10).fill(0), 0xff, 0xff, ...LOOPBACK4])
    : LOOPBACK6;
}

/**
 * Binds an unbound socket to an ephemeral port (before connect, sendto,
 * listen), as Linux does: on the unspecified address, or, for a
 * connection, on the loopback address it goes out from.
 *
 * @param names The sandbox's names.
 * @param s The socket.
 * @param towardV4 It talks to an IPv4 address (an IPv6 socket then shows a mapped one).
 * @param connecting A connection (TCP connect, UDP connect): the address becomes specific.
 */
export function autobindInet(
  names: SocketNames,
  s: LocalSocket,
  towardV4: boolean,
  connecting: boolean,
): void {
  if (s.local.kind === "unnamed") {
    const port = names.ephemeralPort(proto(s));
    s.bindTo({
      kind: "inet",
      family: s.family,
      ip: new Uint8Array(s.family === AF.INET ? 4 : 16),
      port,
    }, {
      map: names.ports,
      key: `${proto(s)}:${port}`,
    });
  }
  const local = s.local as InetAddress;
  if (connecting && isAny(local)) s.local = { ...local, ip: loopbackFor(s.family, towardV4) };
}

/**
 * The address a datagram comes from: the sender's own, its loopback
 * address when bound to the unspecified one.
 *
 * @param local The sender's address.
 * @param to Where it goes.
 * @returns The source address.
 */
export function sourceAddress(local: InetAddress, to: InetAddress): InetAddress {
  return isAny(local) ? { ...local, ip: loopbackFor(local.family, isV4(to)) } : local;
}

/**
 * The socket an IPv4/IPv6 destination reaches in the sandbox.
 *
 * @param names The sandbox's names.
 * @param from The sending or connecting socket.
 * @param to The destination.
 * @returns The socket bound there, or null.
 * @throws {LinuxError} ENETUNREACH for an address outside the sandbox.
 */
export function lookupInet(
  names: SocketNames,
  from: LocalSocket,
  to: InetAddress,
): LocalSocket | null {
  if (to.family !== from.family) {
    throw new LinuxError(from.family === AF.INET ? "EAFNOSUPPORT" : "EINVAL");
  }
  if (!isLocal(to)) throw new LinuxError("ENETUNREACH");
  const s = names.ports.get(`${proto(from)}:${to.port}`);
  if (!s || s.type !== from.type) return null;
  // An IPv4 socket takes IPv4 peers only; an IPv6 one takes IPv4 ones unless V6ONLY.
  const local = s.local as InetAddress;
  if (isV4(to) && s.family === AF.INET6 && (s.v6only || !(isAny(local) || isV4(local)))) {
    return null;
  }
  if (!isV4(to) && s.family === AF.INET) return null;
  return s;
}
