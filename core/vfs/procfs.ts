/**
 * procfs, synthesised from the Sentry's state: the processes the
 * application sees (pids, status, command lines, descriptors, mappings)
 * and system files with values consistent with the sandbox.
 *
 * @module
 */
import { mapText } from "./id_map.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { INOTIFY_LIMITS } from "./inotify.ts";
import { SIG_DFL, SIG_IGN } from "../kernel/signals.ts";
import type { Process, Task } from "../kernel/task.ts";
import { KERNEL_RELEASE, KERNEL_VERSION } from "../syscalls/process.ts";
import { LinuxError } from "../errors.ts";
import { Inode, O, OpenFile, PseudoFs, pseudoStat, S_IFREG, type Stat } from "./inode.ts";
import type { VPath } from "./mount.ts";
import { SynthDir, SynthFile, SynthFs, SynthLink } from "./synthetic.ts";
import { STUB_BASE, STUB_END } from "../../platform/machine.ts";
import {
  hostText,
  mapsText,
  ProcMemFile,
  smapsRollupText,
  statmText,
  statusMemoryLines,
  stubStat,
} from "./procfs_memory.ts";
import { addUsage, noUsage, type Rusage, US_PER_TICK } from "../kernel/rusage.ts";
import { sandboxMemory } from "../kernel/meminfo.ts";
import { onlineCpus } from "./sysfs.ts";
import { netDir, netSysctls } from "./procfs_net.ts";

const CLK_TCK = 100;

/**
 * Makes a procfs for a kernel.
 *
 * @param k The kernel.
 * @returns The file system (mount it at /proc).
 */
export function makeProcfs(k: Kernel): SynthFs {
  const fs = new SynthFs("proc", 0x04n);
  const file =
    (key: string, read: () => string, write: ((d: Uint8Array) => void) | null = null) => () =>
      new SynthFile(fs, key, read, write);
  const self = () => k.current?.process ?? k.init;
  const entries = () => {
    const m = new Map<string, () => Inode>();
    m.set("self", () => new SynthLink(fs, "self", () => String(self()?.pid ?? 0)));
    m.set(
      "thread-self",
      () =>
        new SynthLink(fs, "thread-self", () => `${self()?.pid ?? 0}/task/${k.current?.tid ?? 0}`),
    );
    const viewer = self();
    for (const p of k.processes.values()) {
      if (p.exitStatus !== null && p.threads.size === 0 && p !== k.current?.process) continue;
      // Another pod container's processes are not in its /proc (their own pid namespace).
      if (viewer && !k.sees(viewer, p)) continue;
      m.set(String(p.pid), () => processDir(k, fs, p, `${p.pid}`));
    }
    m.set("meminfo", file("meminfo", () => meminfoText(k)));
    m.set("cpuinfo", file("cpuinfo", () => hostText("/proc/cpuinfo")));
    m.set(
      "uptime",
      file("uptime", () => {
        const up = k.uptimeMs / 1000;
        return `${up.toFixed(2)} ${(up * navigator.hardwareConcurrency).toFixed(2)}\n`;
      }),
    );
    m.set(
      "loadavg",
      file("loadavg", () => {
        const [a, b, c] = Deno.loadavg();
        const running = runningTasks(k);
        return `${a!.toFixed(2)} ${b!.toFixed(2)} ${c!.toFixed(2)} ${running}/${k.tasks.size} ${
          Math.max(...k.tasks.keys(), 0)
        }\n`;
      }),
    );
    m.set(
      "version",
      file("version", () => `Linux version ${KERNEL_RELEASE} (dvisor) ${KERNEL_VERSION}\n`),
    );
    m.set(
      "filesystems",
      file(
        "filesystems",
        () => "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\toverlay\nnodev\t9p\n",
      ),
    );
    m.set("mounts", () => new SynthLink(fs, "mounts", () => "self/mounts"));
    m.set("net", () => new SynthLink(fs, "net", () => "self/net"));
    m.set("stat", file("stat", () => statText(k)));
    m.set("vmstat", file("vmstat", () => vmstatText(k)));
    m.set("sys", () => sysDir(k, fs));
    return m;
  };
  fs.setRoot(new SynthDir(fs, "/", entries));
  return fs;
}

function meminfoText(k: Kernel): string {
  const m = sandboxMemory(k.processes.values(), k.memoryLimit);
  // Key and bytes; the huge page counts are pages (no unit).
  const rows: Array<[string, bigint, string?]> = [
    ["MemTotal", m.total],
    ["MemFree", m.free],
    ["MemAvailable", m.available],
    ["Buffers", 0n],
    ["Cached", m.shmem + m.mapped],
    ["SwapCached", 0n],
    ["Active", m.anon + m.shmem],
    ["Inactive", m.mapped],
    ["Active(anon)", m.anon + m.shmem],
    ["Inactive(anon)", 0n],
    ["Active(file)", 0n],
    ["Inactive(file)", m.mapped],
    ["Unevictable", 0n],
    ["Mlocked", 0n],
    ["SwapTotal", 0n],
    ["SwapFree", 0n],
    ["Dirty", 0n],
    ["Writeback", 0n],
    ["AnonPages", m.anon],
    ["Mapped", m.mapped],
    ["Shmem", m.shmem],
    ["KReclaimable", 0n],
    ["Slab", 0n],
    ["SReclaimable", 0n],
    ["SUnreclaim", 0n],
    ["KernelStack", 0n],
    ["PageTables", 0n],
    ["CommitLimit", m.total],
    ["Committed_AS", m.anon + m.shmem],
    ["HugePages_Total", 0n, ""],
    ["HugePages_Free", 0n, ""],
    ["HugePages_Rsvd", 0n, ""],
    ["HugePages_Surp", 0n, ""],
    ["Hugepagesize", 2048n * 1024n],
  ];
  return rows.map(([key, b, unit = " kB"]) =>
    `${`${key}:`.padEnd(16)}${(unit ? b / 1024n : b).toString().padStart(8)}${unit}`
  ).join("\n") + "\n";
}

/** Tasks on a CPU: running the program, or in a system call the Sentry is serving (the reader). */
function runningTasks(k: Kernel): number {
  let n = 0;
  for (const t of k.tasks.values()) if (t.state === "running" || t.state === "syscall") n++;
  return n;
}

/** What every process of the sandbox has used since boot (the live ones' so far). */
function sandboxUsage(k: Kernel): Rusage {
  const used = noUsage();
  addUsage(used, k.exitedUsage);
  for (const p of k.processes.values()) if (p.exitStatus === null) addUsage(used, k.selfUsage(p));
  return used;
}

/** /proc/vmstat: the page counts of /proc/meminfo and the faults taken, as pages and events. */
function vmstatText(k: Kernel): string {
  const m = sandboxMemory(k.processes.values(), k.memoryLimit);
  const used = sandboxUsage(k);
  const pages = (b: bigint) => b / 4096n;
  const rows: Array<[string, bigint]> = [
    ["nr_free_pages", pages(m.free)],
    ["nr_inactive_anon", 0n],
    ["nr_active_anon", pages(m.anon + m.shmem)],
    ["nr_inactive_file", pages(m.mapped)],
    ["nr_active_file", 0n],
    ["nr_unevictable", 0n],
    ["nr_anon_pages", pages(m.anon)],
    ["nr_mapped", pages(m.mapped)],
    ["nr_shmem", pages(m.shmem)],
    ["pgpgin", 0n],
    ["pgpgout", 0n],
    ["pswpin", 0n],
    ["pswpout", 0n],
    ["pgfault", used.minflt + used.majflt],
    ["pgmajfault", used.majflt],
  ];
  return rows.map(([key, n]) => `${key} ${n}`).join("\n") + "\n";
}

/**
 * /proc/stat: the CPU time the sandbox's processes have used (live ones'
 * stubs, and what exited ones had used), spread over the CPUs, the rest of
 * the time since boot idle; forks since boot; running tasks.
 */
function statText(k: Kernel): string {
  const cpus = onlineCpus();
  const used = sandboxUsage(k);
  const ticks = (us: bigint) => us / US_PER_TICK;
  const n = BigInt(cpus.length);
  const user = ticks(used.userUs);
  const system = ticks(used.systemUs);
  const uptime = BigInt(Math.floor(k.uptimeMs / 10));
  const cpuLine = (name: string, u: bigint, s: bigint, upTicks: bigint) => {
    const idle = upTicks > u + s ? upTicks - u - s : 0n;
    return `${name} ${u} 0 ${s} ${idle} 0 0 0 0 0 0`;
  };
  const lines = [cpuLine("cpu ", user, system, uptime * n)];
  for (const i of cpus) lines.push(cpuLine(`cpu${i}`, user / n, system / n, uptime));
  const btime = Math.floor((Date.now() - k.uptimeMs) / 1000);
  const running = runningTasks(k);
  lines.push(
    "intr 0",
    `ctxt ${used.nvcsw + used.nivcsw}`,
    `btime ${btime}`,
    `processes ${k.forks + 1}`,
    `procs_running ${running}`,
    "procs_blocked 0",
  );
  return lines.join("\n") + "\n";
}

/** A /proc/sys leaf: its text, and what a write does (none: read-only). */
interface SysLeaf {
  read: () => string;
  write?: (text: string) => void;
}
type SysTree = { [name: string]: SysTree | SysLeaf };

function isLeaf(v: SysTree | SysLeaf): v is SysLeaf {
  return typeof (v as SysLeaf).read === "function";
}

function sysDir(k: Kernel, fs: SynthFs): Inode {
  const ro = (text: () => string): SysLeaf => ({ read: text });
  const tree: SysTree = {
    kernel: {
      hostname: {
        read: () => k.uts.hostname,
        write: (t) => (k.uts.hostname = t),
      },
      domainname: {
        read: () => k.uts.domainname,
        write: (t) => (k.uts.domainname = t),
      },
      ostype: ro(() => "Linux"),
      osrelease: ro(() => KERNEL_RELEASE),
      version: ro(() => KERNEL_VERSION),
      pid_max: ro(() => "4194304"),
      ngroups_max: ro(() => "65536"),
      cap_last_cap: ro(() => "40"),
      random: {
        boot_id: ro(() => bootId),
        uuid: ro(() => crypto.randomUUID()),
      },
    },
    vm: {
      overcommit_memory: ro(() => "0"),
      max_map_count: ro(() => "65530"),
      mmap_min_addr: ro(() => "65536"),
    },
    fs: {
      "file-max": ro(() => "9223372036854775807"),
      "nr_open": ro(() => "1048576"),
      "pipe-max-size": ro(() => "1048576"),
      inotify: {
        max_queued_events: ro(() => String(INOTIFY_LIMITS.maxQueuedEvents)),
        max_user_instances: ro(() => String(INOTIFY_LIMITS.maxUserInstances)),
        max_user_watches: ro(() => String(INOTIFY_LIMITS.maxUserWatches)),
      },
    },
  };
  // The container's own settings (linux.sysctl, and writes since): each
  // key is a file, writable by root in the container, as in its namespace.
  const place = (key: string, leaf: SysLeaf) => {
    const parts = key.split(".");
    let at = tree;
    for (const part of parts.slice(0, -1)) {
      const next = at[part];
      if (next && isLeaf(next)) return;
      at = (at[part] ??= {}) as SysTree;
    }
    const name = parts[parts.length - 1]!;
    if (at[name] && isLeaf(at[name] as SysLeaf)) return;
    at[name] = leaf;
  };
  // The IPC namespace's limits, which its objects obey.
  for (const [key, ctl] of Object.entries(k.ipc.sysctls())) place(key, ctl);
  for (const [key, ctl] of Object.entries(netSysctls(k))) place(key, ctl);
  for (const key of k.sysctl.keys()) {
    place(key, { read: () => k.sysctl.get(key) ?? "", write: (t) => k.sysctl.set(key, t) });
  }
  const build = (path: string, node: SysTree): Inode =>
    new SynthDir(fs, path, () =>
      new Map(
        Object.entries(node).map(([name, v]) => {
          const key = `${path}/${name}`;
          if (!isLeaf(v)) return [name, () => build(key, v)] as const;
          const write = v.write;
          return [
            name,
            () =>
              new SynthFile(
                fs,
                key,
                () => v.read() + "\n",
                write
                  ? (d: Uint8Array) => write(new TextDecoder().decode(d).replace(/\n$/, ""))
                  : undefined,
              ),
          ] as const;
        }),
      ));
  return build("sys", tree);
}

const bootId = crypto.randomUUID();

function stateLetter(p: Process, t?: Task): string {
  if (p.exitStatus !== null) return "Z";
  if (p.stopped) return "T";
  const s = t ?? p.leader;
  if (!s) return "Z";
  return s.state === "blocked" ? "S" : s.state === "stopped" ? "T" : "R";
}

/** The nsfs pseudo file system /proc/PID/ns links lead to. */
const NSFS = new PseudoFs("nsfs", 0x04n);

/** A namespace, as /proc/PID/ns/KIND leads to it: nsfs, its inode number. */
class NsInode extends Inode {
  readonly fs = NSFS;
  constructor(readonly ino: bigint) {
    super();
  }
  stat(): Stat {
    return pseudoStat(NSFS, this.ino, S_IFREG | 0o444, { uid: 0, gid: 0 }, 0n);
  }
  open(flags: number): OpenFile {
    return new OpenFile(this, flags);
  }
}

/** Namespaces a pod's containers each have their own of (the others the sandbox shares). */
const PER_CONTAINER = ["mnt", "pid"];
const NS_KINDS = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];
const containerNumbers = new Map<string, number>();

/**
 * A namespace's inode number: one per kind for the sandbox, and for the
 * mount and pid namespaces one per container.
 */
function namespaceIno(p: Process, kind: string): bigint {
  let n = 0;
  if (PER_CONTAINER.includes(kind)) {
    n = containerNumbers.get(p.container) ?? containerNumbers.size;
    containerNumbers.set(p.container, n);
  }
  return 4026532000n + BigInt(NS_KINDS.indexOf(kind)) + 16n * BigInt(n);
}

function processDir(k: Kernel, fs: SynthFs, p: Process, key: string, thread?: Task): Inode {
  const owner = () => ({ uid: p.creds.euid, gid: p.creds.egid });
  const file = (
    name: string,
    read: () => string | Uint8Array,
    write: ((d: Uint8Array) => void) | null = null,
  ) =>
  () => new SynthFile(fs, `${key}/${name}`, read, write, undefined, owner);
  const root = () => p.fs.root;
  const place = (v: VPath) => {
    const viewer = k.current?.process ?? p;
    return viewer.ns.pathOf(v, viewer.fs.root);
  };
  const entries = (): Map<string, () => Inode> => {
    const m = new Map<string, () => Inode>();
    const t = thread ?? p.leader ?? p.threads.values().next().value;
    m.set("stat", file("stat", () => statLine(k, p, t, thread !== undefined)));
    m.set("status", file("status", () => statusText(k, p, t)));
    m.set("statm", file("statm", () => statmText(p)));
    m.set("cmdline", file("cmdline", () => (p.argv.length ? p.argv.join("\0") + "\0" : "")));
    m.set("environ", file("environ", () => (p.env.length ? p.env.join("\0") + "\0" : "")));
    m.set(
      "comm",
      file("comm", () => (t?.comm ?? p.comm) + "\n", (d) => {
        if (t) t.comm = new TextDecoder().decode(d).replace(/\n$/, "").slice(0, 15);
      }),
    );
    m.set(
      "oom_score_adj",
      file("oom_score_adj", () => `${p.oomScoreAdj}\n`, (d) => {
        const v = Number(new TextDecoder().decode(d).trim());
        if (!Number.isInteger(v) || v < -1000 || v > 1000) throw new LinuxError("EINVAL");
        p.oomScoreAdj = v;
      }),
    );
    m.set("oom_score", file("oom_score", () => "0\n"));
    m.set("limits", file("limits", () => limitsText(p)));
    m.set("mounts", file("mounts", () => mountsText(k)));
    m.set("mountinfo", file("mountinfo", () => mountinfoText(k)));
    m.set("maps", file("maps", () => mapsText(k, p)));
    m.set("smaps", file("smaps", () => mapsText(k, p, true)));
    m.set("smaps_rollup", file("smaps_rollup", () => smapsRollupText(p)));
    m.set("mem", () => new ProcMemFile(fs, `${key}/mem`, k, p, owner));
    m.set("auxv", file("auxv", () => p.mm.auxv.slice()));
    m.set("wchan", file("wchan", () => "0"));
    // The Sentry's processes never touch a block device: what the gofer reads
    // and writes for them is its own (so read_bytes and write_bytes are 0).
    m.set("io", () =>
      new SynthFile(
        fs,
        `${key}/io`,
        () =>
          `rchar: ${p.io.rchar}\nwchar: ${p.io.wchar}\nsyscr: ${p.io.syscr}\nsyscw: ${p.io.syscw}\n` +
          "read_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
        null,
        0o400,
        owner,
      ));
    m.set("cgroup", file("cgroup", () => "0::/\n"));
    m.set("uid_map", file("uid_map", () => mapText(k.idMappings.get(p.container)?.uid ?? null)));
    m.set("gid_map", file("gid_map", () => mapText(k.idMappings.get(p.container)?.gid ?? null)));
    m.set("setgroups", file("setgroups", () => "allow\n"));
    m.set(
      "exe",
      () =>
        new SynthLink(
          fs,
          `${key}/exe`,
          () => p.exe,
          () => (p.exeLocation ? { path: p.exeLocation } : null),
          owner,
        ),
    );
    m.set(
      "cwd",
      () =>
        new SynthLink(fs, `${key}/cwd`, () => place(p.fs.cwd), () => ({ path: p.fs.cwd }), owner),
    );
    m.set(
      "root",
      () => new SynthLink(fs, `${key}/root`, () => place(root()), () => ({ path: root() }), owner),
    );
    m.set("fd", () => fdDir(k, fs, p, `${key}/fd`, owner));
    m.set("fdinfo", () => fdinfoDir(fs, p, `${key}/fdinfo`, owner));
    m.set("net", () => netDir(k, fs, `${key}/net`));
    m.set(
      "ns",
      () =>
        new SynthDir(
          fs,
          `${key}/ns`,
          () =>
            new Map(
              ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "user", "uts"].map(
                (n) => [
                  n,
                  () => {
                    const kind = n === "pid_for_children" ? "pid" : n;
                    const ino = namespaceIno(p, kind);
                    return new SynthLink(
                      fs,
                      `${key}/ns/${n}`,
                      () => `${kind}:[${ino}]`,
                      () => ({ path: null, file: new OpenFile(new NsInode(ino), O.RDONLY) }),
                      owner,
                    );
                  },
                ],
              ),
            ),
          0o511,
          owner,
        ),
    );
    if (!thread) {
      m.set("task", () =>
        new SynthDir(
          fs,
          `${key}/task`,
          () => {
            const tm = new Map<string, () => Inode>();
            for (const th of p.threads.values()) {
              tm.set(String(th.tid), () => processDir(k, fs, p, `${key}/task/${th.tid}`, th));
            }
            return tm;
          },
          0o555,
          owner,
        ));
    }
    return m;
  };
  return new SynthDir(fs, key, entries, 0o555, owner);
}

function fdDir(
  _k: Kernel,
  fs: SynthFs,
  p: Process,
  key: string,
  owner: () => { uid: number; gid: number },
): Inode {
  return new SynthDir(
    fs,
    key,
    () => {
      const m = new Map<string, () => Inode>();
      for (const fd of p.fds.numbers()) {
        m.set(String(fd), () => {
          const f = p.fds.get(fd);
          const text = () => f.path ?? anonName(f.inode);
          return new SynthLink(
            fs,
            `${key}/${fd}`,
            text,
            () => ({ path: f.location ?? null, file: f }),
            owner,
          );
        });
      }
      return m;
    },
    0o500,
    owner,
  );
}

/** What /proc/PID/fd shows for a file without a path: `pipe:[123]`, `anon_inode:[eventfd]`. */
function anonName(inode: Inode): string {
  try {
    return inode.readlink();
  } catch {
    return `anon_inode:[${inode.fs.type}]`;
  }
}

function fdinfoDir(
  fs: SynthFs,
  p: Process,
  key: string,
  owner: () => { uid: number; gid: number },
): Inode {
  return new SynthDir(
    fs,
    key,
    () => {
      const m = new Map<string, () => Inode>();
      for (const fd of p.fds.numbers()) {
        m.set(String(fd), () =>
          new SynthFile(
            fs,
            `${key}/${fd}`,
            () => {
              const f = p.fds.get(fd);
              const flags = f.flags | (p.fds.cloexec(fd) ? 0o2000000 : 0);
              return `pos:\t${f.offset}\nflags:\t0${flags.toString(8)}\nmnt_id:\t${
                (f.location as VPath | null)?.mount.id ?? 0
              }\nino:\t${f.inode.stat().ino}\n${f.fdinfo()}`;
            },
            null,
            0o444,
            owner,
          ));
      }
      return m;
    },
    0o500,
    owner,
  );
}

/** tty_nr of /proc/PID/stat: the controlling terminal's device (/dev/pts/N is 136:N). */
function ttyNr(p: Process): number {
  if (!p.ctty) return 0;
  const minor = p.ctty.index;
  return (minor & 0xff) | (136 << 8) | ((minor & ~0xff) << 12);
}

/**
 * /proc/PID/stat (or task/TID/stat): the Sentry's ids, states and layout,
 * the stub's times, faults and sizes (a zombie's times as it exited).
 */
function statLine(k: Kernel, p: Process, t: Task | undefined, thread: boolean): string {
  const comm = t?.comm ?? p.comm;
  const zombie = p.exitStatus !== null;
  const h = zombie ? null : stubStat(k, p, thread ? t : undefined);
  const host = (field: number) => h?.[field - 3] ?? "0";
  const gone = zombie && p.exitUsage ? p.exitUsage : null;
  const ticks = (us: bigint) => (us / US_PER_TICK).toString();
  const kids = p.childUsage;
  const vsize = h ? BigInt(host(23)) - (STUB_END - STUB_BASE) : 0n;
  const rlimitRss = p.rlimits[5]!.cur.toString();
  const mm = p.mm;
  const fields = [
    t?.tid ?? p.pid,
    `(${comm})`,
    stateLetter(p, t),
    p.parent?.pid ?? 0,
    p.pgid,
    p.sid,
    ttyNr(p),
    p.ctty?.fgPgrp || -1,
    host(9), // flags
    gone ? gone.minflt : host(10),
    kids.minflt,
    gone ? gone.majflt : host(12),
    kids.majflt,
    gone ? ticks(gone.userUs) : host(14),
    gone ? ticks(gone.systemUs) : host(15),
    ticks(kids.userUs),
    ticks(kids.systemUs),
    20, // priority
    0, // nice
    Math.max(p.threads.size, 1),
    0,
    Math.floor(p.startMs / (1000 / CLK_TCK)),
    vsize < 0n ? 0n : vsize,
    host(24), // rss
    rlimitRss,
    zombie ? 0 : mm.codeStart,
    zombie ? 0 : mm.codeEnd,
    zombie ? 0 : mm.startStack,
    0, // kstkesp
    0, // kstkeip
    0, // signal, blocked, sigignore, sigcatch: obsolete, see status
    0,
    0,
    0,
    0, // wchan
    0,
    0,
    p.exitSignal,
    host(39), // processor
    0, // rt_priority
    0, // policy
    0, // delayacct_blkio_ticks
    0, // guest_time
    0, // cguest_time
    zombie ? 0 : mm.dataStart,
    zombie ? 0 : mm.dataEnd,
    zombie ? 0 : mm.brkStart,
    zombie ? 0 : mm.argStart,
    zombie ? 0 : mm.argEnd,
    zombie ? 0 : mm.envStart,
    zombie ? 0 : mm.envEnd,
    zombie ? p.exitStatus : 0,
  ];
  return fields.join(" ") + "\n";
}

function statusText(_k: Kernel, p: Process, t: Task | undefined): string {
  const c = p.creds;
  const hex = (m: bigint) => m.toString(16).padStart(16, "0");
  let sigIgn = 0n;
  let sigCgt = 0n;
  for (let s = 1; s < p.sigactions.length; s++) {
    const h = p.sigactions[s]!.handler;
    if (h === SIG_IGN) sigIgn |= 1n << BigInt(s - 1);
    else if (h !== SIG_DFL && h !== SIG_IGN) sigCgt |= 1n << BigInt(s - 1);
  }
  let pending = 0n;
  for (const s of t?.pending ?? []) pending |= 1n << BigInt(s.sig - 1);
  let shdPnd = 0n;
  for (const s of p.pending) shdPnd |= 1n << BigInt(s.sig - 1);
  const state = stateLetter(p, t);
  const names: Record<string, string> = { R: "running", S: "sleeping", T: "stopped", Z: "zombie" };
  return [
    `Name:\t${t?.comm ?? p.comm}`,
    `Umask:\t${p.fs.umask.toString(8).padStart(4, "0")}`,
    `State:\t${state} (${names[state]})`,
    `Tgid:\t${p.pid}`,
    `Ngid:\t0`,
    `Pid:\t${t?.tid ?? p.pid}`,
    `PPid:\t${p.parent?.pid ?? 0}`,
    `TracerPid:\t0`,
    `Uid:\t${c.uid}\t${c.euid}\t${c.suid}\t${c.fsuid}`,
    `Gid:\t${c.gid}\t${c.egid}\t${c.sgid}\t${c.fsgid}`,
    `FDSize:\t${Math.max(64, p.fds.limit)}`,
    `Groups:\t${c.groups.join(" ")}${c.groups.length ? " " : ""}`,
    `NStgid:\t${p.pid}`,
    `NSpid:\t${t?.tid ?? p.pid}`,
    `NSpgid:\t${p.pgid}`,
    `NSsid:\t${p.sid}`,
    ...statusMemoryLines(p),
    `Threads:\t${p.threads.size}`,
    `SigQ:\t${p.pending.length}/63304`,
    `SigPnd:\t${hex(pending)}`,
    `ShdPnd:\t${hex(shdPnd)}`,
    `SigBlk:\t${hex(t?.sigmask ?? 0n)}`,
    `SigIgn:\t${hex(sigIgn)}`,
    `SigCgt:\t${hex(sigCgt)}`,
    `CapInh:\t${hex(c.inheritable)}`,
    `CapPrm:\t${hex(c.permitted)}`,
    `CapEff:\t${hex(c.effective)}`,
    `CapBnd:\t${hex(c.bounding)}`,
    `CapAmb:\t${hex(c.ambient)}`,
    `NoNewPrivs:\t${p.noNewPrivs ? 1 : 0}`,
    `Seccomp:\t${p.seccomp ? 2 : 0}`,
    `Cpus_allowed_list:\t0-${(navigator.hardwareConcurrency || 1) - 1}`,
    `voluntary_ctxt_switches:\t0`,
    `nonvoluntary_ctxt_switches:\t0`,
  ].join("\n") + "\n";
}

const LIMIT_NAMES: Array<[string, string]> = [
  ["Max cpu time", "seconds"],
  ["Max file size", "bytes"],
  ["Max data size", "bytes"],
  ["Max stack size", "bytes"],
  ["Max core file size", "bytes"],
  ["Max resident set", "bytes"],
  ["Max processes", "processes"],
  ["Max open files", "files"],
  ["Max locked memory", "bytes"],
  ["Max address space", "bytes"],
  ["Max file locks", "locks"],
  ["Max pending signals", "signals"],
  ["Max msgqueue size", "bytes"],
  ["Max nice priority", ""],
  ["Max realtime priority", ""],
  ["Max realtime timeout", "us"],
];

function limitsText(p: Process): string {
  const v = (x: bigint) => (x === 0xffffffffffffffffn ? "unlimited" : x.toString());
  const lines = ["Limit                     Soft Limit           Hard Limit           Units     "];
  LIMIT_NAMES.forEach(([name, unit], i) => {
    const r = p.rlimits[i]!;
    lines.push(`${name.padEnd(26)}${v(r.cur).padEnd(21)}${v(r.max).padEnd(21)}${unit.padEnd(10)}`);
  });
  return lines.join("\n") + "\n";
}

function mountsText(k: Kernel): string {
  const viewer = (k.current?.process ?? k.init)!;
  const root = viewer.fs.root;
  return viewer.ns.mounts().map((m) => {
    const at = m.parent && m.mountpoint
      ? viewer.ns.pathOf({ mount: m.parent, dentry: m.mountpoint }, root)
      : "/";
    const opts = [
      m.flags.readOnly ? "ro" : "rw",
      m.flags.nosuid ? "nosuid" : "",
      m.flags.nodev ? "nodev" : "",
      m.flags.noexec ? "noexec" : "",
      "relatime",
      m.options,
    ]
      .filter(Boolean).join(",");
    return `${m.source} ${at} ${m.fs.type} ${opts} 0 0`;
  }).join("\n") + "\n";
}

function mountinfoText(k: Kernel): string {
  const viewer = (k.current?.process ?? k.init)!;
  const root = viewer.fs.root;
  return viewer.ns.mounts().map((m) => {
    const at = m.parent && m.mountpoint
      ? viewer.ns.pathOf({ mount: m.parent, dentry: m.mountpoint }, root)
      : "/";
    const opts = [
      m.flags.readOnly ? "ro" : "rw",
      m.flags.nosuid ? "nosuid" : "",
      m.flags.nodev ? "nodev" : "",
      m.flags.noexec ? "noexec" : "",
      "relatime",
    ]
      .filter(Boolean).join(",");
    const dev = m.fs.dev;
    return `${m.id} ${m.parent?.id ?? 0} 0:${dev} / ${at} ${opts} - ${m.fs.type} ${m.source} ${
      m.flags.readOnly ? "ro" : "rw"
    }`;
  }).join("\n") + "\n";
}
