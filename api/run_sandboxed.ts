/**
 * `runSandboxed`: the common test case in one call: run a command in a
 * sandbox, collect its output as text, leave nothing behind.
 *
 * @module
 */
import type { SandboxOptions } from "./options.ts";
import { Sandbox } from "./sandbox.ts";

/** What a sandboxed command did. */
export interface SandboxedResult {
  /** Its exit code (128 + the signal when one killed it). */
  code: number;
  /** The signal that killed it, or null. */
  signal: Deno.Signal | null;
  /** Its standard output, as UTF-8 text. */
  stdout: string;
  /** Its standard error, as UTF-8 text. */
  stderr: string;
}

/**
 * Runs a command in a new sandbox to its end and returns its exit code and
 * output; the sandbox is gone when the promise settles.
 *
 * @param cmd The program and its arguments (looked up in PATH).
 * @param options The sandbox (default root: the host's, read-only with a
 *   writable layer in the sandbox), plus `stdin`: text to feed it.
 * @returns Its code, signal, stdout and stderr.
 * @throws {SandboxOptionsError} For options that cannot be used.
 * @throws {SandboxStartError} When the sandbox could not start.
 *
 * @example
 * ```ts
 * import { runSandboxed } from "../mod.ts";
 * const r = await runSandboxed(["sh", "-c", "echo $((6 * 7)); exit 3"], { rootfs: "host" });
 * if (r.stdout !== "42\n" || r.code !== 3) throw new Error(JSON.stringify(r));
 * ```
 */
export async function runSandboxed(
  cmd: string[],
  options: Omit<Partial<SandboxOptions>, "args" | "stdin" | "stdout" | "stderr"> & {
    stdin?: string;
  } = {},
): Promise<SandboxedResult> {
  const { stdin, ...rest } = options;
  await using sb = await Sandbox.create({
    ...(rest.image === undefined ? { rootfs: "host" } : {}),
    ...rest,
    args: cmd,
    stdin: stdin === undefined ? "null" : "piped",
  });
  const output = sb.output();
  if (stdin !== undefined) {
    const w = sb.stdin.getWriter();
    // A command that exits without reading it all is no error.
    await w.write(new TextEncoder().encode(stdin)).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await output;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, signal: out.signal, stdout: text(out.stdout), stderr: text(out.stderr) };
}
