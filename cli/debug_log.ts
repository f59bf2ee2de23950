/**
 * `--debug-log`: where each dvisor process (every CLI command, the sandbox
 * process `boot`, the gofer) writes its debug records, as runsc does.
 *
 * - `%ID%` (the container id, empty when the command names none),
 *   `%COMMAND%` (`create`, `boot`, `gofer`...) and `%PID%` are replaced
 *   first.
 * - A value ending in `/`, or naming an existing directory, is a directory
 *   holding one file per process: `dvisor.<id>.<command>.<pid>.log`
 *   (`dvisor.<command>.<pid>.log` without a container).
 * - Any other value is one file every process appends to.
 *
 * Either way each line names its process:
 * `<time> [<command> <id> <pid>] <level>: <message>`, written with one
 * write(2) on an O_APPEND descriptor, so processes sharing a file never cut
 * each other's lines. The descriptor is opened before a process confines
 * itself and stays usable after.
 *
 * @module
 */
import { basename, dirname } from "@std/path";
import { closeQuietly, O, openFile, writeAll } from "../platform/fd.ts";
import { type FlagSpec, parseFlags } from "./flags.ts";
import { checkId } from "./container_state.ts";
import type { Level } from "./log.ts";

/** Which process writes. */
export interface DebugLogProcess {
  /** The command or role: `create`, `exec`, `boot`, `gofer`... */
  command: string;
  /** The container, when the command names one. */
  id?: string;
  /** The host pid. */
  pid: number;
}

/** A record's level: the runtime log's, and the Sentry's system call trace. */
export type DebugLevel = Level | "strace";

/**
 * This process's pid on the host: the gofer and the sandbox process are
 * pid 1 of their own pid namespaces, but /proc is still the host's when
 * they start.
 *
 * @returns The pid.
 *
 * @example
 * ```ts
 * import { hostPid } from "./debug_log.ts";
 * if (hostPid() !== Deno.pid) throw new Error("the tests run in the host's pid namespace");
 * ```
 */
export function hostPid(): number {
  try {
    const pid = Number(Deno.readLinkSync("/proc/self"));
    if (Number.isInteger(pid) && pid > 0) return pid;
  } catch {
    // no /proc: the namespace's pid will do
  }
  return Deno.pid;
}

/**
 * The file a process writes its debug records to.
 *
 * @param pattern The `--debug-log` value.
 * @param p The process.
 * @returns The path.
 *
 * @example
 * ```ts
 * import { debugLogPath } from "./debug_log.ts";
 * const p = { command: "create", id: "web", pid: 42 };
 * if (debugLogPath("/tmp/logs/", p) !== "/tmp/logs/dvisor.web.create.42.log") throw new Error();
 * if (debugLogPath("/tmp/%ID%-%COMMAND%.log", p) !== "/tmp/web-create.log") throw new Error();
 * ```
 */
export function debugLogPath(pattern: string, p: DebugLogProcess): string {
  const path = pattern.replaceAll("%ID%", p.id ?? "").replaceAll("%COMMAND%", p.command)
    .replaceAll("%PID%", String(p.pid));
  let isDir = path.endsWith("/");
  if (!isDir) {
    try {
      isDir = Deno.statSync(path).isDirectory;
    } catch {
      // not there yet: a file
    }
  }
  if (!isDir) return path;
  const name = ["dvisor", ...(p.id ? [p.id] : []), p.command, String(p.pid), "log"].join(".");
  return `${path.replace(/\/+$/, "")}/${name}`;
}

/**
 * The container a command line names: the `--container=ROOT/ID` tag of
 * the gofer and sandbox process, or the first argument of a command that
 * takes a container id (none for `list`, `spec`, `features`, `do`).
 *
 * @param command The command.
 * @param args Its arguments.
 * @param flags The flags it takes (its id is not guessed without them).
 * @returns The id, if any.
 *
 * @example
 * ```ts
 * import { commandContainer } from "./debug_log.ts";
 * const flags = [{ name: "bundle", type: "string" as const, help: "" }];
 * if (commandContainer("create", ["--bundle", "/b", "web"], flags) !== "web") throw new Error();
 * if (commandContainer("list", [], []) !== undefined) throw new Error();
 * ```
 */
export function commandContainer(
  command: string,
  args: readonly string[],
  flags: readonly FlagSpec[] | undefined,
): string | undefined {
  if (!flags || ["list", "spec", "features", "do"].includes(command)) return undefined;
  try {
    const parsed = parseFlags(args, flags, { stopAtArgument: true });
    const tag = parsed.flags.container;
    const id = typeof tag === "string" ? basename(tag) : parsed.args[0];
    if (id === undefined) return undefined;
    checkId(id);
    return id;
  } catch {
    return undefined; // the command reports its bad command line itself
  }
}

/**
 * One process's debug log: an open descriptor and the tag its lines carry.
 *
 * @example
 * ```ts
 * import { DebugLog } from "./debug_log.ts";
 * const dir = Deno.makeTempDirSync();
 * const log = DebugLog.open(`${dir}/`, { command: "state", id: "web", pid: 7 });
 * log.write("debug", "hello");
 * log.close();
 * if (!Deno.readTextFileSync(`${dir}/dvisor.web.state.7.log`).includes("[state web 7] debug: hello")) {
 *   throw new Error();
 * }
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class DebugLog {
  readonly #fd: number;
  readonly #tag: string;

  private constructor(fd: number, tag: string) {
    this.#fd = fd;
    this.#tag = tag;
  }

  /**
   * Opens (creates, appends to) the process's debug log file, making its
   * directory.
   *
   * @param pattern The `--debug-log` value.
   * @param p The process.
   * @returns The log.
   * @throws {Error} When the file cannot be opened.
   */
  static open(pattern: string, p: DebugLogProcess): DebugLog {
    const path = debugLogPath(pattern, p);
    try {
      Deno.mkdirSync(dirname(path), { recursive: true });
      const fd = openFile(path, O.WRONLY | O.CREAT | O.APPEND, 0o644);
      return new DebugLog(fd, [p.command, ...(p.id ? [p.id] : []), p.pid].join(" "));
    } catch (e) {
      throw new Error(
        `Cannot open the debug log ${path}: ${
          e instanceof Error ? e.message : e
        }: check --debug-log`,
      );
    }
  }

  /**
   * Writes one record; a failure is ignored (debug logging never breaks
   * what it watches).
   *
   * @param level The level.
   * @param msg The message (newlines are kept on one line).
   */
  write(level: DebugLevel, msg: string): void {
    const line = `${new Date().toISOString()} [${this.#tag}] ${level}: ${
      msg.replaceAll("\n", "\\n")
    }\n`;
    try {
      writeAll(this.#fd, new TextEncoder().encode(line));
    } catch {
      // a full disk must not stop a container
    }
  }

  /** Closes the descriptor. */
  close(): void {
    closeQuietly(this.#fd);
  }
}

/**
 * Opens the debug log of a command line: its container (see
 * {@linkcode commandContainer}) and host pid name its file and lines.
 *
 * @param pattern The `--debug-log` value.
 * @param command The command.
 * @param args Its arguments.
 * @param flags The flags it takes.
 * @returns The log.
 *
 * @example
 * ```ts
 * import { openCommandDebugLog } from "./debug_log.ts";
 * const dir = Deno.makeTempDirSync();
 * openCommandDebugLog(`${dir}/`, "start", ["web"], []).close();
 * if (!Deno.statSync(`${dir}/dvisor.web.start.${Deno.pid}.log`).isFile) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function openCommandDebugLog(
  pattern: string,
  command: string,
  args: readonly string[],
  flags: readonly FlagSpec[] | undefined,
): DebugLog {
  const id = commandContainer(command, args, flags);
  return DebugLog.open(pattern, { command, pid: hostPid(), ...(id ? { id } : {}) });
}
