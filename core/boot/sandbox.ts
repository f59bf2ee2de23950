/**
 * Boots a sandbox, as gVisor's `loader.go`: the platform, the event loop,
 * the mount namespace (root from a file server, /proc, /dev, tmpfs mounts),
 * the kernel, and the container's init process; then serves it until every
 * process is gone. Runs on the tracer thread (the sandbox process's main thread).
 *
 * @module
 */
import type { IdMappings } from "../vfs/id_map.ts";
import type { Resources } from "../../platform/cgroup_resources.ts";
import { alwaysAllowed, type SeccompProfile } from "./oci_seccomp.ts";
import { SELF_ONLY } from "../../platform/self_only.ts";
import { openSignalFd, readSignals } from "../../platform/signalfd.ts";
import { forwardTerminalSignal, provideDevTty } from "../syscalls/tty.ts";
import { TERMINAL_SIGNALS } from "../kernel/signals.ts";
import type { TtyState } from "../vfs/host_tty.ts";
import { EventLoop } from "../../platform/event_loop.ts";
import { closeQuietly, readFd, setNonblocking } from "../../platform/fd.ts";
import { Machine, type PlatformName } from "../../platform/machine.ts";
import { Kernel, type KernelLog } from "../kernel/kernel.ts";
import { buildSyscallTable } from "../syscalls/table.ts";
import type { FsBackend } from "../vfs/backend.ts";
import { POLL } from "../vfs/inode.ts";
import { MountNamespace } from "../vfs/mount.ts";
import { ControlServer } from "../control/server.ts";
import { type ProcessConfig, StartError, startProcess } from "./start_process.ts";
import { type MountConfig, populateMounts, rootMount } from "./mounts.ts";
import { type Container, execIn, SandboxContainers } from "./containers.ts";
import type { Task } from "../kernel/task.ts";

export { type ProcessConfig, StartError };
export type { MountConfig };
import { sandboxHandlers } from "../control/handlers.ts";

/** Everything needed to boot. */
export interface SandboxConfig {
  /** How system calls are caught. */
  platform: PlatformName;
  /** "host": the application's TCP and UDP sockets are host sockets (default "none"). */
  network?: "none" | "host";
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
  /** Its linux.resources (shown in its cgroup file system). */
  resources?: Resources;
  /** Its user namespace mappings (/proc/PID/uid_map; file owners are mapped by its backends). */
  idMappings?: IdMappings;
  /** A listening control socket (owned): `dvisor start`, `kill`, `wait`, `ps`... talk to it. */
  controlListenFd?: number;
  /** Load the init, then wait for StartRoot on the control socket before it runs (create/start). */
  startOnRequest?: boolean;
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

  const ns = new MountNamespace(rootMount(config.root, config.rootReadOnly, config.rootOverlay));
  const table = buildSyscallTable();
  const k = new Kernel({ machine, loop, ns, table, log: config.log });
  provideDevTty(k);
  k.uts.hostname = config.hostname;
  k.network = config.network ?? "none";
  const memoryLimit = config.resources?.memory?.limit;
  if (memoryLimit !== undefined && memoryLimit > 0) k.memoryLimit = BigInt(memoryLimit);
  if (config.idMappings) k.idMappings.set("", config.idMappings);
  if (config.domainname) k.uts.domainname = config.domainname;
  k.seccomp = profile ?? null;
  const ipcSysctls = k.ipc.sysctls();
  const netSysctls = k.net.sysctls();
  for (const [key, value] of Object.entries(config.sysctl ?? {})) {
    if (key === "kernel.hostname") k.uts.hostname = value;
    else if (key === "kernel.domainname") k.uts.domainname = value;
    else if (ipcSysctls[key]) ipcSysctls[key].write(value); // checked by checkSysctls
    else if (netSysctls[key]) netSysctls[key].write(value); // checked by checkSysctls
    else k.sysctl.set(key, value);
  }
  populateMounts(k, ns, { ...config, container: "" });
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
    // Other containers' processes are forks of it too.
    const zygote = machine.forkStub(hostTid);
    const starter = {
      newStub: () => machine.forkStub(zygote),
      resume: (t: Task) => k.resumeWithSignals(t, machine.getRegs(k.hostTid(t))),
    };
    const root: Container = {
      id: "",
      init: () => k.init,
      started: () => started,
      start,
      exec: (pc: ProcessConfig, stdio: number[]) => execIn(k, starter, pc, stdio),
    };
    const served = sandboxHandlers(k, new SandboxContainers(k, root, starter));
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
