/**
 * `dvisor do [flags] -- CMD [ARGS]`: runs a command sandboxed, as
 * `runsc do`: the host's root file system read-only with a writable layer
 * inside the sandbox (the host is never written), a fresh /proc and /dev,
 * the caller's working directory and environment, and its stdio.
 *
 * @module
 */
import { type PlatformName, PLATFORMS } from "../platform/platform_name.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { stateRoot } from "./state_root.ts";
import type { Command } from "./main.ts";
import { passedGlobals, runSandboxProcesses } from "./sandbox_process.ts";

const FLAGS: FlagSpec[] = [
  {
    name: "cwd",
    type: "string",
    help: "working directory inside the sandbox (default: the current one)",
  },
  { name: "uid", type: "int", help: "user id to run as (default 0)" },
  { name: "gid", type: "int", help: "group id to run as (default 0)" },
  { name: "hostname", type: "string", help: "hostname inside the sandbox (default: the host's)" },
  {
    name: "overlay",
    type: "bool",
    help: "writable layer over the root inside the sandbox (default true)",
  },
];

/**
 * Checks --platform and --network. (The gofer and the sandbox process open
 * their own `--debug-log` files: see `debug_log.ts`.)
 *
 * @param globals Parsed global flags.
 * @returns The platform, strace flag, and the directory sandbox processes
 *   mount their roots on.
 */
export async function sandboxGlobals(
  globals: Record<string, unknown>,
): Promise<
  { platform: PlatformName; network: "none" | "host"; strace: boolean; mountPoint: string }
> {
  const platform = (globals.platform as string | undefined) ?? "seccomp";
  if (!PLATFORMS.includes(platform as PlatformName)) {
    throw new UsageError(`Unknown --platform ${platform}: use ${PLATFORMS.join(" or ")}`);
  }
  const network = (globals.network as string | undefined) ?? "none";
  if (network !== "none" && network !== "host") {
    throw new UsageError(`Unknown --network ${network}: use none or host`);
  }
  // The state root holds one empty directory that the gofer and the
  // sandbox process mount their own roots on, each in its own mount
  // namespace; it stays, as runc's /run/runc does.
  // "#" is never in a container id: this cannot be a container's directory.
  const mountPoint = `${stateRoot(globals)}/#empty`;
  try {
    await Deno.mkdir(mountPoint, { recursive: true, mode: 0o711 });
  } catch (e) {
    throw new UsageError(
      `Cannot create ${mountPoint}: ${e instanceof Error ? e.message : e}: check --root`,
    );
  }
  return {
    platform: platform as PlatformName,
    network,
    strace: globals.strace === true,
    mountPoint,
  };
}

/** The `do` command. */
export const doCommand: Command = {
  async run(args, { globals, logger }) {
    const parsed = parseFlags(args, FLAGS);
    const cmd = parsed.args;
    if (cmd.length === 0) {
      throw new UsageError("dvisor do needs a command: dvisor do -- CMD [ARGS]");
    }
    const { platform, network, strace, mountPoint } = await sandboxGlobals(globals);
    logger.debug(`do: ${cmd.join(" ")} on platform ${platform}`);
    return await runSandboxProcesses(
      {
        platform,
        network,
        rootReadOnly: true,
        rootOverlay: parsed.flags.overlay !== false,
        mounts: [
          { target: "/proc", type: "proc", flags: { nosuid: true, nodev: true, noexec: true } },
          { target: "/dev", type: "devfs", flags: { nosuid: true } },
          { target: "/dev/pts", type: "devpts", flags: { nosuid: true, noexec: true } },
          { target: "/dev/shm", type: "tmpfs", flags: { nosuid: true, nodev: true } },
          {
            target: "/dev/mqueue",
            type: "mqueue",
            flags: { nosuid: true, nodev: true, noexec: true },
          },
        ],
        process: {
          args: cmd,
          env: Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`),
          cwd: (parsed.flags.cwd as string | undefined) ?? Deno.cwd(),
          uid: (parsed.flags.uid as number | undefined) ?? 0,
          gid: (parsed.flags.gid as number | undefined) ?? 0,
          groups: [],
        },
        hostname: (parsed.flags.hostname as string | undefined) ?? Deno.hostname(),
        strace,
      },
      { path: "/", readOnly: true },
      mountPoint,
      passedGlobals(globals).filter((g) =>
        !g.startsWith("--platform") && !g.startsWith("--network")
      ),
      logger,
    );
  },
};
