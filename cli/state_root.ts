/**
 * Where dvisor keeps state: `--root`, or /run/dvisor as runc's /run/runc
 * (rootless, as runc: $XDG_RUNTIME_DIR/dvisor when that is set).
 *
 * @module
 */
import { inUserNamespace } from "./rootless.ts";

/** The default state root. */
export const DEFAULT_ROOT = "/run/dvisor";

/**
 * The state root from the global flags.
 *
 * @param globals Parsed global flags.
 * @returns The directory.
 *
 * @example
 * ```ts
 * import { stateRoot } from "./state_root.ts";
 * if (stateRoot({}) !== "/run/dvisor" || stateRoot({ root: "/tmp/r" }) !== "/tmp/r") throw new Error();
 * ```
 */
export function stateRoot(globals: Record<string, unknown>): string {
  const given = globals.root as string | undefined;
  if (given !== undefined) return given;
  return honorsRuntimeDir() ? `${Deno.env.get("XDG_RUNTIME_DIR")}/dvisor` : DEFAULT_ROOT;
}

/**
 * Whether the state goes under $XDG_RUNTIME_DIR, as runc decides it: when
 * that is set and dvisor is not uid 0, or is uid 0 of a user namespace
 * other than the host's for a user other than root (`USER`), as rootless
 * podman runs it; the host's root keeps /run/dvisor.
 */
function honorsRuntimeDir(): boolean {
  if (!Deno.env.get("XDG_RUNTIME_DIR")) return false;
  if (Deno.uid() !== 0) return true;
  if (!inUserNamespace()) return false;
  return Deno.env.get("USER") !== "root";
}
