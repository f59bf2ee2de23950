/**
 * Resource limits of host processes (`prlimit64` on a stub): the limits the
 * host kernel enforces for the Sentry, because the calls they limit run
 * natively in the stub (anonymous mmap, stack growth, brk's mappings).
 *
 * @module
 */
import { intArg } from "./checks.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";

/** RLIM_INFINITY. */
export const RLIM_INFINITY = 0xffffffffffffffffn;

/** A limit: soft and hard. */
export interface HostRlimit {
  soft: bigint;
  hard: bigint;
}

/**
 * Reads a host process's limit.
 *
 * @param pid The host process (0: this one).
 * @param resource The RLIMIT_* number.
 * @returns Its soft and hard values.
 * @throws {Errno} ESRCH if the process is gone.
 *
 * @example
 * ```ts
 * import { hostRlimit } from "./rlimit.ts";
 * const nofile = hostRlimit(0, 7);
 * if (nofile.soft > nofile.hard) throw new Error();
 * ```
 */
export function hostRlimit(pid: number, resource: number): HostRlimit {
  const buf = new BigUint64Array(2);
  checked(
    syscall(
      SYS.prlimit64,
      intArg(pid, 0, 0x3fffffff, "pid"),
      intArg(resource, 0, 15, "resource"),
      0n,
      addressOf(buf),
    ),
    "prlimit64",
  );
  return { soft: buf[0]!, hard: buf[1]! };
}

/**
 * Sets a host process's soft limit, up to its hard limit (which is kept:
 * the Sentry raises no hard limit, and lowering one would be for good).
 *
 * @param pid The host process (0: this one).
 * @param resource The RLIMIT_* number.
 * @param soft The soft value wanted.
 * @returns The soft value set (`soft`, or the hard limit when lower).
 * @throws {Errno} ESRCH if the process is gone, EPERM if it is not this user's.
 *
 * @example
 * ```ts
 * import { hostRlimit, setHostSoftRlimit } from "./rlimit.ts";
 * const core = hostRlimit(0, 4);
 * setHostSoftRlimit(0, 4, core.soft);
 * ```
 */
export function setHostSoftRlimit(pid: number, resource: number, soft: bigint): bigint {
  const { hard } = hostRlimit(pid, resource);
  const buf = new BigUint64Array([soft < hard ? soft : hard, hard]);
  checked(
    syscall(
      SYS.prlimit64,
      intArg(pid, 0, 0x3fffffff, "pid"),
      intArg(resource, 0, 15, "resource"),
      addressOf(buf),
      0n,
    ),
    "prlimit64",
  );
  return buf[0]!;
}
