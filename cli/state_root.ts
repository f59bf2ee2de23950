/**
 * Where dvisor keeps state: `--root`, or /run/dvisor as runc's /run/runc.
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
  return (globals.root as string | undefined) ?? DEFAULT_ROOT;
}
