/**
 * A seccomp-bpf assembler: rules per system call, with conditions on the
 * arguments, compiled to a classic BPF program the kernel (or
 * {@linkcode runFilter} in bpf_run.ts) executes.
 *
 * The program checks the architecture, rejects x32 system call numbers,
 * finds the system call with a binary search over the numbers that have
 * rules (so hundreds of rules cost a few comparisons), then tries that
 * call's rules in order: the first whose conditions all hold decides.
 * Conditional jumps that cannot reach their target in 255 instructions go
 * through `ja` trampolines.
 *
 * @module
 */

/** `SECCOMP_RET_*` values. */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** `AUDIT_ARCH_X86_64`. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

/** A filter's verdict: a `SECCOMP_RET_*` value with its 16-bit data. */
export type Action = number;

/** Verdict constructors. */
export const action = {
  /** Let the system call run. */
  allow: (): Action => SECCOMP_RET.ALLOW,
  /** Fail it with an errno (0..4095). */
  errno: (errno: number): Action => SECCOMP_RET.ERRNO | data16(errno, "errno", 4095),
  /** Stop for a ptrace tracer (PTRACE_O_TRACESECCOMP) with 16 bits of data. */
  trace: (data = 0): Action => SECCOMP_RET.TRACE | data16(data, "trace data"),
  /** Hand it to the user-space supervisor holding the listener. */
  userNotif: (): Action => SECCOMP_RET.USER_NOTIF,
  /** Kill the whole process (SIGSYS). */
  killProcess: (): Action => SECCOMP_RET.KILL_PROCESS,
  /** Kill the calling thread. */
  killThread: (): Action => SECCOMP_RET.KILL_THREAD,
  /** Send SIGSYS with 16 bits of data. */
  trap: (data = 0): Action => SECCOMP_RET.TRAP | data16(data, "trap data"),
  /** Log it, then let it run. */
  log: (): Action => SECCOMP_RET.LOG,
} as const;

function data16(n: number, what: string, max = 0xffff): number {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new RangeError(
      `Invalid ${what} ${n}: use an integer from 0 to ${max}`,
    );
  }
  return n;
}

/** How a condition compares an argument (unsigned). */
export type ArgOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "masked-eq";

/** A condition on one system call argument. */
export interface ArgCondition {
  /** Argument index, 0..5, or "ip": the address after the `syscall` instruction. */
  arg: number | "ip";
  /** The comparison; all are unsigned. */
  op: ArgOp;
  /** The value compared with (for masked-eq: compared with `arg & mask`). */
  value: bigint | number;
  /** For masked-eq: the mask. */
  mask?: bigint | number;
  /**
   * 32 compares only the low 32 bits (int arguments, whose upper half the
   * kernel ignores and callers may leave dirty); 64 (default) compares all.
   */
  width?: 32 | 64;
}

/** A rule: when the system call is `syscall` and every condition holds, `action`. */
export interface Rule {
  /** System call number. */
  syscall: number;
  /** Conditions, all of which must hold (none: always). */
  args?: ArgCondition[];
  /** The verdict. */
  action: Action;
}

/** A whole filter. */
export interface FilterSpec {
  /** Rules; for one system call they are tried in the order given. */
  rules: Rule[];
  /** Verdict when no rule matches. */
  defaultAction: Action;
  /** Verdict for another architecture or an x32 number (default: kill the process). */
  badArchAction?: Action;
}

/** The kernel's limit on a filter's length (BPF_MAXINSNS). */
export const MAX_INSTRUCTIONS = 4096;

// Classic BPF opcodes used here.
const LD_W_ABS = 0x20;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JGE_K = 0x35;
const ALU_AND_K = 0x54;
const RET_K = 0x06;

class Label {
  insn: Insn | undefined;
}

interface Insn {
  code: number;
  k: number;
  jt?: Label;
  jf?: Label;
  ja?: Label;
}

/** An instruction list with labels bound to instructions, not indices. */
class Program {
  readonly insns: Insn[] = [];
  #pending: Label[] = [];

  label(): Label {
    return new Label();
  }

  bind(l: Label): void {
    this.#pending.push(l);
  }

  emit(code: number, k: number, jt?: Label, jf?: Label): void {
    const insn: Insn = { code, k: k >>> 0 };
    if (jt) insn.jt = jt;
    if (jf) insn.jf = jf;
    this.#bindPending(insn);
    this.insns.push(insn);
  }

  jump(target: Label): void {
    const insn: Insn = { code: JMP_JA, k: 0, ja: target };
    this.#bindPending(insn);
    this.insns.push(insn);
  }

  /** A conditional jump; `undefined` targets mean the next instruction. */
  branch(
    code: number,
    k: number,
    jt: Label | undefined,
    jf: Label | undefined,
  ): void {
    const next = this.label();
    this.emit(code, k, jt ?? next, jf ?? next);
    this.bind(next);
  }

  #bindPending(insn: Insn): void {
    for (const l of this.#pending) l.insn = insn;
    this.#pending = [];
  }

  /** Resolves labels, inserting `ja` trampolines for far conditional jumps. */
  assemble(): Uint8Array {
    if (this.#pending.length) {
      throw new Error("A label is bound past the program's end");
    }
    for (;;) {
      const index = new Map(this.insns.map((insn, i) => [insn, i]));
      const at = (l: Label) => {
        const i = l.insn && index.get(l.insn);
        if (i === undefined) throw new Error("A jump targets an unbound label");
        return i;
      };
      // Every conditional jump that cannot reach its target gets a `ja`
      // right after it; insert them all (from the end, so the positions
      // found stay valid), then look again: the program grew, so other
      // jumps may now be too far.
      const far: Array<[number, "jt" | "jf"]> = [];
      this.insns.forEach((insn, i) => {
        for (const side of ["jt", "jf"] as const) {
          const target = insn[side];
          if (!target) continue;
          const offset = at(target) - i - 1;
          if (offset < 0) throw new Error("Classic BPF cannot jump backwards");
          if (offset > 255) far.push([i, side]);
        }
      });
      for (let j = far.length - 1; j >= 0; j--) {
        const [i, side] = far[j]!;
        const insn = this.insns[i]!;
        const trampoline: Insn = { code: JMP_JA, k: 0, ja: insn[side]! };
        this.insns.splice(i + 1, 0, trampoline);
        const near = new Label();
        near.insn = trampoline;
        insn[side] = near;
      }
      if (far.length) continue;
      if (this.insns.length > MAX_INSTRUCTIONS) {
        throw new RangeError(
          `The seccomp filter needs ${this.insns.length} instructions; the kernel allows ${MAX_INSTRUCTIONS}: use fewer rules or conditions`,
        );
      }
      const out = new Uint8Array(8 * this.insns.length);
      const view = new DataView(out.buffer);
      this.insns.forEach((insn, i) => {
        let k = insn.k;
        let jt = 0;
        let jf = 0;
        if (insn.ja) k = at(insn.ja) - i - 1;
        if (insn.jt) jt = at(insn.jt) - i - 1;
        if (insn.jf) jf = at(insn.jf) - i - 1;
        view.setUint16(8 * i, insn.code, true);
        view.setUint8(8 * i + 2, jt);
        view.setUint8(8 * i + 3, jf);
        view.setUint32(8 * i + 4, k >>> 0, true);
      });
      return out;
    }
  }
}

/**
 * Compiles a filter to a classic BPF program for seccomp(2).
 *
 * @param spec The rules and default verdicts.
 * @returns The program: 8-byte `sock_filter` entries.
 * @throws {RangeError} For an invalid rule, or a program longer than 4096 instructions.
 *
 * @example
 * ```ts
 * import { action, compileFilter } from "./seccomp_bpf.ts";
 * import { runFilter } from "./bpf_run.ts";
 * const program = compileFilter({
 *   rules: [{ syscall: 39, action: action.errno(1) }],
 *   defaultAction: action.allow(),
 * });
 * if (runFilter(program, { nr: 39 }) !== action.errno(1)) throw new Error();
 * if (runFilter(program, { nr: 0 }) !== action.allow()) throw new Error();
 * ```
 */
export function compileFilter(spec: FilterSpec): Uint8Array {
  validate(spec);
  const p = new Program();
  const badArch = p.label();
  const deflt = p.label();

  p.emit(LD_W_ABS, 4);
  p.branch(JMP_JEQ_K, AUDIT_ARCH_X86_64, undefined, badArch);
  p.emit(LD_W_ABS, 0);
  p.branch(JMP_JGE_K, X32_SYSCALL_BIT, badArch, undefined);

  const bySyscall = new Map<number, Rule[]>();
  for (const r of spec.rules) {
    const list = bySyscall.get(r.syscall) ?? [];
    list.push(r);
    bySyscall.set(r.syscall, list);
  }
  const numbers = [...bySyscall.keys()].sort((a, b) => a - b);
  const blocks = new Map(numbers.map((n) => [n, p.label()]));
  searchTree(p, numbers, blocks, deflt);

  for (const nr of numbers) {
    p.bind(blocks.get(nr)!);
    for (const rule of bySyscall.get(nr)!) {
      const nextRule = p.label();
      for (const c of rule.args ?? []) condition(p, c, nextRule);
      p.emit(RET_K, rule.action);
      p.bind(nextRule);
    }
    p.jump(deflt);
  }
  p.bind(deflt);
  p.emit(RET_K, spec.defaultAction);
  p.bind(badArch);
  p.emit(RET_K, spec.badArchAction ?? SECCOMP_RET.KILL_PROCESS);
  return p.assemble();
}

/** Emits a binary search over sorted numbers; A holds the system call number. */
function searchTree(
  p: Program,
  numbers: number[],
  blocks: Map<number, Label>,
  miss: Label,
): void {
  if (numbers.length <= 4) {
    for (const n of numbers) p.branch(JMP_JEQ_K, n, blocks.get(n)!, undefined);
    p.jump(miss);
    return;
  }
  const mid = numbers.length >> 1;
  const upper = p.label();
  p.branch(JMP_JGE_K, numbers[mid]!, upper, undefined);
  searchTree(p, numbers.slice(0, mid), blocks, miss);
  p.bind(upper);
  searchTree(p, numbers.slice(mid), blocks, miss);
}

/** Emits one condition: falls through when it holds, jumps to `fail` when not. */
function condition(p: Program, c: ArgCondition, fail: Label): void {
  const value = BigInt.asUintN(64, BigInt(c.value));
  const mask = BigInt.asUintN(64, BigInt(c.mask ?? -1n));
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number(v >> 32n);
  const loOff = c.arg === "ip" ? 8 : 16 + 8 * c.arg;
  const hiOff = loOff + 4;
  const wide = (c.width ?? 64) === 64;
  const pass = p.label();

  switch (c.op) {
    case "eq":
      if (wide) {
        p.emit(LD_W_ABS, hiOff);
        p.branch(JMP_JEQ_K, hi(value), undefined, fail);
      }
      p.emit(LD_W_ABS, loOff);
      p.branch(JMP_JEQ_K, lo(value), undefined, fail);
      break;
    case "ne":
      if (wide) {
        p.emit(LD_W_ABS, hiOff);
        p.branch(JMP_JEQ_K, hi(value), undefined, pass);
      }
      p.emit(LD_W_ABS, loOff);
      p.branch(JMP_JEQ_K, lo(value), fail, undefined);
      break;
    case "masked-eq":
      if (wide) {
        p.emit(LD_W_ABS, hiOff);
        p.emit(ALU_AND_K, hi(mask));
        p.branch(JMP_JEQ_K, hi(value & mask), undefined, fail);
      }
      p.emit(LD_W_ABS, loOff);
      p.emit(ALU_AND_K, lo(mask));
      p.branch(JMP_JEQ_K, lo(value & mask), undefined, fail);
      break;
    case "gt":
    case "ge": {
      // holds when hi > v.hi, or hi == v.hi and lo > (>=) v.lo
      if (wide) {
        p.emit(LD_W_ABS, hiOff);
        p.branch(JMP_JGT_K, hi(value), pass, undefined);
        p.branch(JMP_JEQ_K, hi(value), undefined, fail);
      }
      p.emit(LD_W_ABS, loOff);
      p.branch(
        c.op === "gt" ? JMP_JGT_K : JMP_JGE_K,
        lo(value),
        undefined,
        fail,
      );
      break;
    }
    case "lt":
    case "le": {
      // lt is "not ge", le is "not gt"
      if (wide) {
        p.emit(LD_W_ABS, hiOff);
        p.branch(JMP_JGT_K, hi(value), fail, undefined);
        p.branch(JMP_JEQ_K, hi(value), undefined, pass);
      }
      p.emit(LD_W_ABS, loOff);
      p.branch(
        c.op === "lt" ? JMP_JGE_K : JMP_JGT_K,
        lo(value),
        fail,
        undefined,
      );
      break;
    }
  }
  p.bind(pass);
}

const OPS: readonly ArgOp[] = ["eq", "ne", "lt", "le", "gt", "ge", "masked-eq"];

function validate(spec: FilterSpec): void {
  if (!spec || !Array.isArray(spec.rules)) {
    throw new TypeError("A seccomp filter needs a rules array");
  }
  checkAction(spec.defaultAction, "default action");
  if (spec.badArchAction !== undefined) {
    checkAction(spec.badArchAction, "bad-architecture action");
  }
  spec.rules.forEach((r, i) => {
    if (
      !Number.isInteger(r.syscall) || r.syscall < 0 ||
      r.syscall >= X32_SYSCALL_BIT
    ) {
      throw new RangeError(
        `Rule ${i}: invalid system call number ${r.syscall}`,
      );
    }
    checkAction(r.action, `rule ${i} action`);
    for (const c of r.args ?? []) {
      if (c.arg !== "ip" && (!Number.isInteger(c.arg) || c.arg < 0 || c.arg > 5)) {
        throw new RangeError(
          `Rule ${i}: invalid argument index ${c.arg}, use 0 to 5 or "ip"`,
        );
      }
      if (!OPS.includes(c.op)) {
        throw new RangeError(
          `Rule ${i}: unknown comparison ${c.op}, use ${OPS.join(", ")}`,
        );
      }
      if (typeof c.value !== "bigint" && !Number.isSafeInteger(c.value)) {
        throw new RangeError(
          `Rule ${i}: the value must be an integer or a BigInt`,
        );
      }
      if (c.op === "masked-eq" && c.mask === undefined) {
        throw new RangeError(`Rule ${i}: masked-eq needs a mask`);
      }
      if (c.width !== undefined && c.width !== 32 && c.width !== 64) {
        throw new RangeError(`Rule ${i}: width must be 32 or 64`);
      }
    }
  });
}

function checkAction(a: Action, what: string): void {
  if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) {
    throw new RangeError(`Invalid ${what} ${a}: build it with action.*()`);
  }
}
