/**
 * The signals dvisor passes on to a container's init, as runc does
 * without a terminal.
 *
 * @module
 */

/** Signals a sandbox passes on to its init. */
export const FORWARDED: Array<[Deno.Signal, number]> = [
  ["SIGHUP", 1],
  ["SIGINT", 2],
  ["SIGQUIT", 3],
  ["SIGUSR1", 10],
  ["SIGUSR2", 12],
  ["SIGTERM", 15],
  ["SIGWINCH", 28],
];
