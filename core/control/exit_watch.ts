/**
 * The sandbox's end of a waiter (platform/asm/waiter.S): a socket the CLI
 * handed over with the Watch method, whose other end the waiter holds. The
 * exit code of the process it stands for goes to it as one byte; each byte
 * that comes from it is a signal the waiter got, to deliver to that
 * process; its end of file means the waiter died of SIGKILL (nothing else
 * ends it before the exit code), which is then done to the process too, as
 * `kill -9` of a runc container's pid would.
 *
 * @module
 */
import { closeQuietly, readFd, setNonblocking, writeFd } from "../../platform/fd.ts";
import { Errno } from "../../platform/errno.ts";
import { exitCodeOf } from "../kernel/exit_code.ts";
import { SIG } from "../kernel/signals.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { POLL } from "../vfs/inode.ts";

/** What a watch does to the process it stands for. */
export interface WatchedProcess {
  /** Delivers a signal the waiter got (1 to 64). */
  signal(signo: number): void;
}

/**
 * Serves one waiter's socket until the process ends or the waiter does.
 *
 * Precondition: `fd` is this sandbox's own descriptor (it is closed here).
 *
 * @param k The kernel (its event loop waits for the socket).
 * @param fd The socket.
 * @param target The process.
 * @returns `ended(status)`: call it with the process's wait status once it
 *   has exited; the waiter then exits with its exit code.
 *
 * @example
 * ```ts ignore
 * const ended = watchExit(k, fd, { signal: (s) => k.signalFromHost(p, s) });
 * k.processExits.subscribe(() => { if (p.exitStatus !== null) ended(p.exitStatus); });
 * ```
 */
export function watchExit(
  k: Kernel,
  fd: number,
  target: WatchedProcess,
): (status: number) => void {
  let open = true;
  const close = () => {
    open = false;
    k.forgetHostFd(fd);
    closeQuietly(fd);
  };
  setNonblocking(fd, true);
  const buf = new Uint8Array(64);
  const read = () => {
    if (!open) return;
    for (;;) {
      let n: number;
      try {
        n = readFd(fd, buf);
      } catch (e) {
        if (e instanceof Errno && e.code === "EAGAIN") break;
        n = 0; // reset: as good as gone
      }
      if (n === 0) {
        close();
        target.signal(SIG.KILL);
        return;
      }
      for (const signo of buf.subarray(0, n)) {
        if (signo >= 1 && signo <= 64) target.signal(signo);
      }
    }
    k.hostQueue(fd, POLL.IN).subscribe(read);
  };
  read();
  return (status) => {
    if (!open) return;
    try {
      writeFd(fd, Uint8Array.of(exitCodeOf(status)));
    } catch { /* the waiter is gone already */ }
    close();
  };
}
