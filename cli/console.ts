/**
 * Terminals for containers (`process.terminal`), as runc makes them: a pty
 * whose slave is the container process's stdin, stdout, stderr and
 * controlling terminal, and whose master goes to the caller over
 * `--console-socket` (one `SCM_RIGHTS` message, as containerd's shim and
 * conmon expect), or, for an attached `run`/`exec` without a socket, is
 * copied to and from this command's own stdio.
 *
 * @module
 */
import { sendDescriptor } from "./fd_socket.ts";
import { closeQuietly, pollFd, readFd, writeFd } from "../platform/fd.ts";
import {
  getWindowSize,
  isTerminal,
  openPty,
  type PtyPair,
  setRawMode,
  setTermios,
  setWindowSize,
} from "../platform/pty.ts";
import { TERMINAL_SIGNALS } from "../core/kernel/signals.ts";
import { UsageError } from "./flags.ts";

/**
 * Spawn options that make a child the host controlling process of the
 * terminal at its descriptor 0, with the signals the terminal raises
 * blocked so that it takes them from a signalfd and forwards them.
 *
 * @returns The options to spread into `spawn`.
 */
export function terminalOwner(): { controllingTerminal: number; blockedSignals: number[] } {
  return { controllingTerminal: 0, blockedSignals: [...TERMINAL_SIGNALS] };
}

/**
 * Checks `process.terminal` against `--console-socket` as runc does: a
 * detached process with a terminal needs the socket, and the socket needs
 * a terminal.
 *
 * @param terminal `process.terminal`.
 * @param consoleSocket The flag.
 * @param detached Whether this command leaves the process running.
 * @throws {UsageError} When they do not fit.
 */
export function checkConsoleFlags(
  terminal: boolean,
  consoleSocket: string | undefined,
  detached: boolean,
): void {
  if (terminal && detached && consoleSocket === undefined) {
    throw new UsageError(
      "Cannot allocate a terminal for a detached process without --console-socket: pass one, or set process.terminal to false",
    );
  }
  if (!terminal && consoleSocket !== undefined) {
    throw new UsageError(
      "--console-socket needs process.terminal true (or --tty): leave it out, or ask for a terminal",
    );
  }
}

/**
 * Opens a pty for a container process.
 *
 * @param size The window size (`process.consoleSize`), if given.
 * @returns Both ends (close-on-exec).
 * @throws {Error} When no pty can be had.
 */
export function openConsole(size?: { rows: number; cols: number }): PtyPair {
  try {
    return openPty(size && (size.rows || size.cols) ? size : undefined);
  } catch (e) {
    throw new Error(
      `Cannot open a terminal for the container: ${
        e instanceof Error ? e.message : e
      } (is /dev/ptmx there?)`,
    );
  }
}

/**
 * Sends a pty master to the `--console-socket` listener, as runc does.
 *
 * @param socketPath The listening unix socket.
 * @param master The pty master (left open; the caller closes it).
 * @throws {Error} When the socket cannot be reached.
 */
export function sendConsole(socketPath: string, master: number): void {
  sendDescriptor(socketPath, "--console-socket", "/dev/ptmx", master);
}

/**
 * Copies between this process's stdio and a pty master until the master
 * hangs up (every holder of the slave is gone): stdin (raw when it is a
 * terminal, restored afterwards) goes in, output comes out, and window
 * size changes of our terminal are passed on.
 *
 * @param master The pty master (owned: closed at the end).
 * @returns When the output has all been copied.
 */
export async function proxyConsole(master: number): Promise<void> {
  const stdinTty = isTerminal(0);
  const saved = stdinTty ? setRawMode(0) : null;
  const resize = () => {
    try {
      setWindowSize(master, getWindowSize(0));
    } catch { /* not a terminal */ }
  };
  if (stdinTty) resize();
  try {
    Deno.addSignalListener("SIGWINCH", resize);
  } catch { /* no such signal here */ }
  let stdinOpen = true;
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      // Output first (waiting for it a little): drain what the container wrote.
      const out = pollFd(master, 1, 10);
      if (out & 1) {
        let n = 0;
        try {
          n = readFd(master, buf);
        } catch {
          n = 0; // EIO: the slave side is gone
        }
        if (n === 0) break;
        writeAll(1, buf.subarray(0, n));
        continue;
      }
      if (out & (0x10 | 0x8)) break; // POLLHUP, POLLERR
      if (stdinOpen && pollFd(0, 1) & (1 | 0x10)) {
        let n = 0;
        try {
          n = readFd(0, buf);
        } catch {
          n = 0;
        }
        if (n === 0) stdinOpen = false;
        else writeAll(master, buf.subarray(0, n));
        continue;
      }
      // Let signal listeners (SIGWINCH) run.
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    try {
      Deno.removeSignalListener("SIGWINCH", resize);
    } catch { /* never added */ }
    if (saved) setTermios(0, saved);
    closeQuietly(master);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let at = 0;
  while (at < data.length) at += writeFd(fd, data.subarray(at));
}
