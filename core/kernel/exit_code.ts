/**
 * Exit codes from wait statuses.
 *
 * @module
 */

/**
 * Turns a wait status into an exit code the way runc and shells do: the
 * code, or 128 + the signal.
 *
 * @param status A wait status.
 * @returns The exit code (0 to 255).
 *
 * @example
 * ```ts
 * import { exitCodeOf } from "./exit_code.ts";
 * if (exitCodeOf(3 << 8) !== 3 || exitCodeOf(9) !== 137) throw new Error();
 * ```
 */
export function exitCodeOf(status: number): number {
  const sig = status & 0x7f;
  return sig === 0 ? (status >> 8) & 0xff : 128 + sig;
}
