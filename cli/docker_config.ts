/**
 * Docker's daemon.json with a runtime added or removed under `runtimes`,
 * everything else kept as it was.
 *
 * @module
 */

/** One entry of daemon.json's `runtimes`. */
export interface DockerRuntime {
  /** The runtime's absolute path. */
  path: string;
  /** Flags dockerd passes before the command. */
  runtimeArgs?: string[];
}

/** daemon.json's object, or a one-line error naming the file. */
function parseDaemonJson(text: string | undefined, where: string): Record<string, unknown> {
  if (text === undefined || text.trim() === "") return {};
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot parse ${where} as JSON (${why}): fix it or move it away, then retry`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${where} is not a JSON object: fix it or move it away, then retry`);
  }
  const runtimes = (config as Record<string, unknown>).runtimes;
  if (
    runtimes !== undefined &&
    (typeof runtimes !== "object" || runtimes === null || Array.isArray(runtimes))
  ) {
    throw new Error(`The "runtimes" of ${where} is not a JSON object: fix it, then retry`);
  }
  return config as Record<string, unknown>;
}

/** daemon.json's text as dvisor writes it (runsc's layout: four spaces). */
function daemonJsonText(config: Record<string, unknown>): string {
  return JSON.stringify(config, null, 4) + "\n";
}

/**
 * daemon.json with `runtimes.NAME` set to the runtime (replacing one of that name).
 *
 * @param text The file's text (undefined or empty: no file yet).
 * @param where The file's path, for errors.
 * @param name The runtime's name (`docker run --runtime NAME`).
 * @param runtime Its path and arguments.
 * @returns The new text.
 * @throws {Error} When the text is not a JSON object.
 *
 * @example
 * ```ts
 * import { addDockerRuntime } from "./docker_config.ts";
 * const text = addDockerRuntime('{"debug":true}', "daemon.json", "dvisor", { path: "/d" });
 * if (JSON.parse(text).runtimes.dvisor.path !== "/d" || !JSON.parse(text).debug) throw new Error();
 * ```
 */
export function addDockerRuntime(
  text: string | undefined,
  where: string,
  name: string,
  runtime: DockerRuntime,
): string {
  const config = parseDaemonJson(text, where);
  const runtimes = (config.runtimes ?? {}) as Record<string, unknown>;
  config.runtimes = { ...runtimes, [name]: runtime };
  return daemonJsonText(config);
}

/**
 * daemon.json without `runtimes.NAME` (and without `runtimes` when that
 * leaves it empty).
 *
 * @param text The file's text.
 * @param where The file's path, for errors.
 * @param name The runtime's name.
 * @returns The new text, or undefined when there was no such runtime.
 * @throws {Error} When the text is not a JSON object.
 *
 * @example
 * ```ts
 * import { removeDockerRuntime } from "./docker_config.ts";
 * const text = removeDockerRuntime('{"runtimes":{"dvisor":{"path":"/d"}}}', "x", "dvisor");
 * if (text !== "{}\n") throw new Error();
 * ```
 */
export function removeDockerRuntime(
  text: string | undefined,
  where: string,
  name: string,
): string | undefined {
  const config = parseDaemonJson(text, where);
  const runtimes = config.runtimes as Record<string, unknown> | undefined;
  if (!runtimes || !Object.hasOwn(runtimes, name)) return undefined;
  delete runtimes[name];
  if (Object.keys(runtimes).length === 0) delete config.runtimes;
  return daemonJsonText(config);
}
