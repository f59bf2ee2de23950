/**
 * Socket address families and types, and socket(2)'s type flags: the one
 * set of these numbers the Sentry's socket code uses.
 *
 * @module
 */

/** Address families (AF_*). */
export const AF = { UNSPEC: 0, UNIX: 1, INET: 2, INET6: 10, NETLINK: 16 } as const;

/** Socket types (SOCK_*). */
export const SOCK = { STREAM: 1, DGRAM: 2, RAW: 3, SEQPACKET: 5 } as const;

/**
 * Flags socket(2), socketpair(2) and accept4(2) take with the type
 * (SOCK_NONBLOCK, SOCK_CLOEXEC).
 *
 * @example
 * ```ts
 * import { SOCK, SOCK_FLAG } from "./families.ts";
 * const raw = SOCK.STREAM | SOCK_FLAG.CLOEXEC;
 * if ((raw & 0xf) !== SOCK.STREAM) throw new Error();
 * ```
 */
export const SOCK_FLAG = { NONBLOCK: 0o4000, CLOEXEC: 0o2000000 } as const;
