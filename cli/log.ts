/**
 * The runtime log (`--log`, `--log-format text|json`) in the shape runc
 * writes it: one record per line, `{"level","msg","time"}` in JSON, which
 * containerd reads back to show users the last error.
 *
 * @module
 */

/** Log levels, most severe first. */
export type Level = "error" | "warning" | "info" | "debug";

/** Where and how to log. */
export interface LogOptions {
  /** File to append records to; none: records go nowhere. */
  path?: string;
  /** Record format. */
  format?: "text" | "json";
  /** Write debug records too. */
  debug?: boolean;
  /** Where every record also goes, debug ones included (`--debug-log`). */
  debugLog?: { write(level: Level | "strace", msg: string): void };
}

/**
 * Formats one record.
 *
 * @param level The level.
 * @param msg The message.
 * @param format The format.
 * @param time When.
 * @returns The line, with its newline.
 *
 * @example
 * ```ts
 * import { formatRecord } from "./log.ts";
 * const line = formatRecord("error", "boom", "json", new Date(0));
 * if (JSON.parse(line).msg !== "boom") throw new Error();
 * ```
 */
export function formatRecord(
  level: Level,
  msg: string,
  format: "text" | "json",
  time: Date,
): string {
  const t = time.toISOString();
  if (format === "json") return JSON.stringify({ level, msg, time: t }) + "\n";
  return `time=${JSON.stringify(t)} level=${level} msg=${JSON.stringify(msg)}\n`;
}

/**
 * Appends records to the runtime log.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 * const path = Deno.makeTempFileSync();
 * new Logger({ path, format: "json" }).error("It failed");
 * if (!Deno.readTextFileSync(path).includes('"level":"error"')) throw new Error();
 * ```
 */
export class Logger {
  readonly #options: LogOptions;
  #onHost = true;

  /**
   * Makes a logger.
   *
   * @param options Where and how.
   */
  constructor(options: LogOptions = {}) {
    this.#options = options;
  }

  /**
   * Writes a record: to the debug log, if any; to `--log` (debug records only with `debug`).
   *
   * @param level The level.
   * @param msg The message.
   */
  log(level: Level, msg: string): void {
    this.#options.debugLog?.write(level, msg);
    if (!this.#options.path || !this.#onHost) return;
    if (level === "debug" && !this.#options.debug) return;
    const line = formatRecord(level, msg, this.#options.format ?? "text", new Date());
    try {
      Deno.writeTextFileSync(this.#options.path, line, { append: true, create: true });
    } catch {
      // The log is best effort: a full disk must not hide the real error.
    }
  }

  /**
   * Stops writing to `--log` by path (a process about to leave the host's
   * file system); the debug log, an open descriptor, still gets records.
   */
  leaveHost(): void {
    this.#onHost = false;
  }

  /**
   * Writes a system call trace record (`--strace`), to the debug log only.
   *
   * @param msg The call and its result.
   */
  strace(msg: string): void {
    this.#options.debugLog?.write("strace", msg);
  }

  /**
   * Writes an error record.
   *
   * @param msg The message.
   */
  error(msg: string): void {
    this.log("error", msg);
  }

  /**
   * Writes a warning record.
   *
   * @param msg The message.
   */
  warn(msg: string): void {
    this.log("warning", msg);
  }

  /**
   * Writes a debug record (with `--debug`).
   *
   * @param msg The message.
   */
  debug(msg: string): void {
    this.log("debug", msg);
  }
}
