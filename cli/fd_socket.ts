/**
 * Handing a descriptor to the caller over a unix socket it listens on, as
 * runc does: the pty master for `--console-socket`, a pidfd for
 * `--pidfd-socket` (one SCM_RIGHTS message, its data a name for the file).
 *
 * @module
 */
import { closeFd } from "../platform/fd.ts";
import { pidfdOpen } from "../platform/pidfd.ts";
import { connectUnix, sendFds } from "../platform/socket.ts";

/**
 * Sends one descriptor to a listening unix socket.
 *
 * @param socketPath The socket.
 * @param flag The flag that named it (for the error).
 * @param name What the message says the file is (`/dev/ptmx`, `pidfd`).
 * @param fd The descriptor (left open; the caller closes it).
 * @throws {Error} When the socket cannot be reached.
 */
export function sendDescriptor(socketPath: string, flag: string, name: string, fd: number): void {
  let sock: number;
  try {
    sock = connectUnix(socketPath);
  } catch (e) {
    throw new Error(
      `Cannot connect to ${flag} ${socketPath}: ${
        e instanceof Error ? e.message : e
      } (it must be a listening unix socket)`,
    );
  }
  try {
    sendFds(sock, new TextEncoder().encode(name), [fd]);
  } finally {
    closeFd(sock);
  }
}

/**
 * Sends a pidfd of a process to `--pidfd-socket`, as runc 1.2 does for the
 * container's process (the one whose pid the pid file names).
 *
 * @param socketPath The socket.
 * @param pid The process.
 * @throws {Error} When the socket cannot be reached or the process is gone.
 */
export function sendPidfd(socketPath: string, pid: number): void {
  const fd = pidfdOpen(pid);
  try {
    sendDescriptor(socketPath, "--pidfd-socket", "pidfd", fd);
  } finally {
    closeFd(fd);
  }
}
