/**
 * Booting the Sentry from a plain-data configuration (what `dvisor boot`
 * reads from its config descriptor) and serving the sandbox until every
 * process is gone, on the calling thread.
 *
 * @module
 */
import type { SeccompProfile } from "./oci_seccomp.ts";
import { HostBackend } from "../../gofer/host_backend.ts";
import { GoferClient } from "../vfs/gofer_client.ts";
import { writeAll } from "../../platform/fd.ts";
import { FileServerLost } from "../errors.ts";
import { type MountConfig, type ProcessConfig, runSandbox, StartError } from "./sandbox.ts";
import type { PlatformName } from "../../platform/machine.ts";

/** What the sandbox process needs, as data (descriptors are its own numbers). */
export interface BootConfig {
  platform: PlatformName;
  /** The root's file server: a gofer socket, or (tests) a host path served in this process. */
  rootGoferFd?: number;
  rootPath?: string;
  rootReadOnly: boolean;
  rootOverlay: boolean;
  /** Mounts; a bind mount is served by a gofer socket (`goferFd`) or, in tests, from `hostPath` in-process. */
  mounts: Array<
    Omit<MountConfig, "backend"> & { hostPath?: string; readOnly?: boolean; goferFd?: number }
  >;
  process: ProcessConfig;
  hostname: string;
  /** linux.maskedPaths and linux.readonlyPaths. */
  maskedPaths?: string[];
  /** linux.sysctl (dotted keys). */
  sysctl?: Record<string, string>;
  /** linux.seccomp, applied by the Sentry. */
  seccomp?: SeccompProfile;
  readonlyPaths?: string[];
  /** The container's 0, 1, 2 and then the preserved descriptors (--preserve-fds) from 3. */
  stdio: number[];
  emptyRootAt: string;
  debugLog: string | null;
  /** The debug log as an open descriptor (a sandbox that confined itself cannot open paths). */
  debugLogFd?: number;
  /** Log every system call the Sentry serves to the debug log. */
  strace?: boolean;
  /** The exit status when the first program cannot start (default: as a shell, 126 or 127). */
  startFailureStatus?: number;
  /** A pipe from the starting process: signal numbers for the init; its end stops the sandbox. */
  controlFd?: number;
  /**
   * A pipe to the starting process: JSON lines, `{"ready":true}` once the
   * init is loaded, or the start error for it to print and log.
   */
  reportFd?: number;
  /** A listening control socket (see SandboxConfig.controlListenFd). */
  controlListenFd?: number;
  /** Wait for StartRoot before the init runs (`dvisor create`). */
  startOnRequest?: boolean;
  /** A file to write the init's wait status to when the sandbox ends (read by `dvisor wait`, `state`). */
  exitFd?: number;
}

/** How a sandbox ended. */
export interface BootResult {
  /** Whether the init ran (`status` is then its wait status). */
  ok: boolean;
  /** The init's wait status, or the exit code to leave with when not ok. */
  status: number;
  /** Why it could not start. */
  message?: string;
  /** Not to be printed: the starting process, which watches the gofer, reports it. */
  quiet?: boolean;
}

/**
 * Runs a sandbox to its end on this thread.
 *
 * Preconditions: every module the Sentry uses is loaded (the caller may
 * have left the host's file system).
 *
 * @param c The configuration.
 * @param beforeRun Runs once the init is loaded, before the Sentry serves
 *   it (where the sandbox process installs its system call allow-list).
 * @returns How it ended.
 *
 * @example
 * ```ts ignore
 * const r = bootSandbox(decodeConfig(text));
 * ```
 */
export function bootSandbox(c: BootConfig, beforeRun?: () => void): BootResult {
  const write = (level: string, msg: string) => {
    const line = `${new Date().toISOString()} ${level} ${msg}\n`;
    try {
      if (c.debugLogFd !== undefined) writeAll(c.debugLogFd, new TextEncoder().encode(line));
      else if (c.debugLog) Deno.writeTextFileSync(c.debugLog, line, { append: true });
    } catch {
      // debug logging must never break the sandbox
    }
  };
  try {
    const root = c.rootGoferFd !== undefined
      ? new GoferClient(c.rootGoferFd)
      : new HostBackend(c.rootPath!, { readOnly: c.rootReadOnly || c.rootOverlay });
    const mounts: MountConfig[] = c.mounts.map((m) => ({
      ...m,
      ...(m.type === "bind"
        ? {
          backend: m.goferFd !== undefined
            ? new GoferClient(m.goferFd)
            : new HostBackend(m.hostPath!, { readOnly: m.readOnly ?? false }),
        }
        : {}),
    }));
    const status = runSandbox({
      platform: c.platform,
      root,
      rootReadOnly: c.rootReadOnly,
      rootOverlay: c.rootOverlay,
      mounts,
      process: c.process,
      hostname: c.hostname,
      maskedPaths: c.maskedPaths ?? [],
      ...(c.seccomp ? { seccomp: c.seccomp } : {}),
      ...(c.sysctl ? { sysctl: c.sysctl } : {}),
      readonlyPaths: c.readonlyPaths ?? [],
      stdio: c.stdio,
      emptyRootAt: c.emptyRootAt,
      ...(c.controlFd !== undefined ? { controlFd: c.controlFd } : {}),
      ...(c.controlListenFd !== undefined ? { controlListenFd: c.controlListenFd } : {}),
      startOnRequest: c.startOnRequest ?? false,
      ...(beforeRun ? { beforeRun } : {}),
      log: {
        debug: (m) => write("D", m),
        warn: (m) => write("W", m),
        ...(c.strace ? { strace: (m: string) => write("S", m) } : {}),
      },
    });
    return { ok: true, status };
  } catch (err) {
    if (err instanceof StartError) {
      return { ok: false, message: err.message, status: c.startFailureStatus ?? err.status };
    }
    if (err instanceof FileServerLost) {
      // The process that started the gofer saw it die and says so.
      write("E", err.message);
      return { ok: false, message: err.message, status: 137, quiet: true };
    }
    write("E", err instanceof Error ? err.stack ?? err.message : String(err));
    return { ok: false, message: err instanceof Error ? err.message : String(err), status: 1 };
  }
}
