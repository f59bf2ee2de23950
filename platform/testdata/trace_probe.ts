/**
 * Runs the probe program under the tracer and answers its system call from
 * TypeScript, the way both platforms will: `sysemu` stops at every system
 * call (PTRACE_SYSEMU) and passes the others through to the host; `seccomp`
 * stops only at the probed one (SECCOMP_RET_TRACE). Used by ptrace_test.ts
 * (in a Worker, the tracer thread) and by the benchmarks.
 *
 * @module
 */
import { closeFd, pipe, readAll } from "../fd.ts";
import { ProcessMemory } from "../process_vm.ts";
import { PTRACE_O, Tracer } from "../ptrace.ts";
import { action, compileFilter } from "../seccomp_bpf.ts";
import { spawn } from "../spawn.ts";
import { SYS } from "../sysno.ts";
import { probeFd } from "./programs.ts";

/** What to trace. */
export interface TraceProbeOptions {
  /** How system calls are caught. */
  platform: "sysemu" | "seccomp";
  /** The system call the probe makes. */
  nr: number;
  /** How many times. */
  count: number;
  /** The answer the tracer gives. */
  answer: bigint;
  /** With sysemu: replace the bytes the probe writes (process_vm_writev). */
  rewriteOutput?: string;
}

/** What happened. */
export interface TraceProbeResult {
  /** What the probe printed. */
  output: string;
  /** Its exit code. */
  code: number | null;
  /** Calls answered by the tracer. */
  answered: number;
  /** What the probe's write calls held, read with process_vm_readv. */
  written: string[];
  /** Milliseconds from execve to exit. */
  elapsedMs: number;
}

/**
 * Spawns the probe traced by this thread and serves it to the end.
 *
 * @param o What to trace.
 * @returns What happened.
 *
 * @example
 * ```ts ignore
 * // In a Worker:
 * const r = traceProbe({ platform: "seccomp", nr: 39, count: 1, answer: 4242n });
 * // r.output === "4242\n"
 * ```
 */
export function traceProbe(o: TraceProbeOptions): TraceProbeResult {
  const exe = probeFd();
  const [r, w] = pipe();
  const filter = o.platform === "seccomp"
    ? {
      noNewPrivileges: true,
      seccomp: {
        program: compileFilter({
          rules: [{ syscall: o.nr, action: action.trace() }],
          defaultAction: action.allow(),
        }),
      },
    }
    : {};
  let child;
  try {
    child = spawn({
      executableFd: exe,
      args: ["probe", String(o.nr), String(o.count)],
      fds: [[1, w], [2, 2]],
      trace: "stop",
      parentDeathSignal: 9,
      ...filter,
    });
  } finally {
    closeFd(exe);
    closeFd(w);
  }
  using _child = child;
  using tracer = new Tracer();
  using memory = new ProcessMemory();
  const pid = child.pid;
  const mode = o.platform === "sysemu" ? "sysemu" : "cont";
  const written: string[] = [];
  let answered = 0;
  let code: number | null = null;
  let started = 0;

  const first = tracer.wait(pid);
  if (first?.kind !== "signal" || first.signal !== 19) {
    throw new Error(`Expected the probe to stop before execve, got ${JSON.stringify(first)}`);
  }
  tracer.setOptions(
    pid,
    PTRACE_O.TRACESYSGOOD | PTRACE_O.EXITKILL | PTRACE_O.TRACEEXEC | PTRACE_O.TRACESECCOMP,
  );
  tracer.resume(pid, "cont");
  for (;;) {
    const e = tracer.wait(pid)!;
    if (e.kind === "exited" || e.kind === "killed") {
      code = e.kind === "exited" ? e.code : null;
      break;
    }
    if (e.kind === "event" && e.event === "exec") {
      started = performance.now();
      tracer.resume(pid, mode);
    } else if (e.kind === "event" && e.event === "seccomp") {
      const regs = tracer.getRegs(pid);
      if (regs.syscallNumber === o.nr) {
        regs.set("orig_rax", -1n);
        regs.set("rax", o.answer);
        tracer.setRegs(pid);
        answered++;
      }
      tracer.resume(pid, "cont");
    } else if (e.kind === "syscall") {
      const regs = tracer.getRegs(pid);
      const nr = regs.syscallNumber;
      if (nr === o.nr) {
        regs.set("rax", o.answer);
        tracer.setRegs(pid);
        answered++;
        tracer.resume(pid, "sysemu");
        continue;
      }
      if (nr === SYS.write) {
        const buf = new Uint8Array(Number(regs.arg(2)));
        memory.read(pid, regs.arg(1), buf);
        written.push(new TextDecoder().decode(buf));
        if (o.rewriteOutput !== undefined) {
          const data = new TextEncoder().encode(o.rewriteOutput);
          memory.write(pid, regs.arg(1), data);
          regs.set("rdx", BigInt(data.length));
        }
      }
      // Let the host run it: back up to the syscall instruction, stop at
      // its entry and exit with PTRACE_SYSCALL, then emulate again.
      regs.set("rax", regs.get("orig_rax"));
      regs.set("rip", regs.get("rip") - 2n);
      tracer.setRegs(pid);
      tracer.resume(pid, "syscall");
      const entry = tracer.wait(pid)!;
      if (entry.kind !== "syscall") throw new Error(`Expected a syscall entry, got ${entry.kind}`);
      tracer.resume(pid, "syscall");
      const exit = tracer.wait(pid)!;
      if (exit.kind === "exited" || exit.kind === "killed") {
        code = exit.kind === "exited" ? exit.code : null;
        break;
      }
      tracer.resume(pid, "sysemu");
    } else if (e.kind === "signal") {
      tracer.resume(pid, mode, e.signal);
    } else {
      tracer.resume(pid, mode);
    }
  }
  const elapsedMs = performance.now() - started;
  const output = new TextDecoder().decode(readAll(r));
  closeFd(r);
  return { output, code, answered, written, elapsedMs };
}
