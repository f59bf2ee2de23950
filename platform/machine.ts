/**
 * The platform the Sentry runs applications on: stub processes (address
 * spaces), their threads (tasks), and the system calls they make.
 *
 * Two platforms share this interface and differ only in how calls are
 * caught:
 *
 * - `seccomp` (default): a BPF filter in every stub lets the self-only class
 *   (self_only.ts) run natively and stops every other call for the Sentry
 *   (SECCOMP_RET_TRACE: one ptrace stop per call).
 * - `ptrace`: PTRACE_SYSEMU stops at every call; self-only calls are then
 *   re-issued on the host (back up to the instruction, PTRACE_SYSCALL to
 *   its entry and exit: three stops).
 *
 * A {@linkcode Machine} must be used from one thread only, the tracer (a
 * Worker): it creates the stubs, so ptrace accepts its requests.
 *
 * Host pids of stubs are the application's pids: the first stub is pid 1 of
 * a new pid namespace, and every process or thread the application makes is
 * a native fork or clone of a stub in that namespace.
 *
 * @module
 */
import { stubExecutableBytes } from "./asm/stub_bin.ts";
import { Arena } from "./arena_unsafe.ts";
import { closeQuietly, pollFd } from "./fd.ts";
import { fdArg } from "./checks.ts";
import { native } from "./native_unsafe.ts";
import { Errno } from "./errno.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { sealedMemfd } from "./memfd.ts";
import { ProcessMemory } from "./process_vm.ts";
import { PTRACE_O, type Registers, type TraceEvent, Tracer } from "./ptrace.ts";
import { action, compileFilter } from "./seccomp_bpf.ts";
import { isSelfOnly, selfOnlyRules } from "./self_only.ts";
import { type Child, type Namespace, spawn } from "./spawn.ts";
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SeccompNotifier } from "./seccomp_notify.ts";
import { receiveFds, socketPair } from "./socket.ts";

import { type PlatformName, PLATFORMS } from "./platform_name.ts";
export { type PlatformName, PLATFORMS };

/** Where stub.S is linked: its text page. */
export const STUB_BASE = 0x7ffe00000000n;
/** The `syscall; int3` the Sentry points a stub thread at to make a call there. */
export const STUB_TRAMPOLINE = STUB_BASE + 0x1010n;
/** The stub's mapped range (its ELF header page and text page). */
export const STUB_END = STUB_BASE + 0x2000n;

/** How long the tracer polls before it sleeps in wait4 (see #spinThenWait). */
const SPIN_MS = 0.05;
const SIGTRAP = 5;
const SIGSTOP = 19;
const SIGKILL = 9;

/** Something that happened to a task, for the Sentry to handle. */
export type MachineEvent =
  /** A system call for the Sentry; the task waits for complete() or passthrough(). */
  | { kind: "syscall"; tid: number; nr: number; args: bigint[] }
  /** A native fork, vfork or thread clone made `child` (stopped until resume()). */
  | { kind: "clone"; tid: number; child: number; how: "fork" | "vfork" | "thread" }
  /** A signal is about to reach the task (a fault, or sent by the host); resume() decides. */
  | { kind: "signal"; tid: number; signal: number; info: Uint8Array }
  /** The task is exiting with this wait status; it stays until release(). */
  | { kind: "exiting"; tid: number; status: number }
  /** The task is gone. */
  | { kind: "gone"; tid: number; code: number | null; signal: number | null }
  /** Something in the doorbell's epoll set is ready; call ringDone() after handling it. */
  | { kind: "doorbell" };

type Mode =
  /** Stopped; the Sentry decides. */
  | "stopped"
  /** Running the application. */
  | "app"
  /** ptrace platform: re-issuing a call natively, waiting for its entry stop. */
  | "native-entry"
  /** ptrace platform: waiting for that call's exit stop. */
  | "native-exit";

interface Thread {
  tid: number;
  mode: Mode;
  /** A new thread's first stop (SIGSTOP) has not been seen yet. */
  awaitingFirstStop: boolean;
  /** resume() was asked before the first stop came. */
  resumeOnFirstStop: boolean;
}

/** How to make a new address space. */
export interface AddressSpaceOptions {
  /** New namespaces for the stub (the first stub: "pid" and "mount"). */
  namespaces?: Namespace[];
  /** An existing directory where the stub's empty root is mounted. */
  emptyRootAt: string;
}

/**
 * Stub processes and their threads, driven from the tracer thread.
 *
 * @example
 * ```ts ignore
 * // In the tracer Worker:
 * using machine = new Machine("seccomp");
 * const tid = machine.createAddressSpace({ namespaces: ["pid", "mount"], emptyRootAt: dir });
 * // ... map the program with inject() and machine.memory, set registers ...
 * machine.resume(tid);
 * for (;;) {
 *   const e = machine.wait();
 *   if (e.kind === "syscall") machine.complete(e.tid, serve(e));
 * }
 * ```
 */
export class Machine {
  /** How calls are caught. */
  readonly platform: PlatformName;
  /** Which self-only calls may run natively (see the constructor). */
  readonly #native: (nr: number) => boolean;
  /** Reads and writes tasks' memory. */
  readonly memory: ProcessMemory = new ProcessMemory();
  readonly #tracer = new Tracer();
  readonly #threads = new Map<number, Thread>();
  readonly #queue: MachineEvent[] = [];
  readonly #children: Child[] = [];
  readonly #filter: Uint8Array;
  /** Listeners of the stubs' filters (one per stub made by createAddressSpace). */
  readonly #notifiers: SeccompNotifier[] = [];
  #stubFd = -1;
  #doorbell: { pid: number; arena: Arena } | null = null;

  /**
   * Makes a machine.
   *
   * @param platform How system calls are caught.
   * @param options `native`: which self-only system calls may still run natively in stubs
   *   (all by default; the container's seccomp profile narrows it).
   * @throws {RangeError} For an unknown platform.
   */
  constructor(platform: PlatformName, options: { native?: (nr: number) => boolean } = {}) {
    if (!PLATFORMS.includes(platform)) {
      throw new RangeError(`Unknown platform ${platform}: use ${PLATFORMS.join(" or ")}`);
    }
    this.#native = options.native ?? (() => true);
    this.platform = platform;
    // Both platforms: the descriptor-passing call (see injectFd) stops for
    // the Sentry's listener. Seccomp platform: the self-only class runs,
    // the rest stops for the tracer.
    const passFd = {
      syscall: SYS.dup,
      args: [{ arg: "ip" as const, op: "eq" as const, value: STUB_TRAMPOLINE + 2n }],
      action: action.userNotif(),
    };
    this.#filter = platform === "seccomp"
      ? compileFilter({
        rules: [
          passFd,
          ...selfOnlyRules().filter((r) => this.#native(r.syscall)),
        ],
        defaultAction: action.trace(),
      })
      : compileFilter({ rules: [passFd], defaultAction: action.allow() });
  }

  /** Registers of the last {@linkcode Machine.getRegs}. */
  get regs(): Registers {
    return this.#tracer.regs;
  }

  /** Host pids of the live tasks. */
  get tids(): number[] {
    return [...this.#threads.keys()];
  }

  /**
   * Starts a stub: a traced process running stub.S with an empty root, no
   * descriptors, and (seccomp platform) the stub filter; stopped at its
   * entry until the Sentry has mapped a program and calls resume().
   *
   * @param options Namespaces and the empty root's mount point.
   * @returns The stub's pid (its first task).
   * @throws {SpawnError} If the stub cannot start.
   */
  createAddressSpace(options: AddressSpaceOptions): number {
    if (this.#stubFd < 0) this.#stubFd = sealedMemfd("dvisor-stub", stubExecutableBytes(), 0o755);
    // The stub sends its filter's listener back over a socket, then closes both.
    const [mine, theirs] = socketPair();
    let child: Child;
    try {
      child = spawn({
        args: ["dvisor-stub"],
        executableFd: this.#stubFd,
        fds: [[3, theirs]],
        trace: "stop",
        namespaces: options.namespaces ?? [],
        emptyRootAt: options.emptyRootAt,
        noNewPrivileges: true,
        // No capabilities at all (root's come back at execve unless the bounding set is empty).
        capabilities: { bounding: [], effective: [], permitted: [], inheritable: [] },
        parentDeathSignal: SIGKILL,
        // Out of the sandbox process's session: a terminal's ^C goes to the
        // sandbox process (which forwards it), never straight to stubs.
        setsid: true,
        seccomp: {
          program: this.#filter,
          flags: SECCOMP_FILTER_FLAG_NEW_LISTENER,
          sendListenerOn: 3,
        },
      });
    } catch (e) {
      closeQuietly(mine);
      throw e;
    } finally {
      closeQuietly(theirs);
    }
    this.#children.push(child);
    try {
      this.#startStub(child);
      // It sent the listener before its execve.
      const got = receiveFds(mine, new Uint8Array(1));
      if (got.fds.length !== 1) throw new Error("The stub did not send its seccomp listener");
      this.#notifiers.push(new SeccompNotifier(got.fds[0]!));
    } finally {
      closeQuietly(mine);
    }
    this.#threads.set(child.pid, newThread(child.pid, false));
    return child.pid;
  }

  /** Takes a new stub from its stop before execve to its first instruction. */
  #startStub(child: Child): void {
    const pid = child.pid;
    const stop = this.#tracer.wait(pid);
    if (stop?.kind !== "signal" || stop.signal !== SIGSTOP) {
      throw new Error(
        `The stub did not stop before execve: ${JSON.stringify(stop)}${failureOf(child)}`,
      );
    }
    this.#tracer.setOptions(
      pid,
      PTRACE_O.TRACESYSGOOD | PTRACE_O.TRACEFORK | PTRACE_O.TRACEVFORK | PTRACE_O.TRACECLONE |
        PTRACE_O.TRACEEXEC | PTRACE_O.TRACEEXIT | PTRACE_O.TRACESECCOMP | PTRACE_O.EXITKILL,
    );
    this.#tracer.resume(pid, "cont");
    for (;;) {
      const e = this.#tracer.wait(pid)!;
      if (e.kind === "event" && e.event === "exec") break;
      if (e.kind === "event" && (e.event === "seccomp" || e.event === "exit")) {
        this.#tracer.resume(pid, "cont"); // the runner's execveat, or its failure
        continue;
      }
      if (e.kind === "exited" || e.kind === "killed") {
        throw new Error(`The stub exited before it started${failureOf(child)}`);
      }
      this.#tracer.resume(pid, "cont", e.kind === "signal" ? e.signal : 0);
    }
    // Leave execve: at the exec stop the kernel is still inside the call and
    // would overwrite rax on the way out. The stub's first instruction is
    // int3, a clean stop in user mode.
    this.#tracer.resume(pid, "cont");
    const trap = this.#tracer.wait(pid);
    if (trap?.kind !== "signal" || trap.signal !== SIGTRAP) {
      throw new Error(`The stub did not reach its first instruction: ${JSON.stringify(trap)}`);
    }
  }

  /**
   * Starts the doorbell on an epoll set (an {@linkcode EventLoop}'s): from
   * then on {@linkcode Machine.wait} also returns `{ kind: "doorbell" }`
   * when something in the set is ready, so one blocking wait serves tasks,
   * descriptors, timers and wake-ups from other threads.
   *
   * @param epfd The epoll descriptor.
   * @throws {Error} If a doorbell already runs.
   */
  startDoorbell(epfd: number): void {
    fdArg(epfd, "epoll descriptor");
    if (this.#doorbell) throw new Error("The doorbell is already running");
    const STACK = 16384;
    const arena = new Arena(STACK + 4096);
    const stack = arena.alloc(STACK, 16) + STACK;
    const table = arena.alloc(48);
    const pollfd = arena.alloc(8, 8);
    const v = arena.view;
    v.setInt32(pollfd, epfd, true);
    v.setInt16(pollfd + 4, 1, /* POLLIN */ true);
    v.setBigUint64(table, arena.addr(stack), true);
    v.setBigUint64(table + 8, BigInt(epfd), true);
    v.setBigUint64(table + 16, arena.addr(pollfd), true);
    v.setBigUint64(table + 24, 0n, true);
    v.setBigUint64(table + 32, 0xffffffffffffffffn, true);
    let pid: number;
    try {
      pid = checked(native().doorbell(arena.addr(table)), "clone the doorbell");
    } catch (e) {
      arena.dispose();
      throw e;
    }
    this.#doorbell = { pid, arena };
    const stop = this.#tracer.wait(pid);
    if (stop?.kind !== "signal" || stop.signal !== SIGSTOP) {
      throw new Error(`The doorbell did not start: ${JSON.stringify(stop)}`);
    }
    this.#tracer.setOptions(pid, PTRACE_O.EXITKILL);
    this.#tracer.resume(pid, "cont");
  }

  /** Lets the doorbell wait again, after a "doorbell" event was handled. */
  ringDone(): void {
    if (this.#doorbell) this.#tracer.resume(this.#doorbell.pid, "cont");
  }

  /**
   * Blocks until something happens to a task.
   *
   * @returns The event.
   * @throws {Errno} ECHILD when there are no tasks.
   */
  wait(): MachineEvent {
    return this.#next(false)!;
  }

  /**
   * Returns the next event if one is ready, without blocking.
   *
   * @returns The event, or null.
   */
  poll(): MachineEvent | null {
    return this.#next(true);
  }

  /**
   * Finishes the task's system call with a value (or `-errno`) and lets it
   * run on.
   *
   * @param tid The task, stopped at a "syscall" event (or after inject()).
   * @param value The return value.
   */
  complete(tid: number, value: bigint): void {
    const regs = this.#tracer.getRegs(tid);
    regs.set("orig_rax", -1n);
    regs.set("rax", value);
    this.#tracer.setRegs(tid);
    this.resume(tid);
  }

  /**
   * Lets the host run the task's system call as made (fork, clone), then
   * lets the task run on.
   *
   * @param tid The task, stopped at a "syscall" event.
   */
  passthrough(tid: number): void {
    const t = this.#thread(tid);
    if (this.platform === "seccomp") {
      t.mode = "app";
      this.#tracer.resume(tid, "cont");
      return;
    }
    this.#startNative(t);
  }

  /**
   * Lets a stopped task run its application code.
   *
   * @param tid The task.
   * @param signal A host signal to deliver as it resumes (0: none; the
   *   Sentry delivers application signals itself).
   */
  resume(tid: number, signal = 0): void {
    const t = this.#thread(tid);
    if (t.awaitingFirstStop) {
      t.resumeOnFirstStop = true;
      return;
    }
    const how = t.mode === "native-entry" || t.mode === "native-exit"
      ? "syscall"
      : this.platform === "seccomp"
      ? "cont"
      : "sysemu";
    if (t.mode === "stopped") t.mode = "app";
    this.#tracer.resume(tid, how, signal);
  }

  /**
   * Reads a stopped task's registers.
   *
   * @param tid The task.
   * @returns The register buffer (valid until the next getRegs).
   */
  getRegs(tid: number): Registers {
    return this.#tracer.getRegs(tid);
  }

  /**
   * Where a stopped task registered its restartable sequence area (rseq),
   * which the kernel writes on every return to user mode.
   *
   * @param tid The task.
   * @returns The registration, or null when there is none.
   */
  rseq(tid: number): { pointer: bigint; size: number; signature: number } | null {
    return this.#tracer.rseqConfiguration(tid);
  }

  /**
   * Reads a stopped task's FPU and vector state.
   *
   * @param tid The task.
   * @returns Its XSAVE area.
   */
  getXState(tid: number): Uint8Array {
    return this.#tracer.getXState(tid);
  }

  /**
   * Writes a stopped task's FPU and vector state.
   *
   * @param tid The task.
   * @param state An XSAVE area.
   */
  setXState(tid: number, state: Uint8Array): void {
    this.#tracer.setXState(tid, state);
  }

  /**
   * Writes {@linkcode Machine.regs} back to a stopped task.
   *
   * @param tid The task.
   */
  setRegs(tid: number): void {
    this.#tracer.setRegs(tid);
  }

  /**
   * Makes a system call in a stopped task's process, on the Sentry's
   * behalf (mapping memory while loading a program, say), and puts the
   * task's registers back.
   *
   * Preconditions: the task is stopped at a "syscall" or "signal" event, or
   * is a new stub; not at a "clone" or "exiting" event, which stop inside a
   * system call whose return would overwrite the result.
   *
   * @param tid A stopped task.
   * @param nr The system call number.
   * @param args Its arguments.
   * @returns The raw result (`-errno` on failure).
   * @throws {Error} If the stub died or its trampoline is gone.
   */
  inject(tid: number, nr: number, args: readonly bigint[]): bigint {
    const saved = this.#startInjected(tid, nr, args);
    return this.#finishInjected(tid, saved);
  }

  /**
   * Installs a host descriptor in a task's stub for one use (mmap of a
   * gofer file): the stub calls dup from its trampoline, which its filter
   * hands to the Sentry's listener, and the listener answers by adding the
   * descriptor (SECCOMP_IOCTL_NOTIF_ADDFD), close-on-exec. The caller
   * closes it in the stub right after use.
   *
   * @param tid The task, stopped.
   * @param hostFd The Sentry's descriptor.
   * @returns The descriptor's number in the stub.
   * @throws {Error} If the stub died or its trampoline is gone.
   */
  injectFd(tid: number, hostFd: number): number {
    const saved = this.#startInjected(tid, SYS.dup, []);
    let added = -1;
    for (let tries = 0; added < 0; tries++) {
      for (const n of this.#notifiers) {
        if (pollFd(n.fd, 1, /* POLLIN */ tries === 0 ? 0 : 5) === 0) continue;
        const note = n.receive();
        if (note.pid !== tid) {
          n.respond(note.id, -1n, 1 /* EPERM: not a call the Sentry made */);
          continue;
        }
        added = n.addFdAndRespond(note.id, hostFd, true);
      }
      if (added >= 0) break;
      // Not there yet: a stop (a host signal) may have come first.
      const e = this.#tracer.wait(tid, { noHang: true });
      if (e) this.#injectedStop(tid, e);
    }
    const result = this.#finishInjected(tid, saved);
    if (result < 0n) throw new Error(`Passing a descriptor to task ${tid} failed: ${result}`);
    return added;
  }

  /** Points a stopped task at the trampoline with a call loaded; returns its saved registers. */
  #startInjected(tid: number, nr: number, args: readonly bigint[]): Uint8Array {
    const regs = this.#tracer.getRegs(tid);
    const saved = regs.save();
    regs.set("orig_rax", -1n);
    regs.set("rax", BigInt(nr));
    (["rdi", "rsi", "rdx", "r10", "r8", "r9"] as const).forEach((r, i) =>
      regs.set(r, args[i] ?? 0n)
    );
    regs.set("rip", STUB_TRAMPOLINE);
    this.#tracer.setRegs(tid);
    this.#tracer.resume(tid, "cont");
    return saved;
  }

  /** Handles a stop of a task making an injected call (anything but the trap after it). */
  #injectedStop(tid: number, e: TraceEvent): void {
    if (e.kind === "event" && e.event === "seccomp") {
      this.#tracer.resume(tid, "cont");
      return;
    }
    if (e.kind === "signal") {
      const info = this.#tracer.getSiginfo(tid);
      const code = new DataView(info.buffer).getInt32(8, true);
      if ([4, 7, 8, 11].includes(e.signal) && code > 0) {
        // A fault while making the call: the stub's memory is not what the Sentry thinks.
        throw new Error(
          `Task ${tid} faulted (signal ${e.signal}, code ${code}) in a system call made for it`,
        );
      }
      // A host signal arrived meanwhile: report it after the call.
      this.#queue.push({ kind: "signal", tid, signal: e.signal, info });
      this.#tracer.resume(tid, "cont");
      return;
    }
    const gone = this.#translate(e);
    if (gone) this.#queue.push(gone);
    throw new Error(`Task ${tid} stopped working during a system call made for it: ${e.kind}`);
  }

  /**
   * Forks a stub: a new address space, a copy of `tid`'s, in the same
   * namespaces, stopped. The Sentry keeps one untouched stub (a zygote)
   * to fork the processes `dvisor exec` starts from.
   *
   * @param tid A stopped task of the stub to copy.
   * @returns The new stub's pid (its only task, stopped).
   * @throws {Error} If the stub died or the fork failed.
   */
  forkStub(tid: number): number {
    const saved = this.#startInjected(tid, SYS.fork, []);
    let child = -1;
    const result = this.#finishInjected(tid, saved, (e) => {
      if (e.kind !== "event" || e.event !== "fork") return false;
      child = Number(this.#tracer.eventMessage(tid));
      this.#adopt(child);
      this.#tracer.resume(tid, "cont");
      return true;
    });
    if (result < 0n || child < 0) throw new Error(`Forking stub ${tid} failed: ${result}`);
    const t = this.#thread(child);
    while (t.awaitingFirstStop) {
      const e = this.#tracer.wait(child)!;
      if (e.kind === "exited" || e.kind === "killed") {
        throw new Error(`The new stub ${child} died before it started`);
      }
      if (e.kind === "signal" && e.signal === SIGSTOP) {
        t.awaitingFirstStop = false;
        t.mode = "stopped";
      } else this.#tracer.resume(child, "cont");
    }
    return child;
  }

  /**
   * Waits for the trap after an injected call (`other` may take the stops
   * on the way: true when it did); restores the registers; returns the result.
   */
  #finishInjected(
    tid: number,
    saved: Uint8Array,
    other: (e: TraceEvent) => boolean = () => false,
  ): bigint {
    for (;;) {
      const e = this.#tracer.wait(tid)!;
      if (e.kind === "signal" && e.signal === SIGTRAP) break;
      if (!other(e)) this.#injectedStop(tid, e);
    }
    const after = this.#tracer.getRegs(tid);
    if (after.get("rip") !== STUB_TRAMPOLINE + 3n) {
      throw new Error(
        `Task ${tid} trapped outside the stub trampoline: its stub page was replaced`,
      );
    }
    const result = after.get("rax");
    after.load(saved);
    after.set("orig_rax", -1n);
    this.#tracer.setRegs(tid);
    return BigInt.asIntN(64, result);
  }

  /**
   * Lets an exiting task finish exiting (its pid is freed then).
   *
   * @param tid A task that reported "exiting".
   */
  release(tid: number): void {
    this.#tracer.resume(tid, "cont");
  }

  /**
   * Ends one thread of a stub process and leaves the others running, as
   * execve's thread-group teardown needs: the thread is stopped (a host
   * SIGSTOP when it runs), made to call exit(0) from the trampoline, and
   * let go at its exit stop. Threads it creates meanwhile end too.
   * Its stops are consumed here: the Sentry forgets the task first.
   *
   * @param tid The thread.
   */
  exitThread(tid: number): void {
    const pending = [tid];
    while (pending.length) {
      const one = pending.pop()!;
      const t = this.#threads.get(one);
      if (!t) continue;
      const born = (e: TraceEvent) => {
        if (e.kind === "event" && ["clone", "fork", "vfork"].includes(e.event)) {
          pending.push(Number(this.#tracer.eventMessage(one)));
        }
      };
      let stopped = t.mode === "stopped" && !t.awaitingFirstStop;
      if (!stopped) {
        // Any stop will do; the SIGSTOP, if another stop came first, is swallowed below.
        syscall(SYS.tkill, BigInt(one), BigInt(SIGSTOP));
        const e = this.#tracer.wait(one)!;
        stopped = e.kind !== "exited" && e.kind !== "killed";
        born(e);
      }
      if (stopped) {
        const regs = this.#tracer.getRegs(one);
        regs.set("orig_rax", -1n);
        regs.set("rax", BigInt(SYS.exit));
        regs.set("rdi", 0n);
        regs.set("rip", STUB_TRAMPOLINE);
        this.#tracer.setRegs(one);
        this.#tracer.resume(one, "cont");
        // Until its exit stop: a leader's exit is reported only once the
        // whole group is gone, so its end is not waited for here (the
        // "gone" event that comes later names a task the Sentry forgot).
        for (;;) {
          const e = this.#tracer.wait(one)!;
          if (e.kind === "exited" || e.kind === "killed") break;
          born(e);
          this.#tracer.resume(one, "cont");
          if (e.kind === "event" && e.event === "exit") break;
        }
      }
      this.#threads.delete(one);
    }
  }

  /**
   * Kills a whole stub process (SIGKILL through the host).
   *
   * @param tid Any task of it.
   */
  kill(tid: number): void {
    // A raw kill(2): Deno.kill would load Deno's process module (2 ms at boot).
    syscall(SYS.kill, BigInt(tid), 9n); // ESRCH: already gone
  }

  /** Kills every stub and the doorbell, and frees the machine's resources. */
  [Symbol.dispose](): void {
    for (const tid of this.#threads.keys()) this.kill(tid);
    if (this.#doorbell) {
      // It shares our memory: its stack may only be freed once it is dead.
      this.kill(this.#doorbell.pid);
      for (;;) {
        let e: TraceEvent | null = null;
        try {
          e = this.#tracer.wait(this.#doorbell.pid);
        } catch {
          break;
        }
        if (!e || e.kind === "exited" || e.kind === "killed") break;
      }
      this.#doorbell.arena.dispose();
      this.#doorbell = null;
    }
    // Reap what is left so no zombie stays behind.
    for (let i = 0; i < 1000 && this.#threads.size; i++) {
      let e: TraceEvent | null;
      try {
        e = this.#tracer.wait(-1, { noHang: false });
      } catch {
        break;
      }
      if (!e) break;
      if (e.kind === "exited" || e.kind === "killed") this.#threads.delete(e.pid);
      else {
        try {
          this.#tracer.resume(e.pid, "cont");
        } catch { /* gone */ }
      }
    }
    for (const c of this.#children) c.close();
    for (const n of this.#notifiers) n[Symbol.dispose]();
    closeQuietly(this.#stubFd);
    this.#tracer[Symbol.dispose]();
    this.memory[Symbol.dispose]();
  }

  #thread(tid: number): Thread {
    const t = this.#threads.get(tid);
    if (!t) throw new RangeError(`No task ${tid} on this machine`);
    return t;
  }

  /** A task the kernel reported before the Sentry heard of it: a new thread or child. */
  #adopt(tid: number): Thread {
    let t = this.#threads.get(tid);
    if (!t) {
      t = newThread(tid, true);
      this.#threads.set(tid, t);
    }
    return t;
  }

  #startNative(t: Thread): void {
    const regs = this.#tracer.getRegs(t.tid);
    regs.set("rax", regs.get("orig_rax"));
    regs.set("rip", regs.get("rip") - 2n);
    this.#tracer.setRegs(t.tid);
    t.mode = "native-entry";
    this.#tracer.resume(t.tid, "syscall");
  }

  /**
   * Waits for the next stop, first polling for a while with the CPU
   * yielded in between: a task that traps again soon (the common case) is
   * then met by an awake tracer, instead of waking an idle vCPU, which is
   * what a stop costs most in a VM.
   */
  #spinThenWait(): TraceEvent | null {
    const until = performance.now() + SPIN_MS;
    do {
      const e = this.#tracer.wait(-1, { noHang: true });
      if (e) return e;
      syscall(SYS.sched_yield);
    } while (performance.now() < until);
    return this.#tracer.wait(-1);
  }

  #next(noHang: boolean): MachineEvent | null {
    for (;;) {
      const queued = this.#queue.shift();
      if (queued) return queued;
      const e = noHang ? this.#tracer.wait(-1, { noHang }) : this.#spinThenWait();
      if (!e) return null;
      let out: MachineEvent | null;
      try {
        out = this.#handle(e);
      } catch (err) {
        // A tracee that wait reported stopped stays stopped until it is
        // resumed, unless SIGKILL ends it meanwhile (a group exit, the
        // Sentry killing its process): then every request about the stop
        // fails with ESRCH, and its death is the next thing wait reports.
        if (err instanceof Errno && err.code === "ESRCH") continue;
        throw err;
      }
      if (out) return out;
    }
  }

  /** Turns a raw stop into an event, or handles it here and returns null. */
  #handle(e: TraceEvent): MachineEvent | null {
    if (this.#doorbell && e.pid === this.#doorbell.pid) {
      if (e.kind === "signal" && e.signal === SIGTRAP) return { kind: "doorbell" };
      if (e.kind === "exited" || e.kind === "killed") {
        throw new Error(`The doorbell died (${e.kind}): the Sentry cannot wait for events`);
      }
      this.#tracer.resume(e.pid, "cont");
      return null;
    }
    if (e.kind === "exited" || e.kind === "killed") return this.#translate(e);
    const t = this.#adopt(e.pid);
    if (t.awaitingFirstStop) {
      if (e.kind === "signal" && e.signal === SIGSTOP) {
        t.awaitingFirstStop = false;
        t.mode = "stopped";
        if (t.resumeOnFirstStop) this.resume(t.tid);
        return null;
      }
    }
    if (e.kind === "syscall") {
      if (t.mode === "native-entry") {
        t.mode = "native-exit";
        this.#tracer.resume(t.tid, "syscall");
        return null;
      }
      if (t.mode === "native-exit") {
        t.mode = "app";
        this.#tracer.resume(t.tid, "sysemu");
        return null;
      }
      // A PTRACE_SYSEMU stop: the ptrace platform's every call.
      return this.#syscallStop(t);
    }
    if (e.kind === "event") {
      switch (e.event) {
        case "seccomp":
          return this.#syscallStop(t);
        case "fork":
        case "vfork":
        case "clone": {
          const child = Number(this.#tracer.eventMessage(t.tid));
          this.#adopt(child);
          if (t.mode === "app") t.mode = "stopped";
          return {
            kind: "clone",
            tid: t.tid,
            child,
            how: e.event === "clone" ? "thread" : e.event,
          };
        }
        case "exit":
          t.mode = "stopped";
          return { kind: "exiting", tid: t.tid, status: Number(this.#tracer.eventMessage(t.tid)) };
        default:
          this.resume(t.tid);
          return null;
      }
    }
    if (e.kind === "signal") {
      if (t.mode === "app") t.mode = "stopped";
      return { kind: "signal", tid: t.tid, signal: e.signal, info: this.#tracer.getSiginfo(t.tid) };
    }
    this.resume(t.tid);
    return null;
  }

  #syscallStop(t: Thread): MachineEvent | null {
    const regs = this.#tracer.getRegs(t.tid);
    const nr = regs.syscallNumber;
    const args = [0, 1, 2, 3, 4, 5].map((i) => regs.arg(i));
    if (this.platform === "ptrace" && isSelfOnly(nr, args) && this.#native(nr)) {
      this.#startNative(t);
      return null;
    }
    t.mode = "stopped";
    return { kind: "syscall", tid: t.tid, nr, args };
  }

  #translate(e: TraceEvent): MachineEvent | null {
    if (e.kind !== "exited" && e.kind !== "killed") return null;
    this.#threads.delete(e.pid);
    return e.kind === "exited"
      ? { kind: "gone", tid: e.pid, code: e.code, signal: null }
      : { kind: "gone", tid: e.pid, code: null, signal: e.signal };
  }
}

function newThread(tid: number, awaitingFirstStop: boolean): Thread {
  return {
    tid,
    mode: "stopped",
    awaitingFirstStop,
    resumeOnFirstStop: false,
  };
}

function failureOf(child: Child): string {
  const f = child.failure();
  return f ? `: ${f.message}` : "";
}
