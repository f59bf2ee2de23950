/**
 * Signal names and numbers on the command line, as runc accepts them:
 * `9`, `KILL`, `SIGKILL`, `kill`.
 *
 * @module
 */
import { SIG } from "../core/kernel/signals.ts";
import { UsageError } from "./flags.ts";

/**
 * Parses a signal.
 *
 * @param text A number, or a name with or without SIG.
 * @returns Its number.
 * @throws {UsageError} For an unknown signal.
 *
 * @example
 * ```ts
 * import { parseSignal } from "./signal_names.ts";
 * if (parseSignal("SIGKILL") !== 9 || parseSignal("term") !== 15 || parseSignal("2") !== 2) {
 *   throw new Error();
 * }
 * ```
 */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = text.toUpperCase().replace(/^SIG/, "") as keyof typeof SIG;
    if (name in SIG) return SIG[name];
    const rt = /^RTMIN(?:\+(\d+))?$/.exec(name);
    if (rt) return 34 + Number(rt[1] ?? 0);
  }
  throw new UsageError(
    `Unknown signal ${JSON.stringify(text)}: use a number or a name like SIGTERM`,
  );
}
