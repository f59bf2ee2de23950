/**
 * A classic BPF interpreter for seccomp programs.
 *
 * Runs a filter against one system call the way the kernel does, so tests
 * can check a compiled filter on every input, and so the Sentry can apply a
 * container's own seccomp profile to application system calls it serves.
 *
 * @module
 */

/** The `struct seccomp_data` a filter sees. */
export interface SeccompData {
  /** System call number. */
  nr: number;
  /** `AUDIT_ARCH_*`; x86-64 when not given. */
  arch?: number;
  /** Instruction pointer. */
  ip?: bigint;
  /** Up to six arguments (missing ones are 0). */
  args?: readonly bigint[];
}

const AUDIT_ARCH_X86_64 = 0xc000003e;
const SECCOMP_DATA_SIZE = 64;

/**
 * Runs a classic BPF seccomp filter.
 *
 * @param program The program (8-byte `sock_filter` entries).
 * @param data The system call.
 * @returns The filter's 32-bit verdict.
 * @throws {RangeError} For an instruction seccomp does not allow, a jump
 *   out of the program, a load outside `seccomp_data`, or falling off its end.
 *
 * @example
 * ```ts
 * import { runFilter } from "./bpf_run.ts";
 * // ret #0x7fff0000 (ALLOW)
 * const allow = new Uint8Array([6, 0, 0, 0, 0, 0, 0xff, 0x7f]);
 * if (runFilter(allow, { nr: 1 }) !== 0x7fff0000) throw new Error();
 * ```
 */
export function runFilter(program: Uint8Array, data: SeccompData): number {
  if (program.length === 0 || program.length % 8 !== 0) {
    throw new RangeError(
      `A BPF program is a non-empty list of 8-byte instructions, not ${program.length} bytes`,
    );
  }
  const input = new DataView(new ArrayBuffer(SECCOMP_DATA_SIZE));
  input.setInt32(0, data.nr, true);
  input.setUint32(4, data.arch ?? AUDIT_ARCH_X86_64, true);
  input.setBigUint64(8, BigInt.asUintN(64, data.ip ?? 0n), true);
  (data.args ?? []).slice(0, 6).forEach((a, i) =>
    input.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true)
  );

  const code = new DataView(
    program.buffer,
    program.byteOffset,
    program.byteLength,
  );
  const count = program.length / 8;
  const mem = new Uint32Array(16);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < count; pc++) {
    const op = code.getUint16(8 * pc, true);
    const jt = code.getUint8(8 * pc + 2);
    const jf = code.getUint8(8 * pc + 3);
    const k = code.getUint32(8 * pc + 4, true);
    const cls = op & 0x07;
    const src = op & 0x08 ? x : k;
    switch (cls) {
      case 0x00: // LD
        a = op === 0x60 ? memAt(mem, k) : load(op, k, input);
        break;
      case 0x01: // LDX
        if (op === 0x01) x = k; // LDX IMM
        else if (op === 0x61) x = memAt(mem, k); // LDX MEM
        else if (op === 0x81) x = SECCOMP_DATA_SIZE; // LDX LEN
        else throw bad(op, pc);
        break;
      case 0x02: // ST
        mem[memIndex(k)] = a;
        break;
      case 0x03: // STX
        mem[memIndex(k)] = x;
        break;
      case 0x04: // ALU
        a = alu(op & 0xf0, a, src, op, pc);
        break;
      case 0x05: { // JMP
        const jop = op & 0xf0;
        let next: number;
        if (jop === 0x00) next = pc + 1 + k;
        else {
          let taken: boolean;
          if (jop === 0x10) taken = a === src;
          else if (jop === 0x20) taken = a > src;
          else if (jop === 0x30) taken = a >= src;
          else if (jop === 0x40) taken = (a & src) !== 0;
          else throw bad(op, pc);
          next = pc + 1 + (taken ? jt : jf);
        }
        if (next >= count) {
          throw new RangeError(
            `BPF instruction ${pc} jumps past the program's end`,
          );
        }
        pc = next - 1;
        break;
      }
      case 0x06: // RET
        if ((op & 0x18) === 0x00) return k >>> 0;
        if ((op & 0x18) === 0x10) return a >>> 0;
        throw bad(op, pc);
      case 0x07: // MISC
        if (op === 0x07) x = a; // TAX
        else if (op === 0x87) a = x; // TXA
        else throw bad(op, pc);
        break;
    }
  }
  throw new RangeError("The BPF program ran past its end without returning");
}

function load(op: number, k: number, input: DataView): number {
  if (op === 0x20) { // LD W ABS
    if (k % 4 !== 0 || k + 4 > SECCOMP_DATA_SIZE) {
      throw new RangeError(`BPF load at offset ${k} is outside seccomp_data`);
    }
    return input.getUint32(k, true);
  }
  if (op === 0x00) return k; // LD IMM
  if (op === 0x80) return SECCOMP_DATA_SIZE; // LD LEN
  throw new RangeError(
    `BPF load opcode 0x${op.toString(16)} is not allowed in seccomp`,
  );
}

function alu(
  kind: number,
  a: number,
  v: number,
  op: number,
  pc: number,
): number {
  switch (kind) {
    case 0x00:
      return (a + v) >>> 0;
    case 0x10:
      return (a - v) >>> 0;
    case 0x20:
      return Number((BigInt(a) * BigInt(v)) & 0xffffffffn);
    case 0x30:
      if (v === 0) {
        throw new RangeError(`BPF instruction ${pc} divides by zero`);
      }
      return Math.floor(a / v) >>> 0;
    case 0x40:
      return (a | v) >>> 0;
    case 0x50:
      return (a & v) >>> 0;
    case 0x60:
      return v >= 32 ? 0 : (a << v) >>> 0;
    case 0x70:
      return v >= 32 ? 0 : a >>> v;
    case 0x80:
      return (-a) >>> 0;
    case 0x90:
      if (v === 0) {
        throw new RangeError(`BPF instruction ${pc} takes a modulo by zero`);
      }
      return (a % v) >>> 0;
    case 0xa0:
      return (a ^ v) >>> 0;
  }
  throw bad(op, pc);
}

function memIndex(k: number): number {
  if (k >= 16) {
    throw new RangeError(`BPF scratch memory slot ${k} does not exist`);
  }
  return k;
}

function memAt(mem: Uint32Array, k: number): number {
  return mem[memIndex(k)]!;
}

function bad(op: number, pc: number): RangeError {
  return new RangeError(
    `BPF instruction ${pc} has an invalid opcode 0x${op.toString(16)}`,
  );
}
