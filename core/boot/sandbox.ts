/**
 * Boots a sandbox, as gVisor's `loader.go`: the platform, the event loop,
 * the mount namespace (root from a file server, /proc, /dev, tmpfs mounts),
 * the kernel, and the container's init process; then serves it until every
 * process is gone. Runs on the tracer thread (the sandbox process's main thread).
 *
 * @module
 */
import { EventLoop } from "../../platform/event_loop.ts";
import { closeQuietly, readFd, setNonblocking } from "../../platform/fd.ts";
import { Machine, type PlatformName } from "../../platform/machine.ts";
import { LinuxError } from "../errors.ts";
import { Credentials } from "../kernel/creds.ts";
import { Kernel, type KernelLog } from "../kernel/kernel.ts";
import { defaultRlimits, Process, type Rlimit, Task } from "../kernel/task.ts";
import { loadProgram, planExec } from "../loader/exec.ts";
import { buildSyscallTable } from "../syscalls/table.ts";
import type { FsBackend } from "../vfs/backend.ts";
import { makeDevfs } from "../vfs/devfs.ts";
import { FdTable } from "../vfs/fd_table.ts";
import { GoferFs } from "../vfs/gofer_fs.ts";
import { HostFdFile } from "../vfs/host_file.ts";
import { type FileSystem, O, POLL, S_IFDIR, S_IFMT } from "../vfs/inode.ts";
import { Dentry, Mount, type MountFlags, MountNamespace, type VPath } from "../vfs/mount.ts";
import { TmpFs } from "../vfs/tmpfs.ts";
import { walk } from "../vfs/walk.ts";
import { makeProcfs } from "../vfs/procfs.ts";
import { OverlayFs } from "../vfs/overlay.ts";
import { ControlServer } from "../control/server.ts";
import { sandboxHandlers } from "../control/handlers.ts";

/** A mount of the container. */
export interface MountConfig {
  /** Where, inside the container. */
  target: string;
  /** What: a tmpfs, procfs, devfs, or a file server (a bind mount). */
  type: "tmpfs" | "proc" | "devfs" | "bind";
  /** For "bind": the server. */
  backend?: FsBackend;
  /** Flags. */
  flags?: Partial<MountFlags>;
  /** tmpfs size limit in bytes. */
  sizeBytes?: number;
  /** tmpfs root mode. */
  mode?: number;
}

/** The container's first process. */
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
}

/** Everything needed to boot. */
export interface SandboxConfig {
  /** How system calls are caught. */
  platform: PlatformName;
  /** The root's file server. */
  root: FsBackend;
  /** Mount the root read-only. */
  rootReadOnly: boolean;
  /** Put an in-sandbox writable layer over the root (host files stay untouched). */
  rootOverlay: boolean;
  /** Other mounts, in order. */
  mounts: MountConfig[];
  /** The first process. */
  process: ProcessConfig;
  /** Hostname. */
  hostname: string;
  /** Host descriptors for the container's stdin, stdout, stderr (owned). */
  stdio: [number, number, number];
  /** An existing empty directory where stubs mount their empty root. */
  emptyRootAt: string;
  /** Debug log. */
  log: KernelLog;
  /**
   * A pipe (read end, owned) from the process that started the sandbox:
   * each byte is a signal for the init; its end (that process is gone)
   * kills every process.
   */
  controlFd?: number;
  /** Runs once the init is loaded, just before the Sentry serves it (the sandbox process locks itself down). */
  beforeRun?: () => void;
  /** A listening control socket (owned): `dvisor start`, `kill`, `wait`, `ps`... talk to it. */
  controlListenFd?: number;
  /** Load the init, then wait for StartRoot on the control socket before it runs (create/start). */
  startOnRequest?: boolean;
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

const ROOT_CREDS = { fsuid: 0, fsgid: 0, groups: [], capable: () => true };

/**
 * Finds a mount's target, making missing directories as runc does: on a
 * writable mount, and on the Sentry's own in-memory file systems even when
 * mounted read-only (a mount point under a read-only /sys stand-in).
 */
function mountPoint(ns: MountNamespace, target: string): VPath {
  const root = ns.root;
  const ctx = { ns, root, cwd: root, creds: ROOT_CREDS };
  let at = root;
  for (const name of target.split("/").filter((n) => n !== "" && n !== ".")) {
    try {
      at = walk(ctx, at, name, { follow: true });
    } catch (e) {
      const canMake = !at.mount.flags.readOnly || at.mount.fs instanceof TmpFs;
      if (!(e instanceof LinuxError) || e.errno !== 2 || !canMake) throw e;
      at.dentry.inode.mkdir(name, 0o755, ROOT_CREDS);
      at = walk(ctx, at, name, { follow: true });
    }
  }
  return at;
}

function mountAt(
  ns: MountNamespace,
  target: string,
  fs: FileSystem,
  flags: Partial<MountFlags>,
  source: string,
): void {
  let at: VPath;
  try {
    at = mountPoint(ns, target);
  } catch (e) {
    throw new StartError(
      `Cannot mount ${source} on ${target}: ${e instanceof Error ? e.message : String(e)}`,
      1,
    );
  }
  if ((at.dentry.inode.stat().mode & S_IFMT) !== S_IFDIR) {
    throw new StartError(`Cannot mount ${source} on ${target}: not a directory`, 1);
  }
  ns.mount(at, new Mount(fs, new Dentry("/", null, fs.root()), flags, source));
}

/**
 * Looks a command up the way runc does: as is when it has a "/", else in
 * the PATH of its environment.
 */
function findProgram(k: Kernel, t: Task, cmd: string, env: string[]): string {
  if (cmd.includes("/")) return cmd;
  const path = env.find((e) => e.startsWith("PATH="))?.slice(5) ??
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const p = t.process;
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = `${dir}/${cmd}`;
    try {
      const at = walk(
        { ns: k.ns, root: p.fs.root, cwd: p.fs.cwd, creds: p.creds },
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
 * Boots the sandbox and serves it until every process is gone.
 *
 * @param config What to run.
 * @returns The init's wait status.
 * @throws {StartError} When the first program cannot start.
 */
export function runSandbox(config: SandboxConfig): number {
  using machine = new Machine(config.platform);
  using loop = new EventLoop();
  machine.startDoorbell(loop.epollFd);

  let rootFs: FileSystem = new GoferFs(config.root);
  if (config.rootOverlay) rootFs = new OverlayFs(rootFs, new TmpFs({ mode: 0o755 }));
  const rootMount = new Mount(
    rootFs,
    new Dentry("/", null, rootFs.root()),
    { readOnly: config.rootReadOnly && !config.rootOverlay },
    config.rootOverlay ? "overlay" : "rootfs",
  );
  const ns = new MountNamespace(rootMount);
  const table = buildSyscallTable();
  const k = new Kernel({ machine, loop, ns, table, log: config.log });
  k.uts.hostname = config.hostname;
  for (const m of config.mounts) {
    let fs: FileSystem;
    switch (m.type) {
      case "tmpfs":
        fs = new TmpFs({ mode: m.mode ?? 0o1777, limits: { maxBytes: m.sizeBytes ?? Infinity } });
        break;
      case "devfs":
        fs = makeDevfs();
        break;
      case "proc":
        fs = makeProcfs(k);
        break;
      case "bind":
        fs = new GoferFs(m.backend!);
        break;
    }
    mountAt(
      ns,
      m.target,
      fs,
      m.flags ?? {},
      m.type === "devfs" ? "tmpfs" : m.type === "bind" ? "none" : m.type,
    );
  }

  const hostTid = machine.createAddressSpace({
    namespaces: ["pid", "mount", "ipc", "uts", "net"],
    emptyRootAt: config.emptyRootAt,
  });
  const pid = k.innerTid(hostTid);
  const pc = config.process;
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
  const poller = { queue: (fd: number, events: number) => k.hostQueue(fd, events) };
  config.stdio.forEach((hostFd, i) =>
    fds.set(i, new HostFdFile(hostFd, i === 0 ? O.RDONLY : O.WRONLY, poller), false)
  );
  const root = ns.root;
  let cwd: VPath;
  try {
    cwd = walk({ ns, root, cwd: root, creds }, root, pc.cwd);
  } catch (e) {
    throw new StartError(
      `Cannot enter the working directory ${pc.cwd}: ${e instanceof Error ? e.message : e}`,
      1,
    );
  }
  const init = new Process({
    pid,
    parent: null,
    pgid: pid,
    sid: pid,
    fds,
    fs: { root, cwd, umask: pc.umask ?? 0o022 },
    creds,
    rlimits,
    mm: {
      brkStart: 0n,
      brk: 0n,
      brkMapped: 0n,
      vdso: 0n,
      argStart: 0n,
      argEnd: 0n,
      envStart: 0n,
      envEnd: 0n,
      stackTop: 0n,
    },
    startMs: 0,
  });
  init.noNewPrivs = pc.noNewPrivileges ?? false;
  const task = new Task(pid, init);
  k.addTask(task, hostTid);
  k.processes.set(pid, init);
  init.hostTgid = hostTid;
  k.init = init;
  k.cleanXState = machine.getXState(hostTid);
  try {
    const program = findProgram(k, task, pc.args[0] ?? "", pc.env);
    const plan = planExec(k, task, cwd, program, pc.args, pc.env);
    loadProgram(k, task, plan);
  } catch (e) {
    if (e instanceof StartError) throw e;
    if (e instanceof LinuxError) {
      const status = e.errno === 13 || e.errno === 8 ? 126 : e.errno === 2 ? 127 : 1;
      throw new StartError(`exec: "${pc.args[0]}": ${describe(e.errno)}`, status);
    }
    throw e;
  }
  if (config.controlFd !== undefined) watchControl(k, config.controlFd);
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    k.resumeWithSignals(task, machine.getRegs(hostTid));
  };
  let server: ControlServer | null = null;
  let finish = (_status: number) => {};
  if (config.controlListenFd !== undefined) {
    const served = sandboxHandlers(k, { started: () => started, start });
    server = new ControlServer(k, config.controlListenFd, served.handlers);
    finish = served.finish;
  }
  // Everything that needs more than the Sentry's own calls is done: the
  // first stub exists (later ones are its forks, which do not inherit what
  // the Sentry installs now).
  config.beforeRun?.();
  // Created: the init runs at once, or when the control socket says start.
  if (!config.startOnRequest) start();
  try {
    const status = k.run();
    finish(status);
    return status;
  } finally {
    server?.close();
  }
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

/**
 * Serves the control pipe from the sandbox's event loop: signals for the
 * init as they come, and every process killed when the pipe ends.
 */
function watchControl(k: Kernel, fd: number): void {
  setNonblocking(fd, true);
  const buf = new Uint8Array(64);
  const onReadable = () => {
    for (;;) {
      let n: number;
      try {
        n = readFd(fd, buf);
      } catch {
        break; // EAGAIN: all read
      }
      if (n === 0) {
        closeQuietly(fd);
        for (const p of k.processes.values()) if (p.exitStatus === null) k.killProcess(p, 9);
        return;
      }
      for (const sig of buf.subarray(0, n)) {
        if (k.init && k.init.exitStatus === null) {
          k.signalProcess(k.init, { sig, code: 0, pid: 0, uid: 0 });
        }
      }
    }
    k.hostQueue(fd, POLL.IN).subscribe(onReadable);
  };
  k.hostQueue(fd, POLL.IN).subscribe(onReadable);
}
