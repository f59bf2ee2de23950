/**
 * ELF64 executables as the loader needs them: header, program headers,
 * the interpreter's path.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";

/** ELF types. */
export const ET_EXEC = 2;
export const ET_DYN = 3;
/** Program header types. */
export const PT_LOAD = 1;
export const PT_INTERP = 3;
export const PT_PHDR = 6;
export const PT_GNU_STACK = 0x6474e551;
/** Segment permission bits. */
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** A program header. */
export interface ProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** What the loader reads from an ELF header. */
export interface ElfInfo {
  /** ET_EXEC or ET_DYN. */
  type: number;
  /** Entry point (before any load bias). */
  entry: bigint;
  /** Offset of the program headers in the file. */
  phoff: bigint;
  /** Size of one program header. */
  phentsize: number;
  /** Number of program headers. */
  phnum: number;
  /** The program headers. */
  phdrs: ProgramHeader[];
}

/**
 * Parses an ELF64 x86-64 executable's header and program headers.
 *
 * @param head The file's first bytes (at least the header).
 * @param readAt Reads more of the file when the program headers lie beyond `head`.
 * @returns The header.
 * @throws {LinuxError} ENOEXEC when it is not a loadable x86-64 ELF64 file.
 *
 * @example
 * ```ts ignore
 * const info = parseElf(head, (off, len) => file.readAt(off, len));
 * ```
 */
export function parseElf(
  head: Uint8Array,
  readAt: (offset: bigint, length: number) => Uint8Array,
): ElfInfo {
  if (
    head.length < 64 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46
  ) {
    throw new LinuxError("ENOEXEC", "not an ELF file");
  }
  if (head[4] !== 2 || head[5] !== 1) throw new LinuxError("ENOEXEC", "not ELF64 little-endian");
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const type = v.getUint16(16, true);
  const machine = v.getUint16(18, true);
  if (machine !== 62) throw new LinuxError("ENOEXEC", `machine ${machine} is not x86-64`);
  if (type !== ET_EXEC && type !== ET_DYN) {
    throw new LinuxError("ENOEXEC", `ELF type ${type} is not executable`);
  }
  const phoff = v.getBigUint64(32, true);
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phentsize !== 56 || phnum === 0 || phnum > 128) {
    throw new LinuxError("ENOEXEC", "bad program headers");
  }
  const size = phentsize * phnum;
  const table = phoff + BigInt(size) <= BigInt(head.length)
    ? head.subarray(Number(phoff), Number(phoff) + size)
    : readAt(phoff, size);
  if (table.length < size) throw new LinuxError("ENOEXEC", "truncated program headers");
  const t = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const phdrs: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * 56;
    phdrs.push({
      type: t.getUint32(o, true),
      flags: t.getUint32(o + 4, true),
      offset: t.getBigUint64(o + 8, true),
      vaddr: t.getBigUint64(o + 16, true),
      filesz: t.getBigUint64(o + 32, true),
      memsz: t.getBigUint64(o + 40, true),
      align: t.getBigUint64(o + 48, true),
    });
  }
  for (const p of phdrs) {
    if (p.type === PT_LOAD && p.filesz > p.memsz) {
      throw new LinuxError("ENOEXEC", "segment file size exceeds memory size");
    }
  }
  if (!phdrs.some((p) => p.type === PT_LOAD)) {
    throw new LinuxError("ENOEXEC", "no loadable segment");
  }
  return { type, entry: v.getBigUint64(24, true), phoff, phentsize, phnum, phdrs };
}
