/**
 * What `dvisor --version` prints: the version, the commit it was built
 * from, the OCI runtime spec it implements, and how it runs.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { checkoutUrl, runsBundle } from "./checkout.ts";

/** dvisor's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** The OCI runtime specification version dvisor implements. */
export const OCI_SPEC_VERSION = "1.2.1";

/** Build facts that compile.sh records in the single binary. */
export interface BuildInfo {
  /** The git commit. */
  commit: string;
  /** When it was compiled (ISO 8601). */
  date: string;
  /** The compile target. */
  target: string;
}

/** Where compile.sh puts the build facts it embeds (removed after compiling). */
export const BUILD_INFO_URL: URL = new URL("dist/build/build_info.json", checkoutUrl());

/**
 * Returns the build facts embedded in a compiled binary.
 *
 * @returns The facts, or null when running from source.
 *
 * @example
 * ```ts
 * import { embeddedBuildInfo } from "./version.ts";
 * console.log(embeddedBuildInfo() ? "compiled" : "from source");
 * ```
 */
export function embeddedBuildInfo(): BuildInfo | null {
  try {
    return JSON.parse(Deno.readTextFileSync(BUILD_INFO_URL)) as BuildInfo;
  } catch {
    return null;
  }
}

/**
 * Returns the commit of a source checkout, with `-dirty` when it has
 * uncommitted changes.
 *
 * @param dir The checkout.
 * @returns The commit, or `unknown` without git or a repository.
 *
 * @example
 * ```ts
 * import { sourceCommit } from "./version.ts";
 * import { checkoutUrl } from "./checkout.ts";
 * console.log(sourceCommit(checkoutUrl().pathname));
 * ```
 */
export function sourceCommit(dir: string): string {
  try {
    const run = (args: string[]) =>
      new Deno.Command("git", { args: ["-C", dir, ...args], stdout: "piped", stderr: "null" })
        .outputSync();
    const head = run(["rev-parse", "HEAD"]);
    if (!head.success) return "unknown";
    const commit = new TextDecoder().decode(head.stdout).trim();
    const status = run(["status", "--porcelain", "--untracked-files=no"]);
    const dirty = status.success && status.stdout.length > 0;
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return "unknown";
  }
}

/**
 * Returns the `--version` text, shaped like runc's.
 *
 * @returns Lines ending in a newline.
 *
 * @example
 * ```ts
 * import { versionText } from "./version.ts";
 * if (!versionText().startsWith("dvisor version ")) throw new Error();
 * ```
 */
export function versionText(): string {
  const built = embeddedBuildInfo();
  const commit = built?.commit ?? sourceCommit(checkoutUrl().pathname);
  return [
    `dvisor version ${VERSION}`,
    `commit: ${commit}`,
    `spec: ${OCI_SPEC_VERSION}`,
    `deno: ${Deno.version.deno}`,
    built
      ? `compiled: yes (${built.target}, ${built.date})`
      : `compiled: no (running ${runsBundle() ? "the bundle dist/js" : "from source"})`,
  ].join("\n") + "\n";
}
