/**
 * dvisor as a library for Deno programs and test suites: run untrusted
 * code in a sandbox whose system calls are served by dvisor's Sentry, not
 * the host kernel. No bundle or CLI is needed; the library and the
 * `dvisor` command share all their code.
 *
 * Permissions: run as root with `--allow-all` (`-A`): the library starts
 * the sandbox's processes through FFI (`--allow-ffi`), runs dvisor's own
 * entry point again (`--allow-run`, `--allow-read`), and makes cgroups,
 * pipes and state files (`--allow-write`, `--allow-env`).
 *
 * @example
 * ```ts
 * import { runSandboxed } from "./mod.ts";
 * const { code, stdout } = await runSandboxed(["uname", "-r"]);
 * if (code !== 0 || !stdout.trim()) throw new Error("no kernel release");
 * ```
 *
 * @example
 * ```ts
 * import { Sandbox } from "./mod.ts";
 * await using sb = await Sandbox.create({ rootfs: "host", args: ["sleep", "60"] });
 * const p = await sb.exec(["echo", "inside"]);
 * if (new TextDecoder().decode((await p.output()).stdout) !== "inside\n") throw new Error();
 * sb.kill("SIGKILL");
 * if ((await sb.status).signal !== "SIGKILL") throw new Error();
 * ```
 *
 * @module
 */
export { OCI_SPEC_VERSION, VERSION, versionText } from "./cli/version.ts";
export { type ExecOptions, Sandbox, type SandboxStats } from "./api/sandbox.ts";
export { runSandboxed, type SandboxedResult } from "./api/run_sandboxed.ts";
export { type SandboxOutput, SandboxProcess, type SandboxStatus } from "./api/process.ts";
export type {
  BindMount,
  ProcessOptions,
  SandboxLimits,
  SandboxOptions,
  StdioOption,
  TmpfsMount,
} from "./api/options.ts";
export type { ImageConfig, ImageProgress } from "./api/oci_image.ts";
export {
  SandboxDisposedError,
  SandboxError,
  SandboxOptionsError,
  SandboxStartError,
  SandboxStateError,
} from "./api/errors.ts";
