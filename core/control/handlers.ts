/**
 * What a sandbox answers on its control socket: starting the root
 * container, creating, starting and destroying other containers in it,
 * signals, waiting, the process list, the runtime state and statistics,
 * each for the container the request names. The Sentry's side of `dvisor start`, `kill`, `wait`, `ps`,
 * `state` and `events`.
 *
 * @module
 */
import { usageOf } from "../kernel/usage.ts";
import { MAX_PRESERVED_FDS } from "../boot/boot_config.ts";
import { forwardTerminalSignal } from "../syscalls/tty.ts";
import { closeQuietly } from "../../platform/fd.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process } from "../kernel/task.ts";
import { parseProcess } from "../boot/oci_spec.ts";
import type { Container, SandboxContainers, SubcontainerConfig } from "../boot/containers.ts";
import { decodeConfig } from "../boot/boot_config.ts";
import { watchExit } from "./exit_watch.ts";
import { METHOD } from "./protocol.ts";
import type { ControlHandler, Respond } from "./server.ts";

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
 * The handlers, with a function to answer waiters when the sandbox ends.
 *
 * @param k The kernel.
 * @param containers The sandbox's containers.
 * @returns The handlers by method, and `finish(status)` for the end.
 */
export function sandboxHandlers(
  k: Kernel,
  containers: SandboxContainers,
): { handlers: Record<string, ControlHandler>; finish: (status: number) => void } {
  const root = containers.get()!;
  const waiters: Respond[] = [];
  // Processes `dvisor exec` started: their statuses once they end, and who waits for them.
  const execExits = new Map<number, number>();
  const execWaiters = new Map<number, ((status: number) => void)[]>();
  // ... and the container each was started in (kept for waiters after it ended).
  const execPids = new Map<number, string>();
  const execContainers = new Map<number, string>();
  k.onOrphanExit = (p) => {
    if (p.container && k.isInit(p)) {
      // A container's init: the rest of the container goes with it; Wait
      // answers once all of it is gone.
      k.processes.delete(p.pid);
      containers.initExited(p);
      return;
    }
    if (!execPids.has(p.pid)) {
      // The rest of a pod container whose init ended: nobody is left to reap it.
      if (p.container) k.processes.delete(p.pid);
      return;
    }
    execContainers.set(p.pid, execPids.get(p.pid)!);
    execPids.delete(p.pid);
    k.processes.delete(p.pid);
    const status = p.exitStatus ?? 0;
    execExits.set(p.pid, status);
    for (const w of execWaiters.get(p.pid) ?? []) w(status);
    execWaiters.delete(p.pid);
  };
  /** Whether pid is (or was, and its status is kept) a process exec started in c. */
  const execOf = (c: Container, pid: number): boolean =>
    // Only the container's own: another one's processes are not its to wait for.
    (execPids.get(pid) ?? execContainers.get(pid)) === c.id &&
    (execPids.has(pid) || execExits.has(pid));
  /**
   * Calls `fn` with the status of a process exec started once it has ended
   * (at once if it has).
   *
   * Precondition: execOf(c, pid).
   */
  const whenExecEnds = (pid: number, fn: (status: number) => void) => {
    const done = execExits.get(pid);
    if (done === undefined) {
      execWaiters.set(pid, [...(execWaiters.get(pid) ?? []), fn]);
      return;
    }
    execExits.delete(pid);
    execContainers.delete(pid);
    fn(done);
  };
  /**
   * Delivers a signal from the host to a process of a container (with
   * `foreground`, to the foreground group of its terminal: what the
   * terminal raised, runsc's DeliverToForegroundProcessGroup).
   */
  const deliver = (c: Container, p: Process, signo: number, foreground: boolean) => {
    if (foreground && p.ctty) forwardTerminalSignal(k, p.ctty, signo);
    else if (!c.started() && p === c.init() && signo === 9) k.killProcess(p, 9);
    else k.signalFromHost(p, signo);
  };
  /** Refuses a request that came with descriptors (they are closed). */
  const refusing = (fds: number[], respond: Respond) => (err: string) => {
    fds.forEach(closeQuietly);
    respond({ success: false, err });
  };
  const argOf = (arg: unknown) =>
    (typeof arg === "object" && arg !== null ? arg : {}) as Record<string, unknown>;
  /** The container a request names (`cid`; none: the root). */
  const containerOf = (arg: Record<string, unknown>) =>
    containers.get(typeof arg.cid === "string" ? arg.cid : "");
  /** A handler for one container (`cid`, none: the root), without descriptors. */
  const inContainer =
    (h: (c: Container, arg: Record<string, unknown>, respond: Respond) => void): ControlHandler =>
    (raw, fds, respond) => {
      fds.forEach(closeQuietly);
      const arg = argOf(raw);
      const c = containerOf(arg);
      if (!c) {
        respond({ success: false, err: `No container ${arg.cid} in this sandbox` });
        return;
      }
      h(c, arg, respond);
    };
  const running = (c: Container) => {
    const init = c.init();
    return c.started() && init !== null && init.exitStatus === null;
  };
  const handlers: Record<string, ControlHandler> = {
    [METHOD.startRoot]: inContainer((_c, _arg, respond) => {
      if (root.started()) {
        respond({ success: false, err: "The container was started already" });
        return;
      }
      root.start();
      respond({ success: true });
    }),
    [METHOD.startSubcontainer]: inContainer((c, _arg, respond) => {
      if (c === root || c.started()) {
        respond({ success: false, err: "The container was started already" });
        return;
      }
      c.start();
      respond({ success: true });
    }),
    [METHOD.createSubcontainer]: (raw, fds, respond) => {
      const arg = argOf(raw);
      try {
        if (typeof arg.cid !== "string" || typeof arg.config !== "string") {
          throw new Error("CreateSubcontainer needs cid and config");
        }
        containers.create(arg.cid, decodeConfig<SubcontainerConfig>(arg.config), fds);
      } catch (e) {
        respond({ success: false, err: e instanceof Error ? e.message : String(e) });
        return;
      }
      respond({ success: true });
    },
    [METHOD.destroySubcontainer]: inContainer((c, _arg, respond) => {
      if (c === root) {
        respond({ success: false, err: "The root container ends with its sandbox" });
        return;
      }
      containers.destroy(c.id, () => respond({ success: true }));
    }),
    [METHOD.signal]: inContainer((c, arg, respond) => {
      const signo = Number(arg.signo);
      if (!Number.isInteger(signo) || signo < 0 || signo > 64) {
        respond({ success: false, err: `Invalid signal ${arg.signo}` });
        return;
      }
      const init = c.init();
      const targets = arg.mode === "all"
        ? k.liveProcesses(c.id)
        : [arg.pid !== undefined ? k.processes.get(Number(arg.pid)) : init].filter(
          (p): p is Process => !!p && p.exitStatus === null && p.container === c.id,
        );
      if (targets.length === 0) {
        respond({ success: false, err: "The process is not running" });
        return;
      }
      for (const p of targets) if (signo !== 0) deliver(c, p, signo, arg.mode === "foreground");
      respond({ success: true });
    }),
    [METHOD.wait]: inContainer((c, _arg, respond) => {
      if (c === root) {
        const ended = k.init?.exitStatus;
        if (ended !== undefined && ended !== null && k.tasks.size === 0) {
          respond({ success: true, result: { status: ended } });
        } else waiters.push(respond);
        return;
      }
      const init = c.init();
      containers.whenGone(c.id, () => {
        respond({ success: true, result: { status: init?.exitStatus ?? 9 } });
      });
    }),
    [METHOD.executeAsync]: (raw, fds, respond) => {
      const arg = argOf(raw);
      const c = containerOf(arg);
      const refuse = refusing(fds, respond);
      if (fds.length < 3 || fds.length > 3 + MAX_PRESERVED_FDS) {
        refuse(`ExecuteAsync needs stdin, stdout, stderr and at most ${MAX_PRESERVED_FDS} more`);
        return;
      }
      if (!c || c.init()?.exitStatus !== null) {
        refuse("The container is not running");
        return;
      }
      let pid: number;
      try {
        pid = c.exec(parseProcess(arg), fds);
      } catch (e) {
        respond({ success: false, err: e instanceof Error ? e.message : String(e) });
        return;
      }
      execPids.set(pid, c.id);
      respond({ success: true, result: { pid } });
    },
    [METHOD.waitPid]: inContainer((c, arg, respond) => {
      const pid = Number(arg.pid);
      if (!execOf(c, pid)) {
        respond({ success: false, err: `No process ${arg.pid} started by exec` });
        return;
      }
      whenExecEnds(pid, (status) => respond({ success: true, result: { status } }));
    }),
    [METHOD.watch]: (raw, fds, respond) => {
      const arg = argOf(raw);
      const c = containerOf(arg);
      const refuse = refusing(fds, respond);
      if (fds.length !== 1) return refuse("Watch needs one descriptor");
      if (!c) return refuse(`No container ${arg.cid} in this sandbox`);
      const foreground = arg.foreground === true;
      if (arg.pid === undefined) {
        const init = c.init();
        if (!init) return refuse("The container has no process yet");
        const ended = watchExit(k, fds[0]!, {
          signal: (signo) => {
            if (init.exitStatus === null) deliver(c, init, signo, foreground);
          },
        });
        containers.whenGone(c.id, () => ended(init.exitStatus ?? 9));
        return respond({ success: true });
      }
      const pid = Number(arg.pid);
      if (!execOf(c, pid)) return refuse(`No process ${arg.pid} started by exec`);
      // (Gone from the table once it has ended: then its status goes at once.)
      const p = k.processes.get(pid);
      const ended = watchExit(k, fds[0]!, {
        signal: (signo) => {
          if (p && p.exitStatus === null) deliver(c, p, signo, foreground);
        },
      });
      whenExecEnds(pid, ended);
      respond({ success: true });
    },
    [METHOD.processes]: inContainer((c, _arg, respond) => {
      const out: ProcessInfo[] = k.liveProcesses(c.id).map((p) => ({
        pid: p.pid,
        ppid: p.parent?.pid ?? 0,
        hostPid: p.hostTgid,
        uid: p.creds.uid,
        comm: p.comm,
        threads: p.threads.size,
      }));
      respond({ success: true, result: out.sort((a, b) => a.pid - b.pid) });
    }),
    [METHOD.pause]: inContainer((_c, _arg, respond) => {
      if (!root.started()) {
        respond({ success: false, err: "The container is not running" });
        return;
      }
      k.pause();
      respond({ success: true });
    }),
    [METHOD.resume]: inContainer((_c, _arg, respond) => {
      if (!k.paused) {
        respond({ success: false, err: "The container is not paused" });
        return;
      }
      k.resume();
      respond({ success: true });
    }),
    [METHOD.state]: inContainer((c, _arg, respond) => {
      const status = !c.started()
        ? "created"
        : k.paused
        ? "paused"
        : running(c)
        ? "running"
        : "stopped";
      respond({ success: true, result: { status } });
    }),
    [METHOD.event]: inContainer((c, _arg, respond) => {
      const live = k.liveProcesses(c.id);
      const u = usageOf(live);
      respond({
        success: true,
        result: { cpuNs: u.userNs + u.systemNs, memoryBytes: u.rssBytes, pids: live.length },
      });
    }),
  };
  return {
    handlers,
    finish(status) {
      for (const w of waiters.splice(0)) w({ success: true, result: { status } });
      // Processes exec started end with the sandbox (killed, as the pid namespace's are).
      for (const [, ws] of execWaiters) for (const w of ws) w(9);
      execWaiters.clear();
    },
  };
}
