/**
 * `dvisor run [--bundle DIR] ID`: creates, starts, waits for and deletes a
 * container from an OCI bundle in one process tree, as `runc run`: the
 * gofer serves the bundle's rootfs and bind mounts, `dvisor boot` runs the
 * Sentry, the container's stdio is the caller's, signals are forwarded, and
 * the exit status is the container's (the code, or 128 + the signal).
 *
 * @module
 */
import { parseSpec } from "../core/boot/oci_spec.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { sandboxGlobals } from "./do.ts";
import { passedGlobals, runSandboxProcesses } from "./sandbox_process.ts";

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

/** Container ids runc accepts. */
const ID = /^[\w+\-.]+$/;

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
    if (!ID.test(id) || id.length > 1024) {
      throw new UsageError(`Invalid container id ${id}: use letters, digits, _ + - .`);
    }
    const bundle = (parsed.flags.bundle as string | undefined) ?? Deno.cwd();
    let text: string;
    try {
      text = await Deno.readTextFile(`${bundle}/config.json`);
    } catch {
      throw new UsageError(`Cannot read ${bundle}/config.json: give the bundle with --bundle`);
    }
    const spec = parseSpec(text, bundle.startsWith("/") ? bundle : `${Deno.cwd()}/${bundle}`);
    if (spec.process.terminal) {
      throw new UsageError(
        "process.terminal is true, but terminals are not supported yet: set it to false",
      );
    }
    try {
      const st = await Deno.stat(spec.rootPath);
      if (!st.isDirectory) throw new Error();
    } catch {
      throw new UsageError(
        `The rootfs ${spec.rootPath} is not a readable directory: check root.path in config.json`,
      );
    }
    for (const s of spec.skipped) logger.debug(`run ${id}: mount ${s}`);
    const { platform, debugLog, strace, mountPoint } = await sandboxGlobals(globals, `run-${id}`);
    return await runSandboxProcesses(
      {
        platform,
        rootReadOnly: spec.rootReadOnly,
        rootOverlay: globals.overlay === true,
        mounts: spec.mounts.map((m) => ({
          target: m.destination,
          type: m.kind,
          flags: { readOnly: m.readOnly, nosuid: m.nosuid, nodev: m.nodev, noexec: m.noexec },
          ...(m.sizeBytes !== undefined ? { sizeBytes: m.sizeBytes } : {}),
          ...(m.mode !== undefined ? { mode: m.mode } : {}),
          ...(m.source !== undefined ? { hostPath: m.source, readOnly: m.readOnly } : {}),
        })),
        process: spec.process,
        hostname: spec.hostname || id,
        debugLog,
        strace,
        // As runc: a process that cannot start is exit status 1.
        startFailureStatus: 1,
      },
      // With --overlay, writes stay in the sandbox: the gofer serves the rootfs read-only.
      { path: spec.rootPath, readOnly: spec.rootReadOnly || globals.overlay === true },
      mountPoint,
      passedGlobals(globals).filter((g) =>
        !g.startsWith("--platform") && !g.startsWith("--network")
      ),
      logger,
    );
  },
};
