/**
 * The platforms' names, apart from the platforms themselves so that the
 * command line can check `--platform` without loading them.
 *
 * @module
 */

/** How system calls are caught. */
export type PlatformName = "seccomp" | "ptrace";

/** The platforms, for `--platform`. */
export const PLATFORMS: readonly PlatformName[] = ["seccomp", "ptrace"];
