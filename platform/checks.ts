/**
 * Argument checks every FFI wrapper runs before a system call, so that bad
 * input becomes a clear TypeError or RangeError instead of a kernel error,
 * a crash, or a call on the wrong object.
 *
 * @module
 */

/** The largest file descriptor Linux can hand out (`INT_MAX`). */
const FD_MAX = 0x7fffffff;

/**
 * Checks a file descriptor argument.
 *
 * @param fd The descriptor.
 * @param what What it is, for the message.
 * @returns The descriptor as a BigInt system call argument.
 * @throws {RangeError} If it is not an integer in 0..2^31-1.
 *
 * @example
 * ```ts
 * import { fdArg } from "./checks.ts";
 * if (fdArg(3) !== 3n) throw new Error();
 * ```
 */
export function fdArg(fd: number, what = "file descriptor"): bigint {
  if (!Number.isInteger(fd) || fd < 0 || fd > FD_MAX) {
    throw new RangeError(
      `Invalid ${what} ${fd}: use an integer from 0 to ${FD_MAX}`,
    );
  }
  return BigInt(fd);
}

/**
 * Checks an integer argument against a range.
 *
 * @param value The value.
 * @param min The smallest allowed value.
 * @param max The largest allowed value.
 * @param what What it is, for the message.
 * @returns The value as a BigInt system call argument.
 * @throws {RangeError} If it is not an integer in the range.
 *
 * @example
 * ```ts
 * import { intArg } from "./checks.ts";
 * if (intArg(9, 1, 64, "signal") !== 9n) throw new Error();
 * ```
 */
export function intArg(
  value: number,
  min: number,
  max: number,
  what: string,
): bigint {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Invalid ${what} ${value}: use an integer from ${min} to ${max}`,
    );
  }
  return BigInt(value);
}

const encoder = new TextEncoder();

/**
 * Encodes a string as a NUL-terminated C string.
 *
 * @param s The string.
 * @param what What it is, for the message.
 * @param maxBytes The longest allowed encoding, without the NUL.
 * @returns The bytes including the terminating NUL.
 * @throws {TypeError} If the string contains a NUL byte.
 * @throws {RangeError} If it is longer than `maxBytes`.
 *
 * @example
 * ```ts
 * import { cString } from "./checks.ts";
 * if (cString("/bin").length !== 5) throw new Error();
 * ```
 */
export function cString(
  s: string,
  what = "string",
  maxBytes = 1 << 20,
): Uint8Array {
  if (typeof s !== "string") {
    throw new TypeError(`Invalid ${what}: expected a string, got ${typeof s}`);
  }
  if (s.includes("\0")) {
    throw new TypeError(
      `Invalid ${what} ${JSON.stringify(s)}: it contains a NUL byte`,
    );
  }
  const bytes = encoder.encode(s + "\0");
  if (bytes.length - 1 > maxBytes) {
    throw new RangeError(
      `Invalid ${what}: ${bytes.length - 1} bytes is longer than ${maxBytes}`,
    );
  }
  return bytes;
}

/**
 * Checks that a buffer holds at least `size` bytes.
 *
 * @param buf The buffer.
 * @param size The bytes needed.
 * @param what What it is, for the message.
 * @throws {RangeError} If it is shorter.
 *
 * @example
 * ```ts
 * import { checkLength } from "./checks.ts";
 * checkLength(new Uint8Array(16), 16, "siginfo");
 * ```
 */
export function checkLength(
  buf: ArrayBufferView,
  size: number,
  what: string,
): void {
  if (!ArrayBuffer.isView(buf)) {
    throw new TypeError(`Invalid ${what}: expected a typed array`);
  }
  if (buf.byteLength < size) {
    throw new RangeError(
      `Invalid ${what}: ${buf.byteLength} bytes is shorter than the ${size} needed`,
    );
  }
}

/**
 * Checks that a buffer argument is a Uint8Array.
 *
 * @param buf The value.
 * @param what What it is, for the message.
 * @returns The buffer.
 * @throws {TypeError} If it is anything else.
 *
 * @example
 * ```ts
 * import { bytesArg } from "./checks.ts";
 * bytesArg(new Uint8Array(1), "buffer");
 * ```
 */
export function bytesArg(buf: Uint8Array, what: string): Uint8Array {
  if (!(buf instanceof Uint8Array)) {
    throw new TypeError(`Invalid ${what}: expected a Uint8Array, got ${describe(buf)}`);
  }
  return buf;
}

/**
 * Checks that an argument is a BigInt that fits in 64 bits.
 *
 * @param value The value.
 * @param what What it is, for the message.
 * @returns The value as an unsigned 64-bit BigInt (negative values wrap).
 * @throws {TypeError} If it is not a BigInt.
 * @throws {RangeError} If it does not fit in 64 bits, signed or unsigned.
 *
 * @example
 * ```ts
 * import { u64Arg } from "./checks.ts";
 * if (u64Arg(-1n, "value") !== 0xffffffffffffffffn) throw new Error();
 * ```
 */
export function u64Arg(value: bigint, what: string): bigint {
  if (typeof value !== "bigint") {
    throw new TypeError(`Invalid ${what}: expected a BigInt, got ${describe(value)}`);
  }
  if (value < -(1n << 63n) || value >= 1n << 64n) {
    throw new RangeError(`Invalid ${what} ${value}: it does not fit in 64 bits`);
  }
  return BigInt.asUintN(64, value);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return v.constructor?.name ?? "an object";
  return typeof v;
}

/**
 * Checks an integer argument that may exceed 2^53: a safe-integer number
 * or a BigInt, within `min..max`.
 *
 * @param value The value.
 * @param min The smallest allowed value.
 * @param max The largest allowed value.
 * @param what What it is, for the message.
 * @returns The value as a BigInt.
 * @throws {TypeError} If it is neither a number nor a BigInt.
 * @throws {RangeError} If it is not an integer in the range.
 *
 * @example
 * ```ts
 * import { wideIntArg } from "./checks.ts";
 * if (wideIntArg(5, 1n, 10n, "count") !== 5n) throw new Error();
 * ```
 */
export function wideIntArg(value: number | bigint, min: bigint, max: bigint, what: string): bigint {
  if (typeof value !== "number" && typeof value !== "bigint") {
    throw new TypeError(`Invalid ${what}: expected a number or BigInt, got ${describe(value)}`);
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new RangeError(`Invalid ${what} ${value}: use an integer, as a BigInt above 2^53`);
  }
  const v = BigInt(value);
  if (v < min || v > max) {
    throw new RangeError(`Invalid ${what} ${value}: use an integer from ${min} to ${max}`);
  }
  return v;
}
