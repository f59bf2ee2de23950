/**
 * Resource limits enforced: the ones the Sentry checks itself
 * (RLIMIT_FSIZE on writes and truncation, RLIMIT_NPROC on clone and exec)
 * and the ones the host kernel enforces on the process's stub, because the
 * calls they limit run natively there (RLIMIT_AS and RLIMIT_DATA on mmap
 * and brk's mappings, RLIMIT_STACK on the stack's growth).
 *
 * @module
 */
import { setHostSoftRlimit } from "../../platform/rlimit.ts";
import { LinuxError } from "../errors.ts";
import { RLIM_INFINITY, RLIMIT } from "./task.ts";
import type { Process } from "./task.ts";

/** The limits the host enforces on a stub for the Sentry. */
export const HOST_ENFORCED: readonly number[] = [RLIMIT.DATA, RLIMIT.STACK, RLIMIT.AS];

/**
 * Gives a process's stub its soft limits for the resources the host
 * enforces (a process that is gone is left alone).
 *
 * @param p The process.
 * @param resources Which ones (all of {@linkcode HOST_ENFORCED} by default).
 *
 * @example
 * ```ts ignore
 * enforceOnHost(process); // after exec, or after setrlimit(RLIMIT_AS)
 * ```
 */
export function enforceOnHost(p: Process, resources: readonly number[] = HOST_ENFORCED): void {
  if (!p.hostTgid) return;
  for (const r of resources) {
    if (!HOST_ENFORCED.includes(r)) continue;
    try {
      setHostSoftRlimit(p.hostTgid, r, p.rlimits[r]!.cur);
    } catch {
      // the stub is gone (the process is exiting)
    }
  }
}

/**
 * How much of a write to a regular file RLIMIT_FSIZE allows: all of it
 * below the limit, the part up to it when it crosses, and none from it on
 * (SIGXFSZ, which the caller sends, and EFBIG).
 *
 * @param p The writing process.
 * @param offset Where the write starts (asked only when there is a limit).
 * @param length How many bytes it wants to write.
 * @returns How many it may.
 * @throws {LinuxError} EFBIG when the write starts at or past the limit.
 *
 * @example
 * ```ts ignore
 * const n = fsizeAllows(c.p, () => f.offset, data.length);
 * ```
 */
export function fsizeAllows(p: Process, offset: () => bigint, length: number): number {
  const limit = p.rlimits[RLIMIT.FSIZE]!.cur;
  if (limit === RLIM_INFINITY || length === 0) return length;
  const at = offset();
  if (at >= limit) throw new LinuxError("EFBIG");
  const room = limit - at;
  return room < BigInt(length) ? Number(room) : length;
}

/**
 * Whether RLIMIT_FSIZE allows a regular file of this size (truncate,
 * fallocate).
 *
 * @param p The process.
 * @param size The new size.
 * @returns True when it does.
 */
export function fsizeAllowsSize(p: Process, size: bigint): boolean {
  const limit = p.rlimits[RLIMIT.FSIZE]!.cur;
  return limit === RLIM_INFINITY || size <= limit;
}

/**
 * Whether a user's tasks (threads count) are over a process's
 * RLIMIT_NPROC, as clone (counting the new task), setuid (counting the
 * process under its new user) and execve check it. The exemptions (root,
 * CAP_SYS_RESOURCE, CAP_SYS_ADMIN) are each caller's own.
 *
 * @param p The process whose limit applies.
 * @param tasksOfUser The user's tasks in the sandbox.
 * @returns True when over.
 *
 * @example
 * ```ts ignore
 * if (nprocExceeded(c.p, c.k.tasksOfUser(c.p.creds.uid) + 1)) throw new LinuxError("EAGAIN");
 * ```
 */
export function nprocExceeded(p: Process, tasksOfUser: number): boolean {
  const limit = p.rlimits[RLIMIT.NPROC]!.cur;
  return limit !== RLIM_INFINITY && BigInt(tasksOfUser) > limit;
}
