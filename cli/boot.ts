/**
 * `dvisor boot` (internal): the sandbox process. It runs the Sentry on a
 * tracer Worker, forwards the signals it gets to the container's init, and
 * exits with the init's status the way runc reports it (the code, or 128 +
 * the signal).
 *
 *     dvisor boot --config-fd N
 *
 * The configuration (a JSON {@linkcode WorkerConfig}) is read from the
 * descriptor; stdin, stdout and stderr are the container's; gofer sockets
 * are inherited at the numbers the configuration names.
 *
 * @module
 */
import { closeFd, dupFd, readAll } from "../platform/fd.ts";
import { exitCodeOf, runInWorker } from "./do.ts";
import { decodeConfig } from "./sandbox_process.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";

const FLAGS: FlagSpec[] = [
  { name: "config-fd", type: "int", help: "descriptor holding the sandbox configuration (JSON)" },
];

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

/** The `boot` command. */
export const bootCommand: Command = {
  summary: "(internal) run a sandbox: the Sentry and the container's processes",
  async run(args, { logger }) {
    const parsed = parseFlags(args, FLAGS);
    const fd = parsed.flags["config-fd"];
    if (typeof fd !== "number") throw new UsageError("dvisor boot needs --config-fd");
    const text = new TextDecoder().decode(readAll(fd));
    closeFd(fd);
    const config = decodeConfig(text);
    config.stdio = [dupFd(0, 3), dupFd(1, 3), dupFd(2, 3)];
    const sandbox = runInWorker(config);
    const listeners = FORWARDED.map(([name, num]) => {
      const fn = () => sandbox.signal(num);
      Deno.addSignalListener(name, fn);
      return () => Deno.removeSignalListener(name, fn);
    });
    try {
      const r = await sandbox.done;
      if (!r.ok) {
        logger.error(r.message ?? "the sandbox failed");
        await Deno.stderr.write(new TextEncoder().encode(`dvisor: ${r.message}\n`));
        return r.status;
      }
      return exitCodeOf(r.status);
    } finally {
      listeners.forEach((u) => u());
    }
  },
};
