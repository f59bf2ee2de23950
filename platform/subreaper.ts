/**
 * Child subreapers (`PR_SET_CHILD_SUBREAPER`): a process whose orphaned
 * descendants are reparented to it rather than to init, so that it can
 * reap them and learn how they ended, as containerd's shim and conmon do
 * with the processes a runtime leaves behind.
 *
 * @module
 */
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";

const PR_SET_CHILD_SUBREAPER = 36n;
const PR_GET_CHILD_SUBREAPER = 37n;

/**
 * Makes this process a child subreaper, or stops it being one.
 *
 * @param on True to become one.
 * @throws {Errno} If prctl fails.
 *
 * @example
 * ```ts
 * import { isChildSubreaper, setChildSubreaper } from "./subreaper.ts";
 * const was = isChildSubreaper();
 * setChildSubreaper(true);
 * if (!isChildSubreaper()) throw new Error("expected a subreaper");
 * setChildSubreaper(was);
 * ```
 */
export function setChildSubreaper(on: boolean): void {
  checked(syscall(SYS.prctl, PR_SET_CHILD_SUBREAPER, on ? 1n : 0n), "prctl PR_SET_CHILD_SUBREAPER");
}

/**
 * Reports whether this process is a child subreaper.
 *
 * @returns True when it is.
 * @throws {Errno} If prctl fails.
 *
 * @example
 * ```ts
 * import { isChildSubreaper } from "./subreaper.ts";
 * console.log(isChildSubreaper());
 * ```
 */
export function isChildSubreaper(): boolean {
  const out = new Int32Array(1);
  checked(
    syscall(SYS.prctl, PR_GET_CHILD_SUBREAPER, addressOf(out)),
    "prctl PR_GET_CHILD_SUBREAPER",
  );
  return out[0] !== 0;
}
