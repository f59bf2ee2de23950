/**
 * containerd's config.toml with a CRI runtime that runs dvisor through the
 * runc v2 shim (`runtime_type = "io.containerd.runc.v2"`, `BinaryName`),
 * added, replaced or removed as text: only our tables change, the rest of
 * the file (comments and layout included) stays byte for byte.
 *
 * containerd 1.x (config `version = 2`) keeps CRI runtimes under
 * `plugins."io.containerd.grpc.v1.cri".containerd.runtimes`; containerd 2.x
 * (`version = 3`) under `plugins."io.containerd.cri.v1.runtime".containerd.runtimes`.
 *
 * @module
 */

/** The CRI plugin that holds runtimes, by config version. */
const CRI_PLUGIN: Record<2 | 3, string> = {
  2: "io.containerd.grpc.v1.cri",
  3: "io.containerd.cri.v1.runtime",
};

/** The runc v2 shim: it runs `BinaryName` as it runs runc. */
const RUNC_SHIM = "io.containerd.runc.v2";

/** A TOML basic string. */
function tomlString(text: string): string {
  return JSON.stringify(text);
}

/** runtimes.NAME's table header for a config version. */
function runtimeTable(name: string, version: 2 | 3): string {
  return `plugins.${tomlString(CRI_PLUGIN[version])}.containerd.runtimes.${name}`;
}

/**
 * The tables that make `NAME` a CRI runtime running `binary`.
 *
 * @param name The runtime handler's name (a RuntimeClass's `handler`).
 * @param binary dvisor's absolute path.
 * @param version The config version the tables go into: 2 (containerd 1.x) or 3 (2.x).
 * @returns TOML text ending in a newline.
 *
 * @example
 * ```ts
 * import { containerdStanza } from "./containerd_config.ts";
 * const toml = containerdStanza("dvisor", "/usr/bin/dvisor", 2);
 * if (!toml.includes('BinaryName = "/usr/bin/dvisor"')) throw new Error();
 * ```
 */
export function containerdStanza(name: string, binary: string, version: 2 | 3): string {
  return [
    `[${runtimeTable(name, version)}]`,
    `  runtime_type = ${tomlString(RUNC_SHIM)}`,
    `[${runtimeTable(name, version)}.options]`,
    `  BinaryName = ${tomlString(binary)}`,
    "",
  ].join("\n");
}

/**
 * runc's own runtime table. containerd drops its built-in runtimes once a
 * config names any, and then refuses to start CRI without its default
 * (`runc`): a config that has no runc table gets this one with ours.
 *
 * @param version The config version.
 * @returns TOML text ending in a newline.
 *
 * @example
 * ```ts
 * import { runcStanza } from "./containerd_config.ts";
 * if (!runcStanza(2).endsWith('runtime_type = "io.containerd.runc.v2"\n')) throw new Error();
 * ```
 */
export function runcStanza(version: 2 | 3): string {
  return `[${runtimeTable("runc", version)}]\n  runtime_type = ${tomlString(RUNC_SHIM)}\n`;
}

/** The dotted key of a table header line (`[a."b.c"]` gives a, b.c), or undefined. */
function tableKey(line: string): string[] | undefined {
  const m = /^\s*\[\[?(.*?)\]\]?\s*(#.*)?$/.exec(line);
  if (!m) return undefined;
  const key: string[] = [];
  const part = /\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(\.|$)/y;
  for (let at = 0; at < m[1]!.length;) {
    part.lastIndex = at;
    const p = part.exec(m[1]!);
    if (!p) return undefined;
    key.push(p[1] ?? p[3] ?? JSON.parse(`"${p[2]}"`));
    at = part.lastIndex;
  }
  return key;
}

/** Whether a table belongs to runtime NAME (under either config version's plugin). */
function isRuntimeTable(key: string[], name: string): boolean {
  return Object.values(CRI_PLUGIN).some((plugin) =>
    ["plugins", plugin, "containerd", "runtimes", name].every((k, i) => key[i] === k)
  );
}

/** The config without runtime NAME's tables, and whether it had any. */
function withoutRuntime(text: string, name: string): { text: string; found: boolean } {
  const kept: string[] = [];
  let ours = false;
  let found = false;
  let inString = false;
  for (const line of text.split("\n")) {
    if (!inString) {
      const key = tableKey(line);
      if (key) ours = isRuntimeTable(key, name);
      found ||= ours;
    }
    // A header-like line inside a multi-line string is text, not a table.
    if ((line.split('"""').length + line.split("'''").length) % 2 === 1) inString = !inString;
    if (!ours) kept.push(line);
  }
  return { text: kept.join("\n"), found };
}

/**
 * The config's version: the top-level `version = N` before any table.
 *
 * @param text config.toml's text.
 * @returns N, 1 when the file has settings but no version (containerd's
 *   default), or undefined for a file with nothing in it.
 *
 * @example
 * ```ts
 * import { containerdConfigVersion } from "./containerd_config.ts";
 * if (containerdConfigVersion("version = 3\n[plugins]\n") !== 3) throw new Error();
 * ```
 */
export function containerdConfigVersion(text: string): number | undefined {
  let settings = false;
  for (const line of text.split("\n")) {
    if (tableKey(line)) return 1;
    const m = /^\s*version\s*=\s*(\d+)\s*(#.*)?$/.exec(line);
    if (m) return Number(m[1]);
    if (!/^\s*(#.*)?$/.test(line)) settings = true;
  }
  return settings ? 1 : undefined;
}

/**
 * config.toml with runtime NAME's tables replaced by ours (appended at the
 * end), and runc's when the config has none and keeps containerd's default
 * runtime name; a missing or empty file becomes a version 2 config with them.
 *
 * @param text The file's text, or undefined when there is none.
 * @param where The file's path, for errors.
 * @param name The runtime's name.
 * @param binary dvisor's absolute path.
 * @returns The new text.
 * @throws {Error} For a version 1 config, or a version this does not know.
 *
 * @example
 * ```ts
 * import { addContainerdRuntime } from "./containerd_config.ts";
 * const once = addContainerdRuntime("version = 2\n", "config.toml", "dvisor", "/d");
 * if (addContainerdRuntime(once, "config.toml", "dvisor", "/d") !== once) throw new Error();
 * ```
 */
export function addContainerdRuntime(
  text: string | undefined,
  where: string,
  name: string,
  binary: string,
): string {
  const version = containerdConfigVersion(text ?? "");
  if (version === undefined) {
    return `${(text ?? "").trimEnd()}${text?.trim() ? "\n" : ""}version = 2\n\n` +
      `${runcStanza(2)}\n${containerdStanza(name, binary, 2)}`;
  }
  if (version !== 2 && version !== 3) {
    throw new Error(
      `${where} is a version ${version} containerd config: convert it to version 2 or 3 ` +
        "(containerd config default shows the form), then retry",
    );
  }
  let base = withoutRuntime(text!, name).text.trimEnd();
  if (
    name !== "runc" && !withoutRuntime(base, "runc").found && !/default_runtime_name/.test(base)
  ) {
    base = `${base}\n\n${runcStanza(version)}`.trimEnd();
  }
  return `${base}\n\n${containerdStanza(name, binary, version)}`;
}

/**
 * config.toml without runtime NAME's tables.
 *
 * @param text The file's text.
 * @param name The runtime's name.
 * @returns The new text, or undefined when the file had no such runtime.
 *
 * @example
 * ```ts
 * import { addContainerdRuntime, removeContainerdRuntime } from "./containerd_config.ts";
 * const added = addContainerdRuntime("version = 2\n", "config.toml", "dvisor", "/d");
 * if (removeContainerdRuntime(added, "dvisor")?.includes("dvisor") !== false) throw new Error();
 * ```
 */
export function removeContainerdRuntime(text: string, name: string): string | undefined {
  const { text: rest, found } = withoutRuntime(text, name);
  return found ? `${rest.trimEnd()}\n` : undefined;
}
