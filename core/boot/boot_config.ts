/**
 * Booting the Sentry from a plain-data configuration (what `dvisor boot`
 * reads from its config descriptor) and serving the sandbox until every
 * process is gone, on the calling thread.
 *
 * @module
 */
import { IdMappedBackend, type IdMappings } from "../vfs/id_map.ts";
import type { FsBackend } from "../vfs/backend.ts";
import type { Resources } from "../../platform/cgroup_resources.ts";
import type { SeccompProfile } from "./oci_seccomp.ts";
import { HostBackend } from "../../gofer/host_backend.ts";
import { GoferClient } from "../vfs/gofer_client.ts";
import { FileServerLost } from "../errors.ts";
import { type MountConfig, type ProcessConfig, runSandbox, StartError } from "./sandbox.ts";
import type { PlatformName } from "../../platform/machine.ts";

/** What the sandbox process needs, as data (descriptors are its own numbers). */
export interface BootConfig {
  platform: PlatformName;
  /** "host": the application's TCP and UDP sockets are host sockets (default "none"). */
  network?: "none" | "host";
  /**
   * With "host": the network namespace (a path, from linux.namespaces) the
   * sandbox process is started in, whose network those sockets use.
   */
  networkNamespace?: string;
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
  /** The spec's domainname (none: "(none)"). */
  domainname?: string;
  /** linux.maskedPaths and linux.readonlyPaths. */
  maskedPaths?: string[];
  /** linux.sysctl (dotted keys). */
  sysctl?: Record<string, string>;
  /** linux.seccomp, applied by the Sentry. */
  seccomp?: SeccompProfile;
  /** linux.resources (the host cgroup enforces them; the container's cgroup files show them). */
  resources?: Resources;
  /** The container's user namespace mappings (shown in /proc/PID/uid_map and gid_map). */
  idMappings?: IdMappings;
  /** The mappings file owners are translated across, when not `idMappings` (a rootless gofer's). */
  fileIdMappings?: IdMappings;
  readonlyPaths?: string[];
  /** The container's 0, 1, 2 and then the preserved descriptors (--preserve-fds) from 3. */
  stdio: number[];
  emptyRootAt: string;
  /** Log every system call the Sentry serves (to the `log` given to {@linkcode bootSandbox}). */
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

/**
 * Encodes a configuration as JSON, BigInts included (capability masks,
 * limits); {@linkcode decodeConfig} reverses it.
 *
 * @param config The configuration.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { decodeConfig, encodeConfig } from "./boot_config.ts";
 * if (decodeConfig<{ n: bigint }>(encodeConfig({ n: 1n << 60n })).n !== 1n << 60n) throw new Error();
 * ```
 */
export function encodeConfig<T>(config: T): string {
  return JSON.stringify(config, (_k, v) => (typeof v === "bigint" ? { $bigint: v.toString() } : v));
}

/**
 * Decodes what {@linkcode encodeConfig} made.
 *
 * @param text The JSON text.
 * @returns The configuration.
 */
export function decodeConfig<T = BootConfig>(text: string): T {
  return JSON.parse(
    text,
    (_k, v) => v && typeof v === "object" && typeof v.$bigint === "string" ? BigInt(v.$bigint) : v,
  ) as T;
}
