/**
 * Command-line flags the way runc and runsc take them: Go's `flag` rules,
 * where `-name` and `--name` are the same flag (containerd sends
 * `-no-subreaper`), a value follows as `--name=value` or `--name value`,
 * and a boolean may be written `--name=false`.
 *
 * @module
 */

/** How a flag takes its value. */
export type FlagType = "bool" | "string" | "int" | "list";

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without dashes (`pid-file`). */
  name: string;
  /** Value type; `list` may be repeated and collects every value. */
  type: FlagType;
  /** Other names (`d` for `detach`). */
  aliases?: string[];
  /** One line for `--help`. */
  help: string;
  /** Accepted for compatibility but without effect here; logged at debug. */
  ignored?: boolean;
}

/** Parsed flags: name -> value. */
export type FlagValues = Record<string, string | number | boolean | string[]>;

/** Flags and the arguments after them. */
export interface Parsed {
  /** Values by long name. */
  flags: FlagValues;
  /** Names of flags that were given but are ignored. */
  ignored: string[];
  /** Arguments that are not flags. */
  args: string[];
}

/** A command line the user got wrong; the message says how to fix it. */
export class UsageError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was wrong and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses flags from the front of `argv`.
 *
 * @param argv The arguments.
 * @param specs The flags accepted.
 * @param options `stopAtArgument`: stop at the first non-flag (global
 *   flags before a subcommand); otherwise flags and arguments may mix, and
 *   everything after `--` is an argument.
 * @returns The values and the remaining arguments.
 * @throws {UsageError} For an unknown flag or a missing or malformed value.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const p = parseFlags(["-no-subreaper", "--pid-file=/x", "id"], [
 *   { name: "no-subreaper", type: "bool", help: "" },
 *   { name: "pid-file", type: "string", help: "" },
 * ]);
 * if (p.flags["pid-file"] !== "/x" || p.args[0] !== "id") throw new Error();
 * ```
 */
export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  options: { stopAtArgument?: boolean } = {},
): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    for (const a of s.aliases ?? []) byName.set(a, s);
  }
  const flags: FlagValues = {};
  const ignored: string[] = [];
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (options.stopAtArgument) {
        args.push(...argv.slice(i));
        break;
      }
      args.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    if (!spec) {
      throw new UsageError(
        `Unknown flag ${arg.split("=")[0]}: see --help for the flags this command takes`,
      );
    }
    let value: string | undefined = eq < 0 ? undefined : body.slice(eq + 1);
    if (spec.type === "bool") {
      if (value === undefined) flags[spec.name] = true;
      else if (/^(true|1|t)$/i.test(value)) flags[spec.name] = true;
      else if (/^(false|0|f)$/i.test(value)) flags[spec.name] = false;
      else {throw new UsageError(
          `Flag --${spec.name} takes true or false, not ${JSON.stringify(value)}`,
        );}
    } else {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`Flag --${spec.name} needs a value`);
        value = argv[++i]!;
      }
      if (spec.type === "int") {
        if (!/^-?\d+$/.test(value)) {
          throw new UsageError(
            `Flag --${spec.name} takes an integer, not ${JSON.stringify(value)}`,
          );
        }
        flags[spec.name] = Number(value);
      } else if (spec.type === "list") {
        const list = (flags[spec.name] as string[] | undefined) ?? [];
        list.push(value);
        flags[spec.name] = list;
      } else {
        flags[spec.name] = value;
      }
    }
    if (spec.ignored && !ignored.includes(spec.name)) ignored.push(spec.name);
  }
  return { flags, ignored, args };
}

/**
 * Renders flags for `--help`.
 *
 * @param specs The flags.
 * @returns One line per flag.
 *
 * @example
 * ```ts
 * import { flagHelp } from "./flags.ts";
 * const text = flagHelp([{ name: "root", type: "string", help: "state directory" }]);
 * if (!text.includes("--root value")) throw new Error();
 * ```
 */
export function flagHelp(specs: readonly FlagSpec[]): string {
  return specs
    .filter((s) => !s.ignored)
    .map((s) => {
      const names = [s.name, ...(s.aliases ?? [])].map((
        n,
      ) => (n.length === 1 ? `-${n}` : `--${n}`));
      const left = `${names.join(", ")}${s.type === "bool" ? "" : " value"}`;
      return `   ${left.padEnd(28)} ${s.help}`;
    })
    .join("\n");
}
