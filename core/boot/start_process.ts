/**
 * Starting a process in a sandbox from a process configuration: its
 * credentials, limits, descriptor table (host descriptors as stdio),
 * working directory and program. The root container's init and the
 * processes `dvisor exec` adds are made here.
 *
 * @module
 */
import { dupFd } from "../../platform/fd.ts";
import type { SeccompProfile } from "./oci_seccomp.ts";
import { LinuxError } from "../errors.ts";
import { Credentials } from "../kernel/creds.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { defaultRlimits, emptyLayout, Process, type Rlimit, Task } from "../kernel/task.ts";
import { loadProgram, planExec, readAt } from "../loader/exec.ts";
import { FdTable } from "../vfs/fd_table.ts";
import { HostFdFile } from "../vfs/host_file.ts";
import { HostTtyFile, terminalId } from "../vfs/host_tty.ts";
import { takeTerminal } from "../syscalls/tty.ts";
import { O, S_IFDIR, S_IFMT } from "../vfs/inode.ts";
import type { MountNamespace, VPath } from "../vfs/mount.ts";
import { walk } from "../vfs/walk.ts";

/** What a process runs. */
export interface ProcessConfig {
  /** argv; argv[0] is looked up in PATH when it has no "/". */
  args: string[];
  /** Environment. */
  env: string[];
  /** Working directory. */
  cwd: string;
  /** Identity. */
  uid: number;
  gid: number;
  groups: number[];
  /** Capability sets (bit masks); all by default for uid 0. */
  capabilities?: {
    effective: bigint;
    permitted: bigint;
    inheritable: bigint;
    bounding: bigint;
    ambient: bigint;
  };
  /** Limits by RLIMIT number. */
  rlimits?: Array<{ resource: number; soft: bigint; hard: bigint }>;
  /** no_new_privs. */
  noNewPrivileges?: boolean;
  /** umask. */
  umask?: number;
  /** /proc/PID/oom_score_adj (-1000 to 1000). */
  oomScoreAdj?: number;
  /** Its stdin is a terminal that becomes its controlling terminal (a new session). */
  terminal?: boolean;
}

/** The program could not start (before any of it ran). */
export class StartError extends Error {
  /** The exit status a shell (and runc run) gives: 127 not found, 126 not executable. */
  readonly status: number;

  /**
   * Makes the error.
   *
   * @param message What went wrong.
   * @param status The exit status to report.
   */
  constructor(message: string, status: number) {
    super(message);
    this.name = "StartError";
    this.status = status;
  }
}

/**
 * Looks a command up the way runc does: as is when it has a "/", else in
 * the PATH of its environment.
 */
function findProgram(t: Task, cmd: string, env: string[]): string {
  if (cmd.includes("/")) return cmd;
  const path = env.find((e) => e.startsWith("PATH="))?.slice(5) ??
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const p = t.process;
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = `${dir}/${cmd}`;
    try {
      const at = walk(
        { ns: p.ns, root: p.fs.root, cwd: p.fs.cwd, creds: p.creds },
        p.fs.cwd,
        candidate,
      );
      const st = at.dentry.inode.stat();
      if ((st.mode & S_IFMT) !== S_IFDIR && (st.mode & 0o111)) return candidate;
    } catch {
      // not here
    }
  }
  throw new StartError(`exec: "${cmd}": executable file not found in $PATH`, 127);
}

/**
 * Makes a process on a stopped stub and loads its program; the caller
 * resumes it.
 *
 * @param k The kernel.
 * @param hostTid The stub (a new address space).
 * @param pc What it runs.
 * @param stdio Host descriptors for its 0, 1 and 2 (owned).
 * @param opts `init`: it is its container's init (the root container's is
 *   pid 1 of the sandbox); `container`: which container (default the root,
 *   ""); `ns`: its mount namespace (default the root container's);
 *   `seccomp`: its profile (default the root container's).
 * @returns Its task and process.
 * @throws {StartError} When the program cannot start.
 */
export function startProcess(
  k: Kernel,
  hostTid: number,
  pc: ProcessConfig,
  stdio: readonly number[],
  opts: {
    init: boolean;
    ns?: MountNamespace;
    container?: string;
    seccomp?: SeccompProfile | null;
  },
): { task: Task; process: Process } {
  const pid = k.innerTid(hostTid);
  const creds = new Credentials();
  creds.uid =
    creds.euid =
    creds.suid =
    creds.fsuid =
      pc.uid;
  creds.gid =
    creds.egid =
    creds.sgid =
    creds.fsgid =
      pc.gid;
  creds.groups = [...pc.groups];
  if (pc.capabilities) Object.assign(creds, pc.capabilities);
  else if (pc.uid !== 0) creds.effective = creds.permitted = 0n;
  const rlimits: Rlimit[] = defaultRlimits();
  for (const r of pc.rlimits ?? []) rlimits[r.resource] = { cur: r.soft, max: r.hard };
  const fds = new FdTable();
  fds.limit = Number(rlimits[7]!.cur > 1048576n ? 1048576n : rlimits[7]!.cur);
  const poller = k.hostPoller;
  stdio.forEach((hostFd, i) => {
    // Preserved descriptors (3 on) keep their host access mode, which the host enforces.
    const flags = i === 0 ? O.RDONLY : i < 3 ? O.WRONLY : O.RDWR;
    const id = terminalId(hostFd);
    const tty = id === null ? null : k.terminal(id);
    if (!tty) {
      fds.set(i, new HostFdFile(hostFd, flags, poller), false);
      return;
    }
    // Kept for opening it again as /dev/tty (while any file of it is open).
    if (tty.hostFd < 0) tty.hostFd = dupFd(hostFd, 3);
    if (tty.openFiles === 0) tty.container = opts.container ?? "";
    const f = new HostTtyFile(hostFd, flags, poller, tty);
    // It shows as /dev/pts/N, as the container's own devpts would have it.
    const node = k.terminalNode(tty, pc.uid);
    if (node) f.inode = node;
    f.path = `/dev/pts/${tty.index}`;
    fds.set(i, f, false);
  });
  const ns = opts.ns ?? k.ns;
  const root = ns.root;
  let cwd: VPath;
  try {
    cwd = walk({ ns, root, cwd: root, creds }, root, pc.cwd);
  } catch (e) {
    // Nothing of it stays: its stdio closes, its stub goes.
    fds.release();
    k.machine.kill(hostTid);
    throw new StartError(
      `Cannot enter the working directory ${pc.cwd}: ${e instanceof Error ? e.message : e}`,
      1,
    );
  }
  const p = new Process({
    pid,
    parent: null,
    pgid: pid,
    sid: pid,
    fds,
    fs: { root, cwd, umask: pc.umask ?? 0o022 },
    ns,
    container: opts.container ?? "",
    seccomp: opts.seccomp === undefined ? k.seccomp : opts.seccomp,
    creds,
    rlimits,
    mm: emptyLayout(),
    startMs: opts.init && !opts.container ? 0 : k.uptimeMs,
  });
  p.noNewPrivs = pc.noNewPrivileges ?? false;
  p.oomScoreAdj = pc.oomScoreAdj ?? 0;
  // As runc's setsid + TIOCSCTTY: a new session whose terminal is its stdin.
  const stdin = fds.get(0);
  if (pc.terminal && stdin instanceof HostTtyFile) takeTerminal(p, stdin.tty);
  p.hostTgid = hostTid;
  const task = new Task(pid, p);
  k.addTask(task, hostTid);
  k.processes.set(pid, p);
  if (opts.init) k.inits.set(p.container, p);
  try {
    // As runc: HOME from the container's /etc/passwd when the environment has none.
    const env = pc.env.some((e) => e.startsWith("HOME=")) ? pc.env : [
      ...pc.env,
      `HOME=${homeOf(p, pc.uid)}`,
    ];
    const program = findProgram(task, pc.args[0] ?? "", env);
    const plan = planExec(task, cwd, program, pc.args, env);
    loadProgram(k, task, plan);
  } catch (e) {
    if (!opts.init || p.container) {
      k.forgetProcess(p);
      if (opts.init) k.inits.delete(p.container);
    }
    if (e instanceof StartError) throw e;
    if (e instanceof LinuxError) {
      const status = e.errno === 13 || e.errno === 8 ? 126 : e.errno === 2 ? 127 : 1;
      throw new StartError(`exec: "${pc.args[0]}": ${describe(e.errno)}`, status);
    }
    throw e;
  }
  return { task, process: p };
}

/**
 * A user's home directory in the container's /etc/passwd ("/" when it
 * names none, as runc).
 */
function homeOf(p: Process, uid: number): string {
  let text = "";
  try {
    const at = walk(
      { ns: p.ns, root: p.fs.root, cwd: p.fs.root, creds: p.creds },
      p.fs.root,
      "/etc/passwd",
    );
    const f = at.dentry.inode.open(O.RDONLY);
    try {
      text = new TextDecoder().decode(readAt(f, 0n, 64 * 1024));
    } finally {
      f.unref();
    }
  } catch {
    return "/";
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && Number(f[2]) === uid && f[2] !== "") return f[5] || "/";
  }
  return "/";
}

function describe(errno: number): string {
  switch (errno) {
    case 2:
      return "no such file or directory";
    case 8:
      return "exec format error";
    case 13:
      return "permission denied";
    case 40:
      return "too many levels of symbolic links";
    case 7:
      return "argument list too long";
  }
  return `errno ${errno}`;
}
