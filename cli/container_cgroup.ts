/**
 * A container's host cgroup: which one (`linux.cgroupsPath`, systemd's
 * `slice:prefix:name` with `--systemd-cgroup`, else `/ID`), made and limited
 * at create (the sandbox process and the gofer join it before they run),
 * removed with the container's state.
 *
 * @module
 */
import { isRootless } from "./rootless.ts";
import type { Resources } from "../platform/cgroup_resources.ts";
import {
  type CgroupRecord,
  containerCgroupPath,
  controllerDir,
  locateCgroup,
  makeCgroup,
  oomKills,
  readControl,
  removeCgroup,
  setResources,
} from "../platform/cgroup.ts";
import type { Spec } from "../core/boot/oci_spec.ts";
import { NoSuchContainer, type StateStore } from "./container_state.ts";
import type { Logger } from "./log.ts";
import { UsageError } from "./flags.ts";

/**
 * Picks a container's cgroup (nothing is made yet).
 *
 * @param spec The container's spec.
 * @param id The container.
 * @param globals Global flags (`--systemd-cgroup`, `--rootless`).
 * @param logger For the limits dvisor does not apply.
 * @returns The cgroup, or null when dvisor runs without one (not root, or
 *   `--rootless`, and no limits asked for).
 * @throws {UsageError} For a cgroupsPath that cannot be used.
 */
export function containerCgroup(
  spec: Spec,
  id: string,
  globals: Record<string, unknown>,
  logger: Logger,
): CgroupRecord | null {
  for (const i of spec.ignoredResources) {
    logger.warn(`${id}: linux.resources.${i.field} is not applied: ${i.why}`);
  }
  const rootless = isRootless(globals.rootless);
  if (rootless && !Object.keys(spec.resources).length) {
    logger.debug(`${id}: no host cgroup (not root, no limits asked for)`);
    return null;
  }
  try {
    const path = containerCgroupPath(spec.cgroupsPath, id, globals["systemd-cgroup"] === true);
    return locateCgroup(path);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Makes a container's cgroup and sets its limits; on failure removes what
 * it made.
 *
 * @param cgroup The cgroup.
 * @param resources The limits.
 * @throws {Error} Saying which directory or limit the host refused.
 */
export function setUpCgroup(cgroup: CgroupRecord, resources: Resources): void {
  try {
    makeCgroup(cgroup);
    setResources(cgroup, resources);
  } catch (e) {
    removeCgroup(cgroup);
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(
      why.startsWith("Cannot set") || why.startsWith("The host")
        ? why
        : `Cannot make the cgroup ${cgroup.path}: ${why}: check linux.cgroupsPath`,
    );
  }
}

/**
 * Why the sandbox process died of a signal, when the host's OOM killer
 * acted in its cgroup.
 *
 * @param cgroup The sandbox's cgroup, if any.
 * @returns A one-line explanation, or null when there was no OOM kill.
 */
export function oomExplanation(cgroup: CgroupRecord | null): string | null {
  if (!cgroup || oomKills(cgroup) === 0) return null;
  const dir = controllerDir(cgroup, "memory")!;
  const limit = readControl(dir, cgroup.version === 2 ? "memory.max" : "memory.limit_in_bytes");
  return `The host's OOM killer killed the sandbox: its memory limit (${limit} bytes) must hold the container and dvisor's sandbox (about ${SANDBOX_MIB} MiB): raise linux.resources.memory.limit`;
}

/**
 * Why a sandbox could not start, when its memory limit is the cause: the
 * host's OOM killer acted, or the kernel could not load dvisor's own
 * processes within the limit (their execve fails with E2BIG or ENOMEM).
 *
 * @param cgroup The sandbox's cgroup, if any (still there).
 * @param failure The error the start failed with.
 * @returns A one-line explanation, or null when the limit is not the cause.
 *
 * @example
 * ```ts
 * import { startFailureExplanation } from "./container_cgroup.ts";
 * // A directory standing in for a cgroup v2 with a 4 MiB limit and no OOM kill.
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/memory.max`, "4194304\n");
 * Deno.writeTextFileSync(`${dir}/memory.events`, "oom_kill 0\n");
 * const cg = { version: 2 as const, path: "/x", dirs: [{ controllers: ["memory"], dir }], created: [] };
 * const why = startFailureExplanation(cg, "Cannot start /usr/bin/deno: execve: E2BIG (Argument list too long)");
 * if (!why?.includes("memory limit (4194304 bytes)")) throw new Error(String(why));
 * if (startFailureExplanation(cg, "exec: no such file") !== null) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function startFailureExplanation(
  cgroup: CgroupRecord | null,
  failure: string,
): string | null {
  const oom = oomExplanation(cgroup);
  if (oom || !cgroup || !/execve: (E2BIG|ENOMEM)/.test(failure)) return oom;
  const dir = controllerDir(cgroup, "memory");
  if (!dir) return null;
  const limit = readControl(dir, cgroup.version === 2 ? "memory.max" : "memory.limit_in_bytes");
  if (!/^\d+$/.test(limit) || BigInt(limit) >= 1n << 62n) return null;
  return `The sandbox cannot start within its memory limit (${limit} bytes): it must hold the container and dvisor's sandbox (about ${SANDBOX_MIB} MiB): raise linux.resources.memory.limit`;
}

/** Roughly what the sandbox process and the gofer use, idle, in MiB (measured). */
const SANDBOX_MIB = 100;

/**
 * Removes a container's state and its cgroup (its processes must be gone).
 *
 * @param store The state root.
 * @param id The container (locked).
 * @param logger For a cgroup directory that stays busy.
 */
export function removeContainer(store: StateStore, id: string, logger: Logger): void {
  let cgroups: CgroupRecord[] = [];
  try {
    const s = store.read(id);
    cgroups = [s.cgroup, s.compatCgroup].filter((c): c is CgroupRecord => c !== undefined);
  } catch (e) {
    if (!(e instanceof NoSuchContainer)) throw e;
  }
  for (const cgroup of cgroups) {
    for (const dir of removeCgroup(cgroup)) {
      logger.warn(`${id}: the cgroup ${dir} is still in use and stays: remove it by hand`);
    }
  }
  store.remove(id);
}
