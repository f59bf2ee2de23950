/**
 * The self-only class: the system calls an application may make directly
 * to the host kernel, because they act only on the caller's own memory,
 * threads and CPU state. Everything else goes to the Sentry. One table, used
 * to build the stubs' seccomp filter (seccomp platform) and to decide which
 * calls are re-issued natively (ptrace platform).
 *
 * Not here, though DESIGN.md lists them: `rt_sigprocmask`, `rt_sigreturn`,
 * `sigaltstack` (the Sentry delivers signals itself, so it owns the masks,
 * the frames and the alternate stack) and `brk` (the Sentry lays out the
 * address space).
 *
 * @module
 */
import type { ArgCondition, Rule } from "./seccomp_bpf.ts";
import { action } from "./seccomp_bpf.ts";
import { SYS } from "./sysno.ts";

/** One system call of the class, with the argument checks that keep it self-only. */
export interface SelfOnlyEntry {
  /** System call number. */
  nr: number;
  /** Conditions that must all hold for it to run natively. */
  args?: ArgCondition[];
  /** Why it is safe. */
  note: string;
}

const MAP_SHARED = 0x01;
const MAP_ANONYMOUS = 0x20;
const CLONE_VM = 0x100;
const CLONE_FS = 0x200;
const CLONE_FILES = 0x400;
const CLONE_SIGHAND = 0x800;
const CLONE_PIDFD = 0x1000;
const CLONE_PTRACE = 0x2000;
const CLONE_VFORK = 0x4000;
const CLONE_PARENT = 0x8000;
const CLONE_THREAD = 0x10000;
const CLONE_NEWNS = 0x20000;
const CLONE_UNTRACED = 0x800000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_IO = 0x80000000;

/** Flags a thread clone must have (a new thread in the same process). */
export const THREAD_CLONE_REQUIRED = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
  CLONE_THREAD;
/** Flags a native thread clone must not have. */
export const THREAD_CLONE_FORBIDDEN = CLONE_PIDFD | CLONE_PTRACE | CLONE_VFORK | CLONE_PARENT |
  CLONE_NEWNS | CLONE_UNTRACED | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
  CLONE_NEWPID | CLONE_NEWNET | CLONE_IO | 0xff; // low byte: the exit signal, 0 for threads

/** The self-only class. */
export const SELF_ONLY: readonly SelfOnlyEntry[] = [
  {
    nr: SYS.mmap,
    args: [{
      arg: 3,
      op: "masked-eq",
      mask: MAP_ANONYMOUS | MAP_SHARED,
      value: MAP_ANONYMOUS,
      width: 32,
    }],
    note: "private anonymous memory only; file and shared mappings go through the Sentry",
  },
  { nr: SYS.munmap, note: "the caller's own mappings" },
  { nr: SYS.mprotect, note: "the caller's own mappings" },
  { nr: SYS.madvise, note: "the caller's own mappings" },
  { nr: SYS.mremap, note: "the caller's own mappings" },
  { nr: SYS.futex, note: "waits and wakes on the caller's own memory" },
  {
    nr: SYS.restart_syscall,
    note: "goes on with the caller's own native call that a signal cut short " +
      "(a futex wait with a timeout), as the kernel saved it",
  },
  { nr: SYS.sched_yield, note: "gives up the CPU" },
  { nr: SYS.arch_prctl, note: "the caller's FS/GS base and CPUID faulting" },
  { nr: SYS.set_robust_list, note: "the calling thread's robust futex list" },
  { nr: SYS.rseq, note: "the calling thread's restartable sequences" },
  { nr: SYS.set_tid_address, note: "the calling thread's clear-on-exit address" },
  {
    nr: SYS.clock_gettime,
    args: [{ arg: 0, op: "lt", value: 12, width: 32 }],
    note: "system clocks only (negative ids name other processes' CPU clocks)",
  },
  {
    nr: SYS.clock_getres,
    args: [{ arg: 0, op: "lt", value: 12, width: 32 }],
    note: "system clocks only",
  },
  { nr: SYS.gettimeofday, note: "the time" },
  { nr: SYS.time, note: "the time" },
  { nr: SYS.exit, note: "ends the calling thread; the Sentry sees it through ptrace" },
  { nr: SYS.exit_group, note: "ends the caller; the Sentry sees it through ptrace" },
  {
    nr: SYS.clone,
    args: [{
      arg: 0,
      op: "masked-eq",
      mask: THREAD_CLONE_REQUIRED | THREAD_CLONE_FORBIDDEN,
      value: THREAD_CLONE_REQUIRED,
      width: 32,
    }],
    note:
      "a new thread of the caller (no namespaces, no new process); the Sentry sees it through ptrace",
  },
];

const BY_NR = new Map<number, SelfOnlyEntry>(SELF_ONLY.map((e) => [e.nr, e]));

/**
 * Reports whether a call may run natively, checking its arguments the way
 * the filter does.
 *
 * @param nr The system call number.
 * @param args Its arguments.
 * @returns True when it belongs to the self-only class.
 *
 * @example
 * ```ts
 * import { isSelfOnly } from "./self_only.ts";
 * if (!isSelfOnly(9, [0n, 4096n, 3n, 0x22n, -1n, 0n])) throw new Error("anonymous mmap");
 * if (isSelfOnly(9, [0n, 4096n, 1n, 0x02n, 3n, 0n])) throw new Error("file mmap");
 * ```
 */
export function isSelfOnly(nr: number, args: readonly bigint[]): boolean {
  const entry = BY_NR.get(nr);
  if (!entry) return false;
  return (entry.args ?? []).every((c) => {
    if (c.arg === "ip") return false; // no self-only rule looks at the caller's address
    const width = c.width === 32 ? 32 : 64;
    const a = BigInt.asUintN(width, args[c.arg] ?? 0n);
    const v = BigInt.asUintN(width, BigInt(c.value));
    switch (c.op) {
      case "masked-eq": {
        const m = BigInt.asUintN(width, BigInt(c.mask ?? 0));
        return (a & m) === (v & m);
      }
      case "eq":
        return a === v;
      case "ne":
        return a !== v;
      case "lt":
        return a < v;
      case "le":
        return a <= v;
      case "gt":
        return a > v;
      case "ge":
        return a >= v;
    }
  });
}

/**
 * The stubs' seccomp rules for the seccomp platform: the self-only class
 * runs natively, everything else stops for the Sentry (SECCOMP_RET_TRACE).
 *
 * @returns Rules for {@linkcode compileFilter} with `defaultAction: action.trace()`.
 *
 * @example
 * ```ts
 * import { selfOnlyRules } from "./self_only.ts";
 * import { action, compileFilter } from "./seccomp_bpf.ts";
 * import { runFilter } from "./bpf_run.ts";
 * const p = compileFilter({ rules: selfOnlyRules(), defaultAction: action.trace() });
 * if (runFilter(p, { nr: 0 }) !== action.trace()) throw new Error("read goes to the Sentry");
 * if (runFilter(p, { nr: 24 }) !== action.allow()) throw new Error("sched_yield is native");
 * ```
 */
export function selfOnlyRules(): Rule[] {
  return SELF_ONLY.map((e) => ({
    syscall: e.nr,
    ...(e.args ? { args: e.args } : {}),
    action: action.allow(),
  }));
}
