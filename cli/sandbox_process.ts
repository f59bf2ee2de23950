/**
 * Starting and watching a sandbox from the CLI: the gofer, then the
 * `dvisor boot` process, with the container's stdio, signals forwarded to
 * it, and the sandbox stopped when its gofer dies.
 *
 * @module
 */
import { ownUserNamespace } from "./rootless.ts";
import { containerTagArg } from "./sandbox_reaper.ts";
import { MAX_PRESERVED_FDS } from "../core/boot/boot_config.ts";
import { UsageError } from "./flags.ts";
import { terminalOwner } from "./console.ts";
import {
  closeFd,
  closeQuietly,
  isCloexec,
  O,
  pipe,
  pollFd,
  readAll,
  readFd,
  writeFd,
} from "../platform/fd.ts";
import { sealedMemfd } from "../platform/memfd.ts";
import { capabilityNumber } from "../platform/caps.ts";
import { type Child, spawn } from "../platform/spawn.ts";
import { type BootConfig, encodeConfig } from "../core/boot/boot_config.ts";
import { FORWARDED } from "./forwarded_signals.ts";
import { goferSockets, type Served, startGofer } from "./gofer_process.ts";
import type { Logger } from "./log.ts";
import { selfCommand, selfEnv } from "./self.ts";

/**
 * The sandbox process's capabilities: CAP_SYS_ADMIN (its root, the stubs'
 * namespaces and empty roots) and CAP_SETPCAP (to start stubs with none).
 */
const BOOT_CAPS = ["CAP_SYS_ADMIN", "CAP_SETPCAP"].map(capabilityNumber);

/** What to run, minus the descriptors this module wires. */
export type SandboxRequest = Omit<
  BootConfig,
  "stdio" | "rootGoferFd" | "rootPath" | "emptyRootAt"
>;

/** The sandbox's two processes, just started. */
export interface LaunchedSandbox {
  /** The sandbox process (`dvisor boot`). */
  boot: Child;
  /** The gofer. */
  gofer: Child;
  /** Read end of the report pipe (JSON lines: ready, or why it stopped). */
  reportRead: number;
  /** Write end of the control pipe (attached sandboxes): signal numbers; closing it stops the sandbox. */
  controlWrite: number | null;
}

/** How to launch a sandbox. */
export interface LaunchOptions {
  /** What to run. */
  request: SandboxRequest;
  /** The container's root directory, as the gofer serves it. */
  served: Served;
  /** An existing directory the gofer and sandbox process mount their own roots on. */
  mountPoint: string;
  /** Global flags to pass on (--log, --log-format, --debug-log). */
  globals: string[];
  /**
   * The container's control socket and exit file (a registered container:
   * `dvisor state`, `kill`, `exec`... reach it).
   */
  control?: { controlListenFd: number; exitFd: number };
  /**
   * Outlive this process (`dvisor create`): the init waits for StartRoot.
   * Otherwise the sandbox dies with this process, its init runs at once,
   * and signals go through the control pipe. Needs `control`.
   */
  detached?: boolean;
  /** The init waits for StartRoot on the control socket (detached ones always do). Needs `control`. */
  gated?: boolean;
  /**
   * A pty slave: the container's stdio and the sandbox process's
   * controlling terminal (it forwards what the terminal raises to the
   * container's foreground group). Otherwise stdio is this process's.
   */
  terminal?: number;
  /** This process's descriptors 3 to 3+N-1 become the container's 3 on (`--preserve-fds N`). */
  preserveFds?: number;
  /** The container's stdin, stdout and stderr (default: this process's; a terminal wins). */
  stdio?: readonly [number, number, number];
  /**
   * `STATE_ROOT/ID`, put on the gofer's and the sandbox process's command
   * lines so that `delete --force` finds them even when the CLI that
   * started them died before recording their pids.
   */
  tag?: string;
  /** `cgroup.procs` files the gofer and the sandbox process join before they run. */
  joinCgroups?: string[];
}

/**
 * As runc sets the container's process's: the host's OOM killer weighs the
 * sandbox's processes by the spec's oomScoreAdj.
 *
 * @param request The sandbox.
 * @returns The spawn option, if the spec has one.
 */
function oomScoreAdj(request: SandboxRequest): { oomScoreAdj?: number } {
  const adj = request.process.oomScoreAdj;
  return adj === undefined ? {} : { oomScoreAdj: adj };
}

/**
 * Logs a warning when the host kept the sandbox's oom_score_adj above the
 * spec's (lowering it needs CAP_SYS_RESOURCE; the container still sees
 * its own value).
 *
 * @param pid The sandbox process.
 * @param request The sandbox.
 * @param logger Where the warning goes.
 */
export function warnOomScoreAdj(pid: number, request: SandboxRequest, logger: Logger): void {
  const want = request.process.oomScoreAdj;
  if (want === undefined) return;
  let now: number;
  try {
    now = Number(Deno.readTextFileSync(`/proc/${pid}/oom_score_adj`).trim());
  } catch {
    return; // it ended
  }
  if (now !== want) {
    logger.warn(
      `The sandbox's oom_score_adj stays ${now}, not ${want}: lowering it needs CAP_SYS_RESOURCE`,
    );
  }
}

/**
 * What a container's gofer serves: its root, then each bind mount's
 * source, in the order the Sentry takes their sockets.
 *
 * @param request The container's mounts.
 * @param root Its root directory.
 * @returns The directories (and files) to serve.
 */
export function servedDirectories(
  request: Pick<SandboxRequest, "mounts">,
  root: Served,
): Served[] {
  const binds = request.mounts.filter((m) => m.type === "bind");
  return [root, ...binds.map((m) => ({ path: m.hostPath!, readOnly: m.readOnly ?? false }))];
}

/**
 * The descriptors `--preserve-fds N` names (3 to 3+N-1), checked open.
 *
 * @param n How many.
 * @returns The descriptors.
 * @throws {UsageError} When one is not open or N is out of range.
 */
export function preservedFds(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PRESERVED_FDS) {
    throw new UsageError(`Invalid --preserve-fds ${n}: give 0 to ${MAX_PRESERVED_FDS}`);
  }
  const fds = Array.from({ length: n }, (_, i) => 3 + i);
  const isOpen = (fd: number) => {
    try {
      isCloexec(fd);
      return true;
    } catch {
      return false;
    }
  };
  for (const fd of fds) {
    if (!isOpen(fd)) {
      throw new UsageError(
        `--preserve-fds ${n}: descriptor ${fd} is not open: pass it, or ask for fewer`,
      );
    }
  }
  return fds;
}

/**
 * Starts the gofer and the sandbox process; the container's stdio is this
 * process's. On failure nothing is left running.
 *
 * @param o What and how.
 * @returns The processes and the pipes to them.
 */
export function launchSandbox(o: LaunchOptions): LaunchedSandbox {
  const { request, served, mountPoint, globals, control } = o;
  const detached = o.detached === true && control !== undefined;
  const gated = detached || (o.gated === true && control !== undefined);
  const directories = servedDirectories(request, served);
  // The sandbox process starts first: it takes longest to load, and the
  // gofer (started next on the other ends) is serving before it asks.
  const sockets = goferSockets(directories.length);
  const [reportRead, reportWrite] = pipe(O.CLOEXEC);
  const [controlRead, controlWrite] = detached ? [-1, -1] : pipe(O.CLOEXEC);
  const configFds: Array<readonly [number, number]> = [];
  let boot: Child | null = null;
  let goferCalled = false;
  try {
    // In the sandbox process: stdio at 0-2, gofer sockets from 3, then the
    // config and the other descriptors.
    let next = 3;
    const rootFd = next++;
    const mounts = request.mounts.map((m) => (m.type === "bind" ? { ...m, goferFd: next++ } : m));
    const configAt = next++;
    const pass = (fd: number) => {
      const at = next++;
      configFds.push([at, fd]);
      return at;
    };
    const config: BootConfig = {
      ...request,
      mounts,
      rootGoferFd: rootFd,
      emptyRootAt: mountPoint,
      stdio: [0, 1, 2, ...preservedFds(o.preserveFds ?? 0).map(pass)],
      reportFd: pass(reportWrite),
      ...(control
        ? { controlListenFd: pass(control.controlListenFd), exitFd: pass(control.exitFd) }
        : {}),
      ...(gated ? { startOnRequest: true } : {}),
      ...(detached ? {} : { controlFd: pass(controlRead) }),
    };
    const configFd = sealedMemfd("dvisor-config", new TextEncoder().encode(encodeConfig(config)));
    try {
      const { path, argv } = selfCommand([
        ...globals,
        "boot",
        ...(o.tag ? [containerTagArg(o.tag)] : []),
        "--config-fd",
        String(configAt),
      ]);
      boot = spawn({
        path,
        args: argv,
        env: selfEnv(),
        fds: [
          [0, o.terminal ?? o.stdio?.[0] ?? 0],
          [1, o.terminal ?? o.stdio?.[1] ?? 1],
          [2, o.terminal ?? o.stdio?.[2] ?? 2],
          ...sockets.map(([sentry], i) => [3 + i, sentry] as const),
          [configAt, configFd],
          ...configFds,
        ],
        // Its own pid namespace: the only processes it can signal or trace are its stubs.
        namespaces: [...ownUserNamespace(), "mount", "pid", "ipc", "uts"],
        // The bounding set makes these hold across its execve as root.
        capabilities: { bounding: BOOT_CAPS, effective: BOOT_CAPS, permitted: BOOT_CAPS },
        ...(detached ? { setsid: true } : { parentDeathSignal: 9 }),
        ...(o.terminal !== undefined ? terminalOwner() : {}),
        ...(o.joinCgroups?.length ? { joinCgroups: o.joinCgroups } : {}),
        ...(request.networkNamespace ? { joinNetwork: request.networkNamespace } : {}),
        ...oomScoreAdj(request),
      });
    } finally {
      closeFd(configFd);
    }
    goferCalled = true;
    const gofer = startGofer(directories, mountPoint, {
      detached,
      sockets,
      idMappings: request.idMappings ?? null,
      ...(o.tag ? { tag: o.tag } : {}),
      ...(o.joinCgroups ? { joinCgroups: o.joinCgroups } : {}),
      ...oomScoreAdj(request),
      globals,
    });
    return { boot, gofer: gofer.child, reportRead, controlWrite: detached ? null : controlWrite };
  } catch (e) {
    closeQuietly(reportRead);
    if (!detached) closeQuietly(controlWrite);
    if (boot) {
      try {
        boot.kill(9);
      } catch { /* gone */ }
      boot.waitSync();
      boot.close();
    }
    throw e;
  } finally {
    // The sandbox process and the gofer have their copies now (startGofer
    // closes the gofer ends, even when it fails).
    if (!goferCalled) sockets.forEach(([, g]) => closeQuietly(g));
    closeQuietly(reportWrite);
    if (!detached) closeQuietly(controlRead);
    sockets.forEach(([sentry]) => closeQuietly(sentry));
  }
}

/**
 * Runs a sandbox to its end: gofer and boot processes, stdio inherited.
 *
 * @param request The sandbox (mount entries of type bind name their host path in `hostPath`).
 * @param served The container's root directory, as the gofer serves it.
 * @param mountPoint An existing directory the gofer and sandbox process
 *   mount their own roots on (in their own mount namespaces).
 * @param globals Global flags to pass on (--log, --log-format, --debug-log).
 * @param logger Where errors are logged.
 * @returns The exit code to leave with.
 */
export async function runSandboxProcesses(
  request: SandboxRequest,
  served: Served,
  mountPoint: string,
  globals: string[],
  logger: Logger,
  registered?: {
    control: { controlListenFd: number; exitFd: number };
    /**
     * Called once the init is loaded, with the sandbox's processes: it
     * starts the init (StartRoot), with what comes before and after. When
     * it throws, the sandbox is stopped and the error is the command's.
     */
    onCreated: (boot: Child, gofer: Child) => Promise<void>;
  },
  extra: {
    terminal?: number;
    preserveFds?: number;
    /** `STATE_ROOT/ID` for the processes' command lines. */
    tag?: string;
    joinCgroups?: string[];
    /** Why the sandbox process was killed by a signal, when something knows (OOM). */
    whyKilled?: () => string | null;
  } = {},
): Promise<number> {
  const s = launchSandbox({
    request,
    served,
    mountPoint,
    globals,
    ...(registered ? { control: registered.control, gated: true } : {}),
    ...(extra.terminal !== undefined ? { terminal: extra.terminal } : {}),
    preserveFds: extra.preserveFds ?? 0,
    ...(extra.joinCgroups ? { joinCgroups: extra.joinCgroups } : {}),
    ...(extra.tag !== undefined ? { tag: extra.tag } : {}),
  });
  logger.debug(`sandbox process pid ${s.boot.pid}, gofer pid ${s.gofer.pid}`);
  const early: ReportLine[] = [];
  if (registered) {
    const first = firstReport(s.reportRead);
    if (first) early.push(first);
    if (first?.ready) {
      try {
        await registered.onCreated(s.boot, s.gofer);
      } catch (e) {
        try {
          s.boot.kill(9);
        } catch { /* gone */ }
        await s.boot.wait();
        s.boot.close();
        closeQuietly(s.controlWrite ?? -1);
        closeQuietly(s.reportRead);
        await s.gofer.wait();
        s.gofer.close();
        throw e;
      }
    }
  }
  const b = s.boot;
  let goferDied: string | null = null;
  const unlisten: Array<() => void> = [];
  try {
    for (const [name, num] of FORWARDED) {
      const fn = () => {
        try {
          writeFd(s.controlWrite!, new Uint8Array([num]));
        } catch { /* it ended */ }
      };
      Deno.addSignalListener(name, fn);
      unlisten.push(() => Deno.removeSignalListener(name, fn));
    }
    // A gofer that dies takes the sandbox down (the Sentry also stops by
    // itself at its next file request).
    const goferEnd = s.gofer.wait().then((st) => {
      if (st.code === 0 && st.signal === null) return;
      goferDied = st.signal !== null ? `signal ${st.signal}` : `exit code ${st.code}`;
      try {
        b.kill(9);
      } catch { /* it ended */ }
    });
    const status = await b.wait();
    // With the sandbox gone the gofer ends too; its status says whether it died first.
    await goferEnd;
    const fail = async (msg: string, code: number) => {
      logger.error(msg);
      await Deno.stderr.write(new TextEncoder().encode(`dvisor: ${msg}\n`));
      return code;
    };
    const why = goferDied || status.signal !== null ? extra.whyKilled?.() : null;
    if (why) return await fail(why, 137);
    if (goferDied) return await fail(`the gofer died (${goferDied}): the sandbox was stopped`, 137);
    const failure = [...early, ...reportLines(readAll(s.reportRead))].find((l) => !l.ready);
    if (failure) return await fail(failure.message ?? "the sandbox failed", failure.status ?? 1);
    return status.signal !== null ? 128 + status.signal : status.code ?? 1;
  } catch (e) {
    // The sandbox could not be watched: leave nothing behind.
    try {
      b.kill(9);
    } catch { /* gone */ }
    await b.wait().catch(() => {});
    throw e;
  } finally {
    unlisten.forEach((u) => u());
    closeQuietly(s.controlWrite ?? -1);
    closeQuietly(s.reportRead);
    b.close();
    // The gofer ends when the sandbox's end of its sockets closes.
    await s.gofer.wait();
    s.gofer.close();
  }
}

/**
 * The global flags a child dvisor process needs to log where this one does.
 *
 * @param globals Parsed global flags.
 * @returns Command-line arguments.
 */
export function passedGlobals(globals: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of ["log", "log-format", "debug-log", "platform", "network"]) {
    if (typeof globals[k] === "string") out.push(`--${k}=${globals[k]}`);
  }
  for (const k of ["debug", "strace"]) if (globals[k] === true) out.push(`--${k}`);
  return out;
}

/** What the sandbox process reports: `{ready}` once its init is loaded, or why it stopped. */
export interface ReportLine {
  ready?: boolean;
  message?: string;
  status?: number;
}

/**
 * Splits the report pipe's bytes into its JSON lines.
 *
 * @param bytes What was read.
 * @returns The lines.
 */
export function reportLines(bytes: Uint8Array): ReportLine[] {
  return new TextDecoder().decode(bytes).split("\n").filter((l) => l.trim()).map((l) =>
    JSON.parse(l) as ReportLine
  );
}

/** How long the sandbox may take to load the init. */
const READY_TIMEOUT_MS = 60_000;

/**
 * Reads the sandbox process's first report line: ready, or why it
 * stopped; null when it said nothing in time or closed the pipe.
 *
 * @param fd The report pipe's read end.
 * @returns The line.
 */
export function firstReport(fd: number): ReportLine | null {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0 || (pollFd(fd, 1, left) & (1 | 16)) === 0) return null;
    const n = readFd(fd, buf);
    if (n === 0) break;
    chunks.push(...buf.subarray(0, n));
    if (chunks.includes(10)) break;
  }
  return reportLines(new Uint8Array(chunks))[0] ?? null;
}
