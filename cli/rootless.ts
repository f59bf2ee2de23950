/**
 * Rootless dvisor: run by a user other than root, the gofer and the
 * sandbox process start in a user namespace of their own where that user
 * is root (`0 UID 1`, as `unshare -r`), which lets them make the other
 * namespaces, mount and pivot into their roots without privileges on the
 * host. Nothing they do reaches past that user's own rights.
 *
 * @module
 */
import type { Namespace } from "../platform/spawn_plan.ts";
import { type IdMappings, throughOwnNamespace } from "../core/vfs/id_map.ts";
import { isHostIdMap, parseIdMap } from "./user_namespace.ts";

/**
 * Whether this dvisor runs without root's rights on the host: not uid 0,
 * or uid 0 of a user namespace that is not the host's (rootless podman
 * runs its runtime so), or `--rootless true`. As runc's rootless cgroup
 * manager: no host cgroup unless limits are asked for.
 *
 * @param flag The `--rootless` global flag (true, false or auto).
 * @returns True when rootless.
 *
 * @example
 * ```ts
 * import { isRootless } from "./rootless.ts";
 * if (isRootless("true") !== true) throw new Error();
 * ```
 */
export function isRootless(flag?: unknown): boolean {
  if (flag === "true" || flag === true) return true;
  if (flag === "false") return false;
  return Deno.uid() !== 0 || inUserNamespace();
}

/**
 * Whether this process is in a user namespace other than the host's: its
 * uid_map is not the whole range mapped to itself.
 *
 * @param uidMap The text of /proc/self/uid_map (read when not given).
 * @returns True in a user namespace.
 *
 * @example
 * ```ts
 * import { inUserNamespace } from "./rootless.ts";
 * if (inUserNamespace("         0          0 4294967295\n")) throw new Error();
 * if (!inUserNamespace("         0       1000          1\n")) throw new Error();
 * ```
 */
export function inUserNamespace(uidMap?: string): boolean {
  let text = uidMap;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/uid_map");
    } catch {
      return false; // no procfs: assume the host's
    }
  }
  return !isHostIdMap(parseIdMap(text));
}

/**
 * The user namespace a helper process (gofer, sandbox) needs: one of its
 * own when dvisor is not root, none as root.
 *
 * @returns `["user"]` or `[]`.
 *
 * @example
 * ```ts
 * import { ownUserNamespace } from "./rootless.ts";
 * if (Deno.uid() === 0 && ownUserNamespace().length) throw new Error();
 * ```
 */
export function ownUserNamespace(): Namespace[] {
  return Deno.uid() === 0 ? [] : ["user"];
}

/**
 * Whether a rootless container's mappings name host ids other than the
 * user's own (subordinate ids from /etc/subuid and /etc/subgid): its gofer
 * then needs a user namespace with those mappings, which only the setuid
 * `newuidmap` and `newgidmap` may write.
 *
 * @param m The container's mappings.
 * @returns True when they go beyond the user's own uid and gid.
 *
 * @example
 * ```ts
 * import { usesSubordinateIds } from "./rootless.ts";
 * const own = [{ containerId: 0, hostId: Deno.uid()!, size: 1 }];
 * if (usesSubordinateIds({ uid: own, gid: [] })) throw new Error();
 * ```
 */
export function usesSubordinateIds(m: IdMappings | null | undefined): boolean {
  if (Deno.uid() === 0 || !m) return false;
  const beyond = (ranges: IdMappings["uid"], id: number | null) =>
    ranges.some((r) => r.size !== 1 || r.hostId !== id);
  return beyond(m.uid, Deno.uid()) || beyond(m.gid, Deno.gid());
}

/**
 * How a gofer's user namespace is made: none as root; as another user, one
 * with the container's own mappings when they use subordinate ids (so the
 * gofer can give files those owners), else `0 UID 1`.
 *
 * @param m The container's mappings, if it has a user namespace.
 * @returns Spawn options: namespaces, and the mappings to write.
 *
 * @example
 * ```ts
 * import { goferUserNamespace } from "./rootless.ts";
 * if (Deno.uid() === 0 && goferUserNamespace(null).namespaces.length) throw new Error();
 * ```
 */
export function goferUserNamespace(
  m: IdMappings | null | undefined,
): { namespaces: Namespace[]; uidMappings?: IdMappings["uid"]; gidMappings?: IdMappings["gid"] } {
  if (!usesSubordinateIds(m)) return { namespaces: ownUserNamespace() };
  return { namespaces: ["user"], uidMappings: m!.uid, gidMappings: m!.gid };
}

/**
 * How file owners cross a rootless gofer's own user namespace: the boot
 * config's `fileIdMappings` (nothing as root, whose gofer sees host ids;
 * with subordinate ids the gofer's namespace has the container's own
 * mappings, so its ids are the container's).
 *
 * @param m The container's mappings, if it has a user namespace.
 * @returns `{ fileIdMappings }` or `{}`.
 *
 * @example
 * ```ts
 * import { fileOwnerMappings } from "./rootless.ts";
 * if (Deno.uid() === 0 && Object.keys(fileOwnerMappings(undefined)).length) throw new Error();
 * ```
 */
export function fileOwnerMappings(
  m: IdMappings | null | undefined,
): { fileIdMappings?: IdMappings } {
  if (Deno.uid() === 0 || !m) return {};
  if (usesSubordinateIds(m)) {
    const same = (ranges: IdMappings["uid"]) =>
      ranges.map((r) => ({ containerId: r.containerId, hostId: r.containerId, size: r.size }));
    return { fileIdMappings: { uid: same(m.uid), gid: same(m.gid) } };
  }
  return { fileIdMappings: throughOwnNamespace(m, Deno.uid() ?? 0, Deno.gid() ?? 0) };
}
