/**
 * Puts the Sentry's system call table into README.md between its markers
 * (`deno task docs`); tests/docs_test.ts checks that README.md is up to date.
 *
 * @module
 */
import { syscallTableMarkdown } from "../core/syscalls/table.ts";

const START = "<!-- syscalls:start (deno task docs) -->";
const END = "<!-- syscalls:end -->";

/**
 * README.md's text with the current table between the markers.
 *
 * @param readme README.md as it is.
 * @returns README.md as it should be.
 * @throws {Error} When the markers are missing.
 *
 * @example
 * ```ts
 * import { withSyscallTable } from "./syscall_table.ts";
 * const text = withSyscallTable("a\n<!-- syscalls:start (deno task docs) -->\n<!-- syscalls:end -->\n");
 * if (!text.includes("| 0 | read |")) throw new Error();
 * ```
 */
export function withSyscallTable(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} ... ${END} section`);
  // deno fmt would pad every row to the longest note.
  return readme.slice(0, a + START.length) + "\n<!-- deno-fmt-ignore-start -->\n\n" +
    syscallTableMarkdown() + "\n<!-- deno-fmt-ignore-end -->\n" + readme.slice(b);
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  Deno.writeTextFileSync(path, withSyscallTable(Deno.readTextFileSync(path)));
}
