/**
 * A task's memory as the Sentry reads and writes it: through the platform's
 * process_vm calls, with Linux's answer (EFAULT) for bad addresses.
 *
 * @module
 */
import type { ProcessMemory } from "../../platform/process_vm.ts";
import { LinuxError } from "../errors.ts";
import type { UserMemory } from "../vfs/inode.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Linux's limit on one argument or environment string, NUL included (32 pages). */
const MAX_ARG_STRLEN = 32 * 4096;

/** One task's memory. */
export class TaskMemory implements UserMemory {
  readonly #mem: ProcessMemory;
  readonly #tid: number;

  /**
   * Makes the accessor.
   *
   * @param mem The platform's memory access.
   * @param tid The task.
   */
  constructor(mem: ProcessMemory, tid: number) {
    this.#mem = mem;
    this.#tid = tid;
  }

  /**
   * Reads bytes.
   *
   * @param addr Where.
   * @param length How many.
   * @returns The bytes.
   * @throws {LinuxError} EFAULT unless all of them are readable.
   */
  read(addr: bigint, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    this.readInto(addr, buf);
    return buf;
  }

  /**
   * Reads bytes into a buffer.
   *
   * @param addr Where.
   * @param buf The buffer, filled completely.
   */
  readInto(addr: bigint, buf: Uint8Array): void {
    if (buf.length === 0) return;
    if (addr === 0n) throw new LinuxError("EFAULT");
    let n: number;
    try {
      n = this.#mem.read(this.#tid, addr, buf);
    } catch {
      throw new LinuxError("EFAULT");
    }
    if (n !== buf.length) throw new LinuxError("EFAULT");
  }

  /**
   * Writes bytes.
   *
   * @param addr Where.
   * @param data The bytes.
   * @throws {LinuxError} EFAULT unless all of them are writable.
   */
  write(addr: bigint, data: Uint8Array): void {
    if (data.length === 0) return;
    if (addr === 0n) throw new LinuxError("EFAULT");
    let n: number;
    try {
      n = this.#mem.write(this.#tid, addr, data);
    } catch {
      throw new LinuxError("EFAULT");
    }
    if (n !== data.length) throw new LinuxError("EFAULT");
  }

  /**
   * Reads as much of a range as is mapped, from its start.
   *
   * @param addr Where.
   * @param buf The buffer.
   * @returns Bytes read (0 when nothing is readable).
   */
  readPartial(addr: bigint, buf: Uint8Array): number {
    try {
      return this.#mem.read(this.#tid, addr, buf);
    } catch {
      return 0;
    }
  }

  /**
   * Reads a NUL-terminated string.
   *
   * @param addr Where.
   * @param max The longest accepted, without the NUL.
   * @returns The string.
   * @throws {LinuxError} EFAULT, or ENAMETOOLONG when no NUL comes within `max`.
   */
  readCString(addr: bigint, max = 4096): string {
    if (addr === 0n) throw new LinuxError("EFAULT");
    const chunk = new Uint8Array(256);
    const parts: Uint8Array[] = [];
    let total = 0;
    let at = addr;
    for (;;) {
      // Never read across a page boundary we have not reached: the next page may be unmapped.
      const toPage = Number(4096n - (at & 4095n));
      const want = Math.min(chunk.length, toPage);
      const n = this.readPartial(at, chunk.subarray(0, want));
      if (n === 0) throw new LinuxError("EFAULT");
      const nul = chunk.subarray(0, n).indexOf(0);
      const piece = chunk.slice(0, nul >= 0 ? nul : n);
      parts.push(piece);
      total += piece.length;
      if (total > max) throw new LinuxError("ENAMETOOLONG");
      if (nul >= 0) break;
      at += BigInt(n);
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return decoder.decode(all);
  }

  /**
   * Reads a NULL-terminated array of string pointers (argv, envp).
   *
   * @param addr The array, or 0 for none.
   * @param maxBytes Total size allowed (ARG_MAX), E2BIG beyond.
   * @returns The strings.
   */
  readStringArray(addr: bigint, maxBytes = 2 * 1024 * 1024): string[] {
    if (addr === 0n) return [];
    const out: string[] = [];
    let total = 0;
    for (let i = 0;; i++) {
      const p = this.readU64(addr + BigInt(8 * i));
      if (p === 0n) return out;
      let s: string;
      try {
        s = this.readCString(p, MAX_ARG_STRLEN - 1);
      } catch (e) {
        // One string longer than MAX_ARG_STRLEN is E2BIG, as the total is.
        if (e instanceof LinuxError && e.errno === 36) throw new LinuxError("E2BIG");
        throw e;
      }
      total += encoder.encode(s).length + 1 + 8;
      if (total > maxBytes) throw new LinuxError("E2BIG");
      out.push(s);
    }
  }

  /** @returns The u64 at `addr`. */
  readU64(addr: bigint): bigint {
    return new DataView(this.read(addr, 8).buffer).getBigUint64(0, true);
  }

  /** @returns The i32 at `addr`. */
  readI32(addr: bigint): number {
    return new DataView(this.read(addr, 4).buffer).getInt32(0, true);
  }

  /** Writes a u64. */
  writeU64(addr: bigint, value: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    this.write(addr, b);
  }

  /** Writes an i32. */
  writeI32(addr: bigint, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, true);
    this.write(addr, b);
  }
}

/**
 * The host's mappings of a stub process, from its /proc maps.
 *
 * @param hostTid A thread of the stub (its pid in the Sentry's namespace).
 * @returns Each mapping's range, host inode (0: anonymous) and name.
 */
export function hostMappings(
  hostTid: number,
): Array<{ start: bigint; end: bigint; ino: bigint; name: string }> {
  const text = Deno.readTextFileSync(`/proc/${hostTid}/maps`);
  return text.trim().split("\n").filter((l) => l).map((line) => {
    const [range, , , , ino, ...rest] = line.split(/\s+/);
    const [a, b] = range!.split("-");
    return {
      start: BigInt(`0x${a}`),
      end: BigInt(`0x${b}`),
      ino: BigInt(ino ?? 0),
      name: rest.join(" "),
    };
  });
}
