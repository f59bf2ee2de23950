/**
 * What a sandbox answers on its control socket: starting the root
 * container, signals, waiting, the process list, the runtime state and
 * statistics. The Sentry's side of `dvisor start`, `kill`, `wait`, `ps`,
 * `state` and `events`.
 *
 * @module
 */
import { MAX_PRESERVED_FDS } from "../boot/start_process.ts";
import { forwardTerminalSignal } from "../syscalls/tty.ts";
import { closeQuietly } from "../../platform/fd.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process } from "../kernel/task.ts";
import { parseProcess } from "../boot/oci_spec.ts";
import type { ProcessConfig } from "../boot/start_process.ts";
import { METHOD } from "./protocol.ts";
import type { ControlHandler, Respond } from "./server.ts";

/** The root container's lifecycle, as the handlers see it. */
export interface RootLifecycle {
  /** Whether the init was started. */
  started(): boolean;
  /** Starts the init (once). */
  start(): void;
  /**
   * Starts another process in the container (`dvisor exec`).
   *
   * @param pc What it runs.
   * @param stdio Host descriptors for its 0, 1 and 2 (owned).
   * @returns Its pid.
   * @throws {StartError} When the program cannot start.
   */
  exec(pc: ProcessConfig, stdio: number[]): number;
}

/** A process as `ps` reports it. */
export interface ProcessInfo {
  /** Pid in the container. */
  pid: number;
  ppid: number;
  /** Pid of its stub in the sandbox process's pid namespace. */
  hostPid: number;
  uid: number;
  comm: string;
  /** Number of threads. */
  threads: number;
}

/**
 * The handlers, with a function to answer waiters when the init is gone.
 *
 * @param k The kernel.
 * @param root The root container's lifecycle.
 * @returns The handlers by method, and `finish(status)` for the end.
 */
export function sandboxHandlers(
  k: Kernel,
  root: RootLifecycle,
): { handlers: Record<string, ControlHandler>; finish: (status: number) => void } {
  const waiters: Respond[] = [];
  // Processes `dvisor exec` started: their statuses once they end, and who waits for them.
  const execExits = new Map<number, number>();
  const execWaiters = new Map<number, Respond[]>();
  const execPids = new Set<number>();
  k.onOrphanExit = (p) => {
    if (!execPids.has(p.pid)) return;
    execPids.delete(p.pid);
    k.processes.delete(p.pid);
    const status = p.exitStatus ?? 0;
    execExits.set(p.pid, status);
    for (const w of execWaiters.get(p.pid) ?? []) w({ success: true, result: { status } });
    execWaiters.delete(p.pid);
  };
  const noFds =
    (h: (arg: Record<string, unknown>, respond: Respond) => void): ControlHandler =>
    (arg, fds, respond) => {
      fds.forEach(closeQuietly);
      h((typeof arg === "object" && arg !== null ? arg : {}) as Record<string, unknown>, respond);
    };
  const live = (): Process[] => [...k.processes.values()].filter((p) => p.exitStatus === null);
  const handlers: Record<string, ControlHandler> = {
    [METHOD.startRoot]: noFds((_arg, respond) => {
      if (root.started()) {
        respond({ success: false, err: "The container was started already" });
        return;
      }
      root.start();
      respond({ success: true });
    }),
    [METHOD.signal]: noFds((arg, respond) => {
      const signo = Number(arg.signo);
      if (!Number.isInteger(signo) || signo < 0 || signo > 64) {
        respond({ success: false, err: `Invalid signal ${arg.signo}` });
        return;
      }
      const targets = arg.mode === "all"
        ? live()
        : [arg.pid !== undefined ? k.processes.get(Number(arg.pid)) : k.init].filter(
          (p): p is Process => !!p && p.exitStatus === null,
        );
      if (targets.length === 0) {
        respond({ success: false, err: "The process is not running" });
        return;
      }
      for (const p of targets) {
        if (signo === 0) continue;
        // The foreground group of the process's terminal (runsc's
        // DeliverToForegroundProcessGroup): what its terminal raised.
        if (arg.mode === "foreground" && p.ctty) {
          forwardTerminalSignal(k, p.ctty, signo);
          continue;
        }
        if (!root.started() && p === k.init && signo === 9) k.killProcess(p, 9);
        else k.signalFromHost(p, signo);
      }
      respond({ success: true });
    }),
    [METHOD.wait]: noFds((_arg, respond) => {
      const ended = k.init?.exitStatus;
      if (ended !== undefined && ended !== null && k.tasks.size === 0) {
        respond({ success: true, result: { status: ended } });
      } else waiters.push(respond);
    }),
    [METHOD.executeAsync]: (arg, fds, respond) => {
      if (fds.length < 3 || fds.length > 3 + MAX_PRESERVED_FDS) {
        fds.forEach(closeQuietly);
        respond({
          success: false,
          err: `ExecuteAsync needs stdin, stdout, stderr and at most ${MAX_PRESERVED_FDS} more`,
        });
        return;
      }
      if (k.init?.exitStatus !== null) {
        fds.forEach(closeQuietly);
        respond({ success: false, err: "The container is not running" });
        return;
      }
      let pid: number;
      try {
        pid = root.exec(parseProcess(arg), fds);
      } catch (e) {
        respond({ success: false, err: e instanceof Error ? e.message : String(e) });
        return;
      }
      execPids.add(pid);
      respond({ success: true, result: { pid } });
    },
    [METHOD.waitPid]: noFds((arg, respond) => {
      const pid = Number(arg.pid);
      const done = execExits.get(pid);
      if (done !== undefined) {
        execExits.delete(pid);
        respond({ success: true, result: { status: done } });
      } else if (execPids.has(pid)) {
        execWaiters.set(pid, [...(execWaiters.get(pid) ?? []), respond]);
      } else respond({ success: false, err: `No process ${arg.pid} started by exec` });
    }),
    [METHOD.processes]: noFds((_arg, respond) => {
      const out: ProcessInfo[] = live().map((p) => ({
        pid: p.pid,
        ppid: p.parent?.pid ?? 0,
        hostPid: p.hostTgid,
        uid: p.creds.uid,
        comm: p.comm,
        threads: p.threads.size,
      }));
      respond({ success: true, result: out.sort((a, b) => a.pid - b.pid) });
    }),
    [METHOD.pause]: noFds((_arg, respond) => {
      if (!root.started()) {
        respond({ success: false, err: "The container is not running" });
        return;
      }
      k.pause();
      respond({ success: true });
    }),
    [METHOD.resume]: noFds((_arg, respond) => {
      if (!k.paused) {
        respond({ success: false, err: "The container is not paused" });
        return;
      }
      k.resume();
      respond({ success: true });
    }),
    [METHOD.state]: noFds((_arg, respond) => {
      const status = !root.started()
        ? "created"
        : k.paused
        ? "paused"
        : (k.init?.exitStatus ?? null) !== null
        ? "stopped"
        : "running";
      respond({ success: true, result: { status } });
    }),
    [METHOD.event]: noFds((_arg, respond) => {
      let cpuNs = 0;
      let memoryBytes = 0;
      for (const p of live()) {
        try {
          const stat = Deno.readTextFileSync(`/proc/${p.hostTgid}/stat`);
          const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          // utime + stime in ticks (USER_HZ is 100 on Linux) and RSS in pages.
          cpuNs += (Number(f[11]) + Number(f[12])) * 10_000_000;
          memoryBytes += Number(f[21]) * 4096;
        } catch {
          // it exited meanwhile
        }
      }
      respond({ success: true, result: { cpuNs, memoryBytes, pids: live().length } });
    }),
  };
  return {
    handlers,
    finish(status) {
      for (const w of waiters.splice(0)) w({ success: true, result: { status } });
      // Processes exec started end with the sandbox (killed, as the pid namespace's are).
      for (const [, ws] of execWaiters) {
        for (const w of ws) w({ success: true, result: { status: 9 } });
      }
      execWaiters.clear();
    },
  };
}
