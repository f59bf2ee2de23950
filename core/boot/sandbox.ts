/**
 * Boots a sandbox, as gVisor's `loader.go`: the platform, the event loop,
 * the mount namespace (root from a file server, /proc, /dev, tmpfs mounts),
 * the kernel, and the container's init process; then serves it until every
 * process is gone. Runs on the tracer thread (the sandbox process's main thread).
 *
 * @module
 */
import { alwaysAllowed, type SeccompProfile } from "./oci_seccomp.ts";
import { SELF_ONLY } from "../../platform/self_only.ts";
import { openSignalFd, readSignals } from "../../platform/signalfd.ts";
import { forwardTerminalSignal, TERMINAL_SIGNALS } from "../syscalls/tty.ts";
import type { TtyState } from "../vfs/host_tty.ts";
import { EventLoop } from "../../platform/event_loop.ts";
import { closeQuietly, readFd, setNonblocking } from "../../platform/fd.ts";
import { Machine, type PlatformName } from "../../platform/machine.ts";
import { LinuxError } from "../errors.ts";
import { Kernel, type KernelLog } from "../kernel/kernel.ts";
import { buildSyscallTable } from "../syscalls/table.ts";
import type { FsBackend } from "../vfs/backend.ts";
import { makeDevfs } from "../vfs/devfs.ts";
import { GoferFs } from "../vfs/gofer_fs.ts";
import { type FileSystem, POLL, S_IFCHR, S_IFDIR, S_IFMT, S_IFREG } from "../vfs/inode.ts";
import { DEVICES, joinDev } from "../vfs/devices.ts";
import { Dentry, Mount, type MountFlags, MountNamespace, type VPath } from "../vfs/mount.ts";
import { TmpFs } from "../vfs/tmpfs.ts";
import { walk } from "../vfs/walk.ts";
import { makeProcfs } from "../vfs/procfs.ts";
import { OverlayFs } from "../vfs/overlay.ts";
import { ControlServer } from "../control/server.ts";
import { type ProcessConfig, StartError, startProcess } from "./start_process.ts";

export { type ProcessConfig, StartError };
import { sandboxHandlers } from "../control/handlers.ts";

/** A mount of the container. */
export interface MountConfig {
  /** Where, inside the container. */
  target: string;
  /** What: a tmpfs, procfs, devfs, or a file server (a bind mount). */
  type: "tmpfs" | "proc" | "devfs" | "devpts" | "bind";
  /** For "bind": the server. */
  backend?: FsBackend;
  /** Flags. */
  flags?: Partial<MountFlags>;
  /** tmpfs size limit in bytes. */
  sizeBytes?: number;
  /** tmpfs root mode. */
  mode?: number;
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
  /** NIS domain name (none: the kernel's "(none)"). */
  domainname?: string;
  /** Host descriptors for the container's stdin, stdout, stderr (owned). */
  stdio: number[];
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
  /** Paths to hide: an empty read-only directory, or a read-only /dev/null for a file. */
  maskedPaths?: string[];
  /** Paths to make read-only. */
  readonlyPaths?: string[];
  /** linux.sysctl (dotted keys). */
  sysctl?: Record<string, string>;
  /** The container's seccomp profile (linux.seccomp). */
  seccomp?: SeccompProfile;
  /** A listening control socket (owned): `dvisor start`, `kill`, `wait`, `ps`... talk to it. */
  controlListenFd?: number;
  /** Load the init, then wait for StartRoot on the control socket before it runs (create/start). */
  startOnRequest?: boolean;
}

const ROOT_CREDS = { fsuid: 0, fsgid: 0, groups: [], capable: () => true };

/**
 * Finds a mount's target, making missing directories as runc does: on a
 * writable mount, and on the Sentry's own in-memory file systems even when
 * mounted read-only (a mount point under a read-only /sys stand-in).
 */
function mountPoint(ns: MountNamespace, target: string, isDir: boolean): VPath {
  const root = ns.root;
  const ctx = { ns, root, cwd: root, creds: ROOT_CREDS };
  let at = root;
  const names = target.split("/").filter((n) => n !== "" && n !== ".");
  names.forEach((name, i) => {
    try {
      at = walk(ctx, at, name, { follow: true });
    } catch (e) {
      const canMake = !at.mount.flags.readOnly || at.mount.fs instanceof TmpFs;
      if (!(e instanceof LinuxError) || e.errno !== 2 || !canMake) throw e;
      if (isDir || i < names.length - 1) {
        at.dentry.inode.mkdir(name, 0o755, ROOT_CREDS);
      } else {
        // A file mounted on a missing path gets an empty file to cover.
        at.dentry.inode.mknod(name, S_IFREG | 0o644, ROOT_CREDS);
      }
      at = walk(ctx, at, name, { follow: true });
    }
  });
  return at;
}

/** The place a path names, or null when there is nothing there. */
function existing(ns: MountNamespace, path: string): VPath | null {
  const root = ns.root;
  try {
    return walk({ ns, root, cwd: root, creds: ROOT_CREDS }, root, path, { follow: false });
  } catch {
    return null;
  }
}

/** Hides paths as runc does: directories under an empty read-only tmpfs, files under /dev/null. */
function maskPaths(ns: MountNamespace, paths: string[]): void {
  for (const path of paths) {
    const at = existing(ns, path);
    if (!at) continue;
    if ((at.dentry.inode.stat().mode & S_IFMT) === S_IFDIR) {
      const fs = new TmpFs({ mode: 0o755, limits: { maxBytes: 0 } });
      ns.mount(at, new Mount(fs, new Dentry("/", null, fs.root()), { readOnly: true }, "tmpfs"));
      continue;
    }
    const fs = new TmpFs({ mode: 0o755 });
    fs.root().mknod("null", S_IFCHR | 0o666, ROOT_CREDS, joinDev(...DEVICES.null));
    const node = new Dentry("null", null, fs.root().lookup("null"));
    ns.mount(at, new Mount(fs, node, { readOnly: true }, "devtmpfs"));
  }
}

/** Makes paths read-only: each is mounted again over itself, read-only. */
function makeReadOnly(ns: MountNamespace, paths: string[]): void {
  for (const path of paths) {
    const at = existing(ns, path);
    if (!at) continue;
    const top = ns.crossMounts(at);
    ns.mount(
      top,
      new Mount(top.mount.fs, top.dentry, { ...top.mount.flags, readOnly: true }, top.mount.source),
    );
  }
}

function mountAt(
  ns: MountNamespace,
  target: string,
  fs: FileSystem,
  flags: Partial<MountFlags>,
  source: string,
  readOnly = false,
): void {
  const isDir = (fs.root().stat().mode & S_IFMT) === S_IFDIR;
  let at: VPath;
  try {
    at = mountPoint(ns, target, isDir);
  } catch (e) {
    throw new StartError(
      `Cannot mount ${source} on ${target}: ${e instanceof Error ? e.message : String(e)}`,
      1,
    );
  }
  // As mount(2): a directory covers a directory, anything else a non-directory.
  if (((at.dentry.inode.stat().mode & S_IFMT) === S_IFDIR) !== isDir) {
    const what = isDir ? "not a directory" : "a directory (the source is a file)";
    throw new StartError(`Cannot mount ${source} on ${target}: the target is ${what}`, 1);
  }
  const f = readOnly ? { ...flags, readOnly: true } : flags;
  ns.mount(at, new Mount(fs, new Dentry("/", null, fs.root()), f, source));
}

/**
 * Boots the sandbox and serves it until every process is gone.
 *
 * @param config What to run.
 * @returns The init's wait status.
 * @throws {StartError} When the first program cannot start.
 */
export function runSandbox(config: SandboxConfig): number {
  const profile = config.seccomp;
  // Calls the profile may refuse never run natively in the stub: they come to the Sentry.
  const native = profile ? new Set(alwaysAllowed(profile, SELF_ONLY.map((e) => e.nr))) : null;
  using machine = new Machine(config.platform, native ? { native: (nr) => native.has(nr) } : {});
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
  if (config.domainname) k.uts.domainname = config.domainname;
  k.seccomp = profile ?? null;
  for (const [key, value] of Object.entries(config.sysctl ?? {})) {
    if (key === "kernel.hostname") k.uts.hostname = value;
    else if (key === "kernel.domainname") k.uts.domainname = value;
    else k.sysctl.set(key, value);
  }
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
      case "devpts":
        // The container's terminals appear here as N (see Kernel.terminalNode);
        // nothing else can be made in it.
        fs = new TmpFs({ mode: 0o755 });
        k.devpts = fs.root();
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
      m.type === "devpts",
    );
  }

  maskPaths(ns, config.maskedPaths ?? []);
  makeReadOnly(ns, config.readonlyPaths ?? []);
  const hostTid = machine.createAddressSpace({
    namespaces: ["pid", "mount", "ipc", "uts", "net"],
    emptyRootAt: config.emptyRootAt,
  });
  const { task } = startProcess(k, hostTid, config.process, config.stdio, { init: true });
  k.cleanXState = machine.getXState(hostTid);
  if (config.controlFd !== undefined) watchControl(k, config.controlFd);
  const console = k.init?.ctty;
  if (console) watchTerminalSignals(k, console);
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    k.resumeWithSignals(task, machine.getRegs(hostTid));
  };
  let server: ControlServer | null = null;
  let finish = (_status: number) => {};
  if (config.controlListenFd !== undefined) {
    // A stub nothing runs in, forked before the init's program is loaded:
    // the processes `dvisor exec` starts are forks of it.
    const zygote = machine.forkStub(hostTid);
    const exec = (pc: ProcessConfig, stdio: number[]) => {
      const { task: t } = startProcess(k, machine.forkStub(zygote), pc, stdio, { init: false });
      k.resumeWithSignals(t, machine.getRegs(k.hostTid(t)));
      return t.tid;
    };
    const served = sandboxHandlers(k, { started: () => started, start, exec });
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

/**
 * Forwards what the container's terminal raises (^C, ^Z, window changes,
 * hangup): the sandbox process is its host controlling process and has
 * these signals blocked (spawned so), so they queue on a signalfd.
 */
function watchTerminalSignals(k: Kernel, tty: TtyState): void {
  const fd = openSignalFd(TERMINAL_SIGNALS);
  const onReadable = () => {
    for (const sig of readSignals(fd)) forwardTerminalSignal(k, tty, sig);
    k.hostQueue(fd, POLL.IN).subscribe(onReadable);
  };
  k.hostQueue(fd, POLL.IN).subscribe(onReadable);
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
          k.signalFromHost(k.init, sig);
        }
      }
    }
    k.hostQueue(fd, POLL.IN).subscribe(onReadable);
  };
  k.hostQueue(fd, POLL.IN).subscribe(onReadable);
}
