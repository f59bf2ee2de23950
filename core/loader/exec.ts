/**
 * execve in the Sentry: the application never calls execve on the host.
 * The Sentry resolves the program, follows `#!` lines, parses the ELF file
 * (and its interpreter, ld.so), then empties the task's stub, maps the
 * segments, builds the initial stack (argv, envp, auxv) and starts the
 * program at its entry point.
 *
 * Everything that can fail with an errno the caller should see happens
 * before the address space is touched.
 *
 * @module
 */
import { notifyOpened } from "../vfs/inotify.ts";
import { STUB_BASE, STUB_END } from "../../platform/machine.ts";
import { enforceOnHost } from "../kernel/rlimits.ts";
import { SYS } from "../../platform/sysno.ts";
import { LinuxError } from "../errors.ts";
import { hostMappings } from "../mm/memory.ts";
import { hostInode } from "../../platform/files.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { SIG_DFL, SIG_IGN } from "../kernel/signals.ts";
import type { Task } from "../kernel/task.ts";
import { type OpenFile, S_IFMT, S_IFREG } from "../vfs/inode.ts";
import { MAY, mayAccess } from "../vfs/perm.ts";
import { walk } from "../vfs/walk.ts";
import type { VPath } from "../vfs/mount.ts";
import {
  type ElfInfo,
  ET_DYN,
  parseElf,
  PF_R,
  PF_W,
  PF_X,
  PT_INTERP,
  PT_LOAD,
  PT_PHDR,
} from "./elf.ts";

/**
 * Linux's limit on `#!` scripts in one exec: it loads at most 6 files (the
 * program and 5 interpreters, exec_binprm's depth check), so 5 scripts
 * may chain to a binary and a sixth is ELOOP.
 */
const MAX_INTERP_DEPTH = 5;
/** MAX_ARG_STRLEN: the longest single argument or environment string. */
const MAX_ARG_STRLEN = 32 * 4096;
/** Where a position-independent executable is loaded (ELF_ET_DYN_BASE). */
const PIE_BASE = 0x555555554000n;
const PAGE = 4096n;
const PROT_READ = 1n;
const PROT_WRITE = 2n;
const PROT_EXEC = 4n;
const MAP_PRIVATE = 0x02n;
const MAP_FIXED = 0x10n;
const MAP_ANONYMOUS = 0x20n;
const MAP_NORESERVE = 0x4000n;

const encoder = new TextEncoder();

/** A program ready to load. */
interface Loadable {
  file: OpenFile;
  info: ElfInfo;
  path: string;
}

/** What execve resolved: the program, its interpreter, the final argv. */
export interface ExecPlan {
  /** The executable. */
  main: Loadable;
  /** Its ELF interpreter (ld.so), if any. */
  interp: Loadable | null;
  /** argv after `#!` rewriting. */
  argv: string[];
  /** The environment. */
  envp: string[];
  /** The path given to execve (AT_EXECFN, /proc/PID/exe of the script). */
  filename: string;
}

/**
 * Reads up to `length` bytes of an open file from `offset`, fewer at its end.
 *
 * @param file The file.
 * @param offset Where to start.
 * @param length How much at most.
 * @returns The bytes read.
 *
 * @example
 * ```ts ignore
 * const header = readAt(file, 0n, 64);
 * ```
 */
export function readAt(file: OpenFile, offset: bigint, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = file.read(buf.subarray(done), offset + BigInt(done));
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * Opens a program for execution with the checks Linux makes.
 *
 * @param t The caller.
 * @param start Where a relative path starts.
 * @param path The path.
 * @returns The open file and where it is.
 */
function openExecutable(
  t: Task,
  start: VPath,
  path: string,
): { file: OpenFile; at: VPath } {
  const p = t.process;
  const at = walk({ ns: p.ns, root: p.fs.root, cwd: p.fs.cwd, creds: p.creds }, start, path, {
    follow: true,
  });
  if (at.file) throw new LinuxError("EACCES");
  const inode = at.dentry.inode;
  const st = inode.stat();
  if ((st.mode & S_IFMT) !== S_IFREG) throw new LinuxError("EACCES");
  if (at.mount.flags.noexec) throw new LinuxError("EACCES");
  if (!mayAccess(st, MAY.EXEC, p.creds)) throw new LinuxError("EACCES");
  const file = inode.open(0);
  file.path = p.ns.pathOf(at, p.fs.root);
  file.location = at;
  // As Linux's exec opens it: IN_OPEN now, IN_CLOSE_NOWRITE when it is let go.
  notifyOpened(file, st);
  return { file, at };
}

/**
 * Resolves what execve would run, without changing anything.
 *
 * @param t The caller.
 * @param start Where a relative path starts (cwd or a dirfd).
 * @param path The path given.
 * @param argv The arguments.
 * @param envp The environment.
 * @returns The plan.
 * @throws {LinuxError} ENOENT, EACCES, ENOEXEC, ELOOP, E2BIG as Linux.
 */
export function planExec(
  t: Task,
  start: VPath,
  path: string,
  argv: string[],
  envp: string[],
): ExecPlan {
  for (const s of [...argv, ...envp]) {
    if (encoder.encode(s).length + 1 > MAX_ARG_STRLEN) throw new LinuxError("E2BIG");
  }
  let args = [...argv];
  let target = path;
  for (let depth = 0;; depth++) {
    const { file } = openExecutable(t, start, target);
    const head = readAt(file, 0n, 256);
    if (head[0] === 0x23 && head[1] === 0x21) { // "#!"
      file.unref();
      if (depth >= MAX_INTERP_DEPTH) throw new LinuxError("ELOOP");
      // Linux reads at most 256 bytes: a longer line is cut there.
      const line = new TextDecoder().decode(head.subarray(2)).split("\n")[0]!;
      const trimmed = line.replace(/^[ \t]+/, "").replace(/[ \t\r]+$/, "");
      if (trimmed.length === 0) throw new LinuxError("ENOEXEC");
      const ws = trimmed.search(/[ \t]/);
      const interp = ws < 0 ? trimmed : trimmed.slice(0, ws);
      const optional = ws < 0 ? "" : trimmed.slice(ws).replace(/^[ \t]+/, "");
      args = [interp, ...(optional ? [optional] : []), target, ...args.slice(1)];
      target = interp;
      continue;
    }
    const info = parseElf(head, (off, len) => readAt(file, off, len));
    const main: Loadable = { file, info, path: target };
    let interp: Loadable | null = null;
    const pt = info.phdrs.find((p) => p.type === PT_INTERP);
    if (pt) {
      if (pt.filesz === 0n || pt.filesz > 4096n) throw new LinuxError("ENOEXEC");
      const raw = readAt(file, pt.offset, Number(pt.filesz));
      const nul = raw.indexOf(0);
      const interpPath = new TextDecoder().decode(raw.subarray(0, nul < 0 ? raw.length : nul));
      const ip = openExecutable(t, t.process.fs.root, interpPath);
      const ihead = readAt(ip.file, 0n, 256);
      const iinfo = parseElf(ihead, (off, len) => readAt(ip.file, off, len));
      interp = { file: ip.file, info: iinfo, path: interpPath };
    }
    let total = 0;
    for (const s of [...args, ...envp]) total += encoder.encode(s).length + 1 + 8;
    if (total > 2 * 1024 * 1024) {
      file.unref();
      interp?.file.unref();
      throw new LinuxError("E2BIG");
    }
    return { main, interp, argv: args, envp, filename: path };
  }
}

const KEEP = new Set(["[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]"]);

/** The stack's first mapping, as Linux's exec expands it (128 KiB). */
const STACK_INITIAL = 128n << 10n;
const MAP_GROWSDOWN = 0x100n;
const MAP_FIXED_NOREPLACE = 0x100000n;

/**
 * Maps a new process's stack: a growing-down mapping ending where the
 * stub's own stack ended (none found: an ordinary 8 MiB one anywhere).
 *
 * @param call Runs a system call in the stub.
 * @param end Where the stub's stack ended (0: unknown).
 * @param need What its first mapping must hold (arguments, environment, auxv).
 * @returns The stack's top.
 */
function placeStack(
  call: (nr: number, ...args: bigint[]) => bigint,
  end: bigint,
  need: bigint,
): bigint {
  const rw = PROT_READ | PROT_WRITE;
  if (end) {
    const first = need > STACK_INITIAL ? need : STACK_INITIAL;
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED_NOREPLACE;
    try {
      if (call(SYS.mmap, end - first, first, rw, flags, -1n, 0n) === end - first) return end;
    } catch {
      // taken: an ordinary stack anywhere
    }
  }
  const size = 8n << 20n;
  return call(SYS.mmap, 0n, size, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1n, 0n) + size;
}

/** Values of the host's auxiliary vector the program should see (hardware capabilities). */
let hostAux: Map<number, bigint> | null = null;

function hostAuxv(): Map<number, bigint> {
  if (hostAux) return hostAux;
  const raw = Deno.readFileSync("/proc/self/auxv");
  const v = new DataView(raw.buffer);
  hostAux = new Map();
  for (let at = 0; at + 16 <= raw.length; at += 16) {
    const type = Number(v.getBigUint64(at, true));
    if (type === 0) break;
    hostAux.set(type, v.getBigUint64(at + 8, true));
  }
  return hostAux;
}

/**
 * Replaces the task's program: the point of no return of execve.
 *
 * @param k The kernel.
 * @param t The task (its process must have no other thread).
 * @param plan What planExec resolved.
 */
export function loadProgram(k: Kernel, t: Task, plan: ExecPlan): void {
  const host = k.hostTid(t);
  const p = t.process;
  const call = (nr: number, ...args: bigint[]) => {
    const r = k.machine.inject(host, nr, args);
    if (r < 0n && r >= -4095n) throw new LinuxError(Number(-r), `${nr} in exec`);
    return r;
  };
  // 1. Forget what the old program registered with the kernel in its own
  // memory, as execve does: the rseq area (written on every return to user
  // mode), the robust futex list and the clear-on-exit tid address.
  const rseq = k.machine.rseq(host);
  if (rseq) {
    call(
      SYS.rseq,
      rseq.pointer,
      BigInt(rseq.size),
      1n, /* RSEQ_FLAG_UNREGISTER */
      BigInt(rseq.signature),
    );
  }
  call(SYS.set_robust_list, 0n, 24n);
  call(SYS.set_tid_address, 0n);
  // 2. Empty the address space, keeping the stub page and the vDSO.
  let vdso = 0n;
  let hostStackEnd = 0n;
  for (const m of hostMappings(host)) {
    if (m.name === "[vdso]") vdso = m.start;
    if (m.name === "[stack]") hostStackEnd = m.end;
    if (KEEP.has(m.name)) continue;
    if (m.start >= STUB_BASE && m.end <= STUB_END) continue;
    call(SYS.munmap, m.start, m.end - m.start);
  }
  const mem = k.memory(t);
  // 3. The program and its interpreter.
  const main = mapElf(k, t, plan.main, plan.main.info.type === ET_DYN ? PIE_BASE : 0n, call);
  const interp = plan.interp ? mapElf(k, t, plan.interp, null, call) : null;
  // 4. The heap starts after the program's data.
  const brk = (main.end + PAGE - 1n) & ~(PAGE - 1n);
  // 5. The stack: where the host put the stub's own (the top of the address
  // space, mmap's allocations kept below it by at least the stack limit),
  // growing down on faults as far as RLIMIT_STACK lets it: the host
  // enforces that limit on the stub (rlimits.ts), and names the mapping
  // [stack] as it contains the stub's start_stack.
  const strings = [plan.filename, ...plan.argv, ...plan.envp];
  const need = strings.reduce((n, s) => n + BigInt(new TextEncoder().encode(s).length + 9), 0n);
  const stackTop = placeStack(call, hostStackEnd, (need + 2n * PAGE + PAGE - 1n) & ~(PAGE - 1n));
  const creds = p.creds;
  const aux = hostAuxv();
  const layout = buildStack(stackTop, {
    argv: plan.argv,
    envp: plan.envp,
    execfn: plan.filename,
    auxv: [
      [33n, vdso], // AT_SYSINFO_EHDR
      [51n, 2048n], // AT_MINSIGSTKSZ
      [16n, aux.get(16) ?? 0n], // AT_HWCAP
      [6n, PAGE], // AT_PAGESZ
      [17n, 100n], // AT_CLKTCK
      [3n, main.phdr], // AT_PHDR
      [4n, 56n], // AT_PHENT
      [5n, BigInt(plan.main.info.phnum)], // AT_PHNUM
      [7n, interp?.bias ?? 0n], // AT_BASE
      [8n, 0n], // AT_FLAGS
      [9n, main.entry], // AT_ENTRY
      [11n, BigInt(creds.uid)],
      [12n, BigInt(creds.euid)],
      [13n, BigInt(creds.gid)],
      [14n, BigInt(creds.egid)],
      [23n, 0n], // AT_SECURE
      [26n, aux.get(26) ?? 0n], // AT_HWCAP2
    ],
  });
  mem.write(layout.low, layout.bytes);
  // 6. The process's new identity.
  p.exe = plan.main.file.path ?? plan.main.path;
  p.exeLocation = plan.main.file.location;
  p.argv = plan.argv;
  p.env = plan.envp;
  k.ipc.execed(p, p.pid);
  p.mm = {
    brkStart: brk,
    brk,
    brkMapped: brk,
    vdso,
    argStart: layout.argStart,
    argEnd: layout.argEnd,
    envStart: layout.envStart,
    envEnd: layout.envEnd,
    stackTop,
    startStack: layout.sp,
    codeStart: main.codeStart,
    codeEnd: main.codeEnd,
    dataStart: main.dataStart,
    dataEnd: main.dataEnd,
    auxv: layout.auxv,
  };
  enforceOnHost(p);
  t.comm = (plan.filename.split("/").pop() ?? "").slice(0, 15);
  for (let sig = 1; sig < p.sigactions.length; sig++) {
    const a = p.sigactions[sig]!;
    if (a.handler !== SIG_IGN) {
      p.sigactions[sig] = { handler: SIG_DFL, flags: 0, restorer: 0n, mask: 0n };
    }
  }
  t.altstack = { sp: 0n, size: 0n, flags: 2 };
  p.fds.closeOnExec();
  creds.afterExec();
  plan.main.file.unref();
  plan.interp?.file.unref();
  // 7. Registers: a fresh CPU at the entry point.
  if (k.cleanXState) k.machine.setXState(host, k.cleanXState);
  const regs = k.machine.getRegs(host);
  for (
    const r of [
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
    ] as const
  ) regs.set(r, 0n);
  regs.set("orig_rax", -1n);
  regs.set("rip", interp ? interp.entry : main.entry);
  regs.set("rsp", layout.sp);
  regs.set("eflags", 0x202n);
  regs.set("fs_base", 0n);
  regs.set("gs_base", 0n);
  k.machine.setRegs(host);
  k.releaseVforkParent(p);
}

interface Mapped {
  bias: bigint;
  entry: bigint;
  phdr: bigint;
  end: bigint;
  /** Code and data bounds, as Linux's loader computes start_code...end_data. */
  codeStart: bigint;
  codeEnd: bigint;
  dataStart: bigint;
  dataEnd: bigint;
}

/**
 * Maps the file-backed part of each segment from the file's host
 * descriptor, as Linux's ELF loader does (in order, whole pages, MAP_FIXED
 * over the reserved range), and zeroes the rest of a segment's last page
 * where its bss starts. The descriptor is in the stub only meanwhile.
 */
function mapFileSegments(
  k: Kernel,
  t: Task,
  elf: Loadable,
  loads: ElfInfo["phdrs"],
  bias: bigint,
  hostFd: number,
  call: (nr: number, ...args: bigint[]) => bigint,
): void {
  const st = elf.file.inode.stat();
  k.mappedFiles.set(hostInode(hostFd), { dev: st.dev, ino: st.ino, path: elf.path });
  const fd = BigInt(k.machine.injectFd(k.hostTid(t), hostFd));
  try {
    for (const ph of loads) {
      if (ph.filesz === 0n) continue;
      const start = (ph.vaddr & ~(PAGE - 1n)) + bias;
      const end = ((ph.vaddr + ph.filesz + PAGE - 1n) & ~(PAGE - 1n)) + bias;
      const off = ph.offset & ~(PAGE - 1n);
      const at = call(
        SYS.mmap,
        start,
        end - start,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_FIXED,
        fd,
        off,
      );
      if (at !== start) throw new LinuxError("ENOMEM", `mapping a segment of ${elf.path}`);
      const fileEnd = ph.vaddr + ph.filesz + bias;
      if (ph.memsz > ph.filesz && fileEnd < end) {
        k.memory(t).write(fileEnd, new Uint8Array(Number(end - fileEnd)));
      }
    }
  } finally {
    call(SYS.close, fd);
  }
}

/** Maps an ELF file's PT_LOAD segments: one anonymous range, the file's pages over it, then each page's protection. */
function mapElf(
  k: Kernel,
  t: Task,
  elf: Loadable,
  base: bigint | null,
  call: (nr: number, ...args: bigint[]) => bigint,
): Mapped {
  const loads = elf.info.phdrs.filter((ph) => ph.type === PT_LOAD);
  const lo = loads.reduce((m, ph) => (ph.vaddr < m ? ph.vaddr : m), loads[0]!.vaddr) & ~(PAGE - 1n);
  const hi = loads.reduce((m, ph) => (ph.vaddr + ph.memsz > m ? ph.vaddr + ph.memsz : m), 0n);
  const span = ((hi + PAGE - 1n) & ~(PAGE - 1n)) - lo;
  let bias: bigint;
  if (elf.info.type === ET_DYN) {
    const want = base ?? 0n;
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | (base !== null ? MAP_FIXED : 0n);
    const at = call(SYS.mmap, want, span, PROT_READ | PROT_WRITE, flags, -1n, 0n);
    bias = at - lo;
  } else {
    bias = 0n;
    call(
      SYS.mmap,
      lo,
      span,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      -1n,
      0n,
    );
  }
  const mem = k.memory(t);
  const hostFd = elf.file.mappableFd();
  if (hostFd !== null && loads.every((ph) => (ph.vaddr - ph.offset) % PAGE === 0n)) {
    mapFileSegments(k, t, elf, loads, bias, hostFd, call);
  } else {
    for (const ph of loads) {
      const CHUNK = 1 << 20;
      for (let off = 0n; off < ph.filesz; off += BigInt(CHUNK)) {
        const len = Number(ph.filesz - off < BigInt(CHUNK) ? ph.filesz - off : BigInt(CHUNK));
        const bytes = readAt(elf.file, ph.offset + off, len);
        if (bytes.length !== len) throw new LinuxError("EIO", "short read of a segment");
        mem.write(ph.vaddr + bias + off, bytes);
      }
    }
  }
  // Protection per page: the union of the segments covering it.
  const bounds = new Set<bigint>();
  const pages = loads.map((ph) => {
    const s = (ph.vaddr & ~(PAGE - 1n)) + bias;
    const e = ((ph.vaddr + ph.memsz + PAGE - 1n) & ~(PAGE - 1n)) + bias;
    bounds.add(s);
    bounds.add(e);
    const prot = (ph.flags & PF_R ? PROT_READ : 0n) | (ph.flags & PF_W ? PROT_WRITE : 0n) |
      (ph.flags & PF_X ? PROT_EXEC : 0n);
    return { s, e, prot };
  });
  const sorted = [...bounds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i + 1 < sorted.length; i++) {
    const s = sorted[i]!;
    const e = sorted[i + 1]!;
    let prot = 0n;
    for (const pg of pages) if (pg.s < e && pg.e > s) prot |= pg.prot;
    call(SYS.mprotect, s, e - s, prot);
  }
  const phdrSeg = elf.info.phdrs.find((ph) => ph.type === PT_PHDR);
  let phdr = 0n;
  if (phdrSeg) phdr = phdrSeg.vaddr + bias;
  else {
    const holder = loads.find((ph) =>
      elf.info.phoff >= ph.offset && elf.info.phoff < ph.offset + ph.filesz
    );
    if (holder) phdr = holder.vaddr + (elf.info.phoff - holder.offset) + bias;
  }
  // start_code: the lowest executable segment; end_code: the end of the
  // highest one's file part; start_data: the highest segment; end_data: the
  // end of the highest file part.
  let codeStart = -1n;
  let codeEnd = 0n;
  let dataStart = 0n;
  let dataEnd = 0n;
  for (const ph of loads) {
    const fileEnd = ph.vaddr + ph.filesz;
    if (ph.flags & PF_X) {
      if (codeStart < 0n || ph.vaddr < codeStart) codeStart = ph.vaddr;
      if (fileEnd > codeEnd) codeEnd = fileEnd;
    }
    if (ph.vaddr > dataStart) dataStart = ph.vaddr;
    if (fileEnd > dataEnd) dataEnd = fileEnd;
  }
  return {
    bias,
    entry: elf.info.entry + bias,
    phdr,
    end: hi + bias,
    codeStart: (codeStart < 0n ? 0n : codeStart) + bias,
    codeEnd: codeEnd + bias,
    dataStart: dataStart + bias,
    dataEnd: dataEnd + bias,
  };
}

/** The initial stack, built in memory and written at once. */
interface StackLayout {
  /** Lowest address written. */
  low: bigint;
  /** The bytes from `low` to the top. */
  bytes: Uint8Array;
  /** The initial stack pointer (at argc). */
  sp: bigint;
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
  /** The auxiliary vector as written (AT_NULL included). */
  auxv: Uint8Array;
}

/**
 * Lays out argc, argv, envp, auxv and their strings below `top`, as Linux's
 * `create_elf_tables`.
 *
 * @param top The top of the stack.
 * @param s The strings and auxiliary vector entries.
 * @returns The layout.
 */
export function buildStack(
  top: bigint,
  s: { argv: string[]; envp: string[]; execfn: string; auxv: Array<[bigint, bigint]> },
): StackLayout {
  const strings: Uint8Array[] = [];
  let cursor = top - 8n; // a NULL word at the very top
  const place = (text: string | Uint8Array) => {
    const b = typeof text === "string" ? encoder.encode(text + "\0") : text;
    cursor -= BigInt(b.length);
    strings.push(b);
    return cursor;
  };
  const execfn = place(s.execfn);
  const envAddrs = s.envp.map((e) => e).reverse().map(place).reverse();
  const envStart = envAddrs[0] ?? execfn;
  const argAddrs = s.argv.map((a) => a).reverse().map(place).reverse();
  const argStart = argAddrs[0] ?? envStart;
  const platform = place("x86_64");
  const random = place(crypto.getRandomValues(new Uint8Array(16)));
  const auxv: Array<[bigint, bigint]> = [...s.auxv, [25n, random], [31n, execfn], [15n, platform], [
    0n,
    0n,
  ]];
  const words = 1 + argAddrs.length + 1 + envAddrs.length + 1 + auxv.length * 2;
  let sp = (cursor - BigInt(words * 8)) & ~15n;
  const low = sp;
  const bytes = new Uint8Array(Number(top - low));
  const v = new DataView(bytes.buffer);
  let o = 0;
  const put = (x: bigint) => {
    v.setBigUint64(o, x, true);
    o += 8;
  };
  put(BigInt(argAddrs.length));
  argAddrs.forEach(put);
  put(0n);
  envAddrs.forEach(put);
  put(0n);
  for (const [k, val] of auxv) {
    put(k);
    put(val);
  }
  // Strings were placed downwards from the top; copy each where it belongs.
  let at = top - 8n;
  for (const b of strings) {
    at -= BigInt(b.length);
    bytes.set(b, Number(at - low));
  }
  sp = low;
  const auxvAt = 8 * (1 + argAddrs.length + 1 + envAddrs.length + 1);
  return {
    low,
    bytes,
    sp,
    auxv: bytes.slice(auxvAt, auxvAt + auxv.length * 16),
    argStart,
    argEnd: envStart,
    envStart,
    envEnd: execfn,
  };
}
