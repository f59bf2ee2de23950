/**
 * A host terminal given to the sandbox as a container's stdio (the pty
 * whose master went over --console-socket). Terminal settings and the
 * window size are the host terminal's own (the host line discipline edits
 * lines and echoes); sessions and process groups are the Sentry's, kept in
 * {@linkcode TtyState}: the host terminal's controlling process is the
 * sandbox process, which forwards the signals the line discipline raises
 * (^C, ^Z, ^\, window changes, hangup) to the foreground process group
 * recorded here.
 *
 * @module
 */
import { SIG } from "../kernel/signals.ts";
import { closeQuietly } from "../../platform/fd.ts";
import {
  flushTerminal,
  getTermios,
  getWindowSize,
  isTerminal,
  queuedBytes,
  setTermios,
  setWindowSize,
  terminalFlow,
  TERMIOS_SIZE,
} from "../../platform/pty.ts";
import { Errno } from "../../platform/errno.ts";
import { FileCalls } from "../../platform/files.ts";
import { LinuxError } from "../errors.ts";
import { HostFdFile, type HostPoller } from "./host_file.ts";
import type { UserMemory } from "./inode.ts";

/** Who a terminal belongs to, in the Sentry's process ids. */
export class TtyState {
  /** Its number N in the container's /dev/pts (0 for the first: the console). */
  readonly index: number;
  /** @param index Its number N in the container's /dev/pts. */
  constructor(index: number) {
    this.index = index;
  }
  /** The session it is the controlling terminal of (0: none). */
  sid = 0;
  /** Its foreground process group (0: none). */
  fgPgrp = 0;
  /**
   * A host descriptor of it the Sentry keeps while any open file of the
   * terminal exists, to open it again as /dev/tty or /dev/pts/N (-1: none).
   */
  hostFd = -1;
  /** Open files of it in the sandbox. */
  openFiles = 0;
  /** The container whose terminal it is ("" for the root container). */
  container = "";
}

const calls = new FileCalls();

/**
 * Job control, supplied by the kernel (it knows the caller): called before
 * a terminal is read (SIGTTIN) or written with TOSTOP or reconfigured
 * (SIGTTOU); it stops a background caller's group (the call restarts when
 * it is continued) or refuses with EIO.
 */
export const ttyHooks: {
  /** `applies`: asked only for a background caller (a write: whether TOSTOP is set). */
  jobControl: ((tty: TtyState, sig: number, applies?: () => boolean) => void) | null;
  /** Sends a signal to a terminal's foreground process group (^C on a sandbox pty). */
  signalForeground: ((tty: TtyState, sig: number) => void) | null;
  /** A sandbox pty's master is gone: its session is hung up. */
  hangup: ((terminal: { tty: TtyState; index: number }) => void) | null;
} = { jobControl: null, signalForeground: null, hangup: null };

/** c_lflag's TOSTOP: background writes stop the writer. */
const TOSTOP = 0o400;

/**
 * Which terminal a host descriptor is, if it is one.
 *
 * @param fd A host descriptor.
 * @returns Its device number, or null when it is not a terminal.
 */
export function terminalId(fd: number): bigint | null {
  return isTerminal(fd) ? calls.statFd(fd).rdev : null;
}

/** Terminal ioctl requests (asm-generic/ioctls.h). */
export const TTY = {
  TCGETS: 0x5401,
  TCSETS: 0x5402,
  TCSETSW: 0x5403,
  TCSETSF: 0x5404,
  TCSBRK: 0x5409,
  TCXONC: 0x540a,
  TCFLSH: 0x540b,
  TIOCSCTTY: 0x540e,
  TIOCGPGRP: 0x540f,
  TIOCSPGRP: 0x5410,
  TIOCOUTQ: 0x5411,
  TIOCSTI: 0x5412,
  TIOCGWINSZ: 0x5413,
  TIOCSWINSZ: 0x5414,
  FIONREAD: 0x541b,
  TIOCNOTTY: 0x5422,
  TIOCGSID: 0x5429,
  TCSBRKP: 0x5425,
} as const;

/** An open host terminal. */
export class HostTtyFile extends HostFdFile {
  /** Its session and foreground group, shared by every descriptor of this terminal. */
  readonly tty: TtyState;

  /**
   * Wraps a host terminal descriptor.
   *
   * @param fd The descriptor (owned).
   * @param flags Open flags as the application sees them.
   * @param poller Waits for readiness.
   * @param tty The terminal's state (one per terminal).
   */
  constructor(fd: number, flags: number, poller: HostPoller, tty: TtyState) {
    super(fd, flags, poller);
    this.tty = tty;
    tty.openFiles++;
  }

  protected override release(): void {
    super.release();
    // The last one: the Sentry's spare copy goes too, so the terminal hangs up.
    if (--this.tty.openFiles === 0 && this.tty.hostFd >= 0) {
      closeQuietly(this.tty.hostFd);
      this.tty.hostFd = -1;
    }
  }

  override read(buf: Uint8Array, offset: bigint | null): number {
    ttyHooks.jobControl?.(this.tty, SIG.TTIN);
    return super.read(buf, offset);
  }

  override write(data: Uint8Array, offset: bigint | null): number {
    // The terminal's settings are read only for a background writer.
    ttyHooks.jobControl?.(
      this.tty,
      SIG.TTOU,
      () => (new DataView(getTermios(this.hostFd).buffer).getUint32(12, true) & TOSTOP) !== 0,
    );
    return super.write(data, offset);
  }

  /**
   * The terminal's own requests; the job control ones (TIOCSCTTY,
   * TIOCSPGRP...) need the caller and are answered by the syscall layer.
   * Nothing here waits: TCSETSW and TCSBRK have no output to drain, as on
   * Linux, where a pty slave's output goes straight to the master (its
   * output queue, TIOCOUTQ, is always empty).
   */
  override ioctl(request: number, arg: bigint, memory: UserMemory): bigint {
    const fd = this.hostFd;
    try {
      switch (request) {
        case TTY.TCGETS:
          memory.write(arg, getTermios(fd));
          return 0n;
        case TTY.TCSETSF:
          ttyHooks.jobControl?.(this.tty, SIG.TTOU);
          flushTerminal(fd, 0);
          setTermios(fd, memory.read(arg, TERMIOS_SIZE));
          return 0n;
        case TTY.TCSETS:
        case TTY.TCSETSW:
          ttyHooks.jobControl?.(this.tty, SIG.TTOU);
          setTermios(fd, memory.read(arg, TERMIOS_SIZE));
          return 0n;
        case TTY.TIOCGWINSZ: {
          const w = getWindowSize(fd);
          const out = new Uint8Array(8);
          const v = new DataView(out.buffer);
          v.setUint16(0, w.rows, true);
          v.setUint16(2, w.cols, true);
          v.setUint16(4, w.xPixels, true);
          v.setUint16(6, w.yPixels, true);
          memory.write(arg, out);
          return 0n;
        }
        case TTY.TIOCSWINSZ: {
          const v = new DataView(memory.read(arg, 8).slice().buffer);
          setWindowSize(fd, {
            rows: v.getUint16(0, true),
            cols: v.getUint16(2, true),
            xPixels: v.getUint16(4, true),
            yPixels: v.getUint16(6, true),
          });
          return 0n;
        }
        case TTY.TCFLSH: {
          const q = Number(arg);
          if (q !== 0 && q !== 1 && q !== 2) throw new LinuxError("EINVAL");
          flushTerminal(fd, q);
          return 0n;
        }
        case TTY.TCXONC: {
          const a = Number(arg);
          if (a !== 0 && a !== 1 && a !== 2 && a !== 3) throw new LinuxError("EINVAL");
          terminalFlow(fd, a);
          return 0n;
        }
        case TTY.TCSBRK:
        case TTY.TCSBRKP:
          return 0n; // tcdrain and breaks: nothing to wait for on a pty (see above)
        case TTY.FIONREAD:
        case TTY.TIOCOUTQ: {
          const n = queuedBytes(fd, request === TTY.FIONREAD ? "input" : "output");
          const out = new Uint8Array(4);
          new DataView(out.buffer).setInt32(0, n, true);
          memory.write(arg, out);
          return 0n;
        }
        case TTY.TIOCSTI:
          throw new LinuxError("EPERM"); // no faking input, as with dev.tty.legacy_tiocsti=0
      }
    } catch (e) {
      if (e instanceof Errno) throw new LinuxError(e.errno);
      throw e;
    }
    throw new LinuxError("ENOTTY");
  }
}
