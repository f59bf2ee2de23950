/**
 * Pseudo-terminals through /dev/ptmx: open a master and its slave, size
 * the window, and switch a terminal to raw mode.
 *
 * A master must only be used through these FFI calls and fd.ts: reopening
 * it by path (`/proc/self/fd/N`) allocates a new pty instead. To make the
 * slave the controlling terminal of a child, give it to spawn as the
 * child's descriptors 0, 1 and 2 with `controllingTerminal: 0`.
 *
 * @module
 */
import { checkLength, cString, fdArg } from "./checks.ts";
import { closeQuietly, ioctl, O, openFile } from "./fd.ts";

const TCGETS = 0x5401;
const TCSETS = 0x5402;
const TCXONC = 0x540a;
const TCFLSH = 0x540b;
const TIOCOUTQ = 0x5411;
const FIONREAD = 0x541b;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TIOCGPTPEER = 0x5441;
const TIOCGPTN = 0x80045430;
const TIOCSPTLCK = 0x40045431;

/** Bytes in the kernel's `struct termios` (TCGETS/TCSETS). */
export const TERMIOS_SIZE = 36;

// struct termios: c_iflag @0, c_oflag @4, c_cflag @8, c_lflag @12, c_line @16, c_cc[19] @17.
const IFLAG = 0;
const OFLAG = 4;
const CFLAG = 8;
const LFLAG = 12;
const CC = 17;
const VTIME = 5;
const VMIN = 6;
// Input: IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON.
const RAW_IFLAG_OFF = 0o1 | 0o2 | 0o10 | 0o40 | 0o100 | 0o200 | 0o400 | 0o2000;
const OPOST = 0o1;
// Local: ISIG ICANON ECHO ECHONL IEXTEN.
const RAW_LFLAG_OFF = 0o1 | 0o2 | 0o10 | 0o100 | 0o100000;
const CSIZE = 0o60;
const PARENB = 0o400;
const CS8 = 0o60;

/** A pty's two ends, from {@linkcode openPty}. */
export interface PtyPair {
  /** The master (close-on-exec): what the terminal emulator side reads and writes. */
  master: number;
  /** The slave (close-on-exec): the program's terminal. */
  slave: number;
  /** The pty's number N, as in /dev/pts/N. */
  index: number;
  /** The slave's path in the devpts instance behind the ptmx that was opened. */
  path: string;
}

/** A terminal window size (`struct winsize`). */
export interface WindowSize {
  /** Rows of characters (0 to 65535). */
  rows: number;
  /** Columns of characters (0 to 65535). */
  cols: number;
  /** Width in pixels (0 to 65535; 0 when unknown). */
  xPixels?: number;
  /** Height in pixels (0 to 65535; 0 when unknown). */
  yPixels?: number;
}

/**
 * Opens a new pty master and unlocks its slave.
 *
 * @param ptmx The multiplexer to open, `/dev/ptmx` by default.
 * @returns The master descriptor (close-on-exec, not a controlling terminal).
 * @throws {TypeError} If `ptmx` is not a string.
 * @throws {Errno} If opening or unlocking fails (ENOENT: no ptmx; ENOSPC: out of ptys).
 *
 * @example
 * ```ts
 * import { openPtyMaster, ptyIndex } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const master = openPtyMaster();
 * if (ptyIndex(master) < 0) throw new Error();
 * closeFd(master);
 * ```
 */
export function openPtyMaster(ptmx = "/dev/ptmx"): number {
  cString(ptmx, "ptmx path", 4095);
  const master = openFile(ptmx, O.RDWR | O.NOCTTY);
  try {
    ioctl(master, TIOCSPTLCK, new Uint8Array(4), "unlock pty (TIOCSPTLCK)");
    return master;
  } catch (e) {
    closeQuietly(master);
    throw e;
  }
}

/**
 * Returns a master's pty number (TIOCGPTN).
 *
 * @param master The master.
 * @returns N, as in /dev/pts/N.
 * @throws {RangeError} If `master` is not a valid descriptor number.
 * @throws {Errno} If it is not a pty master (ENOTTY).
 *
 * @example
 * ```ts
 * import { openPty, ptyIndex } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const pty = openPty();
 * if (ptyIndex(pty.master) !== pty.index) throw new Error();
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function ptyIndex(master: number): number {
  fdArg(master, "pty master");
  const n = new Uint8Array(4);
  ioctl(master, TIOCGPTN, n, "get pty number (TIOCGPTN)");
  return new DataView(n.buffer).getUint32(0, true);
}

/**
 * Opens the slave of a master (TIOCGPTPEER), without a path lookup, so it
 * works for a master received from another process or mount namespace.
 *
 * @param master The master.
 * @returns The slave (read-write, close-on-exec, not made the controlling terminal).
 * @throws {RangeError} If `master` is not a valid descriptor number.
 * @throws {Errno} If it is not a pty master (ENOTTY) or is still locked (EIO).
 *
 * @example
 * ```ts
 * import { openPtyMaster, openPtySlave } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const master = openPtyMaster();
 * const slave = openPtySlave(master);
 * closeFd(slave);
 * closeFd(master);
 * ```
 */
export function openPtySlave(master: number): number {
  fdArg(master, "pty master");
  const flags = BigInt(O.RDWR | O.NOCTTY | O.CLOEXEC);
  return ioctl(master, TIOCGPTPEER, flags, "open pty slave (TIOCGPTPEER)");
}

/**
 * Opens a pty pair: a new master, unlocked, and its slave.
 *
 * @param size The initial window size, if any.
 * @returns Both ends; the caller closes them.
 * @throws {TypeError | RangeError} If `size` is invalid (checked first).
 * @throws {Errno} If the pty cannot be made.
 *
 * @example
 * ```ts
 * import { getWindowSize, openPty } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const pty = openPty({ rows: 24, cols: 80 });
 * if (!pty.path.startsWith("/dev/pts/")) throw new Error(pty.path);
 * if (getWindowSize(pty.slave).cols !== 80) throw new Error();
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function openPty(size?: WindowSize): PtyPair {
  if (size !== undefined) winsizeBytes(size);
  const master = openPtyMaster();
  let slave = -1;
  try {
    const index = ptyIndex(master);
    slave = openPtySlave(master);
    if (size !== undefined) setWindowSize(master, size);
    return { master, slave, index, path: `/dev/pts/${index}` };
  } catch (e) {
    closeQuietly(slave);
    closeQuietly(master);
    throw e;
  }
}

/**
 * Sets a terminal's window size (TIOCSWINSZ); the foreground process
 * group gets SIGWINCH when it changes.
 *
 * @param fd The master or the slave.
 * @param size The new size.
 * @throws {TypeError} If `size` is not an object.
 * @throws {RangeError} If `fd` or a dimension is out of range.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 *
 * @example
 * ```ts
 * import { getWindowSize, openPty, setWindowSize } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const pty = openPty();
 * setWindowSize(pty.master, { rows: 50, cols: 132 });
 * const size = getWindowSize(pty.slave);
 * if (size.rows !== 50 || size.cols !== 132) throw new Error();
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function setWindowSize(fd: number, size: WindowSize): void {
  fdArg(fd, "terminal descriptor");
  const bytes = winsizeBytes(size);
  ioctl(fd, TIOCSWINSZ, bytes, "set window size (TIOCSWINSZ)");
}

/**
 * Reads a terminal's window size (TIOCGWINSZ).
 *
 * @param fd The master or the slave.
 * @returns Its size, pixels included (0 when unset).
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 *
 * @example
 * ```ts
 * import { getWindowSize, openPty } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const pty = openPty({ rows: 10, cols: 20, xPixels: 200, yPixels: 300 });
 * const size = getWindowSize(pty.master);
 * if (size.xPixels !== 200 || size.yPixels !== 300) throw new Error();
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function getWindowSize(fd: number): Required<WindowSize> {
  fdArg(fd, "terminal descriptor");
  const bytes = new Uint8Array(8);
  ioctl(fd, TIOCGWINSZ, bytes, "get window size (TIOCGWINSZ)");
  const v = new DataView(bytes.buffer);
  return {
    rows: v.getUint16(0, true),
    cols: v.getUint16(2, true),
    xPixels: v.getUint16(4, true),
    yPixels: v.getUint16(6, true),
  };
}

/**
 * Reads a terminal's settings (TCGETS) as the kernel's 36-byte `struct termios`.
 *
 * @param fd A terminal (either end of a pty).
 * @returns The settings, to give back to {@linkcode setTermios}.
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 *
 * @example
 * ```ts
 * import { getTermios, openPty, TERMIOS_SIZE } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const pty = openPty();
 * if (getTermios(pty.slave).length !== TERMIOS_SIZE) throw new Error();
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function getTermios(fd: number): Uint8Array {
  fdArg(fd, "terminal descriptor");
  const termios = new Uint8Array(TERMIOS_SIZE);
  ioctl(fd, TCGETS, termios, "get terminal settings (TCGETS)");
  return termios;
}

/**
 * Applies terminal settings at once (TCSETS).
 *
 * @param fd A terminal.
 * @param termios Settings from {@linkcode getTermios} (at least 36 bytes).
 * @throws {TypeError} If `termios` is not a typed array.
 * @throws {RangeError} If `fd` is invalid or `termios` is too short.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 *
 * @example
 * ```ts
 * import { getTermios, openPty, setRawMode, setTermios } from "./pty.ts";
 * import { closeFd } from "./fd.ts";
 * const pty = openPty();
 * const saved = setRawMode(pty.slave);
 * setTermios(pty.slave, saved);
 * if (getTermios(pty.slave).join() !== saved.join()) throw new Error();
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function setTermios(fd: number, termios: Uint8Array): void {
  fdArg(fd, "terminal descriptor");
  checkLength(termios, TERMIOS_SIZE, "termios");
  const copy = termios.slice(0, TERMIOS_SIZE);
  ioctl(fd, TCSETS, copy, "set terminal settings (TCSETS)");
}

/**
 * Puts a terminal in raw mode, as `cfmakeraw` does: no line editing, echo,
 * signal keys or output processing; 8-bit characters; reads return after
 * one byte.
 *
 * @param fd A terminal.
 * @returns The previous settings, to restore with {@linkcode setTermios}.
 * @throws {RangeError} If `fd` is not a valid descriptor number.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 *
 * @example
 * ```ts
 * import { openPty, setRawMode } from "./pty.ts";
 * import { closeFd, readFd, writeFd } from "./fd.ts";
 * const pty = openPty();
 * setRawMode(pty.slave);
 * writeFd(pty.slave, new TextEncoder().encode("a\n"));
 * const got = new Uint8Array(8);
 * const n = readFd(pty.master, got);
 * if (new TextDecoder().decode(got.subarray(0, n)) !== "a\n") throw new Error("expected no CR");
 * closeFd(pty.master);
 * closeFd(pty.slave);
 * ```
 */
export function setRawMode(fd: number): Uint8Array {
  const saved = getTermios(fd);
  const raw = saved.slice();
  const v = new DataView(raw.buffer);
  v.setUint32(IFLAG, v.getUint32(IFLAG, true) & ~RAW_IFLAG_OFF, true);
  v.setUint32(OFLAG, v.getUint32(OFLAG, true) & ~OPOST, true);
  v.setUint32(LFLAG, v.getUint32(LFLAG, true) & ~RAW_LFLAG_OFF, true);
  v.setUint32(CFLAG, (v.getUint32(CFLAG, true) & ~(CSIZE | PARENB)) | CS8, true);
  raw[CC + VMIN] = 1;
  raw[CC + VTIME] = 0;
  setTermios(fd, raw);
  return saved;
}

function winsizeBytes(size: WindowSize): Uint8Array {
  if (typeof size !== "object" || size === null) {
    throw new TypeError("Invalid window size: pass an object such as { rows: 24, cols: 80 }");
  }
  const bytes = new Uint8Array(8);
  const v = new DataView(bytes.buffer);
  const fields = [
    ["rows", size.rows],
    ["cols", size.cols],
    ["xPixels", size.xPixels ?? 0],
    ["yPixels", size.yPixels ?? 0],
  ] as const;
  fields.forEach(([name, value], i) => {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
      throw new RangeError(`Invalid window ${name} ${value}: use an integer from 0 to 65535`);
    }
    v.setUint16(2 * i, value, true);
  });
  return bytes;
}

/**
 * Whether a descriptor is a terminal (`isatty`).
 *
 * @param fd A descriptor.
 * @returns True when TCGETS works on it.
 *
 * @example
 * ```ts
 * import { isTerminal, openPty } from "./pty.ts";
 * import { closeFd, O, openFile } from "./fd.ts";
 * const pty = openPty();
 * const nul = openFile("/dev/null", O.RDONLY);
 * if (!isTerminal(pty.slave) || isTerminal(nul)) throw new Error();
 * [pty.master, pty.slave, nul].forEach(closeFd);
 * ```
 */
export function isTerminal(fd: number): boolean {
  fdArg(fd, "descriptor");
  try {
    ioctl(fd, TCGETS, new Uint8Array(TERMIOS_SIZE), "TCGETS");
    return true;
  } catch {
    return false;
  }
}

/**
 * Discards queued terminal data (`tcflush`).
 *
 * @param fd A terminal.
 * @param queue 0: input not read yet, 1: output not sent yet, 2: both.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 */
export function flushTerminal(fd: number, queue: 0 | 1 | 2): void {
  fdArg(fd, "terminal descriptor");
  ioctl(fd, TCFLSH, BigInt(queue), "TCFLSH");
}

/**
 * Suspends or restarts terminal output or input (`tcflow`).
 *
 * @param fd A terminal.
 * @param action 0: suspend output, 1: restart it, 2: send STOP, 3: send START.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 */
export function terminalFlow(fd: number, action: 0 | 1 | 2 | 3): void {
  fdArg(fd, "terminal descriptor");
  ioctl(fd, TCXONC, BigInt(action), "TCXONC");
}

/**
 * Bytes waiting in a terminal's input or output queue (FIONREAD, TIOCOUTQ).
 *
 * @param fd A terminal.
 * @param queue Which queue.
 * @returns The byte count.
 * @throws {Errno} If `fd` is not a terminal (ENOTTY).
 */
export function queuedBytes(fd: number, queue: "input" | "output"): number {
  fdArg(fd, "terminal descriptor");
  const n = new Uint8Array(4);
  ioctl(
    fd,
    queue === "input" ? FIONREAD : TIOCOUTQ,
    n,
    queue === "input" ? "FIONREAD" : "TIOCOUTQ",
  );
  return new DataView(n.buffer).getInt32(0, true);
}
