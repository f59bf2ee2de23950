/**
 * Booting the Sentry from a {@linkcode BootConfig} and serving the sandbox
 * until every process is gone, on the calling thread.
 *
 * @module
 */
import { IdMappedBackend } from "../vfs/id_map.ts";
import type { FsBackend } from "../vfs/backend.ts";
import { HostBackend } from "../../gofer/host_backend.ts";
import { GoferClient } from "../vfs/gofer_client.ts";
import { FileServerLost } from "../errors.ts";
import { type MountConfig, runSandbox, StartError } from "./sandbox.ts";
import type { BootConfig } from "./boot_config.ts";

/**
 * Where the Sentry's records go (the sandbox process's debug log). It
 * must keep working once the process has left the host's file system.
 */
export interface BootLog {
  /** What the Sentry did. */
  debug(msg: string): void;
  /** What it could not do as asked. */
  warn(msg: string): void;
  /** Why the sandbox failed. */
  error(msg: string): void;
  /** One system call served (with `strace`). */
  strace(msg: string): void;
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
 * @param log Where the Sentry's records go; none: nowhere.
 * @returns How it ended.
 *
 * @example
 * ```ts ignore
 * const r = bootSandbox(decodeConfig(text));
 * ```
 */
export function bootSandbox(c: BootConfig, beforeRun?: () => void, log?: BootLog): BootResult {
  try {
    const fileIds = c.fileIdMappings ?? c.idMappings;
    const mapped = (b: FsBackend): FsBackend => fileIds ? new IdMappedBackend(b, fileIds) : b;
    const root = mapped(
      c.rootGoferFd !== undefined
        ? new GoferClient(c.rootGoferFd)
        : new HostBackend(c.rootPath!, { readOnly: c.rootReadOnly || c.rootOverlay }),
    );
    const mounts: MountConfig[] = c.mounts.map((m) => ({
      ...m,
      ...(m.type === "bind"
        ? {
          backend: mapped(
            m.goferFd !== undefined
              ? new GoferClient(m.goferFd)
              : new HostBackend(m.hostPath!, { readOnly: m.readOnly ?? false }),
          ),
        }
        : {}),
    }));
    const status = runSandbox({
      platform: c.platform,
      ...(c.network ? { network: c.network } : {}),
      root,
      rootReadOnly: c.rootReadOnly,
      rootOverlay: c.rootOverlay,
      mounts,
      process: c.process,
      hostname: c.hostname,
      ...(c.domainname ? { domainname: c.domainname } : {}),
      maskedPaths: c.maskedPaths ?? [],
      ...(c.seccomp ? { seccomp: c.seccomp } : {}),
      ...(c.resources ? { resources: c.resources } : {}),
      ...(c.idMappings ? { idMappings: c.idMappings } : {}),
      ...(c.sysctl ? { sysctl: c.sysctl } : {}),
      readonlyPaths: c.readonlyPaths ?? [],
      stdio: c.stdio,
      emptyRootAt: c.emptyRootAt,
      ...(c.controlFd !== undefined ? { controlFd: c.controlFd } : {}),
      ...(c.controlListenFd !== undefined ? { controlListenFd: c.controlListenFd } : {}),
      startOnRequest: c.startOnRequest ?? false,
      ...(beforeRun ? { beforeRun } : {}),
      log: {
        debug: (m) => log?.debug(m),
        warn: (m) => log?.warn(m),
        ...(c.strace && log ? { strace: (m: string) => log.strace(m) } : {}),
      },
    });
    return { ok: true, status };
  } catch (err) {
    if (err instanceof StartError) {
      return { ok: false, message: err.message, status: c.startFailureStatus ?? err.status };
    }
    if (err instanceof FileServerLost) {
      // The process that started the gofer saw it die and says so.
      log?.error(err.message);
      return { ok: false, message: err.message, status: 137, quiet: true };
    }
    log?.error(err instanceof Error ? err.stack ?? err.message : String(err));
    return { ok: false, message: err instanceof Error ? err.message : String(err), status: 1 };
  }
}
