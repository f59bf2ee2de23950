/**
 * The Sentry's kernel: one event loop that serves every task of a sandbox.
 *
 * It waits on the platform (Machine) for system calls, clones, signals and
 * exits, runs system call handlers, parks tasks whose calls must wait,
 * delivers signals by building Linux signal frames, and keeps the process
 * tree (zombies, reparenting, wait). It runs on the tracer thread; nothing
 * in it may block except the one wait for the next event.
 *
 * Tasks have two ids: `tid`, the id the application sees (its pid in the
 * sandbox's pid namespace), and `hostTid`, the same thread's pid in the
 * Sentry's namespace, which the platform uses.
 *
 * @module
 */
import { addUsage, hostRusage, noUsage, type Rusage } from "./rusage.ts";
import type { IdMappings } from "../vfs/id_map.ts";
import { seccompDecision, type SeccompProfile } from "../boot/oci_seccomp.ts";
import { type Inode, S_IFCHR } from "../vfs/inode.ts";
import { joinDev } from "../vfs/devices.ts";
import { releaseTerminal } from "../syscalls/tty.ts";
import { TtyState } from "../vfs/host_tty.ts";
import type { Terminal } from "../vfs/pty.ts";
import type { HostPoller } from "../vfs/host_file.ts";
import type { EventLoop } from "../../platform/event_loop.ts";
import type { Machine, MachineEvent } from "../../platform/machine.ts";
import type { Registers } from "../../platform/ptrace.ts";
import { syscallName } from "../../platform/sysno.ts";
import { syscall } from "../../platform/syscall.ts";
import { SYS } from "../../platform/sysno.ts";
import { IpcNamespace } from "../ipc/namespace.ts";
import { NetNamespace } from "../net/namespace.ts";
import {
  callHooks,
  errnoOf,
  FileServerLost,
  LinuxError,
  WaitQueue,
  WouldBlock,
} from "../errors.ts";
import { hostMappings, TaskMemory } from "../mm/memory.ts";
import type { MountNamespace } from "../vfs/mount.ts";
import {
  CLD,
  defaultAction,
  encodeSiginfo,
  type PendingSignal,
  SA,
  SI,
  SIG,
  SIG_DFL,
  SIG_IGN,
  sigbit,
  UNBLOCKABLE,
} from "./signals.ts";
import { type Process, Task } from "./task.ts";

/** The most of a vfork parent's stack copied back from its child. */
const VFORK_STACK_MAX = 1n << 20n;

/** A handler result: let the host run the call as made. */
export const PASSTHROUGH: unique symbol = Symbol("passthrough");
/** A handler result: the handler resumed (or ended) the task itself. */
export const NO_RETURN: unique symbol = Symbol("no return");

/** What a system call handler gets. */
export interface SyscallContext {
  /** The kernel. */
  k: Kernel;
  /** The calling task. */
  t: Task;
  /** Its process. */
  p: Process;
  /** Its memory. */
  mem: TaskMemory;
  /** The six raw arguments. */
  args: bigint[];
  /** The system call number. */
  nr: number;
}

/** What a handler returns. */
export type SyscallResult = bigint | number | typeof PASSTHROUGH | typeof NO_RETURN;

/** A system call handler. */
export type Handler = (c: SyscallContext) => SyscallResult;

/** How well a system call is supported. */
export type Support = "full" | "partial" | "error";

/** One row of the system call table. */
export interface SyscallEntry {
  /** Its name. */
  name: string;
  /** How well it is supported. */
  support: Support;
  /** What is and is not done. */
  note: string;
  /** The handler (none: it fails with `errno`). */
  handler?: Handler;
  /** For "error" entries: the errno returned. */
  errno?: string;
}

/** Where the kernel logs (debug log), and how it reports its own bugs. */
export interface KernelLog {
  /** A debug line. */
  debug(msg: string): void;
  /** A warning line. */
  warn(msg: string): void;
  /** With --strace: one line per system call the Sentry serves. */
  strace?: (msg: string) => void;
}

/** The system call numbers whose calls restart after a handler with SA_RESTART. */
const RESTARTABLE = new Set<number>([
  SYS.mq_timedsend,
  SYS.mq_timedreceive,
  SYS.read,
  SYS.write,
  SYS.readv,
  SYS.writev,
  SYS.pread64,
  SYS.pwrite64,
  SYS.wait4,
  SYS.waitid,
  SYS.ioctl,
  SYS.open,
  SYS.openat,
  SYS.flock,
  SYS.fcntl,
  SYS.accept,
  SYS.accept4,
  SYS.connect,
  SYS.recvfrom,
  SYS.recvmsg,
  SYS.sendto,
  SYS.sendmsg,
  SYS.futex,
]);

const ERESTART_MIN = -516n;
const ERESTART_MAX = -512n;

/** The kernel of one sandbox. */
export class Kernel {
  /** The platform. */
  readonly machine: Machine;
  /** Timers and host descriptors (the machine's doorbell watches it). */
  readonly loop: EventLoop;
  /** The mount namespace. */
  readonly ns: MountNamespace;
  /** Debug log. */
  readonly log: KernelLog;
  /** The system call table. */
  readonly table: readonly (SyscallEntry | undefined)[];
  /** Hostname and domain name (UTS namespace). */
  readonly uts = { hostname: "dvisor", domainname: "(none)" };
  /** Namespaced sysctls the container set (linux.sysctl, then writes to /proc/sys), by dotted key. */
  readonly sysctl = new Map<string, string>();
  /** The root container's seccomp profile (linux.seccomp): its processes start with it. */
  seccomp: SeccompProfile | null = null;
  /** Each container's init by container id (the root container's is "", also `init`). */
  readonly inits = new Map<string, Process>();
  /** Notified whenever a process exits. */
  readonly processExits = new WaitQueue();
  /** Each container's user namespace mappings, by container id (absent: the host's ids). */
  readonly idMappings = new Map<string, IdMappings>();
  /** Tasks by application tid. */
  readonly tasks = new Map<number, Task>();
  /** Processes by application pid (zombies included until reaped). */
  readonly processes = new Map<number, Process>();
  /** Called when a process with no parent in the sandbox exits (its status is set). */
  onOrphanExit: ((p: Process) => void) | null = null;
  /**
   * Files mapped from host descriptors, by host inode number: how
   * /proc/PID/maps names them (the Sentry's device, inode and path).
   */
  readonly mappedFiles = new Map<bigint, { dev: bigint; ino: bigint; path: string }>();
  /**
   * The sandbox's network: "none", its own loopback only (the Sentry's
   * sockets), or "host", TCP and UDP sockets that are host sockets.
   */
  network: "none" | "host" = "none";
  /** The SysV IPC objects the sandbox's processes share. */
  readonly ipc = new IpcNamespace();
  /** The sandbox's own network (its sockets, loopback and net.* settings). */
  readonly net = new NetNamespace();
  /** When the sandbox booted (performance.now()). */
  readonly bootMs = performance.now();
  /** The root container's init, once loaded (its entry in `inits`). */
  get init(): Process | null {
    return this.inits.get("") ?? null;
  }
  /** Called when another thread woke the loop (a control request). */
  onWake: (() => void) | null = null;
  /** The task whose system call is being served (procfs's "self"). */
  current: Task | null = null;
  /** The XSAVE area of a fresh process, put back at every execve. */
  cleanXState: Uint8Array | null = null;
  readonly #byHost = new Map<number, Task>();
  readonly #hostOf = new Map<number, number>();
  #paused = false;
  readonly #parked = new Set<Task>();
  readonly #runQueue: (() => void)[] = [];
  readonly #timers = new Map<number, () => void>();
  /**
   * Host descriptors in the event loop: the events asked for, the loop's
   * token, whether the one-shot registration is armed, a queue per event set.
   */
  readonly #hostWaits = new Map<
    number,
    { events: number; token: number; armed: boolean; queues: Map<number, WaitQueue> }
  >();
  readonly #hostTokens = new Map<number, number>();
  #nextToken = 1;
  readonly #loggedMissing = new Set<number>();

  /** The container's memory limit (linux.resources.memory.limit), which /proc/meminfo shows. */
  memoryLimit: bigint | null = null;
  /** Processes forked since boot (/proc/stat's `processes`). */
  forks = 0;
  /** What the processes that have exited used (/proc/stat's CPU times). */
  readonly exitedUsage: Rusage = noUsage();

  /**
   * Makes a kernel.
   *
   * @param init The platform, event loop, mount namespace, system call table and log.
   */
  constructor(init: {
    machine: Machine;
    loop: EventLoop;
    ns: MountNamespace;
    table: readonly (SyscallEntry | undefined)[];
    log: KernelLog;
  }) {
    this.machine = init.machine;
    this.loop = init.loop;
    this.ns = init.ns;
    this.table = init.table;
    this.log = init.log;
    // A deadline a blocking call computes at its first try, kept in the task until it returns.
    callHooks.keep = (make) => {
      const t = this.current;
      if (!t) return make();
      let s = t.syscallState as { kept: number | null } | null;
      if (!s || !("kept" in s)) t.syscallState = s = { kept: make() };
      return s.kept;
    };
    // A queue made now is paid for by the calling process's user, within its RLIMIT_MSGQUEUE.
    this.ipc.mqueue.payer = () => {
      const p = this.current?.process;
      return p
        ? { uid: p.creds.uid, limit: p.rlimits[12]!.cur }
        : { uid: 0, limit: 0xffffffffffffffffn };
    };
  }

  /** Milliseconds since boot. */
  get uptimeMs(): number {
    return performance.now() - this.bootMs;
  }

  // ---- tasks and their host ids ------------------------------------------------

  /**
   * A process's own usage (RUSAGE_SELF): its stub's now, or what it had
   * when it exited.
   *
   * @param p The process.
   * @returns The usage.
   */
  selfUsage(p: Process): Rusage {
    return p.exitUsage ?? this.#stubUsage(p);
  }

  /** What a process's stub has used so far, from the host. */
  #stubUsage(p: Process): Rusage {
    const hosts: number[] = [];
    for (const t of p.threads.values()) {
      const h = this.#hostOf.get(t.tid);
      if (h !== undefined) hosts.push(h);
    }
    return hostRusage(p.hostTgid, hosts);
  }

  /**
   * How many tasks (threads count) a user has in the sandbox, as Linux
   * counts them for RLIMIT_NPROC.
   *
   * @param uid The real uid.
   * @returns The count.
   */
  tasksOfUser(uid: number): number {
    let n = 0;
    for (const p of this.processes.values()) {
      if (p.exitStatus === null && p.creds.uid === uid) n += p.threads.size;
    }
    return n;
  }

  /**
   * Registers a task with its host id.
   *
   * @param t The task.
   * @param hostTid Its pid in the Sentry's namespace.
   */
  addTask(t: Task, hostTid: number): void {
    this.tasks.set(t.tid, t);
    this.#byHost.set(hostTid, t);
    this.#hostOf.set(t.tid, hostTid);
    t.process.threads.set(t.tid, t);
  }

  /** Ends one thread on the host, its process going on; no exit is reported for it. */
  #endThread(t: Task): void {
    t.blocked?.cancel();
    t.blocked = null;
    t.state = "exiting";
    const host = this.#hostOf.get(t.tid);
    this.#hostOf.delete(t.tid);
    this.tasks.delete(t.tid);
    t.process.threads.delete(t.tid);
    if (host === undefined) return;
    this.#byHost.delete(host);
    this.machine.exitThread(host);
  }

  /**
   * Leaves `t` the only thread of its process, as execve does (de_thread):
   * the other threads end on the host with no exit reported for them, and
   * `t` takes the process id when it was not the leader.
   *
   * Preconditions: `t` is stopped at a system call the Sentry serves.
   *
   * @param t The thread that stays.
   */
  keepOnlyThread(t: Task): void {
    const p = t.process;
    for (const other of [...p.threads.values()]) {
      if (other !== t) this.#endThread(other);
    }
    if (t.tid === p.pid) return;
    const host = this.hostTid(t);
    this.tasks.delete(t.tid);
    p.threads.delete(t.tid);
    this.#hostOf.delete(t.tid);
    t.tid = p.pid;
    this.addTask(t, host);
  }

  /**
   * Forgets a process that never ran (its program could not be loaded):
   * its tasks, its registration, and its stub on the host.
   *
   * @param p The process.
   */
  forgetProcess(p: Process): void {
    for (const t of p.threads.values()) {
      const host = this.#hostOf.get(t.tid);
      this.#hostOf.delete(t.tid);
      this.tasks.delete(t.tid);
      if (host !== undefined) this.#byHost.delete(host);
    }
    p.threads.clear();
    p.exitStatus = 9;
    this.ipc.exited(p, p.pid);
    // Its descriptors (the stdio exec passed) close now: readers see end of file.
    p.fds.release();
    this.processes.delete(p.pid);
    if (p.hostTgid) this.#killHost(p.hostTgid);
  }

  /**
   * The host pid of a task.
   *
   * @param t The task.
   * @returns Its pid in the Sentry's namespace.
   */
  hostTid(t: Task): number {
    const h = this.#hostOf.get(t.tid);
    if (h === undefined) throw new Error(`Task ${t.tid} has no host thread`);
    return h;
  }

  /**
   * The memory of a task's process.
   *
   * @param t The task.
   * @returns An accessor.
   */
  memory(t: Task): TaskMemory {
    return new TaskMemory(this.machine.memory, this.hostTid(t));
  }

  /**
   * The application tid of a host thread, from its /proc status (NSpid).
   *
   * @param hostTid The host pid.
   * @returns The innermost pid.
   */
  innerTid(hostTid: number): number {
    const status = Deno.readTextFileSync(`/proc/${hostTid}/status`);
    const m = /^NSpid:\s+(.*)$/m.exec(status);
    const ids = m?.[1]?.trim().split(/\s+/).map(Number) ?? [hostTid];
    return ids[ids.length - 1]!;
  }

  // ---- the loop ---------------------------------------------------------------

  /**
   * Runs `fn` on the loop soon (after the current event), never inline.
   *
   * @param fn What to run.
   */
  schedule(fn: () => void): void {
    this.#runQueue.push(fn);
  }

  /**
   * Calls `fn` after `ms` milliseconds.
   *
   * @param ms The delay.
   * @param fn What to run.
   * @returns A function that cancels it.
   */
  setTimer(ms: number, fn: () => void): () => void {
    const token = this.#nextToken++;
    const timer = this.loop.addTimer(Math.max(ms, 0.001), token);
    this.#timers.set(token, fn);
    return () => {
      this.#timers.delete(token);
      timer.cancel();
    };
  }

  /**
   * A queue notified once when a host descriptor is ready (the host poller
   * for stdio files).
   *
   * @param fd The host descriptor.
   * @param events POLL.IN (1) or POLL.OUT (4).
   * @returns The queue.
   */
  hostQueue(fd: number, events: number): WaitQueue {
    const ONESHOT = 0x40000000;
    const w = this.#hostWaits.get(fd);
    if (w) {
      // One registration per descriptor, kept while it is open: re-armed,
      // or widened to what is waited for now.
      let q = w.queues.get(events);
      if (!q) w.queues.set(events, q = new WaitQueue());
      const want = w.armed ? w.events | events : events;
      if (!w.armed || want !== w.events) {
        w.events = want;
        w.armed = true;
        try {
          this.loop.modify(fd, want | ONESHOT);
        } catch {
          // Closed and reused without forgetHostFd: a new registration.
          try {
            this.loop.unwatch(fd);
          } catch { /* not watched */ }
          this.loop.watch(fd, want | ONESHOT, w.token);
        }
      }
      return q;
    }
    const q = new WaitQueue();
    const token = this.#nextToken++;
    this.#hostWaits.set(fd, { events, token, armed: true, queues: new Map([[events, q]]) });
    this.#hostTokens.set(token, fd);
    // One shot: re-armed by the next hostQueue() call after it fired.
    this.loop.watch(fd, events | ONESHOT, token);
    return q;
  }

  /** Waits for host descriptors through the event loop (what host files and sockets are given). */
  readonly hostPoller: HostPoller = {
    queue: (fd, events) => this.hostQueue(fd, events),
    forget: (fd) => this.forgetHostFd(fd),
  };

  /**
   * Forgets a host descriptor about to be closed: its registration goes
   * (a later descriptor may get its number) and its waiters try again.
   *
   * @param fd The host descriptor.
   */
  forgetHostFd(fd: number): void {
    const w = this.#hostWaits.get(fd);
    if (!w) return;
    this.#hostWaits.delete(fd);
    this.#hostTokens.delete(w.token);
    try {
      this.loop.unwatch(fd);
    } catch { /* not watched */ }
    for (const q of w.queues.values()) this.schedule(() => q.notify());
  }

  /**
   * Serves the sandbox until its init and every other process are gone.
   *
   * @returns The init's wait status.
   */
  run(): number {
    for (;;) {
      this.#drain();
      if (this.init && this.init.exitStatus !== null && this.tasks.size === 0) {
        return this.init.exitStatus;
      }
      const e = this.machine.wait();
      try {
        this.#dispatch(e);
      } catch (err) {
        // Without its files the sandbox cannot go on: stop it (the caller disposes the machine).
        if (err instanceof FileServerLost) throw err;
        this.log.warn(
          `Sentry error handling ${e.kind}: ${err instanceof Error ? err.stack : String(err)}`,
        );
        if ("tid" in e) this.#killHost(e.tid);
      }
    }
  }

  #drain(): void {
    while (this.#runQueue.length) {
      const fn = this.#runQueue.shift()!;
      try {
        fn();
      } catch (err) {
        if (err instanceof FileServerLost) throw err;
        this.log.warn(
          `Sentry error in deferred work: ${err instanceof Error ? err.stack : String(err)}`,
        );
      }
    }
  }

  /** Something in the event loop's set is ready: timers, host descriptors, wake-ups. */
  #ringing(): void {
    const r = this.loop.waitSync(0);
    // One failing callback must not lose the other events of the batch.
    const guarded = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (err instanceof FileServerLost) throw err;
        this.log.warn(`Sentry error in an event: ${err instanceof Error ? err.stack : err}`);
      }
    };
    if (r.woken && this.onWake) guarded(this.onWake);
    for (const ev of r.events) {
      const timer = this.#timers.get(ev.token);
      if (timer) {
        this.#timers.delete(ev.token);
        guarded(timer);
        continue;
      }
      const fd = this.#hostTokens.get(ev.token);
      const w = fd === undefined ? undefined : this.#hostWaits.get(fd);
      if (w) {
        // Fired (one shot): disarmed, the registration kept for the next wait.
        w.armed = false;
        const queues = [...w.queues.values()];
        w.queues.clear();
        for (const q of queues) guarded(() => q.notify());
      }
    }
  }

  #dispatch(e: MachineEvent): void {
    if (this.log.strace && e.kind !== "syscall") {
      this.log.strace(
        `event ${
          JSON.stringify(
            e,
            (
              _k,
              v,
            ) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? undefined : v),
          )
        }`,
      );
    }
    if (e.kind === "doorbell") {
      try {
        this.#ringing();
      } finally {
        // Whatever a handler did, the doorbell must wait again.
        this.machine.ringDone();
      }
      return;
    }
    const t = this.#byHost.get(e.tid);
    if (e.kind === "gone") {
      if (t) this.#taskGone(t, e.code, e.signal);
      return;
    }
    if (!t) {
      if (e.kind === "clone") {
        this.machine.resume(e.tid);
        return;
      }
      // A thread the kernel has not adopted yet (a new child before its parent's event).
      if (e.kind === "exiting") this.machine.release(e.tid);
      return;
    }
    switch (e.kind) {
      case "syscall":
        t.state = "syscall";
        if (t.process.seccomp && !this.#seccompAllows(t, e.nr, e.args)) return;
        this.runSyscall(t, e.nr, e.args);
        return;
      case "clone":
        this.#onClone(t, e.child, e.how);
        return;
      case "signal":
        this.#onHostSignal(t, e.signal, e.info);
        return;
      case "exiting":
        this.#onExiting(t, e.status);
        return;
    }
  }

  // ---- system calls -------------------------------------------------------------

  /**
   * Applies the container's seccomp profile to a call as it enters (not on
   * restarts). Refused calls are finished here: an errno, SIGSYS
   * (SECCOMP_RET_TRAP: the call returns ENOSYS and the thread gets SIGSYS
   * with si_code SYS_SECCOMP), or the process killed by SIGSYS.
   *
   * @returns Whether the call goes on to its handler.
   */
  #seccompAllows(t: Task, nr: number, args: bigint[]): boolean {
    const d = seccompDecision(t.process.seccomp!, nr, args);
    switch (d.kind) {
      case "allow":
        return true;
      case "log":
        this.log.debug(`seccomp: ${syscallName(nr)} (${nr}) logged and allowed`);
        return true;
      case "errno":
      case "trace":
        this.log.strace?.(`[${t.tid}] ${syscallName(nr)} refused by seccomp: -${d.errno}`);
        this.finishSyscall(t, -BigInt(d.errno));
        return false;
      case "trap":
        this.finishSyscall(t, -38n);
        this.signalThread(t, { sig: SIG.SYS, code: 1, pid: 0, uid: 0 });
        return false;
      case "kill_thread":
        // Only the thread, while others live (the last one's death is its process's).
        if ([...t.process.threads.values()].some((o) => o !== t && o.state !== "exiting")) {
          this.log.strace?.(`[${t.tid}] ${syscallName(nr)} killed the thread (seccomp)`);
          this.#endThread(t);
          return false;
        }
        this.killProcess(t.process, SIG.SYS);
        return false;
      case "kill_process":
        this.killProcess(t.process, SIG.SYS);
        return false;
    }
  }

  /**
   * Runs a system call handler for a task stopped at that call.
   *
   * @param t The task.
   * @param nr The number.
   * @param args The arguments.
   */
  runSyscall(t: Task, nr: number, args: bigint[]): void {
    const entry = this.table[nr];
    if (!entry || !entry.handler) {
      if (!this.#loggedMissing.has(nr)) {
        this.#loggedMissing.add(nr);
        this.log.debug(
          `unsupported system call ${syscallName(nr)} (${nr}): ${entry?.errno ?? "ENOSYS"}`,
        );
      }
      this.finishSyscall(t, -BigInt(new LinuxError(entry?.errno ?? "ENOSYS").errno));
      return;
    }
    let r: SyscallResult;
    this.current = t;
    try {
      r = entry.handler({ k: this, t, p: t.process, mem: this.memory(t), args, nr });
    } catch (e) {
      if (e instanceof FileServerLost) throw e;
      if (e instanceof WouldBlock) {
        this.log.strace?.(`[${t.tid}] ${entry.name}(...) blocks`);
        this.#block(t, nr, args, e);
        return;
      }
      const errno = errnoOf(e);
      this.log.strace?.(
        `[${t.tid}] ${entry.name}(${
          args.slice(0, 4).map((a) => "0x" + a.toString(16)).join(", ")
        }) = -${errno ?? "bug"}`,
      );
      if (errno === null) {
        this.log.warn(`bug in ${entry.name}: ${e instanceof Error ? e.stack : String(e)}`);
        this.finishSyscall(t, -5n); // EIO
        return;
      }
      this.finishSyscall(t, -BigInt(errno));
      return;
    }
    this.log.strace?.(
      `[${t.tid}] ${entry.name}(${
        args.slice(0, 4).map((a) => "0x" + a.toString(16)).join(", ")
      }) = ${typeof r === "symbol" ? r.description : r}`,
    );
    if (r === NO_RETURN) return;
    if (r === PASSTHROUGH) {
      t.state = "running";
      this.machine.passthrough(this.hostTid(t));
      return;
    }
    this.finishSyscall(t, BigInt(r));
  }

  /**
   * Completes a task's system call with a value, delivers pending signals,
   * and lets it run.
   *
   * @param t The task, stopped at a call (or parked).
   * @param value The return value or `-errno`.
   */
  finishSyscall(t: Task, value: bigint): void {
    t.syscallState = null;
    t.onEintr = null;
    const host = this.hostTid(t);
    const regs = this.machine.getRegs(host);
    regs.set("orig_rax", -1n);
    regs.set("rax", value);
    this.resumeWithSignals(t, regs);
  }

  /**
   * Delivers what signals it can to a stopped task whose registers are in
   * `regs`, writes them back and resumes it (unless a signal ended it).
   *
   * @param t The task.
   * @param regs Its registers, already read (and changed) by the caller.
   */
  resumeWithSignals(t: Task, regs: Registers): void {
    const host = this.hostTid(t);
    if (this.#paused) {
      // Paused (`dvisor pause`): it stays stopped until resume.
      this.machine.setRegs(host);
      t.state = "paused";
      this.#parked.add(t);
      return;
    }
    const outcome = this.#deliverSignals(t, regs);
    if (outcome === "dead") return;
    this.machine.setRegs(host);
    if (outcome === "stopped") {
      t.state = "stopped";
      return;
    }
    t.state = "running";
    this.machine.resume(host);
  }

  #block(t: Task, nr: number, args: bigint[], wb: WouldBlock): void {
    t.state = "blocked";
    const unsubscribe: (() => void)[] = [];
    let done = false;
    const cancel = () => {
      done = true;
      unsubscribe.forEach((u) => u());
    };
    const retry = () => {
      if (done) return;
      cancel();
      t.blocked = null;
      t.state = "syscall";
      this.runSyscall(t, nr, args);
    };
    for (const q of wb.queues) unsubscribe.push(q.subscribe(() => this.schedule(retry)));
    if (wb.deadlineMs !== null) {
      unsubscribe.push(
        this.setTimer(wb.deadlineMs - performance.now(), () => this.schedule(retry)),
      );
    }
    t.blocked = { nr, retry, cancel };
    if (this.#hasDeliverable(t)) this.schedule(() => this.#interruptBlocked(t));
  }

  // ---- signals --------------------------------------------------------------------

  /**
   * Sends a signal to one thread.
   *
   * @param t The thread.
   * @param s The signal and its info.
   */
  signalThread(t: Task, s: PendingSignal): void {
    if (t.state === "exiting") return;
    if (this.#ignored(t.process, s.sig, [t])) return;
    if (s.sig === SIG.CONT) this.#continueProcess(t.process);
    t.signalArrived.notify();
    if (s.sig < 32 && t.pending.some((x) => x.sig === s.sig)) return;
    t.pending.push(s);
    this.#wake(t);
  }

  /**
   * Sends a signal to a process (kill).
   *
   * @param p The process.
   * @param s The signal and its info.
   */
  signalProcess(p: Process, s: PendingSignal): void {
    if (p.exitStatus !== null || p.threads.size === 0) return;
    if (s.sig === SIG.CONT) this.#continueProcess(p);
    if (s.sig === SIG.KILL) {
      this.killProcess(p, SIG.KILL);
      return;
    }
    if (this.#ignored(p, s.sig, p.threads.values())) return;
    for (const t of p.threads.values()) t.signalArrived.notify();
    if (s.sig < 32 && p.pending.some((x) => x.sig === s.sig)) return;
    p.pending.push(s);
    // Wake a thread that does not block it.
    const bit = sigbit(s.sig);
    const pick = [...p.threads.values()].find((t) =>
      (t.sigmask & bit) === 0n && t.state !== "exiting"
    );
    if (pick) this.#wake(pick);
  }

  /** Host terminals given to the sandbox, by device number. */
  readonly #terminals = new Map<bigint, TtyState>();
  /** Pseudo-terminals made in the sandbox (/dev/ptmx), by N of /dev/pts/N. */
  readonly ptys = new Map<number, Terminal>();

  /**
   * The lowest N of /dev/pts/N that no terminal has (host terminals and
   * the sandbox's ptys share the numbers, as they share /dev/pts).
   *
   * @returns The number.
   */
  freeTerminalIndex(): number {
    const used = new Set([...this.#terminals.values()].map((t) => t.index));
    for (const i of this.ptys.keys()) used.add(i);
    let n = 0;
    while (used.has(n)) n++;
    return n;
  }
  /** The root of the container's /dev/pts (a devpts mount), if it has one. */
  devpts: Inode | null = null;

  /**
   * The node a terminal shows as in /dev/pts (what fstat of it and
   * /proc/PID/fd report, so `tty` and ttyname work): /dev/pts/N, owned by
   * the process's uid and group tty, as runc's devpts shows a console.
   *
   * @param tty The terminal.
   * @param uid Its owner.
   * @returns The node, or null without a /dev/pts.
   */
  terminalNode(tty: TtyState, uid: number): Inode | null {
    const dir = this.devpts;
    if (!dir) return null;
    const name = String(tty.index);
    try {
      return dir.lookup(name);
    } catch {
      const creds = { fsuid: uid, fsgid: 5, groups: [], capable: () => true };
      return dir.mknod(name, S_IFCHR | 0o620, creds, joinDev(136, tty.index));
    }
  }

  /**
   * A terminal the sandbox was given, by its number in /dev/pts.
   *
   * @param index N of /dev/pts/N.
   * @returns Its state, or undefined.
   */
  terminalByIndex(index: number): TtyState | undefined {
    return [...this.#terminals.values()].find((t) => t.index === index);
  }

  /**
   * The Sentry's state of a host terminal (one per terminal, whichever
   * descriptors and processes have it).
   *
   * @param rdev The terminal's device number.
   * @returns Its state.
   */
  terminal(rdev: bigint): TtyState {
    let t = this.#terminals.get(rdev);
    if (!t) this.#terminals.set(rdev, t = new TtyState(this.freeTerminalIndex()));
    return t;
  }

  /**
   * Sends a signal from outside the sandbox (`dvisor kill`, a signal to
   * `dvisor run`). As for the init of a pid namespace signalled from an
   * ancestor one, the container's init only gets SIGKILL, SIGSTOP and
   * signals it has a handler for: `kill TERM` of a `sleep` run as pid 1 does
   * nothing, as under runc.
   *
   * @param p The process.
   * @param sig The signal (not 0).
   */
  signalFromHost(p: Process, sig: number): void {
    const initDrops = this.isInit(p) && sig !== SIG.KILL && sig !== SIG.STOP &&
      p.sigactions[sig]!.handler === SIG_DFL && !this.blockedByAll(p, sig);
    if (initDrops) return;
    this.signalProcess(p, { sig, code: SI.USER, pid: 0, uid: 0 });
  }

  /**
   * Whether a signal is dropped when sent: ignored by its action, and not
   * blocked by a thread it could go to (a blocked signal stays pending,
   * for sigwait or signalfd, or for a handler installed meanwhile; as Linux).
   */
  #ignored(p: Process, sig: number, threads: Iterable<Task>): boolean {
    const a = p.sigactions[sig]!;
    const ignore = a.handler === SIG_IGN
      ? sig !== SIG.KILL && sig !== SIG.STOP
      : a.handler === SIG_DFL && defaultAction(sig) === "ignore";
    if (!ignore) return false;
    for (const t of threads) if (t.sigmask & sigbit(sig)) return false;
    return true;
  }

  #hasDeliverable(t: Task): boolean {
    const mask = t.sigmask & ~UNBLOCKABLE;
    return t.pending.some((s) => (sigbit(s.sig) & mask) === 0n) ||
      t.process.pending.some((s) => (sigbit(s.sig) & mask) === 0n);
  }

  /** Makes a task notice its deliverable signals soon. */
  #wake(t: Task): void {
    if (!this.#hasDeliverable(t)) return;
    if (t.state === "blocked") {
      this.schedule(() => this.#interruptBlocked(t));
    } else if (t.state === "running" && !t.interruptRequested) {
      // Stop the host thread; its signal stop comes back as a "signal" event.
      t.interruptRequested = true;
      const host = this.hostTid(t);
      const tgid = t.process.hostTgid || host;
      syscall(SYS.tgkill, BigInt(tgid), BigInt(host), BigInt(SIG.STOP));
    } else if (t.state === "stopped" && (this.#anyPending(t, SIG.KILL))) {
      this.killProcess(t.process, SIG.KILL);
    }
  }

  #anyPending(t: Task, sig: number): boolean {
    return t.pending.some((s) => s.sig === sig) || t.process.pending.some((s) => s.sig === sig);
  }

  /** A signal reached a task parked in a system call: end or restart the call. */
  #interruptBlocked(t: Task): void {
    const b = t.blocked;
    if (!b || t.state !== "blocked" || !this.#hasDeliverable(t)) return;
    // The first signal that does something (a SIGCONT queued before a
    // stop, say, changes nothing for the call).
    const acts = (sig: number) => {
      const a = t.process.sigactions[sig]!;
      if (a.handler !== SIG_DFL && a.handler !== SIG_IGN) return true;
      const dfl = defaultAction(sig);
      return dfl !== "ignore" && dfl !== "continue";
    };
    const next = this.#deliverable(t).find((s) => acts(s.sig));
    if (!next) return;
    const act = t.process.sigactions[next.sig]!;
    const runsHandler = act.handler !== SIG_DFL && act.handler !== SIG_IGN;
    b.cancel();
    t.blocked = null;
    const host = this.hostTid(t);
    const regs = this.machine.getRegs(host);
    regs.set("orig_rax", -1n);
    const restart = runsHandler && (act.flags & SA.RESTART) !== 0 && RESTARTABLE.has(b.nr);
    if (restart || !runsHandler) {
      // Re-execute the call after the handler (or, for a stop, once continued).
      regs.set("rax", BigInt(b.nr));
      regs.set("rip", regs.get("rip") - 2n);
    } else {
      regs.set("rax", -4n); // EINTR
      t.onEintr?.();
    }
    t.onEintr = null;
    t.syscallState = null;
    this.resumeWithSignals(t, regs);
  }

  #peekDeliverable(t: Task): PendingSignal | undefined {
    const mask = t.sigmask & ~UNBLOCKABLE;
    return t.pending.find((s) => (sigbit(s.sig) & mask) === 0n) ??
      t.process.pending.find((s) => (sigbit(s.sig) & mask) === 0n);
  }

  /** Every signal the task would take now, thread-directed ones first (for interruption). */
  #deliverable(t: Task): PendingSignal[] {
    const mask = t.sigmask & ~UNBLOCKABLE;
    return [...t.pending, ...t.process.pending].filter((s) => (sigbit(s.sig) & mask) === 0n);
  }

  #takeDeliverable(t: Task): PendingSignal | undefined {
    const mask = t.sigmask & ~UNBLOCKABLE;
    for (const list of [t.pending, t.process.pending]) {
      const i = list.findIndex((s) => (sigbit(s.sig) & mask) === 0n);
      if (i >= 0) return list.splice(i, 1)[0];
    }
    return undefined;
  }

  /**
   * Acts on the task's deliverable signals: ignores, stops, kills, or sets
   * up one handler frame in `regs`.
   */
  #deliverSignals(t: Task, regs: Registers): "running" | "stopped" | "dead" {
    for (;;) {
      const s = this.#takeDeliverable(t);
      if (!s) break;
      const p = t.process;
      const act = p.sigactions[s.sig]!;
      if (act.handler === SIG_IGN) continue;
      if (act.handler === SIG_DFL) {
        // The container's init takes no default action for a sent signal
        // (one it blocked was kept pending, for sigwait or signalfd) but
        // SIGKILL's and SIGSTOP's; forced ones (faults, seccomp's SIGSYS) act.
        const sent = !s.forced && (s.code <= 0 || s.code === SI.KERNEL);
        if (this.isInit(p) && sent && s.sig !== SIG.KILL && s.sig !== SIG.STOP) continue;
        switch (defaultAction(s.sig)) {
          case "ignore":
          case "continue":
            continue;
          case "stop":
            this.#stopProcess(p, s.sig);
            return "stopped";
          case "term":
          case "core":
            // Linux dumps no core here (RLIMIT_CORE is 0): the status is the signal alone.
            this.killProcess(p, s.sig);
            return "dead";
        }
      }
      this.#setupFrame(t, regs, s, act);
      if (act.flags & SA.RESETHAND) {
        p.sigactions[s.sig] = { handler: SIG_DFL, flags: 0, restorer: 0n, mask: 0n };
      }
      return "running";
    }
    if (t.savedMask !== null) {
      t.sigmask = t.savedMask;
      t.savedMask = null;
    }
    return "running";
  }

  /**
   * Builds an rt_sigframe on the task's stack (or alternate stack) and
   * points the registers at the handler, as Linux's `setup_rt_frame`.
   */
  #setupFrame(
    t: Task,
    regs: Registers,
    s: PendingSignal,
    act: { handler: bigint; flags: number; restorer: bigint; mask: bigint },
  ): void {
    const host = this.hostTid(t);
    const mem = this.memory(t);
    const xstate = this.machine.getXState(host);
    let sp = regs.get("rsp");
    const onAlt = (act.flags & SA.ONSTACK) !== 0 && t.altstack.flags === 0 &&
      !(sp >= t.altstack.sp && sp < t.altstack.sp + t.altstack.size);
    if (onAlt) sp = t.altstack.sp + t.altstack.size;
    else sp -= 128n; // the red zone
    // FPU state, 64-byte aligned, then the frame below it.
    sp = (sp - BigInt(xstate.length)) & ~63n;
    const fpstate = sp;
    const FRAME = 8 + 304 + 128;
    sp = ((sp - BigInt(FRAME)) & ~15n) - 8n; // at entry (sp + 8) is 16-byte aligned
    const frame = new Uint8Array(FRAME);
    const v = new DataView(frame.buffer);
    v.setBigUint64(0, act.restorer, true); // pretcode
    const uc = 8;
    v.setBigUint64(uc + 16, t.altstack.sp, true);
    v.setInt32(uc + 24, t.altstack.flags | (onAlt ? 1 : 0), true);
    v.setBigUint64(uc + 32, t.altstack.size, true);
    const mc = uc + 40;
    const order = [
      "r8",
      "r9",
      "r10",
      "r11",
      "r12",
      "r13",
      "r14",
      "r15",
      "rdi",
      "rsi",
      "rbp",
      "rbx",
      "rdx",
      "rax",
      "rcx",
      "rsp",
      "rip",
      "eflags",
    ] as const;
    order.forEach((r, i) => v.setBigUint64(mc + 8 * i, regs.get(r), true));
    v.setUint16(mc + 144, Number(regs.get("cs")), true);
    v.setUint16(mc + 150, Number(regs.get("ss")), true);
    v.setBigUint64(mc + 160, s.sig === SIG.SEGV || s.sig === SIG.BUS ? 14n : 0n, true); // trapno
    v.setBigUint64(mc + 168, t.sigmask, true); // oldmask
    v.setBigUint64(mc + 176, s.addr ?? 0n, true); // cr2
    v.setBigUint64(mc + 184, fpstate, true);
    v.setBigUint64(uc + 296, t.savedMask ?? t.sigmask, true); // uc_sigmask
    frame.set(encodeSiginfo(s), 8 + 304);
    mem.write(fpstate, xstate);
    mem.write(sp, frame);
    regs.set("rsp", sp);
    regs.set("rip", act.handler);
    regs.set("rdi", BigInt(s.sig));
    regs.set("rsi", sp + 8n + 304n);
    regs.set("rdx", sp + 8n);
    regs.set("rax", 0n);
    regs.set("orig_rax", -1n);
    regs.set("eflags", regs.get("eflags") & ~0x40500n); // clear DF, TF, AC
    t.savedMask = null;
    t.sigmask |= act.mask;
    if (!(act.flags & SA.NODEFER)) t.sigmask |= sigbit(s.sig);
    t.sigmask &= ~UNBLOCKABLE;
  }

  /**
   * rt_sigreturn: restores what the frame at the stack pointer saved.
   *
   * @param t The task, stopped at the call.
   */
  sigreturn(t: Task): void {
    const host = this.hostTid(t);
    const mem = this.memory(t);
    const regs = this.machine.getRegs(host);
    const ucAddr = regs.get("rsp"); // the handler's `ret` popped pretcode
    let uc: Uint8Array;
    try {
      uc = mem.read(ucAddr, 304);
    } catch {
      this.killProcess(t.process, SIG.SEGV);
      return;
    }
    const v = new DataView(uc.buffer);
    const mc = 40;
    const order = [
      "r8",
      "r9",
      "r10",
      "r11",
      "r12",
      "r13",
      "r14",
      "r15",
      "rdi",
      "rsi",
      "rbp",
      "rbx",
      "rdx",
      "rax",
      "rcx",
      "rsp",
      "rip",
    ] as const;
    order.forEach((r, i) => regs.set(r, v.getBigUint64(mc + 8 * i, true)));
    const flagsMask = 0x40dd5n; // the user-changeable EFLAGS bits
    regs.set(
      "eflags",
      (regs.get("eflags") & ~flagsMask) | (v.getBigUint64(mc + 136, true) & flagsMask),
    );
    regs.set("orig_rax", -1n);
    t.sigmask = v.getBigUint64(296, true) & ~UNBLOCKABLE;
    const fpstate = v.getBigUint64(mc + 184, true);
    if (fpstate !== 0n) {
      try {
        const size = this.machine.getXState(host).length;
        this.machine.setXState(host, mem.read(fpstate, size));
      } catch {
        this.killProcess(t.process, SIG.SEGV);
        return;
      }
    }
    const ssFlags = v.getInt32(24, true);
    if (!(ssFlags & 1)) {
      t.altstack = {
        sp: v.getBigUint64(16, true),
        size: v.getBigUint64(32, true),
        flags: ssFlags & 2,
      };
    }
    this.resumeWithSignals(t, regs);
  }

  /** A host signal stopped a task: ours (to deliver signals) or a fault. */
  #onHostSignal(t: Task, sig: number, info: Uint8Array): void {
    const host = this.hostTid(t);
    if (sig === SIG.STOP && t.interruptRequested) {
      t.interruptRequested = false;
    } else if (sig === SIG.STOP || sig === SIG.CONT) {
      // From outside the sandbox (a signal to the stub's host pid): as kill().
      this.signalProcess(t.process, { sig, code: SI.USER, pid: 0, uid: 0 });
    } else {
      const v = new DataView(info.buffer, info.byteOffset, 128);
      const code = v.getInt32(8, true);
      const fault = code > 0 && [SIG.SEGV, SIG.BUS, SIG.FPE, SIG.ILL, SIG.TRAP].includes(sig as 11);
      const s: PendingSignal = { sig, code, pid: 0, uid: 0, raw: info };
      if (fault) {
        s.addr = v.getBigUint64(16, true);
        s.forced = true;
        // A fault that is blocked or ignored kills, as force_sig does.
        const a = t.process.sigactions[sig]!;
        if ((t.sigmask & sigbit(sig)) || a.handler === SIG_IGN) {
          t.process.sigactions[sig] = { handler: SIG_DFL, flags: 0, restorer: 0n, mask: 0n };
          t.sigmask &= ~sigbit(sig);
        }
        t.pending.unshift(s);
      } else if (sig !== SIG.CHLD) {
        // (A stub's host SIGCHLD, for a host child stub that ended, is not
        // the container's: the Sentry sends its own when a process ends.)
        this.signalThread(t, s);
      }
    }
    const regs = this.machine.getRegs(host);
    // Stopped inside a native call (futex): restart it the way Linux would.
    const orig = BigInt.asIntN(64, regs.get("orig_rax"));
    const rax = BigInt.asIntN(64, regs.get("rax"));
    if (orig >= 0n && rax >= ERESTART_MIN && rax <= ERESTART_MAX) {
      const next = this.#peekDeliverable(t);
      const act = next ? t.process.sigactions[next.sig]! : null;
      const handler = act && act.handler !== SIG_DFL && act.handler !== SIG_IGN;
      const restart = !handler || rax === -513n || (rax === -512n && (act!.flags & SA.RESTART));
      if (restart) {
        regs.set("rax", orig);
        regs.set("rip", regs.get("rip") - 2n);
      } else {
        regs.set("rax", -4n);
      }
      regs.set("orig_rax", -1n);
    }
    this.resumeWithSignals(t, regs);
  }

  // ---- pause (dvisor pause / resume) ----------------------------------------------------

  /** Whether the sandbox is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Stops every task where it is, unseen by the container (no SIGCHLD, no
   * job control): running ones get a host SIGSTOP, the others stay parked
   * when their call ends.
   */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    for (const t of this.tasks.values()) {
      if (t.state !== "running" || t.interruptRequested) continue;
      t.interruptRequested = true;
      const host = this.hostTid(t);
      syscall(SYS.tgkill, BigInt(t.process.hostTgid || host), BigInt(host), BigInt(SIG.STOP));
    }
  }

  /** Lets every paused task run again. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const parked = [...this.#parked];
    this.#parked.clear();
    for (const t of parked) {
      if (!this.tasks.has(t.tid) || t.state !== "paused") continue;
      this.resumeWithSignals(t, this.machine.getRegs(this.hostTid(t)));
    }
  }

  // ---- job control ------------------------------------------------------------------

  #stopProcess(p: Process, sig: number): void {
    if (p.stopped) return;
    p.stopped = true;
    for (const t of p.threads.values()) {
      if (t.state === "running") {
        t.interruptRequested = true;
        const host = this.hostTid(t);
        syscall(SYS.tgkill, BigInt(p.hostTgid || host), BigInt(host), BigInt(SIG.STOP));
      }
    }
    this.#notifyParent(p, CLD.STOPPED, sig);
  }

  #continueProcess(p: Process): void {
    for (const list of [p.pending, ...[...p.threads.values()].map((t) => t.pending)]) {
      for (let i = list.length - 1; i >= 0; i--) {
        if ([SIG.STOP, SIG.TSTP, SIG.TTIN, SIG.TTOU].includes(list[i]!.sig as 19)) {
          list.splice(i, 1);
        }
      }
    }
    if (!p.stopped) return;
    p.stopped = false;
    for (const t of p.threads.values()) {
      if (t.state === "stopped") {
        t.state = "running";
        this.machine.resume(this.hostTid(t));
      }
    }
    this.#notifyParent(p, CLD.CONTINUED, SIG.CONT);
  }

  #notifyParent(p: Process, code: number, status: number): void {
    const parent = p.parent;
    if (!parent) return;
    const act = parent.sigactions[SIG.CHLD]!;
    p.parent?.childReports.set(p, { status, code });
    if (!(code === CLD.STOPPED && act.flags & SA.NOCLDSTOP)) {
      this.signalProcess(parent, { sig: SIG.CHLD, code, pid: p.pid, uid: p.creds.uid, status });
    }
    parent.childEvents.notify();
  }

  // ---- life and death -----------------------------------------------------------------

  /**
   * Ends a whole process with a status (a fatal signal, exit_group from the
   * Sentry's side): every thread dies on the host.
   *
   * @param p The process.
   * @param status The wait status to report (a signal number, or code << 8).
   */
  killProcess(p: Process, status: number): void {
    if (p.pendingExitStatus === null) p.pendingExitStatus = status;
    for (const t of p.threads.values()) {
      t.blocked?.cancel();
      t.blocked = null;
      t.state = "exiting";
    }
    const any = p.leader ?? p.threads.values().next().value;
    // Its usage before the host forgets it (an exiting event may not come).
    p.exitUsage ??= this.selfUsage(p);
    if (p.hostTgid) this.#killHost(p.hostTgid);
    else if (any) this.#killHost(this.hostTid(any));
  }

  #killHost(hostTid: number): void {
    this.machine.kill(hostTid);
  }

  #onClone(parent: Task, childHost: number, how: "fork" | "vfork" | "thread"): void {
    const tid = this.innerTid(childHost);
    const p = parent.process;
    if (how === "thread") {
      const t = new Task(tid, p);
      t.sigmask = parent.sigmask;
      t.comm = parent.comm;
      this.addTask(t, childHost);
      t.state = "running";
      this.machine.resume(childHost);
      this.machine.resume(this.hostTid(parent));
      parent.state = "running";
      return;
    }
    const flags = parent.pendingCloneFlags;
    parent.pendingCloneFlags = 0n;
    const child = this.forkProcess(p, tid, flags);
    child.hostTgid = childHost;
    const t = new Task(tid, child);
    t.sigmask = parent.sigmask;
    t.comm = parent.comm;
    this.addTask(t, childHost);
    t.state = "running";
    this.machine.resume(childHost);
    if (parent.vforkWaiting) {
      // vfork ran as fork: the parent waits until the child execs or exits.
      parent.vforkWaiting = false;
      child.vforkParent = parent;
      child.vforkStack = this.#stackAbove(parent);
      parent.state = "blocked";
      return;
    }
    parent.state = "running";
    this.machine.resume(this.hostTid(parent));
  }

  /**
   * The process a fork makes: copies of the parent's tables.
   *
   * @param p The parent.
   * @param pid The child's pid.
   * @param flags The clone flags (0 for fork and vfork): CLONE_FILES,
   *   CLONE_FS and CLONE_SIGHAND share instead of copying, CLONE_PARENT
   *   makes a sibling, the low byte is the exit signal.
   * @returns The child process (registered).
   */
  forkProcess(p: Process, pid: number, flags = 0n): Process {
    this.forks++;
    const shareFiles = (flags & 0x400n) !== 0n;
    if (shareFiles) p.fds.retain();
    const parent = flags & 0x8000n && p.parent ? p.parent : p;
    const child = new (p.constructor as typeof Process)({
      pid,
      parent,
      pgid: p.pgid,
      sid: p.sid,
      fds: shareFiles ? p.fds : p.fds.fork(),
      fs: flags & 0x200n ? p.fs : { root: p.fs.root, cwd: p.fs.cwd, umask: p.fs.umask },
      ns: p.ns,
      container: p.container,
      seccomp: p.seccomp,
      creds: p.creds.clone(),
      sigactions: flags & 0x800n ? p.sigactions : p.sigactions.map((a) => ({ ...a })),
      rlimits: p.rlimits.map((r) => ({ ...r })),
      mm: { ...p.mm },
      startMs: this.uptimeMs,
    });
    child.exe = p.exe;
    child.exeLocation = p.exeLocation;
    child.argv = p.argv;
    child.env = p.env;
    child.noNewPrivs = p.noNewPrivs;
    child.oomScoreAdj = p.oomScoreAdj;
    child.ctty = p.ctty;
    child.exitSignal = flags === 0n ? 17 : Number(flags & 0xffn);
    parent.children.add(child);
    this.processes.set(pid, child);
    this.ipc.forked(p, child);
    return child;
  }

  /** The parent's stack from its stack pointer to the end of that mapping (at most 1 MiB). */
  #stackAbove(t: Task): { start: bigint; end: bigint } | null {
    const host = this.hostTid(t);
    const sp = this.machine.getRegs(host).get("rsp");
    const m = hostMappings(host).find((m) => sp >= m.start && sp < m.end);
    if (!m) return null;
    return { start: sp, end: m.end - sp > VFORK_STACK_MAX ? sp + VFORK_STACK_MAX : m.end };
  }

  /**
   * Copies what a vfork child could have written to its parent's stack
   * back to the parent (vfork runs as fork; see Process.vforkStack).
   *
   * Preconditions: the child's memory is still its own (before execve
   * replaces it, or at its exit stop).
   *
   * @param child The vfork child.
   */
  vforkCopyBack(child: Process): void {
    const range = child.vforkStack;
    const parent = child.vforkParent;
    child.vforkStack = null;
    const from = child.leader ?? child.threads.values().next().value;
    if (!range || !parent || !from) return;
    try {
      const data = this.memory(from).read(range.start, Number(range.end - range.start));
      this.memory(parent).write(range.start, data);
    } catch (e) {
      this.log.debug(`vfork: the parent's stack was not updated: ${e}`);
    }
  }

  /**
   * Releases a vfork parent (its child exec'd or exited).
   *
   * @param child The vfork child.
   * @param pidValue What the parent's vfork returns (the child's pid).
   */
  releaseVforkParent(child: Process): void {
    const parent = child.vforkParent;
    if (!parent) return;
    child.vforkParent = null;
    if (parent.state !== "blocked") return;
    parent.state = "running";
    this.machine.resume(this.hostTid(parent));
  }

  #onExiting(t: Task, status: number): void {
    if (t.process.threads.size === 1) this.vforkCopyBack(t.process);
    t.state = "exiting";
    t.blocked?.cancel();
    t.blocked = null;
    if (t.process.threads.size === 1 && t.process.pendingExitStatus === null) {
      t.process.pendingExitStatus = status;
    }
    if (t.process.threads.size === 1) {
      // The last thread: the stub still has its memory and counters.
      t.process.exitUsage = this.#stubUsage(t.process);
    }
    this.machine.release(this.hostTid(t));
  }

  #taskGone(t: Task, code: number | null, signal: number | null): void {
    const host = this.#hostOf.get(t.tid);
    if (host !== undefined) this.#byHost.delete(host);
    this.#hostOf.delete(t.tid);
    this.tasks.delete(t.tid);
    const p = t.process;
    p.threads.delete(t.tid);
    if (p.threads.size > 0) return;
    const hostStatus = code !== null ? code << 8 : (signal ?? SIG.KILL);
    this.#processExited(p, p.pendingExitStatus ?? hostStatus);
  }

  #processExited(p: Process, status: number): void {
    p.exitStatus = status;
    if (p.exitUsage) addUsage(this.exitedUsage, p.exitUsage);
    // After this exit is fully handled (its parent told, orphans adopted).
    this.schedule(() => this.processExits.notify());
    // A session leader's end hangs up its terminal's foreground group.
    if (p.sid === p.pid && p.ctty) releaseTerminal(this, p);
    p.fds.release();
    this.ipc.exited(p, p.pid);
    this.releaseVforkParent(p);
    // Children go to the nearest subreaper, or to their container's init.
    let reaper: Process | null = p.parent;
    while (reaper && !reaper.subreaper) reaper = reaper.parent;
    // (A pod container whose init has ended adopts nobody: its processes go as orphans.)
    const init = this.inits.get(p.container);
    const adopter = reaper ?? (init?.exitStatus === null ? init : p.container ? null : this.init);
    for (const c of p.children) {
      c.parent = adopter && adopter !== p ? adopter : null;
      c.parent?.children.add(c);
      for (const ct of c.threads.values()) {
        if (ct.pdeathsig) {
          this.signalThread(ct, { sig: ct.pdeathsig, code: SI.USER, pid: p.pid, uid: 0 });
        }
      }
      if (c.exitStatus !== null && c.parent) c.parent.childEvents.notify();
    }
    p.children.clear();
    const parent = p.parent;
    if (!parent) {
      // No parent in the sandbox (the init, a process `dvisor exec` started): the runtime reaps it.
      this.onOrphanExit?.(p);
      return;
    }
    const act = parent.sigactions[SIG.CHLD]!;
    if (p.exitSignal === SIG.CHLD && (act.handler === SIG_IGN || (act.flags & SA.NOCLDWAIT))) {
      this.reap(p);
    } else if (p.exitSignal !== 0) {
      const killed = (status & 0x7f) !== 0;
      this.signalProcess(parent, {
        sig: p.exitSignal,
        code: killed ? CLD.KILLED : CLD.EXITED,
        pid: p.pid,
        uid: p.creds.uid,
        status: killed ? status & 0x7f : (status >> 8) & 0xff,
      });
    }
    parent.childEvents.notify();
  }

  /**
   * The pid namespace of each pod container (its own id; "" when it shares
   * the sandbox's, as a spec that names the sandbox's pid namespace asks).
   */
  readonly pidNamespaces = new Map<string, string>();

  /**
   * Whether a process sees another (both in one pid namespace): a pod
   * container's processes are invisible to the others unless it shares.
   *
   * @param viewer The process looking.
   * @param p The process looked at.
   * @returns True when it may name it by pid.
   */
  sees(viewer: Process, p: Process): boolean {
    const ns = (c: string) => this.pidNamespaces.get(c) ?? c;
    return ns(viewer.container) === ns(p.container);
  }

  /**
   * A process by pid as a caller sees it.
   *
   * @param viewer The caller.
   * @param pid The pid.
   * @returns The process, or undefined when there is none it sees.
   */
  visibleProcess(viewer: Process, pid: number): Process | undefined {
    const p = this.processes.get(pid);
    return p && this.sees(viewer, p) ? p : undefined;
  }

  /**
   * The processes of a container that have not exited.
   *
   * @param container The container ("" for the root container).
   * @returns Them.
   */
  liveProcesses(container: string): Process[] {
    return [...this.processes.values()].filter((p) =>
      p.container === container && p.exitStatus === null
    );
  }

  /**
   * Whether every thread of a process blocks a signal (then it is kept
   * pending even where its action would drop it).
   *
   * @param p The process.
   * @param sig The signal.
   * @returns True if so.
   */
  blockedByAll(p: Process, sig: number): boolean {
    const bit = sigbit(sig);
    const threads = [...p.threads.values()];
    return threads.length > 0 && threads.every((t) => (t.sigmask & bit) !== 0n);
  }

  /**
   * Whether a process is the init of its container (as the init of a pid
   * namespace, it only gets signals it has a handler for).
   *
   * @param p The process.
   * @returns True for a container's first process.
   */
  isInit(p: Process): boolean {
    return this.inits.get(p.container) === p;
  }

  /**
   * Forgets a zombie (after wait).
   *
   * @param p The zombie.
   */
  reap(p: Process): void {
    p.parent?.children.delete(p);
    p.parent?.childReports.delete(p);
    if (p !== this.init) this.processes.delete(p.pid);
  }
}
