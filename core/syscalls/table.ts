/**
 * The system call table as data: one row per x86-64 system call the
 * Sentry knows, with its support level and a note. Numbers without a row
 * fail with ENOSYS (logged once). `dvisor help syscalls` prints this.
 *
 * @module
 */
import { SELF_ONLY } from "../../platform/self_only.ts";
import { SYS, type SyscallName } from "../../platform/sysno.ts";
import type { Handler, Support, SyscallEntry } from "../kernel/kernel.ts";
import { FS_HANDLERS } from "./fs.ts";
import { ITIMER_HANDLERS } from "./itimer.ts";
import { MEMORY_HANDLERS } from "./memory.ts";
import { POLL_HANDLERS } from "./poll.ts";
import { PROCESS_HANDLERS } from "./process.ts";
import { SIGNAL_HANDLERS } from "./signal.ts";
import { SPLICE_HANDLERS } from "./splice.ts";
import { TIME_HANDLERS } from "./time.ts";
import { REFUSED } from "./refused.ts";

/** A row: name, support, note (handlers are found by name). */
type Row = [SyscallName, Support, string];

const PARTIAL: Row[] = [
  ["ioctl", "partial", "FIONBIO, FIOCLEX, FIONCLEX, FIONREAD; terminals and devices add their own"],
  ["fcntl", "partial", "record locks are granted without being tracked; no leases, no F_NOTIFY"],
  [
    "mmap",
    "partial",
    "files map from host descriptors (gofer files; tmpfs files through a memfd); devices other than /dev/zero: ENODEV",
  ],
  [
    "clone",
    "partial",
    "no CLONE_NEW* (EPERM) or CLONE_PIDFD (EINVAL); CLONE_VFORK runs as fork with the parent waiting and its stack copied back; CLONE_VM without CLONE_THREAD or CLONE_VFORK: EINVAL",
  ],
  [
    "vfork",
    "partial",
    "runs as fork; the parent waits until the child execs or exits and gets back what the child wrote to its stack (not other memory)",
  ],
  ["getrusage", "partial", "CPU times only"],
  ["sched_setaffinity", "partial", "accepted, without effect"],
  ["setpriority", "partial", "accepted, without effect"],
  ["membarrier", "partial", "MEMBARRIER_CMD_QUERY (reports no command)"],
  ["mincore", "partial", "reports every page resident"],
  ["fallocate", "partial", "modes 0 and FALLOC_FL_KEEP_SIZE"],
  [
    "prctl",
    "partial",
    "names, death signal, subreaper, no_new_privs, keepcaps, capabilities; no seccomp",
  ],
];

const HANDLERS: Record<string, Handler> = {
  ...FS_HANDLERS,
  ...PROCESS_HANDLERS,
  ...SIGNAL_HANDLERS,
  ...MEMORY_HANDLERS,
  ...TIME_HANDLERS,
  ...POLL_HANDLERS,
  ...SPLICE_HANDLERS,
  ...ITIMER_HANDLERS,
};

/**
 * Builds the table, indexed by system call number.
 *
 * @returns The rows.
 *
 * @example
 * ```ts
 * import { buildSyscallTable } from "./table.ts";
 * const t = buildSyscallTable();
 * if (t[0]?.name !== "read" || t[0].support !== "full") throw new Error();
 * ```
 */
export function buildSyscallTable(): (SyscallEntry | undefined)[] {
  const table: (SyscallEntry | undefined)[] = [];
  const nr = (name: string) => (SYS as Record<string, number>)[name];
  for (const [name, handler] of Object.entries(HANDLERS)) {
    const n = nr(name);
    if (n === undefined) throw new Error(`No system call named ${name}`);
    table[n] = { name, support: "full", note: "", handler };
  }
  for (const [name, support, note] of PARTIAL) {
    const e = table[SYS[name]];
    if (!e) throw new Error(`Partial row ${name} has no handler`);
    e.support = support;
    e.note = note;
  }
  for (const [name, errno, note] of REFUSED) {
    if (table[SYS[name]]?.handler) continue;
    table[SYS[name]] = { name, support: "error", note, errno };
  }
  for (const e of SELF_ONLY) {
    const name = Object.entries(SYS).find(([, v]) => v === e.nr)![0];
    const served = table[e.nr];
    if (served?.handler) {
      // Some forms run natively, the others reach this handler.
      served.note = `native when self-only (${e.note}); otherwise ${
        served.note || "served by the Sentry"
      }`;
      continue;
    }
    table[e.nr] = { name, support: "full", note: `native (self-only): ${e.note}` };
  }
  return table;
}

/**
 * Renders the table for `dvisor help syscalls`: number, name, support, note.
 *
 * @returns The text.
 *
 * @example
 * ```ts
 * import { syscallTableText } from "./table.ts";
 * if (!syscallTableText().includes("openat")) throw new Error();
 * ```
 */
export function syscallTableText(): string {
  const t = buildSyscallTable();
  const lines = ["nr   name                     support  note"];
  for (const [name, n] of Object.entries(SYS)) {
    const e = t[n];
    const support = e ? e.support : "missing";
    const note = e ? (e.errno ? `${e.errno}: ${e.note}` : e.note) : "ENOSYS";
    lines.push(`${String(n).padEnd(4)} ${name.padEnd(24)} ${support.padEnd(8)} ${note}`.trimEnd());
  }
  const count = (s: string) =>
    Object.values(SYS).filter((n) => (t[n]?.support ?? "missing") === s).length;
  lines.push("");
  lines.push(
    `${count("full")} full, ${count("partial")} partial, ${count("error")} fail on purpose, ${
      count("missing")
    } missing (ENOSYS)`,
  );
  return lines.join("\n") + "\n";
}
