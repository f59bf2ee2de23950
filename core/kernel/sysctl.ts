/**
 * Namespaced settings (/proc/sys files, `linux.sysctl` keys): what a
 * namespace offers for each of its settings, and the integer parsing
 * Linux's `proc_dointvec_minmax` does.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";

/** A namespaced setting (/proc/sys, linux.sysctl): its text, and a write that changes it. */
export interface Sysctl {
  read(): string;
  /** @throws {LinuxError} EINVAL for a value out of range. */
  write(text: string): void;
}

/**
 * Parses a sysctl integer in [min, max].
 *
 * @param text The text written.
 * @param min The least value.
 * @param max The greatest value.
 * @returns The value.
 * @throws {LinuxError} EINVAL when not an integer in range.
 *
 * @example
 * ```ts
 * import { sysctlInteger } from "./sysctl.ts";
 * if (sysctlInteger(" 42\n", 0n, 100n) !== 42n) throw new Error();
 * ```
 */
export function sysctlInteger(text: string, min: bigint, max: bigint): bigint {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw new LinuxError("EINVAL");
  const v = BigInt(t);
  if (v < min || v > max) throw new LinuxError("EINVAL");
  return v;
}

/**
 * Parses a vector of sysctl integers (`ip_local_port_range`, `kernel.sem`),
 * whitespace-separated, each in [min, max]. As Linux, fewer values than
 * the vector holds change the first ones only: the others are `current`'s.
 *
 * @param text The text written.
 * @param current The values now (their count is the vector's length).
 * @param min The least value.
 * @param max The greatest value.
 * @returns The values.
 * @throws {LinuxError} EINVAL when not 1 to `current.length` integers in range.
 *
 * @example
 * ```ts
 * import { sysctlIntegers } from "./sysctl.ts";
 * const [a, b] = sysctlIntegers("1", [5, 6], 0n, 9n);
 * if (a !== 1 || b !== 6) throw new Error();
 * ```
 */
export function sysctlIntegers(
  text: string,
  current: readonly number[],
  min: bigint,
  max: bigint,
): number[] {
  const parts = text.trim().split(/\s+/);
  if (parts.length > current.length) throw new LinuxError("EINVAL");
  const given = parts.map((p) => Number(sysctlInteger(p, min, max)));
  return current.map((v, i) => given[i] ?? v);
}

/**
 * An integer setting in [min, max].
 *
 * @param get Its value.
 * @param set Stores a checked value.
 * @param min The least value.
 * @param max The greatest value.
 * @returns The setting.
 *
 * @example
 * ```ts
 * import { intSysctl } from "./sysctl.ts";
 * let v = 1;
 * const s = intSysctl(() => v, (n) => (v = Number(n)), 0n, 9n);
 * s.write("7");
 * if (s.read() !== "7") throw new Error();
 * ```
 */
export function intSysctl(
  get: () => number | bigint,
  set: (v: bigint) => void,
  min: bigint,
  max: bigint,
): Sysctl {
  return {
    read: () => String(get()),
    write: (t: string) => set(sysctlInteger(t, min, max)),
  };
}
