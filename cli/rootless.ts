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

/**
 * Whether this dvisor runs without root: not uid 0, or `--rootless true`.
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
  return Deno.uid() !== 0;
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
 * How file owners cross a rootless gofer's own user namespace: the boot
 * config's `fileIdMappings` (nothing as root, whose gofer sees host ids).
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
  return { fileIdMappings: throughOwnNamespace(m, Deno.uid() ?? 0, Deno.gid() ?? 0) };
}
