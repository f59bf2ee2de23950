/**
 * An error that ends a command with a particular exit status (runc's
 * `exec` fails with 255, for one).
 *
 * @module
 */

/**
 * A failure with its exit status.
 *
 * @example
 * ```ts
 * import { CommandError } from "./command_error.ts";
 * const e = new CommandError("Exec failed: no such file", 255);
 * if (e.exitCode !== 255) throw new Error();
 * ```
 */
export class CommandError extends Error {
  /** The exit status to leave with. */
  readonly exitCode: number;

  /**
   * Makes it.
   *
   * @param message What went wrong, one line.
   * @param exitCode The exit status.
   */
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CommandError";
    this.exitCode = exitCode;
  }
}
