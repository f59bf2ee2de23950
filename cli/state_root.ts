/**
 * Where dvisor keeps state: `--root`, or /run/dvisor as runc's /run/runc
 * (rootless, as runc: $XDG_RUNTIME_DIR/dvisor when that is set).
 *
 * @module
 */

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
  const xdg = Deno.env.get("XDG_RUNTIME_DIR");
  return Deno.uid() !== 0 && xdg ? `${xdg}/dvisor` : DEFAULT_ROOT;
}
