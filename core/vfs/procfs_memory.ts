/**
 * The memory files of /proc/PID: maps, smaps, smaps_rollup, statm, the
 * Vm lines of status, and mem. The host keeps the truth about a process's
 * address space (its stub's), so these are the stub's own files in the
 * Sentry's terms: the stub's trampoline pages left out, host devices,
 * inodes and paths replaced by the Sentry's, and the program's code and
 * data bounds as the Sentry's loader placed them.
 *
 * @module
 */
import { STUB_BASE, STUB_END } from "../../platform/machine.ts";
import { LinuxError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process, Task } from "../kernel/task.ts";
import { procStatFields, statusNumber } from "../kernel/usage.ts";
import { splitDev } from "./devices.ts";
import { type Inode, OpenFile } from "./inode.ts";
import { SynthFile, type SynthFs, type SynthOwner } from "./synthetic.ts";

const PAGE = 4096n;
/** The stub's trampoline pages (a read-only page and an executable one). */
const STUB_PAGES = Number((STUB_END - STUB_BASE) / PAGE);
const STUB_KB = STUB_PAGES * 4;

/**
 * A host /proc file's text ("" when it cannot be read: a process gone).
 *
 * @param path The file.
 * @returns Its text.
 */
export function hostText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * A process's stub's /proc/PID/stat fields from the state on: `f[0]` is
 * field 3 (state), so proc(5)'s field N is `f[N - 3]`.
 *
 * @param k The kernel.
 * @param p The process.
 * @param t One thread's own (its times), or the whole process's.
 * @returns The fields, or null when the stub is gone.
 */
export function stubStat(k: Kernel, p: Process, t?: Task): string[] | null {
  if (!p.hostTgid) return null;
  let path = `/proc/${p.hostTgid}/stat`;
  if (t) {
    try {
      path = `/proc/${p.hostTgid}/task/${k.hostTid(t)}/stat`;
    } catch {
      return null;
    }
  }
  return procStatFields(path);
}

/** Whether a host maps (or smaps header) line is one of the stub's trampoline pages. */
function isStubLine(line: string): boolean {
  const m = /^([0-9a-f]+)-/.exec(line);
  if (!m) return false;
  const start = BigInt(`0x${m[1]}`);
  return start >= STUB_BASE && start < STUB_END;
}

/** One line of the host's maps, in the Sentry's terms (Linux's layout: names from column 73). */
function sentryMapsLine(k: Kernel, line: string): string {
  const m = /^(\S+ \S+ \S+) (\S+) (\d+) ?(.*)$/.exec(line);
  if (!m) return line;
  const [, head, , inode, rawName] = m;
  const hostName = rawName!.trim();
  let dev = "00:00";
  let ino = "0";
  let name = hostName.startsWith("[") ? hostName : ""; // [heap], [stack], [vdso]: never a host path
  const file = inode === "0" ? undefined : k.mappedFiles.get(BigInt(inode!));
  if (file) {
    const [major, minor] = splitDev(file.dev);
    dev = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
    ino = String(file.ino);
    name = file.path;
  }
  const left = `${head} ${dev} ${ino} `;
  return name ? `${left.padEnd(73)}${name}` : left;
}

/** A process's stub's host file under /proc/PID, or "" when it is gone. */
function stubFile(p: Process, name: string): string {
  return p.hostTgid ? hostText(`/proc/${p.hostTgid}/${name}`) : "";
}

/**
 * /proc/PID/maps, or smaps when `detailed`: the stub's, each mapping in the
 * Sentry's terms, the trampoline's pages left out.
 *
 * @param k The kernel.
 * @param p The process.
 * @param detailed smaps (each mapping followed by its `Key: value` lines).
 * @returns The text.
 */
export function mapsText(k: Kernel, p: Process, detailed = false): string {
  const text = stubFile(p, detailed ? "smaps" : "maps");
  const out: string[] = [];
  let skipping = false;
  for (const line of text.split("\n")) {
    if (!line) continue;
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      skipping = isStubLine(line);
      if (!skipping) out.push(sentryMapsLine(k, line));
    } else if (!skipping) out.push(line);
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/**
 * /proc/PID/smaps_rollup: the stub's totals, under Linux's `[rollup]`
 * header spanning the process's mappings.
 *
 * @param p The process.
 * @returns The text ("" for a zombie).
 */
export function smapsRollupText(p: Process): string {
  const text = stubFile(p, "smaps_rollup");
  const lines = text.split("\n");
  if (!lines[0]) return "";
  const header = /^(\S+ \S+ \S+ \S+ \S+)/.exec(lines[0]);
  return [`${(header?.[1] ?? lines[0]).padEnd(73)}[rollup]`, ...lines.slice(1)].join("\n");
}

/** Pages of the program's code, as statm's `text` and status's VmExe count them. */
function codePages(p: Process): bigint {
  if (!p.mm.codeEnd) return 0n;
  return ((p.mm.codeEnd + PAGE - 1n) & ~(PAGE - 1n)) / PAGE - p.mm.codeStart / PAGE;
}

/**
 * /proc/PID/statm: size, resident, shared, text, lib (0), data, dt (0), in
 * pages.
 *
 * @param p The process.
 * @returns The line.
 */
export function statmText(p: Process): string {
  const f = stubFile(p, "statm").trim().split(" ").map(Number);
  if (f.length < 7) return "0 0 0 0 0 0 0\n";
  return `${f[0]! - STUB_PAGES} ${f[1]} ${f[2]} ${codePages(p)} 0 ${f[5]} 0\n`;
}

/**
 * The memory lines of /proc/PID/status (VmPeak to VmSwap), the stub's with
 * the trampoline's pages left out and the program's code as VmExe.
 *
 * @param p The process.
 * @returns The lines ([] for a zombie, which has none).
 */
export function statusMemoryLines(p: Process): string[] {
  const text = stubFile(p, "status");
  const kb = (key: string) => Number(statusNumber(text, key) ?? -1n);
  if (kb("VmSize") < 0) return [];
  const exe = Number(codePages(p)) * 4;
  const fixed: Record<string, number> = {
    VmPeak: kb("VmPeak") - STUB_KB,
    VmSize: kb("VmSize") - STUB_KB,
    VmExe: exe,
    // The host's VmLib is every executable mapping but the stub's code page.
    VmLib: Math.max(0, kb("VmLib") - exe),
  };
  const keys = [
    "VmPeak",
    "VmSize",
    "VmLck",
    "VmPin",
    "VmHWM",
    "VmRSS",
    "RssAnon",
    "RssFile",
    "RssShmem",
    "VmData",
    "VmStk",
    "VmExe",
    "VmLib",
    "VmPTE",
    "VmSwap",
  ];
  return keys.map((key) => `${key}:\t${String(fixed[key] ?? Math.max(0, kb(key))).padStart(8)} kB`);
}

/**
 * Whether a process may look into another's memory (ptrace's access check
 * with the opener's file system ids): itself, the same user and group on
 * all three ids, or CAP_SYS_PTRACE.
 *
 * @param viewer The process asking.
 * @param target The process looked at.
 * @returns True when it may.
 */
export function mayTrace(viewer: Process, target: Process): boolean {
  if (viewer === target) return true;
  const v = viewer.creds;
  const t = target.creds;
  if (v.capable(19)) return true; // CAP_SYS_PTRACE
  return [t.uid, t.euid, t.suid].every((id) => id === v.fsuid) &&
    [t.gid, t.egid, t.sgid].every((id) => id === v.fsgid);
}

/**
 * /proc/PID/mem: the process's memory at the file offset, read through the
 * stub's own mem file and written with process_vm_writev (the Sentry sees
 * the host's /proc read-only), so a write to a read-only page fails with
 * EIO where Linux forces it.
 */
export class ProcMemFile extends SynthFile {
  readonly #k: Kernel;
  readonly #p: Process;

  /**
   * Makes one.
   *
   * @param fs The procfs.
   * @param key Its key.
   * @param k The kernel.
   * @param p The process.
   * @param owner Its owner (the process's).
   */
  constructor(fs: SynthFs, key: string, k: Kernel, p: Process, owner: () => SynthOwner) {
    super(fs, key, () => "", () => {}, 0o600, owner);
    this.#k = k;
    this.#p = p;
  }

  override open(flags: number): OpenFile {
    const viewer = this.#k.current?.process;
    if (!viewer || !mayTrace(viewer, this.#p)) throw new LinuxError("EACCES");
    const t = this.#p.leader ?? this.#p.threads.values().next().value;
    if (!t || !this.#p.hostTgid) throw new LinuxError("ESRCH");
    let host: Deno.FsFile;
    try {
      // The Sentry's view of the host's /proc is read-only: writes go through process_vm.
      host = Deno.openSync(`/proc/${this.#p.hostTgid}/mem`, { read: true });
    } catch {
      throw new LinuxError("ESRCH");
    }
    const hostTid = this.#k.hostTid(t);
    const write = (addr: bigint, data: Uint8Array) =>
      this.#k.machine.memory.write(hostTid, addr, data);
    return new MemOpenFile(this, flags, host, write);
  }
}

class MemOpenFile extends OpenFile {
  readonly #host: Deno.FsFile;
  readonly #write: (addr: bigint, data: Uint8Array) => number;

  constructor(
    inode: Inode,
    flags: number,
    host: Deno.FsFile,
    write: (addr: bigint, data: Uint8Array) => number,
  ) {
    super(inode, flags);
    this.#host = host;
    this.#write = write;
  }

  override get seekable(): boolean {
    return true;
  }

  protected override readAt(buf: Uint8Array, offset: bigint): number {
    // Addresses from 2^53 on are in no process's memory.
    if (offset < 0n || offset >= 1n << 53n) throw new LinuxError("EIO");
    try {
      this.#host.seekSync(Number(offset), Deno.SeekMode.Start);
      return this.#host.readSync(buf) ?? 0;
    } catch {
      throw new LinuxError("EIO");
    }
  }

  protected override writeAt(data: Uint8Array, offset: bigint): number {
    try {
      return this.#write(offset, data);
    } catch {
      throw new LinuxError("EIO");
    }
  }

  protected override release(): void {
    this.#host.close();
  }
}
