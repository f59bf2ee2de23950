/**
 * Writing the CLI's output in full (a pipe may take less than asked).
 *
 * @module
 */

async function writeFully(w: { write(b: Uint8Array): Promise<number> }, text: string) {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length) bytes = bytes.subarray(await w.write(bytes));
}

/**
 * Writes to standard output.
 *
 * @param text What to write.
 *
 * @example
 * ```ts
 * import { writeOut } from "./output.ts";
 * await writeOut("");
 * ```
 */
export function writeOut(text: string): Promise<void> {
  return writeFully(Deno.stdout, text);
}

/**
 * Writes to standard error.
 *
 * @param text What to write.
 *
 * @example
 * ```ts
 * import { writeErr } from "./output.ts";
 * await writeErr("");
 * ```
 */
export function writeErr(text: string): Promise<void> {
  return writeFully(Deno.stderr, text);
}
