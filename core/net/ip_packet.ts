/**
 * IP packets as the sandbox's loopback carries them: the Internet checksum
 * (RFC 1071), IPv4 headers built and read, and the ICMPv6 checksum over
 * its pseudo-header (RFC 8200, section 8.1).
 *
 * @module
 */

/**
 * The Internet checksum of some bytes (the ones' complement of the ones'
 * complement sum of their 16-bit words), with `start` added to the sum.
 *
 * @param data The bytes.
 * @param start A partial sum to add (a pseudo-header's).
 * @returns The checksum; 0 over data that carries a right one.
 *
 * @example
 * ```ts
 * import { checksum } from "./ip_packet.ts";
 * const echo = new Uint8Array([8, 0, 0, 0, 0, 1, 0, 1]);
 * const c = checksum(echo);
 * echo[2] = c >> 8;
 * echo[3] = c & 0xff;
 * if (checksum(echo) !== 0) throw new Error();
 * ```
 */
export function checksum(data: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i + 1 < data.length; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Writes a checksum into a message at `at` (the field zeroed first).
 *
 * @param message The message.
 * @param at Where its checksum field is.
 * @param start A pseudo-header's partial sum.
 */
export function setChecksum(message: Uint8Array, at: number, start = 0): void {
  message[at] = 0;
  message[at + 1] = 0;
  const c = checksum(message, start);
  message[at] = c >> 8;
  message[at + 1] = c & 0xff;
}

/**
 * The partial sum of the IPv6 pseudo-header: source, destination, the
 * upper-layer length and next header.
 *
 * @param src The source address (16 bytes).
 * @param dst The destination address (16 bytes).
 * @param length The upper-layer packet's length.
 * @param next The next header (58 for ICMPv6).
 * @returns The sum, to pass as `start`.
 */
export function pseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  length: number,
  next: number,
): number {
  const h = new Uint8Array(40);
  h.set(src, 0);
  h.set(dst, 16);
  new DataView(h.buffer).setUint32(32, length);
  h[39] = next;
  // The complement of the checksum is the folded sum.
  return ~checksum(h) & 0xffff;
}

/** An IPv4 header's fields, as the loopback reads and writes them. */
export interface Ipv4Header {
  tos: number;
  /** Identification. */
  id: number;
  /** Don't Fragment. */
  df: boolean;
  ttl: number;
  protocol: number;
  src: Uint8Array;
  dst: Uint8Array;
}

/**
 * An IPv4 packet: a 20-byte header (no options, checksum computed) and the payload.
 *
 * @param h The header's fields.
 * @param payload What it carries.
 * @returns The packet.
 *
 * @example
 * ```ts
 * import { ipv4Packet, readIpv4 } from "./ip_packet.ts";
 * const lo = new Uint8Array([127, 0, 0, 1]);
 * const p = ipv4Packet({ tos: 0, id: 7, df: true, ttl: 64, protocol: 1, src: lo, dst: lo }, new Uint8Array(8));
 * const h = readIpv4(p);
 * if (p.length !== 28 || !h || h.ttl !== 64 || !h.df) throw new Error();
 * ```
 */
export function ipv4Packet(h: Ipv4Header, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  p[1] = h.tos;
  v.setUint16(2, p.length);
  v.setUint16(4, h.id);
  v.setUint16(6, h.df ? 0x4000 : 0);
  p[8] = h.ttl;
  p[9] = h.protocol;
  p.set(h.src, 12);
  p.set(h.dst, 16);
  setChecksum(p.subarray(0, 20), 10);
  p.set(payload, 20);
  return p;
}

/**
 * Reads an IPv4 packet's header.
 *
 * @param p The packet.
 * @returns The fields, or null when it is not a whole IPv4 header.
 */
export function readIpv4(p: Uint8Array): (Ipv4Header & { headerLength: number }) | null {
  if (p.length < 20 || p[0]! >> 4 !== 4) return null;
  const headerLength = (p[0]! & 0xf) * 4;
  if (headerLength < 20 || p.length < headerLength) return null;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return {
    tos: p[1]!,
    id: v.getUint16(4),
    df: (v.getUint16(6) & 0x4000) !== 0,
    ttl: p[8]!,
    protocol: p[9]!,
    src: p.slice(12, 16),
    dst: p.slice(16, 20),
    headerLength,
  };
}
