/**
 * ptrace for the platforms: waiting for and decoding stops, options,
 * registers, and resuming with CONT, SYSCALL or SYSEMU.
 *
 * Linux accepts ptrace requests for a tracee only from the thread that
 * traces it (the thread that spawned it with PTRACE_TRACEME, or attached).
 * So a {@linkcode Tracer} lives in one dedicated Worker, which spawns its
 * tracees itself and makes every request synchronously; never use it from
 * `syscallAsync` (a pool thread).
 *
 * @module
 */
import { Arena } from "./arena_unsafe.ts";
import { intArg, u64Arg } from "./checks.ts";
import { checked, checkedBig, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";

/** ptrace requests. */
export const PTRACE = {
  TRACEME: 0,
  PEEKDATA: 2,
  PEEKUSER: 3,
  POKEDATA: 5,
  POKEUSER: 6,
  CONT: 7,
  KILL: 8,
  SINGLESTEP: 9,
  GETREGS: 12,
  SETREGS: 13,
  GETFPREGS: 14,
  SETFPREGS: 15,
  ATTACH: 16,
  DETACH: 17,
  SYSCALL: 24,
  SYSEMU: 31,
  SYSEMU_SINGLESTEP: 32,
  SETOPTIONS: 0x4200,
  GETEVENTMSG: 0x4201,
  GETSIGINFO: 0x4202,
  SETSIGINFO: 0x4203,
  GETREGSET: 0x4204,
  SETREGSET: 0x4205,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
  GET_RSEQ_CONFIGURATION: 0x420f,
} as const;

/** `PTRACE_O_*` options. */
export const PTRACE_O = {
  TRACESYSGOOD: 0x1,
  TRACEFORK: 0x2,
  TRACEVFORK: 0x4,
  TRACECLONE: 0x8,
  TRACEEXEC: 0x10,
  TRACEVFORKDONE: 0x20,
  TRACEEXIT: 0x40,
  TRACESECCOMP: 0x80,
  EXITKILL: 0x100000,
} as const;

/** `PTRACE_EVENT_*` numbers. */
export const PTRACE_EVENT = {
  fork: 1,
  vfork: 2,
  clone: 3,
  exec: 4,
  "vfork-done": 5,
  exit: 6,
  seccomp: 7,
  stop: 128,
} as const;

/** A ptrace event name. */
export type PtraceEventName = keyof typeof PTRACE_EVENT;

const EVENT_NAMES = new Map<number, PtraceEventName>(
  Object.entries(PTRACE_EVENT).map(([name, n]) => [n, name as PtraceEventName]),
);

/** What a wait reported about a tracee. */
export type TraceEvent =
  | { kind: "exited"; pid: number; code: number }
  | { kind: "killed"; pid: number; signal: number; coreDumped: boolean }
  /** A system call stop (SIGTRAP|0x80; needs PTRACE_O_TRACESYSGOOD). */
  | { kind: "syscall"; pid: number }
  /** A PTRACE_EVENT stop. */
  | { kind: "event"; pid: number; event: PtraceEventName }
  /** A signal about to be delivered (resume with it to deliver it). */
  | { kind: "signal"; pid: number; signal: number }
  | { kind: "continued"; pid: number };

const SIGTRAP = 5;

/**
 * Decodes a wait status of a traced process.
 *
 * @param pid The pid wait returned.
 * @param status The status word.
 * @returns The event.
 *
 * @example
 * ```ts
 * import { decodeTraceStatus } from "./ptrace.ts";
 * if (decodeTraceStatus(7, 0x857f).kind !== "syscall") throw new Error();
 * const e = decodeTraceStatus(7, (5 | (4 << 8)) << 8 | 0x7f);
 * if (e.kind !== "event" || e.event !== "exec") throw new Error();
 * ```
 */
export function decodeTraceStatus(pid: number, status: number): TraceEvent {
  const low = status & 0x7f;
  if (low === 0) return { kind: "exited", pid, code: (status >> 8) & 0xff };
  if (status === 0xffff) return { kind: "continued", pid };
  if ((status & 0xff) === 0x7f) {
    const sig = (status >> 8) & 0xff;
    const event = (status >> 16) & 0xff;
    if (sig === (SIGTRAP | 0x80)) return { kind: "syscall", pid };
    if (event !== 0) {
      return { kind: "event", pid, event: EVENT_NAMES.get(event) ?? "stop" };
    }
    return { kind: "signal", pid, signal: sig };
  }
  return { kind: "killed", pid, signal: low, coreDumped: (status & 0x80) !== 0 };
}

/** Names of the general purpose registers (`user_regs_struct` order). */
export const REGISTER_NAMES = [
  "r15",
  "r14",
  "r13",
  "r12",
  "rbp",
  "rbx",
  "r11",
  "r10",
  "r9",
  "r8",
  "rax",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "orig_rax",
  "rip",
  "cs",
  "eflags",
  "rsp",
  "ss",
  "fs_base",
  "gs_base",
  "ds",
  "es",
  "fs",
  "gs",
] as const;

/** A general purpose register name. */
export type RegisterName = typeof REGISTER_NAMES[number];

const REG_OFFSET = new Map(REGISTER_NAMES.map((n, i) => [n, 8 * i]));
const REGS_SIZE = 8 * REGISTER_NAMES.length;

function registerOffset(name: RegisterName): number {
  const offset = REG_OFFSET.get(name);
  if (offset === undefined) {
    throw new RangeError(
      `Unknown register ${String(name)}: use one of ${REGISTER_NAMES.join(", ")}`,
    );
  }
  return offset;
}
/** Arguments of a system call, in order, by register. */
const SYSCALL_ARG_REGS: readonly RegisterName[] = ["rdi", "rsi", "rdx", "r10", "r8", "r9"];

/**
 * A tracee's registers as last read by {@linkcode Tracer.getRegs}. One buffer
 * per tracer: reading another tracee's registers replaces these.
 */
export class Registers {
  readonly #view: DataView;
  readonly #at: number;

  /** @internal Made by the tracer over its arena. */
  constructor(view: DataView, at: number) {
    this.#view = view;
    this.#at = at;
  }

  /**
   * Reads a register.
   *
   * @param name The register.
   * @returns Its value.
   */
  get(name: RegisterName): bigint {
    return this.#view.getBigUint64(this.#at + registerOffset(name), true);
  }

  /**
   * Changes a register (written back by {@linkcode Tracer.setRegs}).
   *
   * @param name The register.
   * @param value The new value (negative values are stored two's complement).
   */
  set(name: RegisterName, value: bigint): void {
    this.#view.setBigUint64(
      this.#at + registerOffset(name),
      u64Arg(value, `value of ${name}`),
      true,
    );
  }

  /** The system call number at a system call stop (`orig_rax`). */
  get syscallNumber(): number {
    return Number(BigInt.asIntN(64, this.get("orig_rax")));
  }

  /**
   * A system call argument at a system call stop.
   *
   * @param i The argument index, 0..5.
   * @returns Its value.
   */
  arg(i: number): bigint {
    intArg(i, 0, 5, "system call argument index");
    return this.get(SYSCALL_ARG_REGS[i]!);
  }

  /**
   * Copies the raw `user_regs_struct`, to put back later with {@linkcode Registers.load}.
   *
   * @returns 216 bytes.
   */
  save(): Uint8Array {
    return new Uint8Array(this.#view.buffer.slice(this.#at, this.#at + REGS_SIZE));
  }

  /**
   * Replaces every register with a saved copy (written back by {@linkcode Tracer.setRegs}).
   *
   * @param saved What {@linkcode Registers.save} returned.
   */
  load(saved: Uint8Array): void {
    if (!(saved instanceof Uint8Array) || saved.length !== REGS_SIZE) {
      throw new RangeError(`Saved registers must be ${REGS_SIZE} bytes`);
    }
    new Uint8Array(this.#view.buffer, this.#at, REGS_SIZE).set(saved);
  }

  /** A copy of all registers by name, for logs and checkpoints. */
  toObject(): Record<RegisterName, bigint> {
    return Object.fromEntries(REGISTER_NAMES.map((n) => [n, this.get(n)])) as Record<
      RegisterName,
      bigint
    >;
  }
}

const RESUME: Record<string, number> = {
  cont: PTRACE.CONT,
  syscall: PTRACE.SYSCALL,
  sysemu: PTRACE.SYSEMU,
  singlestep: PTRACE.SINGLESTEP,
};

const NT_X86_XSTATE = 0x202n;
/** The largest XSAVE area dvisor handles (AVX-512 needs 2696 bytes, AMX 11008). */
const XSTATE_MAX = 16384;

const WALL = 0x40000000n;
const WNOTHREAD = 0x20000000n;
const WNOHANG = 1n;

/**
 * Makes ptrace requests and waits for tracees; use it only from the thread
 * that traces them.
 *
 * @example
 * ```ts ignore
 * // In the tracer Worker, after spawn({ ..., trace: "stop" }):
 * const tracer = new Tracer();
 * tracer.wait(child.pid);                // the stop before execve
 * tracer.setOptions(child.pid, PTRACE_O.TRACESYSGOOD | PTRACE_O.EXITKILL);
 * tracer.resume(child.pid, "cont");
 * ```
 */
export class Tracer {
  #arena = new Arena(4096 + XSTATE_MAX);
  #status: number;
  #regsAt: number;
  #word: number;
  #siginfo: number;
  #iov: number;
  #xstate: number;
  /** The register buffer {@linkcode Tracer.getRegs} fills. */
  readonly regs: Registers;

  /** Allocates the tracer's buffers. */
  constructor() {
    this.#status = this.#arena.alloc(8);
    this.#word = this.#arena.alloc(8);
    this.#regsAt = this.#arena.alloc(REGS_SIZE);
    this.#siginfo = this.#arena.alloc(128);
    this.#iov = this.#arena.alloc(16);
    this.#xstate = this.#arena.alloc(XSTATE_MAX, 64);
    this.regs = new Registers(this.#arena.view, this.#regsAt);
  }

  /**
   * Waits for a tracee (or any tracee of this thread) to stop or end.
   *
   * Only children of this thread are waited for (`__WNOTHREAD`), so a tracer
   * Worker never reaps processes started by other threads.
   *
   * @param pid A tracee, or -1 for any.
   * @param options `noHang` returns null instead of blocking.
   * @returns The event, or null with `noHang` when nothing happened.
   * @throws {Errno} ECHILD when there is no such tracee.
   */
  wait(pid = -1, options: { noHang?: boolean } = {}): TraceEvent | null {
    intArg(pid, -1, 0x3fffffff, "pid");
    const flags = WALL | WNOTHREAD | (options.noHang ? WNOHANG : 0n);
    for (;;) {
      const r = syscall(SYS.wait4, BigInt(pid), this.#arena.addr(this.#status), flags, 0n);
      if (r === -4n) continue;
      const got = checked(r, "wait4");
      if (got === 0) return null;
      return decodeTraceStatus(got, this.#arena.view.getInt32(this.#status, true));
    }
  }

  /**
   * Sets PTRACE_O_* options.
   *
   * @param pid The stopped tracee.
   * @param options The options, or'ed.
   */
  setOptions(pid: number, options: number): void {
    intArg(options, 0, 0x7fffffff, "ptrace options");
    this.#request(PTRACE.SETOPTIONS, pid, 0n, BigInt(options), "PTRACE_SETOPTIONS");
  }

  /**
   * Resumes a stopped tracee.
   *
   * @param pid The tracee.
   * @param how `cont` runs freely, `syscall` stops at the next system call
   *   entry or exit, `sysemu` stops at the next system call entry and never
   *   executes it, `singlestep` runs one instruction.
   * @param signal A signal to deliver as it resumes (0: none).
   */
  resume(pid: number, how: "cont" | "syscall" | "sysemu" | "singlestep", signal = 0): void {
    const request = RESUME[how];
    if (request === undefined) {
      throw new RangeError(
        `Invalid resume mode ${String(how)}: use cont, syscall, sysemu or singlestep`,
      );
    }
    this.#request(request, pid, 0n, BigInt(intArg(signal, 0, 64, "signal")), `ptrace ${how}`);
  }

  /**
   * Reads a stopped tracee's registers into {@linkcode Tracer.regs}.
   *
   * @param pid The tracee.
   * @returns The register buffer.
   */
  getRegs(pid: number): Registers {
    this.#request(PTRACE.GETREGS, pid, 0n, this.#arena.addr(this.#regsAt), "PTRACE_GETREGS");
    return this.regs;
  }

  /**
   * Writes {@linkcode Tracer.regs} back to a stopped tracee.
   *
   * @param pid The tracee.
   */
  setRegs(pid: number): void {
    this.#request(PTRACE.SETREGS, pid, 0n, this.#arena.addr(this.#regsAt), "PTRACE_SETREGS");
  }

  /**
   * Returns the message of the last event stop (new pid for fork/clone,
   * seccomp data, exit status).
   *
   * @param pid The tracee.
   * @returns The message.
   */
  eventMessage(pid: number): bigint {
    this.#request(PTRACE.GETEVENTMSG, pid, 0n, this.#arena.addr(this.#word), "PTRACE_GETEVENTMSG");
    return this.#arena.view.getBigUint64(this.#word, true);
  }

  /**
   * Reads a stopped tracee's extended FPU/vector state (PTRACE_GETREGSET
   * NT_X86_XSTATE: the XSAVE area, legacy FXSAVE first).
   *
   * @param pid The tracee.
   * @returns The XSAVE area, as long as the CPU's.
   */
  getXState(pid: number): Uint8Array {
    const v = this.#arena.view;
    v.setBigUint64(this.#iov, this.#arena.addr(this.#xstate), true);
    v.setBigUint64(this.#iov + 8, BigInt(XSTATE_MAX), true);
    this.#request(
      PTRACE.GETREGSET,
      pid,
      NT_X86_XSTATE,
      this.#arena.addr(this.#iov),
      "PTRACE_GETREGSET",
    );
    const len = Number(v.getBigUint64(this.#iov + 8, true));
    return this.#arena.bytes.slice(this.#xstate, this.#xstate + len);
  }

  /**
   * Writes a tracee's extended FPU/vector state.
   *
   * @param pid The tracee.
   * @param state What {@linkcode Tracer.getXState} returned (possibly from another moment).
   */
  setXState(pid: number, state: Uint8Array): void {
    if (!(state instanceof Uint8Array) || state.length > XSTATE_MAX || state.length < 512) {
      throw new RangeError(`An XSAVE area is 512 to ${XSTATE_MAX} bytes`);
    }
    const v = this.#arena.view;
    this.#arena.bytes.set(state, this.#xstate);
    v.setBigUint64(this.#iov, this.#arena.addr(this.#xstate), true);
    v.setBigUint64(this.#iov + 8, BigInt(state.length), true);
    this.#request(
      PTRACE.SETREGSET,
      pid,
      NT_X86_XSTATE,
      this.#arena.addr(this.#iov),
      "PTRACE_SETREGSET",
    );
  }

  /**
   * Reads a tracee's rseq registration (PTRACE_GET_RSEQ_CONFIGURATION).
   *
   * @param pid The stopped tracee.
   * @returns The area's address, size and signature, or null when none is registered.
   */
  rseqConfiguration(pid: number): { pointer: bigint; size: number; signature: number } | null {
    const at = this.#siginfo; // 128 bytes of scratch; the struct is 24
    this.#request(
      PTRACE.GET_RSEQ_CONFIGURATION,
      pid,
      24n,
      this.#arena.addr(at),
      "PTRACE_GET_RSEQ_CONFIGURATION",
    );
    const v = this.#arena.view;
    const pointer = v.getBigUint64(at, true);
    if (pointer === 0n) return null;
    return { pointer, size: v.getUint32(at + 8, true), signature: v.getUint32(at + 12, true) };
  }

  /**
   * Returns the siginfo of the signal a tracee is stopped for.
   *
   * @param pid The tracee, in a signal-delivery stop.
   * @returns The 128-byte `siginfo_t`.
   */
  getSiginfo(pid: number): Uint8Array {
    this.#request(PTRACE.GETSIGINFO, pid, 0n, this.#arena.addr(this.#siginfo), "PTRACE_GETSIGINFO");
    return this.#arena.bytes.slice(this.#siginfo, this.#siginfo + 128);
  }

  /**
   * Reads one word of the tracee's `struct user` (PTRACE_PEEKUSER).
   *
   * @param pid The tracee.
   * @param offset Byte offset, a multiple of 8.
   * @returns The word.
   */
  peekUser(pid: number, offset: number): bigint {
    intArg(offset, 0, 4096, "user area offset");
    // The raw system call stores the word at *data.
    this.#request(
      PTRACE.PEEKUSER,
      pid,
      BigInt(offset),
      this.#arena.addr(this.#word),
      "PTRACE_PEEKUSER",
    );
    return this.#arena.view.getBigUint64(this.#word, true);
  }

  /**
   * Starts tracing a running process of ours (PTRACE_SEIZE): unlike
   * PTRACE_ATTACH it does not stop it, and the options apply at once.
   *
   * @param pid The process.
   * @param options PTRACE_O_* options.
   * @throws {Errno} EPERM when we may not trace it.
   */
  seize(pid: number, options: number): void {
    intArg(options, 0, 0x7fffffff, "ptrace options");
    this.#request(PTRACE.SEIZE, pid, 0n, BigInt(options), "PTRACE_SEIZE");
  }

  /**
   * Stops a seized tracee (PTRACE_INTERRUPT); the stop is reported as an
   * event stop named "stop".
   *
   * @param pid The tracee.
   */
  interrupt(pid: number): void {
    this.#request(PTRACE.INTERRUPT, pid, 0n, 0n, "PTRACE_INTERRUPT");
  }

  /**
   * Detaches from a tracee, letting it run.
   *
   * @param pid The stopped tracee.
   * @param signal A signal to deliver as it resumes.
   */
  detach(pid: number, signal = 0): void {
    this.#request(PTRACE.DETACH, pid, 0n, BigInt(intArg(signal, 0, 64, "signal")), "PTRACE_DETACH");
  }

  /** Frees the tracer's buffers. */
  [Symbol.dispose](): void {
    this.#arena.dispose();
  }

  #request(request: number, pid: number, addr: bigint, data: bigint, what: string): bigint {
    const p = intArg(pid, 1, 0x3fffffff, "tracee pid");
    return checkedBig(syscall(SYS.ptrace, BigInt(request), p, addr, data), `${what} ${pid}`);
  }
}
