/**
 * Signal numbers, default actions and signal sets.
 *
 * @module
 */

/** Signal numbers. */
export const SIG = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
} as const;

/**
 * Signals a host terminal's line discipline sends its controlling process
 * (SIGHUP, SIGINT, SIGQUIT, SIGTSTP, SIGWINCH): the sandbox process blocks
 * them, reads them from a signalfd and sends them on to the container's
 * terminal (core/syscalls/tty.ts, `forwardTerminalSignal`).
 */
export const TERMINAL_SIGNALS: readonly number[] = [
  SIG.HUP,
  SIG.INT,
  SIG.QUIT,
  SIG.TSTP,
  SIG.WINCH,
];

/** The highest signal number. */
export const SIGRTMAX = 64;

/** What happens to a signal with no handler. */
export type DefaultAction = "term" | "core" | "ignore" | "stop" | "continue";

/**
 * The default action of a signal.
 *
 * @param sig The signal.
 * @returns Its default action.
 *
 * @example
 * ```ts
 * import { defaultAction } from "./signals.ts";
 * if (defaultAction(17) !== "ignore") throw new Error();
 * ```
 */
export function defaultAction(sig: number): DefaultAction {
  switch (sig) {
    case SIG.CHLD:
    case SIG.URG:
    case SIG.WINCH:
      return "ignore";
    case SIG.CONT:
      return "continue";
    case SIG.STOP:
    case SIG.TSTP:
    case SIG.TTIN:
    case SIG.TTOU:
      return "stop";
    case SIG.QUIT:
    case SIG.ILL:
    case SIG.TRAP:
    case SIG.ABRT:
    case SIG.BUS:
    case SIG.FPE:
    case SIG.SEGV:
    case SIG.XCPU:
    case SIG.XFSZ:
    case SIG.SYS:
      return "core";
  }
  return "term";
}

/**
 * The bit of a signal in a signal set.
 *
 * @param sig The signal (1..64).
 * @returns The bit.
 */
export function sigbit(sig: number): bigint {
  return 1n << BigInt(sig - 1);
}

/** Signals that can never be blocked, ignored or caught. */
export const UNBLOCKABLE = sigbit(SIG.KILL) | sigbit(SIG.STOP);

/** Handler values. */
export const SIG_DFL = 0n;
export const SIG_IGN = 1n;

/** `sa_flags` bits. */
export const SA = {
  NOCLDSTOP: 0x1,
  NOCLDWAIT: 0x2,
  SIGINFO: 0x4,
  RESTORER: 0x04000000,
  ONSTACK: 0x08000000,
  RESTART: 0x10000000,
  NODEFER: 0x40000000,
  RESETHAND: 0x80000000,
} as const;

/** A signal disposition (`struct sigaction`, kernel layout). */
export interface SigAction {
  /** SIG_DFL, SIG_IGN or the handler's address. */
  handler: bigint;
  /** SA_* flags. */
  flags: number;
  /** sa_restorer. */
  restorer: bigint;
  /** Signals blocked while the handler runs. */
  mask: bigint;
}

/** A pending signal with its siginfo. */
export interface PendingSignal {
  /** The signal. */
  sig: number;
  /** si_code. */
  code: number;
  /** Sending pid, or faulting address for faults. */
  pid: number;
  /** Sending uid. */
  uid: number;
  /** For SIGCHLD: status; for faults: the address. */
  status?: number;
  /** Fault address (SIGSEGV, SIGBUS). */
  addr?: bigint;
  /** A timer's sigval (SI_TIMER: `pid` is then the timer's id, `uid` its overruns). */
  value?: bigint;
  /**
   * Forced, as Linux's force_sig: a fault of the task's own (SIGSEGV from
   * `hlt`, whose si_code is SI_KERNEL, among them), which acts even on a
   * pid namespace's init.
   */
  forced?: boolean;
  /** Raw siginfo from the host (faults), 128 bytes. */
  raw?: Uint8Array;
}

/** si_code values. */
export const SI = {
  USER: 0,
  KERNEL: 0x80,
  QUEUE: -1,
  TIMER: -2,
  MESGQ: -3,
  TKILL: -6,
} as const;

/**
 * A pending signal's `siginfo_t` (128 bytes), as handlers and sigwaitinfo
 * get it: the host's own for faults, else built from its fields.
 *
 * @param s The signal.
 * @returns The bytes.
 *
 * @example
 * ```ts
 * import { encodeSiginfo } from "./signals.ts";
 * const b = encodeSiginfo({ sig: 10, code: 0, pid: 7, uid: 0 });
 * if (new DataView(b.buffer).getInt32(16, true) !== 7) throw new Error();
 * ```
 */
export function encodeSiginfo(s: PendingSignal): Uint8Array {
  if (s.raw) return s.raw;
  const info = new Uint8Array(128);
  const v = new DataView(info.buffer);
  v.setInt32(0, s.sig, true);
  v.setInt32(8, s.code, true);
  v.setInt32(16, s.pid, true);
  v.setInt32(20, s.uid, true);
  if (s.status !== undefined) v.setInt32(24, s.status, true);
  if (s.value !== undefined) v.setBigUint64(24, s.value, true);
  if (s.addr !== undefined) v.setBigUint64(16, s.addr, true);
  return info;
}

/** SIGCHLD si_code values. */
export const CLD = {
  EXITED: 1,
  KILLED: 2,
  DUMPED: 3,
  TRAPPED: 4,
  STOPPED: 5,
  CONTINUED: 6,
} as const;
