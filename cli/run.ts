/**
 * `dvisor run [--bundle DIR] ID`: creates, starts, waits for and deletes a
 * container from an OCI bundle in one process tree, as `runc run`: the
 * gofer serves the bundle's rootfs and bind mounts, `dvisor boot` runs the
 * Sentry, the container's stdio is the caller's, signals are forwarded, and
 * the exit status is the container's (the code, or 128 + the signal).
 * While it runs the container is registered under --root (`state`,
 * `exec`, `kill` reach it); with --detach it is created and started and
 * left running, as `runc run -d`.
 *
 * @module
 */
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { loadBundle } from "./bundle.ts";
import { checkId, StateStore } from "./container_state.ts";
import { createCommand, register, withSandbox, writeAtomically } from "./create.ts";
import { startCommand } from "./start.ts";
import { stateRoot } from "./state_root.ts";
import { runSandboxProcesses } from "./sandbox_process.ts";

const FLAGS: FlagSpec[] = [
  {
    name: "bundle",
    type: "string",
    aliases: ["b"],
    help: "the bundle directory (default: the current one)",
  },
  { name: "pid-file", type: "string", help: "write the sandbox's pid here once it runs" },
  { name: "detach", aliases: ["d"], type: "bool", help: "create and start, then return" },
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

function pidFile(parsed: { flags: Record<string, unknown> }): string[] {
  const f = parsed.flags["pid-file"] as string | undefined;
  return f ? ["--pid-file", f] : [];
}

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
    const store = new StateStore(stateRoot(globals));
    if (parsed.flags.detach) {
      // create, then start, then leave it running.
      const created = await createCommand.run(
        [
          "--bundle",
          (parsed.flags.bundle as string | undefined) ?? Deno.cwd(),
          ...pidFile(parsed),
          id,
        ],
        { globals, logger },
      );
      if (created !== 0) return created;
      return await startCommand.run([id], { globals, logger });
    }
    await store.locked(id, () => store.claim(id));
    try {
      const b = await loadBundle(parsed.flags.bundle as string | undefined, id, globals, logger);
      const reg = register(store, id, b);
      try {
        return await runSandboxProcesses(b.request, b.served, b.mountPoint, b.globals, logger, {
          control: reg.control,
          onRunning: (boot, gofer) => {
            reg.close();
            store.write(withSandbox(reg.base, "running", boot.pid, gofer.pid));
            const file = parsed.flags["pid-file"] as string | undefined;
            if (file) writeAtomically(file, String(boot.pid));
          },
        });
      } finally {
        reg.close();
      }
    } finally {
      // As runc run: the container goes when it ends.
      await store.locked(id, () => store.remove(id));
    }
  },
};
