/**
 * The sandbox's configuration as plain data (what `dvisor boot` reads from
 * its config descriptor) and its JSON encoding. Types and data only: the
 * CLI writes it without loading the Sentry (boot_sandbox.ts boots it).
 *
 * @module
 */
import type { IdMappings } from "../vfs/id_map.ts";
import type { Resources } from "../../platform/cgroup_resources.ts";
import type { SeccompProfile } from "./oci_seccomp.ts";
import type { MountConfig, ProcessConfig } from "./sandbox.ts";
import type { PlatformName } from "../../platform/platform_name.ts";

/** How many descriptors beyond stdio a process may be given (`--preserve-fds`). */
export const MAX_PRESERVED_FDS = 64;

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
