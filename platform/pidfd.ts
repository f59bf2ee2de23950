/**
 * Process file descriptors: open, signal, and wait for a child by pidfd,
 * so that a pid that was reaped and reused is never signalled or waited
 * for by mistake.
 *
 * @module
 */
import { fdArg, intArg } from "./checks.ts";
import { checked, syscall, syscallAsync } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { Arena } from "./arena_unsafe.ts";
import { addressOf } from "./native_unsafe.ts";

/** How a process ended (or stopped). */
export interface ExitStatus {
  /** Exit code when it exited, else null. */
  code: number | null;
  /** Terminating (or stopping) signal, else null. */
  signal: number | null;
  /** True when a killing signal dumped core. */
  coreDumped: boolean;
}

const P_PIDFD = 3n;
const WEXITED = 4;
const WNOHANG = 1;
const WALL = 0x40000000;
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

/**
 * Opens a pidfd for a process.
 *
 * @param pid The process id.
 * @returns The pidfd (close-on-exec).
 * @throws {Errno} If there is no such process (ESRCH).
 *
 * @example
 * ```ts
 * import { pidfdOpen } from "./pidfd.ts";
 * import { closeFd } from "./fd.ts";
 * closeFd(pidfdOpen(Deno.pid));
 * ```
 */
export function pidfdOpen(pid: number): number {
  return checked(
    syscall(SYS.pidfd_open, intArg(pid, 1, 0x3fffffff, "pid"), 0n),
    `pidfd_open ${pid}`,
  );
}

/**
 * Sends a signal through a pidfd.
 *
 * @param pidfd The pidfd.
 * @param signal The signal number (0 only checks the process exists).
 * @throws {Errno} If the process is gone (ESRCH) or may not be signalled.
 *
 * @example
 * ```ts
 * import { pidfdOpen, pidfdSignal } from "./pidfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = pidfdOpen(Deno.pid);
 * pidfdSignal(fd, 0);
 * closeFd(fd);
 * ```
 */
export function pidfdSignal(pidfd: number, signal: number): void {
  checked(
    syscall(
      SYS.pidfd_send_signal,
      fdArg(pidfd, "pidfd"),
      intArg(signal, 0, 64, "signal"),
      0n,
      0n,
    ),
    `pidfd_send_signal ${signal}`,
  );
}

/**
 * Decodes the `siginfo_t` that waitid filled.
 *
 * @param info The 128-byte siginfo.
 * @returns The status, or null when no child had changed state (WNOHANG).
 *
 * @example
 * ```ts
 * import { decodeWaitSiginfo } from "./pidfd.ts";
 * const info = new DataView(new ArrayBuffer(128));
 * info.setInt32(0, 17, true); info.setInt32(8, 1, true); info.setInt32(16, 5, true);
 * info.setInt32(24, 3, true);
 * if (decodeWaitSiginfo(info)?.code !== 3) throw new Error();
 * ```
 */
export function decodeWaitSiginfo(info: DataView): ExitStatus | null {
  const pid = info.getInt32(16, true);
  if (pid === 0) return null;
  const code = info.getInt32(8, true);
  const status = info.getInt32(24, true);
  if (code === CLD_EXITED) {
    return { code: status, signal: null, coreDumped: false };
  }
  if (code === CLD_KILLED || code === CLD_DUMPED) {
    return { code: null, signal: status, coreDumped: code === CLD_DUMPED };
  }
  return { code: null, signal: status, coreDumped: false };
}

/**
 * Reaps a child by pidfd, blocking until it exits.
 *
 * @param pidfd The child's pidfd.
 * @returns How it ended.
 * @throws {Errno} If it is not our child (ECHILD) or was already reaped.
 *
 * @example
 * ```ts ignore
 * const status = waitPidfdSync(child.pidfd);
 * ```
 */
export function waitPidfdSync(pidfd: number): ExitStatus {
  return waitPidfd(pidfd, WEXITED | WALL)!;
}

/**
 * Reaps a child by pidfd if it has exited, without blocking.
 *
 * @param pidfd The child's pidfd.
 * @returns How it ended, or null while it runs.
 * @throws {Errno} If it is not our child or was already reaped.
 *
 * @example
 * ```ts ignore
 * const status = tryWaitPidfd(child.pidfd); // null: still running
 * ```
 */
export function tryWaitPidfd(pidfd: number): ExitStatus | null {
  return waitPidfd(pidfd, WEXITED | WALL | WNOHANG);
}

/**
 * Reaps a child by pidfd on Deno's blocking thread pool.
 *
 * @param pidfd The child's pidfd.
 * @returns A promise of how it ended.
 *
 * @example
 * ```ts ignore
 * const status = await waitPidfdAsync(child.pidfd);
 * ```
 */
export async function waitPidfdAsync(pidfd: number): Promise<ExitStatus> {
  const fd = fdArg(pidfd, "pidfd");
  using arena = new Arena(4096);
  const at = arena.alloc(128);
  for (;;) {
    const r = await syscallAsync(
      SYS.waitid,
      P_PIDFD,
      fd,
      arena.addr(at),
      BigInt(WEXITED | WALL),
      0n,
    );
    if (r === -4n) continue;
    checked(r, "waitid");
    return decodeWaitSiginfo(new DataView(arena.bytes.buffer, at, 128))!;
  }
}

function waitPidfd(pidfd: number, options: number): ExitStatus | null {
  const fd = fdArg(pidfd, "pidfd");
  const info = new Uint8Array(128);
  const view = new DataView(info.buffer);
  for (;;) {
    const r = syscall(
      SYS.waitid,
      P_PIDFD,
      fd,
      addressOf(info),
      BigInt(options),
      0n,
    );
    if (r === -4n) continue;
    checked(r, "waitid");
    return decodeWaitSiginfo(view);
  }
}
