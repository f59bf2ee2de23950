/**
 * A client's configuration file (Docker's daemon.json, containerd's
 * config.toml) read and replaced whole: a reader never sees half a file,
 * and the file keeps its mode.
 *
 * @module
 */
import { dirname } from "node:path";

/** A configuration file as found. */
export interface ConfigFile {
  /** The file written (a symbolic link's target, so that the link stays). */
  path: string;
  /** Its text, or undefined when there is no file yet. */
  text: string | undefined;
  /** Its permission bits (0o644 for a new file). */
  mode: number;
}

/**
 * Reads a configuration file; a missing one is empty, not an error.
 *
 * @param path The file.
 * @returns What was found.
 * @throws {Error} When it exists but cannot be read.
 *
 * @example
 * ```ts
 * import { readConfigFile } from "./config_file.ts";
 * const f = await readConfigFile("/nonexistent/daemon.json");
 * if (f.text !== undefined || f.mode !== 0o644) throw new Error();
 * ```
 */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  try {
    const real = await Deno.realPath(path);
    const info = await Deno.stat(real);
    return { path: real, text: await Deno.readTextFile(real), mode: (info.mode ?? 0o644) & 0o7777 };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { path, text: undefined, mode: 0o644 };
    throw new Error(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * Replaces a configuration file atomically: a temporary file beside it,
 * synced, given the mode, then renamed over it. Its directory is made when
 * missing.
 *
 * @param file The file as read, with its path and mode.
 * @param text The new content.
 * @throws {Error} When it cannot be written.
 *
 * @example
 * ```ts
 * import { readConfigFile, writeConfigFile } from "./config_file.ts";
 * const dir = await Deno.makeTempDir();
 * const f = await readConfigFile(`${dir}/etc/x.json`);
 * await writeConfigFile(f, "{}\n");
 * if ((await readConfigFile(f.path)).text !== "{}\n") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeConfigFile(file: ConfigFile, text: string): Promise<void> {
  const dir = dirname(file.path);
  const temp = `${dir}/.${file.path.slice(dir.length + 1)}.dvisor-${crypto.randomUUID()}`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    using f = await Deno.open(temp, { write: true, createNew: true, mode: file.mode });
    await Deno.chmod(temp, file.mode);
    const bytes = new TextEncoder().encode(text);
    for (let done = 0; done < bytes.length;) done += await f.write(bytes.subarray(done));
    await f.sync();
    await Deno.rename(temp, file.path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot write ${file.path}: ${e instanceof Error ? e.message : e}`);
  }
}
