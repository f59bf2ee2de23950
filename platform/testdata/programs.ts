/**
 * Test programs for platform tests and benchmarks.
 *
 * @module
 */
import { sealedMemfd } from "../memfd.ts";
import { probeExecutableBytes } from "./probe_bin.ts";

/**
 * Returns a sealed memfd holding the static `probe NR [COUNT]` program
 * (probe.S), to run with spawn's `executableFd`.
 *
 * @returns The descriptor; the caller closes it.
 *
 * @example
 * ```ts
 * import { probeFd } from "./programs.ts";
 * import { closeFd } from "../fd.ts";
 * closeFd(probeFd());
 * ```
 */
export function probeFd(): number {
  return sealedMemfd("probe", probeExecutableBytes(), 0o755);
}

/**
 * Writes the probe program to a file.
 *
 * @param path Where.
 *
 * @example
 * ```ts
 * import { writeProbe } from "./programs.ts";
 * const dir = Deno.makeTempDirSync();
 * writeProbe(`${dir}/probe`);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeProbe(path: string): void {
  Deno.writeFileSync(path, probeExecutableBytes(), { mode: 0o755 });
}

/** Where busybox-static is installed on Debian. */
export const BUSYBOX = "/bin/busybox";
