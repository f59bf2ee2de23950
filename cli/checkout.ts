/**
 * Where the running code came from: the TypeScript sources of a checkout,
 * or the bundle that `bundle.sh` made of them in its `dist/js`.
 *
 * @module
 */

/**
 * Whether this process runs the bundle (`dist/js`) rather than the sources.
 *
 * @returns True in the bundle.
 *
 * @example
 * ```ts
 * import { runsBundle } from "./checkout.ts";
 * if (runsBundle()) throw new Error("a doc test runs the sources");
 * ```
 */
export function runsBundle(): boolean {
  return import.meta.url.endsWith(".js");
}

/**
 * The checkout's folder: the one holding the `dvisor` launcher, `cli/`
 * and `dist/`.
 *
 * @returns A `file:` URL ending in `/`.
 *
 * @example
 * ```ts
 * import { checkoutUrl } from "./checkout.ts";
 * await Deno.stat(new URL("deno.json", checkoutUrl()));
 * ```
 */
export function checkoutUrl(): URL {
  return new URL(runsBundle() ? "../../" : "../", import.meta.url);
}
