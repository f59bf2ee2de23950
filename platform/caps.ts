/**
 * Linux capability names and numbers (`linux/capability.h`).
 *
 * @module
 */

/** Capability names in number order: `CAPABILITIES[0] === "CAP_CHOWN"`. */
export const CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** The highest capability number dvisor knows. */
export const CAP_LAST = CAPABILITIES.length - 1;

/**
 * Returns a capability's number.
 *
 * @param name A name such as `CAP_NET_RAW` (the `CAP_` prefix is optional,
 *   case is ignored).
 * @returns Its number.
 * @throws {RangeError} If there is no such capability.
 *
 * @example
 * ```ts
 * import { capabilityNumber } from "./caps.ts";
 * if (capabilityNumber("net_raw") !== 13) throw new Error();
 * ```
 */
export function capabilityNumber(name: string): number {
  const upper = name.toUpperCase();
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  const n = CAPABILITIES.indexOf(full);
  if (n < 0) {
    throw new RangeError(
      `Unknown capability ${name}: use a name such as CAP_NET_BIND_SERVICE`,
    );
  }
  return n;
}

/**
 * Turns a list of capability numbers into a 64-bit mask.
 *
 * @param caps The numbers.
 * @returns The mask.
 * @throws {RangeError} If a number is not a known capability.
 *
 * @example
 * ```ts
 * import { capabilityMask } from "./caps.ts";
 * if (capabilityMask([0, 13]) !== 0x2001n) throw new Error();
 * ```
 */
export function capabilityMask(caps: readonly number[]): bigint {
  let mask = 0n;
  for (const c of caps) {
    if (!Number.isInteger(c) || c < 0 || c > CAP_LAST) {
      throw new RangeError(
        `Invalid capability number ${c}: use 0 to ${CAP_LAST}`,
      );
    }
    mask |= 1n << BigInt(c);
  }
  return mask;
}
