/**
 * A first program on the Machine, without a loader: map one page in a new
 * stub, write a few instructions into it, and serve what they ask:
 *
 *     getpid()            -> answered by the Sentry with `answer`
 *     mmap(anonymous)     -> native (self-only), the page is written to
 *     exit_group(result)  -> native; the Sentry sees the task exit
 *
 * Used by machine_test.ts (in a Worker, the tracer) for both platforms.
 *
 * @module
 */
import { Machine, type PlatformName } from "../machine.ts";
import { SYS } from "../sysno.ts";

/** What the probe did. */
export interface MachineProbeResult {
  /** System calls the Sentry saw, by name. */
  seen: number[];
  /** The exit code. */
  code: number | null;
  /** What the first injected mmap returned. */
  mapped: string;
  /** The stub's pid inside its own pid namespace (NSpid), 1 for the first one. */
  nsPid: number;
}

const CODE_AT = 0x400000n;

// getpid; r12 = rax; mmap(0, 4096, RW, PRIVATE|ANON, -1, 0); store r12 there;
// reload it; exit_group(it)
const PROGRAM = new Uint8Array([
  0xb8,
  0x27,
  0,
  0,
  0, //           mov eax, 39 (getpid)
  0x0f,
  0x05, //                     syscall
  0x49,
  0x89,
  0xc4, //               mov r12, rax
  0xb8,
  0x09,
  0,
  0,
  0, //           mov eax, 9 (mmap)
  0x31,
  0xff, //                     xor edi, edi
  0xbe,
  0x00,
  0x10,
  0,
  0, //        mov esi, 4096
  0xba,
  0x03,
  0,
  0,
  0, //           mov edx, 3
  0x41,
  0xba,
  0x22,
  0,
  0,
  0, //     mov r10d, 0x22
  0x49,
  0xc7,
  0xc0,
  0xff,
  0xff,
  0xff,
  0xff, // mov r8, -1
  0x45,
  0x31,
  0xc9, //               xor r9d, r9d
  0x0f,
  0x05, //                     syscall
  0x4c,
  0x89,
  0x20, //               mov [rax], r12
  0x48,
  0x8b,
  0x38, //               mov rdi, [rax]
  0xb8,
  0xe7,
  0,
  0,
  0, //           mov eax, 231 (exit_group)
  0x0f,
  0x05, //                     syscall
]);

/**
 * Runs the probe on a new machine.
 *
 * @param platform How calls are caught.
 * @param answer What getpid returns.
 * @param emptyRootAt A directory for the stub's empty root.
 * @returns What happened.
 *
 * @example
 * ```ts ignore
 * machineProbe("seccomp", 42, dir); // { code: 42, ... }
 * ```
 */
export function machineProbe(
  platform: PlatformName,
  answer: number,
  emptyRootAt: string,
): MachineProbeResult {
  using machine = new Machine(platform);
  const tid = machine.createAddressSpace({ namespaces: ["pid", "mount"], emptyRootAt });
  const nsPid = Number(
    /NSpid:\s+\d+\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${tid}/status`))?.[1],
  );
  const mapped = machine.inject(tid, SYS.mmap, [CODE_AT, 4096n, 3n, 0x32n, -1n, 0n]); // RW, FIXED|PRIVATE|ANON
  if (mapped !== CODE_AT) throw new Error(`mmap in the stub returned ${mapped}`);
  machine.memory.write(tid, CODE_AT, PROGRAM);
  const protect = machine.inject(tid, SYS.mprotect, [CODE_AT, 4096n, 5n]); // R-X
  if (protect !== 0n) throw new Error(`mprotect in the stub failed: ${protect}`);
  const regs = machine.getRegs(tid);
  regs.set("rip", CODE_AT);
  machine.setRegs(tid);
  machine.resume(tid);
  const seen: number[] = [];
  let code: number | null = null;
  for (;;) {
    const e = machine.wait();
    if (e.kind === "syscall") {
      seen.push(e.nr);
      if (e.nr === SYS.getpid) machine.complete(e.tid, BigInt(answer));
      else machine.complete(e.tid, -38n);
    } else if (e.kind === "exiting") {
      code = (e.status >> 8) & 0xff;
      machine.release(e.tid);
    } else if (e.kind === "gone") {
      break;
    } else if (e.kind !== "doorbell") {
      machine.resume(e.tid);
    }
  }
  return { seen, code, mapped: `0x${mapped.toString(16)}`, nsPid };
}
