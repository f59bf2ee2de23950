/**
 * The library's errors: one class per thing a caller can get wrong or
 * meet, all of them {@linkcode SandboxError}s, each message one sentence
 * that says what to do.
 *
 * @module
 */

/**
 * Anything the library throws about a sandbox.
 *
 * @example
 * ```ts
 * import { SandboxError, SandboxOptionsError } from "./errors.ts";
 * const e = new SandboxOptionsError("limits.memoryBytes must be positive");
 * if (!(e instanceof SandboxError) || e.name !== "SandboxOptionsError") throw new Error();
 * ```
 */
export class SandboxError extends Error {
  /**
   * Makes it.
   *
   * @param message What went wrong and what to do.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxError";
  }
}

/** Options that cannot be used: a rootfs that is not there, a negative limit, an unknown platform.  *
 * @example
 * ```ts
 * import { Sandbox, SandboxOptionsError } from "../mod.ts";
 * const e = await Sandbox.create({ rootfs: "/nowhere", args: ["true"] }).catch((e) => e);
 * if (!(e instanceof SandboxOptionsError)) throw e;
 * ```
 */
export class SandboxOptionsError extends SandboxError {
  /**
   * Makes it.
   *
   * @param message What is wrong with the options and what to give instead.
   */
  constructor(message: string) {
    super(message);
    this.name = "SandboxOptionsError";
  }
}

/** The sandbox (or an exec'd process) could not be started; nothing of it is left.  *
 * @example
 * ```ts
 * import { Sandbox, SandboxStartError } from "../mod.ts";
 * const e = await Sandbox.create({ rootfs: "host", args: ["/no/such/program"] }).catch((e) => e);
 * if (!(e instanceof SandboxStartError)) throw e;
 * ```
 */
export class SandboxStartError extends SandboxError {
  /**
   * Makes it.
   *
   * @param message Why.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxStartError";
  }
}

/** A sandbox used after it was disposed of.  *
 * @example
 * ```ts
 * import { Sandbox, SandboxDisposedError } from "../mod.ts";
 * const sb = await Sandbox.create({ rootfs: "host", args: ["sleep", "60"] });
 * await sb.dispose();
 * const e = await sb.exec(["true"]).catch((e) => e);
 * if (!(e instanceof SandboxDisposedError)) throw e;
 * ```
 */
export class SandboxDisposedError extends SandboxError {
  /** Makes it. */
  constructor() {
    super("The sandbox was disposed of: create a new one with Sandbox.create");
    this.name = "SandboxDisposedError";
  }
}

/** A request the sandbox cannot serve in its state (paused twice, exec after its end).  *
 * @example
 * ```ts
 * import { Sandbox, SandboxStateError } from "../mod.ts";
 * await using sb = await Sandbox.create({ rootfs: "host", args: ["true"] });
 * await sb.status;
 * const e = await sb.pause().catch((e) => e);
 * if (!(e instanceof SandboxStateError)) throw e;
 * ```
 */
export class SandboxStateError extends SandboxError {
  /**
   * Makes it.
   *
   * @param message What was asked, the state, and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "SandboxStateError";
  }
}
