/**
 * dvisor as a library for Deno programs and test suites.
 *
 * The sandbox API (`Sandbox.create`, `runSandboxed`) arrives with the
 * Sentry and the OCI lifecycle; until then this module exposes the version
 * facts the CLI prints.
 *
 * @example
 * ```ts
 * import { OCI_SPEC_VERSION, VERSION } from "./mod.ts";
 * console.log(`dvisor ${VERSION} (OCI ${OCI_SPEC_VERSION})`);
 * ```
 *
 * @module
 */
export { OCI_SPEC_VERSION, VERSION, versionText } from "./cli/version.ts";
