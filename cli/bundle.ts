/**
 * From an OCI bundle to what a sandbox runs: config.json read, parsed and
 * checked, the rootfs checked, and the sandbox request and served root
 * built (shared by `run` and `create`).
 *
 * @module
 */
import { fileOwnerMappings } from "./rootless.ts";
import { parseSpec, type Spec } from "../core/boot/oci_spec.ts";
import type { IdMappings } from "../core/vfs/id_map.ts";
import { joinedUserNamespace } from "./user_namespace.ts";
import { podSandbox } from "./pod_annotations.ts";
import { StateStore } from "./container_state.ts";
import { stateRoot } from "./state_root.ts";
import { makeMountPoints, type MountPoint } from "../platform/mount_points.ts";
import { UsageError } from "./flags.ts";
import type { CgroupRecord } from "../platform/cgroup.ts";
import { containerCgroup } from "./container_cgroup.ts";
import type { Logger } from "./log.ts";
import { sandboxGlobals } from "./do.ts";
import type { Served } from "./gofer_process.ts";
import { passedGlobals, type SandboxRequest } from "./sandbox_process.ts";

/** A bundle, ready to launch. */
export interface LoadedBundle {
  /** The bundle directory, absolute. */
  bundle: string;
  /** The parsed spec. */
  spec: Spec;
  /** The sandbox to run. */
  request: SandboxRequest;
  /** The root, as the gofer serves it. */
  served: Served;
  /** Where the sandbox's processes mount their own roots. */
  mountPoint: string;
  /** Global flags for the sandbox's processes. */
  globals: string[];
  /** The sandbox's host cgroup (made at register), or null. */
  cgroup: CgroupRecord | null;
}

/**
 * Loads a bundle for container `id`.
 *
 * @param bundleArg The --bundle flag (default: the current directory).
 * @param id The container.
 * @param globals Parsed global flags.
 * @param logger For debug lines.
 * @returns The bundle, ready to launch.
 * @throws {UsageError} For a missing or invalid config.json or rootfs.
 */
export async function loadBundle(
  bundleArg: string | undefined,
  id: string,
  globals: Record<string, unknown>,
  logger: Logger,
): Promise<LoadedBundle> {
  const given = bundleArg ?? Deno.cwd();
  const bundle = given.startsWith("/") ? given : `${Deno.cwd()}/${given}`;
  let text: string;
  try {
    text = await Deno.readTextFile(`${bundle}/config.json`);
  } catch {
    throw new UsageError(`Cannot read ${bundle}/config.json: give the bundle with --bundle`);
  }
  const spec = parseSpec(text, bundle);
  // Checking the values loads the Sentry's namespaces: only when there are any.
  if (Object.keys(spec.sysctl).length > 0) {
    (await import("../core/boot/oci_sysctl.ts")).checkSysctls(spec.sysctl);
  }
  return await prepareBundle(bundle, spec, id, globals, logger);
}

/**
 * Turns a parsed spec into what a sandbox runs: the rootfs checked, the
 * sandbox request, the served root, the cgroup (shared by bundles and the
 * library, which builds its spec in memory).
 *
 * @param bundle The bundle directory, absolute (relative paths in the spec are from it).
 * @param spec The parsed spec.
 * @param id The container.
 * @param globals Parsed global flags (`platform`, `network`, `overlay`, `root`, ...).
 * @param logger For debug lines.
 * @returns The bundle, ready to launch.
 * @throws {UsageError} For a rootfs that is not a directory, a bad platform or network.
 */
export async function prepareBundle(
  bundle: string,
  spec: Spec,
  id: string,
  globals: Record<string, unknown>,
  logger: Logger,
): Promise<LoadedBundle> {
  try {
    const st = await Deno.stat(spec.rootPath);
    if (!st.isDirectory) throw new Error();
  } catch {
    throw new UsageError(
      `The rootfs ${spec.rootPath} is not a readable directory: check root.path in config.json`,
    );
  }
  for (const s of spec.skipped) logger.debug(`${id}: mount ${s}`);
  // As runc: missing mount points are made in the rootfs (never in the host's own root).
  if (spec.rootPath !== "/") {
    try {
      makeMountPoints(spec.rootPath, await mountPoints(spec));
    } catch (e) {
      throw new UsageError(
        `Cannot make the mount points in ${spec.rootPath}: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
  if (spec.userNamespacePath) {
    spec.idMappings = joinedUserNamespace(
      spec.userNamespacePath,
      spec.idMappings,
      podMappings(spec, globals),
    );
  }
  const { platform, network: flagged, strace, mountPoint } = await sandboxGlobals(globals);
  // A network namespace given by path (CNI's, Docker's) is the sandbox's
  // network, through host sockets in it, unless --network none says otherwise.
  const joined = spec.networkNamespacePath;
  const network = joined && globals.network === undefined ? "host" : flagged;
  return {
    bundle,
    spec,
    request: {
      platform,
      network,
      ...(network === "host" && joined ? { networkNamespace: joined } : {}),
      rootReadOnly: spec.rootReadOnly,
      rootOverlay: globals.overlay === true,
      mounts: spec.mounts.map((m) => ({
        target: m.destination,
        type: m.kind,
        flags: { readOnly: m.readOnly, nosuid: m.nosuid, nodev: m.nodev, noexec: m.noexec },
        ...(m.sizeBytes !== undefined ? { sizeBytes: m.sizeBytes } : {}),
        ...(m.mode !== undefined ? { mode: m.mode } : {}),
        ...(m.source !== undefined ? { hostPath: m.source, readOnly: m.readOnly } : {}),
      })),
      process: spec.process,
      maskedPaths: spec.maskedPaths,
      ...(spec.seccomp ? { seccomp: spec.seccomp } : {}),
      resources: spec.resources,
      ...(spec.idMappings ? { idMappings: spec.idMappings } : {}),
      ...fileOwnerMappings(spec.idMappings),
      sysctl: spec.sysctl,
      readonlyPaths: spec.readonlyPaths,
      hostname: spec.hostname || id,
      ...(spec.domainname ? { domainname: spec.domainname } : {}),
      strace,
      // As runc: a process that cannot start is exit status 1.
      startFailureStatus: 1,
    },
    // With --overlay, writes stay in the sandbox: the gofer serves the rootfs read-only.
    served: { path: spec.rootPath, readOnly: spec.rootReadOnly || globals.overlay === true },
    mountPoint,
    cgroup: containerCgroup(spec, id, globals, logger),
    globals: passedGlobals(globals).filter((g) =>
      !g.startsWith("--platform") && !g.startsWith("--network")
    ),
  };
}

/**
 * The mount points a spec needs in its rootfs: every mount's destination
 * that no earlier file system of the sandbox's own (tmpfs, proc, ...)
 * holds; a file for a bind mount of a file.
 *
 * @param spec The spec.
 * @returns The mount points, in mount order.
 */
async function mountPoints(spec: Spec): Promise<MountPoint[]> {
  const points: MountPoint[] = [];
  const inSandbox: string[] = [];
  for (const m of spec.mounts) {
    const under = inSandbox.some((d) => m.destination.startsWith(d === "/" ? d : `${d}/`));
    if (!under) {
      const file = m.kind === "bind" && m.source !== undefined &&
        !(await Deno.stat(m.source).then((st) => st.isDirectory, () => true));
      points.push({ path: m.destination, file });
    }
    if (m.kind !== "bind") inSandbox.push(m.destination);
  }
  return points;
}

/**
 * The sandbox process and user namespace mappings of the pod a container
 * joins (CRI names the pod's user namespace by its sandbox's pid), if any.
 */
function podMappings(
  spec: Spec,
  globals: Record<string, unknown>,
): { pid: number; idMappings: IdMappings | null } | undefined {
  const sandboxId = podSandbox(spec.annotations);
  if (sandboxId === null) return undefined;
  try {
    const store = new StateStore(stateRoot(globals));
    const member = store.read(sandboxId);
    const root = member.sandbox ? store.read(member.sandbox) : member;
    return { pid: root.pid, idMappings: root.idMappings ?? null };
  } catch {
    return undefined; // create says what is wrong with the pod
  }
}
