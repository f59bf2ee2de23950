/**
 * The `dvisor` command: global flags, then a subcommand, as runc takes them.
 *
 * Every failure a user can cause ends here as one line on stderr
 * (`dvisor: <what was wrong and what to do>`), the same message as an
 * error record in `--log`, and exit status 1.
 *
 * @module
 */
import { flagHelp, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { GLOBAL_FLAGS } from "./global_flags.ts";
import { Logger } from "./log.ts";
import { versionText } from "./version.ts";
import { writeErr, writeOut } from "./output.ts";
import { CommandError } from "./command_error.ts";

/** A subcommand. */
export interface Command {
  /** Its flags, when known here: `--debug-log` finds the container id with them. */
  flags?: readonly FlagSpec[];
  /** Runs it; returns the exit status. */
  run(
    args: string[],
    context: { logger: Logger; globals: Record<string, unknown> },
  ): Promise<number> | number;
}

/**
 * The subcommands: a summary for the help, and the module to load. Each
 * process loads only its own command (a gofer never loads the Sentry).
 */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: {
    summary: "create and run a container from an OCI bundle",
    load: async () => (await import("./run.ts")).runCommand,
  },
  do: {
    summary: "run a command sandboxed on the host's root file system",
    load: async () => (await import("./do.ts")).doCommand,
  },
  create: {
    summary: "create a container from an OCI bundle (its init waits for start)",
    load: async () => (await import("./create.ts")).createCommand,
  },
  start: {
    summary: "start a created container",
    load: async () => (await import("./start.ts")).startCommand,
  },
  state: {
    summary: "print a container's state (JSON)",
    load: async () => (await import("./state.ts")).stateCommand,
  },
  kill: {
    summary: "send a signal to a container's init (or, with --all, every process)",
    load: async () => (await import("./kill.ts")).killCommand,
  },
  delete: {
    summary: "delete a stopped container (--force: a running one)",
    load: async () => (await import("./delete.ts")).deleteCommand,
  },
  list: {
    summary: "list containers",
    load: async () => (await import("./list.ts")).listCommand,
  },
  exec: {
    summary: "run another process in a running container",
    load: async () => (await import("./exec.ts")).execCommand,
  },
  pause: {
    summary: "stop every process of a running container where it is",
    load: async () => (await import("./pause.ts")).pauseCommand,
  },
  resume: {
    summary: "let a paused container's processes go on",
    load: async () => (await import("./pause.ts")).resumeCommand,
  },
  events: {
    summary: "print a container's statistics (--stats once, else every --interval)",
    load: async () => (await import("./events.ts")).eventsCommand,
  },
  update: {
    summary: "change a container's resource limits (--resources - takes JSON on stdin)",
    load: async () => (await import("./update.ts")).updateCommand,
  },
  ps: {
    summary: "list a container's processes",
    load: async () => (await import("./ps.ts")).psCommand,
  },
  wait: {
    summary: "wait for a container's init to exit and print its status",
    load: async () => (await import("./wait.ts")).waitCommand,
  },
  spec: {
    summary: "write a default config.json",
    load: async () => (await import("./spec.ts")).specCommand,
  },
  features: {
    summary: "print what this runtime supports (JSON)",
    load: async () => (await import("./features.ts")).featuresCommand,
  },
  install: {
    summary: "add dvisor to Docker's daemon.json, containerd's config (--containerd), or --show",
    load: async () => (await import("./install.ts")).installCommand,
  },
  uninstall: {
    summary: "remove dvisor from Docker's daemon.json (or --containerd --config-file)",
    load: async () => (await import("./install.ts")).uninstallCommand,
  },
  boot: {
    summary: "(internal) run a sandbox: the Sentry and the container's processes",
    load: async () => (await import("./boot.ts")).bootCommand,
  },
  gofer: {
    summary: "(internal) serve a container's files to its sandbox",
    load: async () => (await import("./gofer.ts")).goferCommand,
  },
};

function helpText(): string {
  const commands = Object.entries(COMMANDS)
    .map(([name, c]) => `   ${name.padEnd(12)} ${c.summary}`)
    .join("\n");
  return `dvisor: a sandboxed OCI container runtime

Usage: dvisor [global flags] <command> [flags] [arguments]

Commands:
${commands || "   (none yet)"}

Help topics:
   help syscalls  the system call table: what the Sentry supports

Global flags:
${flagHelp(GLOBAL_FLAGS)}
`;
}

/**
 * Runs the command line.
 *
 * @param argv The arguments after the program name.
 * @returns The exit status.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * if ((await main(["--version"])) !== 0) throw new Error();
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  let logger = earlyLogger(argv);
  let debugLog: { close(): void } | undefined;
  try {
    const parsed = parseFlags(argv, GLOBAL_FLAGS, { stopAtArgument: true });
    const g = parsed.flags;
    const format = g["log-format"] ?? "text";
    if (format !== "text" && format !== "json") {
      throw new UsageError(`Unknown --log-format ${format}: use text or json`);
    }
    const options = {
      ...(typeof g.log === "string" ? { path: g.log } : {}),
      format,
      debug: g.debug === true,
    } as const;
    logger = new Logger(options);
    for (const name of parsed.ignored) {
      logger.debug(`flag --${name} is accepted for compatibility and ignored`);
    }
    if (g.version) {
      await writeOut(versionText());
      return 0;
    }
    const [name, ...rest] = parsed.args;
    if (name === "help" && rest[0] === "syscalls") {
      const { syscallTableText } = await import("../core/syscalls/table.ts");
      await writeOut(syscallTableText());
      return 0;
    }
    if (name === "help" && rest[0] !== undefined) {
      throw new UsageError(`No help topic ${JSON.stringify(rest[0])}: try dvisor help syscalls`);
    }
    if (g.help || name === undefined || name === "help") {
      await writeOut(helpText());
      return name === undefined && !g.help ? 1 : 0;
    }
    const entry = COMMANDS[name];
    if (!entry) {
      throw new UsageError(
        `Unknown command ${JSON.stringify(name)}: run dvisor --help to see the commands`,
      );
    }
    const command = await entry.load();
    if (typeof g["debug-log"] === "string") {
      const { openCommandDebugLog } = await import("./debug_log.ts");
      const opened = openCommandDebugLog(g["debug-log"], name, rest, command.flags);
      debugLog = opened;
      logger = new Logger({ ...options, debugLog: opened });
      logger.debug(`command line: dvisor ${argv.join(" ")}`);
    }
    const status = await command.run(rest, { logger, globals: g });
    logger.debug(`exit status ${status}`);
    return status;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    logger.error(message);
    await writeErr(`dvisor: ${message}\n`);
    return e instanceof CommandError ? e.exitCode : 1;
  } finally {
    debugLog?.close();
  }
}

/**
 * A logger from `--log` and `--log-format` found before the command line is
 * parsed, so that even a malformed command line is reported in the log
 * (containerd shows users the last error record there).
 */
function earlyLogger(argv: readonly string[]): Logger {
  let path: string | undefined;
  let format: "text" | "json" = "text";
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?(log|log-format)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) continue;
    const value = m[2] ?? argv[i + 1];
    if (m[1] === "log") path = value;
    else if (value === "json") format = "json";
  }
  return new Logger({ ...(path ? { path } : {}), format });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
