/**
 * How dvisor starts itself for its internal roles (`gofer`, later `boot`):
 * the compiled binary re-executes itself, the bundle (`bundle.sh`) or the
 * sources run with the Deno that runs this process, whichever this process
 * runs. Never a `deno` found on PATH.
 *
 * The roles run without V8's code cache: they confine themselves, so their
 * cache database is read-only to them, and a module the cache lacks made
 * Deno retry its write lock for 30 seconds at exit (every first boot with
 * a fresh DENO_DIR, every rootless one). About 20 ms of compiling instead.
 *
 * @module
 */
import { embeddedBuildInfo } from "./version.ts";
import { checkoutUrl, runsBundle } from "./checkout.ts";

/**
 * The program and arguments that run `dvisor ARGS`.
 *
 * @param args dvisor's arguments.
 * @returns The executable's path and its full argv (argv[0] included).
 *
 * @example
 * ```ts
 * import { selfCommand } from "./self.ts";
 * const { path } = selfCommand(["--version"]);
 * if (!path.startsWith("/")) throw new Error();
 * ```
 */
export function selfCommand(args: string[]): { path: string; argv: string[] } {
  const exe = Deno.execPath();
  if (embeddedBuildInfo()) return { path: exe, argv: ["dvisor", ...args] };
  const run = ["deno", "run", "-A", "--quiet", "--no-lock", "--no-code-cache"];
  if (runsBundle()) {
    const main = new URL("dist/js/main.js", checkoutUrl()).pathname;
    return { path: exe, argv: [...run, "--no-config", main, ...args] };
  }
  const main = new URL("cli/main.ts", checkoutUrl()).pathname;
  const config = new URL("deno.json", checkoutUrl()).pathname;
  return { path: exe, argv: [...run, "--config", config, main, ...args] };
}

/**
 * The environment dvisor passes to the processes it starts for itself:
 * only what Deno and the launcher need (the container's own environment
 * comes from its spec, never from here).
 *
 * @returns `KEY=value` strings.
 *
 * @example
 * ```ts
 * import { selfEnv } from "./self.ts";
 * if (selfEnv().some((e) => e.startsWith("SECRET="))) throw new Error();
 * ```
 */
export function selfEnv(): string[] {
  return ["PATH", "HOME", "DENO_DIR", "NO_COLOR"].flatMap((k) =>
    Deno.env.get(k) !== undefined ? [`${k}=${Deno.env.get(k)}`] : []
  );
}

/**
 * The absolute path a client (Docker, containerd, podman) runs as dvisor:
 * the compiled binary itself, or the `dvisor` launcher beside `cli/` when
 * dvisor runs from its sources (Deno alone would not know what to run).
 *
 * @returns The path.
 *
 * @example
 * ```ts
 * import { selfExecutable } from "./self.ts";
 * if (!selfExecutable().endsWith("dvisor")) throw new Error();
 * ```
 */
export function selfExecutable(): string {
  if (embeddedBuildInfo()) return Deno.execPath();
  return new URL("dvisor", checkoutUrl()).pathname;
}
