/**
 * A waiter: a tiny detached host process (platform/asm/waiter.S, no Deno)
 * that stands for a process in the sandbox: what containerd's runc shim
 * and conmon watch and signal when the pid they are given must end with
 * what it stands for: a process `exec --detach` started, or a container of
 * a pod (whose sandbox process lives on after it). Its exit code is that
 * process's; the signals it gets (`kill` of that pid, which containerd's
 * shim sends an exec'd process itself) go to that process, and SIGKILL of
 * the waiter kills it, as with runc; runsc's waiter, a `runsc` process,
 * passes signals on but dies alone of SIGKILL.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { waiterExecutableBytes } from "../platform/asm/waiter_bin.ts";
import { closeQuietly, O, openFile } from "../platform/fd.ts";
import { sealedMemfd } from "../platform/memfd.ts";
import { action, compileFilter } from "../platform/seccomp_bpf.ts";
import { openSignalFd } from "../platform/signalfd.ts";
import { socketPair } from "../platform/socket.ts";
import { type Child, spawn } from "../platform/spawn.ts";
import { SYS } from "../platform/sysno.ts";
import { callSandbox, forContainer } from "./control_client.ts";

/** Every signal a process can catch (all but SIGKILL and SIGSTOP). */
const CATCHABLE = Array.from({ length: 64 }, (_, i) => i + 1).filter((s) => s !== 9 && s !== 19);

/**
 * What the waiter may do: waiter.S's calls, and the execveat that starts
 * it (harmless after: the filter stays with whatever it runs).
 */
function waiterFilter(): Uint8Array {
  return compileFilter({
    rules: [
      SYS.read,
      SYS.poll,
      SYS.sendto,
      SYS.exit_group,
      SYS.restart_syscall,
      SYS.execveat,
    ].map((syscall) => ({ syscall, action: action.allow() })),
    defaultAction: action.killProcess(),
  });
}

/**
 * Starts a waiter (in its own session, stdio on /dev/null or the
 * terminal, no capabilities, confined by seccomp) and hands its socket's
 * other end to the sandbox.
 *
 * @param control The sandbox's control socket.
 * @param s The container (`id`, and `sandbox` for a pod container).
 * @param o `pid`: stand for that process exec started (else for the
 *   container's init); `terminal`: its terminal, which the waiter makes its
 *   controlling terminal; what that raises goes to its foreground group.
 * @returns The waiter's pid.
 * @throws {Error} If it cannot start, or the sandbox refuses the watch
 *   (then nothing is left of it).
 *
 * @example
 * ```ts ignore
 * const pid = startWaiter(store.controlSocket(s), s, { pid: 3 });
 * writeAtomically(pidFile, String(pid)); // what the shim watches for process 3
 * ```
 */
export function startWaiter(
  control: string,
  s: { id: string; sandbox?: string },
  o: { pid?: number; terminal?: number } = {},
): number {
  const devnull = openFile("/dev/null", O.RDWR);
  const [mine, theirs] = socketPair();
  const open = [devnull, mine, theirs];
  let child: Child | null = null;
  try {
    const signals = openSignalFd(CATCHABLE);
    open.push(signals);
    const program = sealedMemfd("dvisor-waiter", waiterExecutableBytes(), 0o755);
    open.push(program);
    child = spawn({
      executableFd: program,
      args: ["dvisor-waiter", s.id, ...(o.pid !== undefined ? [String(o.pid)] : [])],
      fds: [[0, o.terminal ?? devnull], [1, devnull], [2, devnull], [3, theirs], [4, signals]],
      setsid: true,
      ...(o.terminal !== undefined ? { controllingTerminal: 0 } : {}),
      blockedSignals: CATCHABLE,
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [] },
      seccomp: { program: waiterFilter() },
    });
    const foreground = o.terminal !== undefined;
    callSandbox(
      control,
      METHOD.watch,
      forContainer(s, { ...(o.pid !== undefined ? { pid: o.pid } : {}), foreground }),
      [mine],
    );
    const pid = child.pid;
    child.close();
    child = null;
    return pid;
  } catch (e) {
    if (child) {
      child.kill();
      child.waitSync();
      child.close();
    }
    throw e;
  } finally {
    open.forEach(closeQuietly);
  }
}
