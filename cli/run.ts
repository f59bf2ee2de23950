/**
 * `dvisor run [--bundle DIR] ID`: creates, starts, waits for and deletes a
 * container from an OCI bundle in one process tree, as `runc run`: the
 * gofer serves the bundle's rootfs and bind mounts, `dvisor boot` runs the
 * Sentry, the container's stdio is the caller's, signals are forwarded, and
 * the exit status is the container's (the code, or 128 + the signal).
 *
 * @module
 */
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { loadBundle } from "./bundle.ts";
import { checkId } from "./container_state.ts";
import { runSandboxProcesses } from "./sandbox_process.ts";

const FLAGS: FlagSpec[] = [
  {
    name: "bundle",
    type: "string",
    aliases: ["b"],
    help: "the bundle directory (default: the current one)",
  },
  {
    name: "pid-file",
    type: "string",
    help: "(accepted; written by create in later releases)",
    ignored: true,
  },
  { name: "no-subreaper", type: "bool", help: "(runc) ignored", ignored: true },
  {
    name: "no-pivot",
    type: "bool",
    help: "(runc) ignored: the Sentry never pivots on the host",
    ignored: true,
  },
  {
    name: "no-new-keyring",
    type: "bool",
    help: "(runc) ignored: there are no keyrings",
    ignored: true,
  },
  { name: "keep", type: "bool", help: "(runc) ignored", ignored: true },
];

/** The `run` command. */
export const runCommand: Command = {
  async run(args, { globals, logger }) {
    const parsed = parseFlags(args, FLAGS);
    for (const name of parsed.ignored) logger.debug(`run: flag --${name} is accepted and ignored`);
    const [id, ...extra] = parsed.args;
    if (!id) throw new UsageError("dvisor run needs a container id: dvisor run [--bundle DIR] ID");
    if (extra.length) {
      throw new UsageError(`Unexpected argument ${extra[0]}: dvisor run takes one container id`);
    }
    try {
      checkId(id);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const b = await loadBundle(parsed.flags.bundle as string | undefined, id, globals, logger);
    return await runSandboxProcesses(b.request, b.served, b.mountPoint, b.globals, logger);
  },
};
