/**
 * Job control on terminals (host terminals given to the sandbox and the
 * sandbox's own ptys, core/vfs/pty.ts): the controlling terminal of a
 * session, its foreground process group, and signals to that group. The
 * Sentry keeps this state (a host terminal's own session is the sandbox
 * process's); a host terminal's settings go to it in host_tty.ts.
 *
 * @module
 */
import { type Inode, O } from "../vfs/inode.ts";
import { LinuxError, WouldBlock } from "../errors.ts";
import type { Kernel, SyscallContext } from "../kernel/kernel.ts";
import { SI, SIG, SIG_IGN, sigbit } from "../kernel/signals.ts";
import type { Process } from "../kernel/task.ts";
import { HostTtyFile, TTY, ttyHooks, type TtyState } from "../vfs/host_tty.ts";
import { PtyMaster, PtySlave, Terminal } from "../vfs/pty.ts";
import { deviceHooks } from "../vfs/devices.ts";
import { dupFd } from "../../platform/fd.ts";

const SIGHUP = 1;
const SIGCONT = 18;
const CAP_SYS_ADMIN = 21;

/**
 * Sends a signal to a terminal's foreground process group, as the line
 * discipline does for ^C, ^Z, ^\ and window changes.
 *
 * @param k The kernel.
 * @param tty The terminal.
 * @param sig The signal.
 * @returns How many processes it was sent to.
 */
export function signalForeground(k: Kernel, tty: TtyState, sig: number): number {
  if (tty.fgPgrp === 0) return 0;
  let n = 0;
  for (const p of k.processes.values()) {
    if (p.pgid !== tty.fgPgrp || p.exitStatus !== null) continue;
    k.signalProcess(p, { sig, code: SI.KERNEL, pid: 0, uid: 0 });
    n++;
  }
  return n;
}

/**
 * Sends on a signal the host terminal raised: to its foreground group, and
 * a hangup to the session leader too.
 *
 * @param k The kernel.
 * @param tty The terminal.
 * @param sig One of the TERMINAL_SIGNALS (core/kernel/signals.ts).
 */
export function forwardTerminalSignal(k: Kernel, tty: TtyState, sig: number): void {
  signalForeground(k, tty, sig);
  if (sig !== SIGHUP) return;
  const leader = k.processes.get(tty.sid);
  if (leader && leader.exitStatus === null && leader.pgid !== tty.fgPgrp) {
    k.signalProcess(leader, { sig, code: SI.KERNEL, pid: 0, uid: 0 });
  }
}

/**
 * Makes a terminal the controlling terminal of a process's session (a new
 * session leader: the init or an exec'd process with `terminal: true`, as
 * runc's setsid + TIOCSCTTY).
 *
 * @param p The session leader.
 * @param tty The terminal.
 */
export function takeTerminal(p: Process, tty: TtyState): void {
  p.ctty = tty;
  tty.sid = p.sid;
  tty.fgPgrp = p.pgid;
}

/**
 * A session leader lets its terminal go (TIOCNOTTY, or its exit): the
 * foreground group gets SIGHUP and SIGCONT, and no process of the session
 * has a controlling terminal any more.
 *
 * @param k The kernel.
 * @param leader The session leader.
 */
export function releaseTerminal(k: Kernel, leader: Process): void {
  const tty = leader.ctty;
  if (!tty || tty.sid !== leader.sid) return;
  signalForeground(k, tty, SIGHUP);
  signalForeground(k, tty, SIGCONT);
  for (const p of k.processes.values()) if (p.sid === leader.sid) p.ctty = null;
  tty.sid = 0;
  tty.fgPgrp = 0;
}

/**
 * Answers the job control requests on a terminal, which need the caller.
 *
 * @param c The call.
 * @param f The terminal.
 * @param request The ioctl request.
 * @param arg Its argument.
 * @returns The result, or null when `request` is not one of them.
 */
export function jobControlIoctl(
  c: SyscallContext,
  f: { tty: TtyState },
  request: number,
  arg: bigint,
): number | null {
  const tty = f.tty;
  const p = c.p;
  const controlling = () => {
    if (p.ctty !== tty) throw new LinuxError("ENOTTY");
  };
  switch (request) {
    case TTY.TIOCSCTTY: {
      if (p.ctty === tty) return 0;
      if (p.sid !== p.pid || p.ctty) throw new LinuxError("EPERM");
      if (tty.sid !== 0) {
        // Stealing another session's terminal takes arg 1 and CAP_SYS_ADMIN.
        if (arg !== 1n || !p.creds.capable(CAP_SYS_ADMIN)) throw new LinuxError("EPERM");
        for (const q of c.k.processes.values()) if (q.ctty === tty) q.ctty = null;
      }
      takeTerminal(p, tty);
      return 0;
    }
    case TTY.TIOCGPGRP:
      controlling();
      c.mem.writeI32(arg, tty.fgPgrp);
      return 0;
    case TTY.TIOCGSID:
      controlling();
      if (tty.sid === 0) throw new LinuxError("ENOTTY");
      c.mem.writeI32(arg, tty.sid);
      return 0;
    case TTY.TIOCSPGRP: {
      controlling();
      if (tty.sid !== p.sid) throw new LinuxError("ENOTTY");
      checkJobControl(c.k, tty, SIG.TTOU);
      const pgrp = c.mem.readI32(arg);
      if (pgrp < 0) throw new LinuxError("EINVAL");
      const members = [...c.k.processes.values()].filter((q) =>
        q.pgid === pgrp && q.exitStatus === null
      );
      if (members.length === 0) throw new LinuxError("ESRCH");
      if (members.some((q) => q.sid !== p.sid)) throw new LinuxError("EPERM");
      tty.fgPgrp = pgrp;
      return 0;
    }
    case TTY.TIOCNOTTY:
      controlling();
      if (p.sid === p.pid) releaseTerminal(c.k, p);
      else p.ctty = null;
      return 0;
  }
  return null;
}

/**
 * Whether a process group is orphaned: no member has a parent in another
 * group of the same session (nobody left to continue it).
 */
function orphanedGroup(k: Kernel, pgid: number, sid: number): boolean {
  for (const q of k.processes.values()) {
    if (q.pgid !== pgid || q.exitStatus !== null) continue;
    const parent = q.parent;
    if (parent && parent.pgid !== pgid && parent.sid === sid) return false;
  }
  return true;
}

/**
 * Job control on a terminal access by the current task, as Linux's
 * tty_check_change: a process of a background group of the terminal's
 * session stops its whole group with `sig` (SIGTTIN to read, SIGTTOU to
 * write with TOSTOP or to change settings) and the call restarts once the
 * group is continued; if it ignores or blocks the signal, a read fails
 * with EIO and a write or change goes ahead; an orphaned group gets EIO.
 *
 * @param k The kernel.
 * @param tty The terminal.
 * @param sig SIGTTIN or SIGTTOU.
 * @param applies For a background caller: whether the access is subject to
 *   it at all (a write: only with TOSTOP); default yes.
 * @throws {LinuxError} EIO.
 * @throws {WouldBlock} After the stop was sent (the call waits for the signal).
 */
export function checkJobControl(
  k: Kernel,
  tty: TtyState,
  sig: number,
  applies?: () => boolean,
): void {
  const t = k.current;
  const p = t?.process;
  if (!t || !p || p.ctty !== tty || tty.fgPgrp === 0 || p.pgid === tty.fgPgrp) return;
  if (applies && !applies()) return;
  if (p.sigactions[sig]!.handler === SIG_IGN || (t.sigmask & sigbit(sig)) !== 0n) {
    if (sig === SIG.TTIN) throw new LinuxError("EIO");
    return;
  }
  if (orphanedGroup(k, p.pgid, p.sid)) throw new LinuxError("EIO");
  for (const q of k.processes.values()) {
    if (q.pgid === p.pgid && q.exitStatus === null) {
      k.signalProcess(q, { sig, code: SI.KERNEL, pid: 0, uid: 0 });
    }
  }
  // Parked until the signal is taken: a stop restarts the call once continued.
  throw new WouldBlock([]);
}

/**
 * Makes the terminal devices work: /dev/tty opens the caller's controlling
 * terminal (ENXIO without one) and /dev/pts/N the sandbox's terminal N
 * again, each a new open file of the same host terminal, as Linux (a
 * session leader without one that opens a terminal without O_NOCTTY makes
 * it its controlling terminal); and job control stops on terminal access.
 *
 * @param k The kernel.
 */
export function provideDevTty(k: Kernel): void {
  ttyHooks.jobControl = (tty, sig, applies) => checkJobControl(k, tty, sig, applies);
  ttyHooks.signalForeground = (tty, sig) => void signalForeground(k, tty, sig);
  ttyHooks.hangup = (term) => hangUp(k, term.tty);
  deviceHooks.openPtmx = (node, flags) => {
    const p = k.current?.process;
    const index = k.freeTerminalIndex();
    const term = new Terminal(index);
    term.tty.container = p?.container ?? "";
    k.ptys.set(index, term);
    // /dev/pts/N appears with the master, owned by its opener and group tty.
    k.terminalNode(term.tty, p?.creds.fsuid ?? 0);
    term.onFree = () => {
      k.ptys.delete(index);
      try {
        k.devpts?.unlink(String(index));
      } catch { /* no devpts */ }
    };
    const f = new PtyMaster(node, flags, term);
    f.path = "/dev/ptmx";
    return f;
  };
  const poller = k.hostPoller;
  const open = (node: Inode, tty: TtyState, flags: number, path: string) => {
    const f = new HostTtyFile(dupFd(tty.hostFd, 3), flags, poller, tty);
    f.inode = node;
    f.path = path;
    return f;
  };
  deviceHooks.openTty = (node, flags) => {
    const tty = k.current?.process.ctty;
    if (!tty || tty.hostFd < 0) throw new LinuxError("ENXIO");
    return open(node, tty, flags, "/dev/tty");
  };
  deviceHooks.openPts = (node, index, flags) => {
    const p = k.current?.process;
    const term = k.ptys.get(index);
    if (term) return openSlave(k, term, node, flags);
    const tty = k.terminalByIndex(index);
    // Another container's terminal is not there for it (its own devpts, under runc).
    if (tty && p && tty.container !== p.container) throw new LinuxError("ENOENT");
    if (!tty || tty.hostFd < 0) throw new LinuxError("EIO");
    const f = open(node, tty, flags, `/dev/pts/${index}`);
    if (p && !(flags & O.NOCTTY) && p.sid === p.pid && !p.ctty && tty.sid === 0) {
      takeTerminal(p, tty);
    }
    return f;
  };
}

/**
 * Opens a sandbox pty's slave: refused while locked (before unlockpt) or
 * after its master is gone; a session leader without a controlling
 * terminal takes it unless O_NOCTTY, as Linux.
 *
 * @param k The kernel.
 * @param term The terminal.
 * @param node The /dev/pts/N node opened.
 * @param flags Open flags.
 * @returns The open slave.
 * @throws {LinuxError} EIO, ENOENT (another container's).
 */
export function openSlave(k: Kernel, term: Terminal, node: Inode, flags: number): PtySlave {
  const p = k.current?.process;
  if (p && term.tty.container !== p.container) throw new LinuxError("ENOENT");
  if (term.locked || term.hungUp) throw new LinuxError("EIO");
  const f = new PtySlave(node, flags, term);
  f.path = `/dev/pts/${term.index}`;
  if (p && !(flags & O.NOCTTY) && p.sid === p.pid && !p.ctty && term.tty.sid === 0) {
    takeTerminal(p, term.tty);
  }
  return f;
}

/**
 * A hangup (a sandbox pty's master closed): the session leader and the
 * foreground group get SIGHUP and SIGCONT, and the session loses its
 * controlling terminal.
 */
function hangUp(k: Kernel, tty: TtyState): void {
  forwardTerminalSignal(k, tty, SIGHUP);
  signalForeground(k, tty, SIGCONT);
  for (const p of k.processes.values()) if (p.ctty === tty) p.ctty = null;
  tty.sid = 0;
  tty.fgPgrp = 0;
}
