/**
 * signalfd: signals read from a descriptor instead of handled. The signals
 * must be blocked in every thread of the process (spawn's
 * `blockedSignals` does that for a whole program, Deno's threads included),
 * or some thread takes them with their default action first.
 *
 * @module
 */
import { fdArg, intArg } from "./checks.ts";
import { checked, syscallBuffer } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const SFD_NONBLOCK = 0o4000;
const SFD_CLOEXEC = 0o2000000;
const SIGINFO_SIZE = 128;
const EAGAIN = -11n;

/**
 * A kernel signal set (`sigset_t`, 64 bits) holding some signals.
 *
 * @param signals Signal numbers (1 to 64).
 * @returns The set's bits.
 * @throws {RangeError} If a signal number is out of range.
 *
 * @example
 * ```ts
 * import { signalMask } from "./signalfd.ts";
 * if (signalMask([1, 28]) !== 0x8000001n) throw new Error();
 * ```
 */
export function signalMask(signals: readonly number[]): bigint {
  let mask = 0n;
  for (const sig of signals) mask |= 1n << (intArg(sig, 1, 64, "signal") - 1n);
  return mask;
}

/**
 * Opens a non-blocking, close-on-exec signalfd for some signals.
 *
 * @param signals Signal numbers (1 to 64; SIGKILL and SIGSTOP never arrive).
 * @returns The descriptor.
 * @throws {RangeError} If a signal number is out of range.
 * @throws {Errno} If signalfd4 fails (EMFILE).
 *
 * @example
 * ```ts
 * import { openSignalFd, readSignals } from "./signalfd.ts";
 * import { closeFd } from "./fd.ts";
 * const fd = openSignalFd([28]); // SIGWINCH, not blocked here: nothing queues
 * if (readSignals(fd).length !== 0) throw new Error("expected no signal");
 * closeFd(fd);
 * ```
 */
export function openSignalFd(signals: readonly number[]): number {
  const set = new Uint8Array(8);
  new DataView(set.buffer).setBigUint64(0, signalMask(signals), true);
  return checked(
    syscallBuffer(SYS.signalfd4, -1n, set, 8n, BigInt(SFD_NONBLOCK | SFD_CLOEXEC)),
    "signalfd4",
  );
}

/**
 * Takes every queued signal from a signalfd without waiting.
 *
 * @param fd A descriptor from {@linkcode openSignalFd}.
 * @returns The signal numbers, oldest first (empty when none is queued).
 * @throws {Errno} If read fails other than with EAGAIN.
 */
export function readSignals(fd: number): number[] {
  const buf = new Uint8Array(SIGINFO_SIZE * 16);
  const view = new DataView(buf.buffer);
  const got: number[] = [];
  for (;;) {
    const n = syscallBuffer(SYS.read, fdArg(fd), buf, BigInt(buf.length));
    if (n === EAGAIN) return got;
    const bytes = checked(n, "read signalfd");
    for (let at = 0; at + SIGINFO_SIZE <= bytes; at += SIGINFO_SIZE) {
      got.push(view.getUint32(at, true));
    }
    if (bytes < buf.length) return got;
  }
}
