/**
 * Reads sections and dynamic symbols out of an ELF64 little-endian file.
 *
 * Used to check that the machine code embedded in TypeScript is what its
 * `.S` source assembles to, without depending on the linker producing the
 * same file byte for byte.
 *
 * @module
 */

/** One section of an ELF file. */
export interface ElfSection {
  /** Section name, such as `.text`. */
  name: string;
  /** Section type (`SHT_*`). */
  type: number;
  /** Address the section is loaded at. */
  addr: bigint;
  /** The section's bytes (empty for `SHT_NOBITS`). */
  data: Uint8Array;
}

const SHT_NOBITS = 8;

/**
 * Returns the sections of an ELF64 little-endian file.
 *
 * @param file The whole ELF file.
 * @returns Its sections in file order.
 * @throws {RangeError} If the bytes are not a well-formed ELF64 little-endian file.
 *
 * @example
 * ```ts
 * import { elfSections } from "./elf_sections.ts";
 * import { nativeLibraryBytes } from "./asm/native_bin.ts";
 * const text = elfSections(nativeLibraryBytes()).find((s) => s.name === ".text");
 * if (!text || text.data.length === 0) throw new Error("no code");
 * ```
 */
export function elfSections(file: Uint8Array): ElfSection[] {
  if (
    file.length < 64 || file[0] !== 0x7f || file[1] !== 0x45 ||
    file[2] !== 0x4c || file[3] !== 0x46
  ) {
    throw new RangeError("Not an ELF file: the magic bytes are missing");
  }
  if (file[4] !== 2 || file[5] !== 1) {
    throw new RangeError("Only ELF64 little-endian files are supported");
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  if (shentsize !== 64 || shoff + shnum * 64 > file.length) {
    throw new RangeError("The ELF section header table is out of bounds");
  }
  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * 64;
    const offset = Number(view.getBigUint64(at + 0x18, true));
    const size = Number(view.getBigUint64(at + 0x20, true));
    const type = view.getUint32(at + 4, true);
    if (type !== SHT_NOBITS && offset + size > file.length) {
      throw new RangeError(`ELF section ${i} is out of bounds`);
    }
    raw.push({
      nameOffset: view.getUint32(at, true),
      type,
      addr: view.getBigUint64(at + 0x10, true),
      data: type === SHT_NOBITS ? new Uint8Array() : file.subarray(offset, offset + size),
    });
  }
  const names = raw[shstrndx]?.data ?? new Uint8Array();
  return raw.map((s) => ({
    name: cStringAt(names, s.nameOffset),
    type: s.type,
    addr: s.addr,
    data: s.data,
  }));
}

/**
 * Returns the defined dynamic symbols of an ELF64 shared object.
 *
 * @param file The whole ELF file.
 * @returns A map from symbol name to its address.
 *
 * @example
 * ```ts
 * import { elfDynamicSymbols } from "./elf_sections.ts";
 * import { nativeLibraryBytes } from "./asm/native_bin.ts";
 * if (!elfDynamicSymbols(nativeLibraryBytes()).has("dv_syscall")) throw new Error();
 * ```
 */
export function elfDynamicSymbols(file: Uint8Array): Map<string, bigint> {
  const sections = elfSections(file);
  const dynsym = sections.find((s) => s.name === ".dynsym");
  const dynstr = sections.find((s) => s.name === ".dynstr");
  const symbols = new Map<string, bigint>();
  if (!dynsym || !dynstr) return symbols;
  const view = new DataView(
    dynsym.data.buffer,
    dynsym.data.byteOffset,
    dynsym.data.byteLength,
  );
  for (let at = 0; at + 24 <= dynsym.data.length; at += 24) {
    const shndx = view.getUint16(at + 6, true);
    if (shndx === 0) continue;
    const name = cStringAt(dynstr.data, view.getUint32(at, true));
    if (name) symbols.set(name, view.getBigUint64(at + 8, true));
  }
  return symbols;
}

function cStringAt(table: Uint8Array, offset: number): string {
  let end = offset;
  while (end < table.length && table[end] !== 0) end++;
  return new TextDecoder().decode(table.subarray(offset, end));
}
