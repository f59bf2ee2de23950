/**
 * The subset of `@std/assert` dvisor's tests use, built on
 * `node:assert/strict` because JSR cannot be reached from our build
 * machines. `deno.json` maps `@std/assert` here; pointing that one line at
 * `jsr:@std/assert@^1` swaps in the real module without touching a test.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Error thrown by every assertion here. */
export const AssertionError = nodeAssert.AssertionError;

/**
 * Asserts that a value is truthy.
 *
 * @param expr The value.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * assert(1 + 1 === 2);
 * ```
 */
export function assert(expr: unknown, msg = "Expected a truthy value"): asserts expr {
  if (!expr) throw new nodeAssert.AssertionError({ message: msg });
}

/**
 * Asserts deep equality.
 *
 * @param actual The actual value.
 * @param expected The expected value.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals({ a: [1] }, { a: [1] });
 * ```
 */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/**
 * Asserts deep inequality.
 *
 * @param actual The actual value.
 * @param expected The value it must differ from.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertNotEquals } from "@std/assert";
 * assertNotEquals(1, 2);
 * ```
 */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/**
 * Asserts that a string matches a pattern.
 *
 * @param actual The string.
 * @param expected The pattern.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * assertMatch("pid=1", /pid=\d+/);
 * ```
 */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/**
 * Asserts that a string contains another.
 *
 * @param actual The string.
 * @param expected The part it must contain.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * assertStringIncludes("execve: ENOENT", "ENOENT");
 * ```
 */
export function assertStringIncludes(
  actual: string,
  expected: string,
  msg?: string,
): void {
  assert(
    actual.includes(expected),
    msg ?? `Expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/**
 * Asserts that a value is greater than another.
 *
 * @param actual The value.
 * @param expected The bound.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertGreater } from "@std/assert";
 * assertGreater(2, 1);
 * ```
 */
export function assertGreater<T extends number | bigint>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  assert(actual > expected, msg ?? `Expected ${actual} > ${expected}`);
}

/**
 * Asserts that a value is less than another.
 *
 * @param actual The value.
 * @param expected The bound.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertLess } from "@std/assert";
 * assertLess(1, 2);
 * ```
 */
export function assertLess<T extends number | bigint>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  assert(actual < expected, msg ?? `Expected ${actual} < ${expected}`);
}

/**
 * Asserts that a value is an instance of a class.
 *
 * @param actual The value.
 * @param expectedType The class.
 * @param msg Message on failure.
 *
 * @example
 * ```ts
 * import { assertInstanceOf } from "@std/assert";
 * assertInstanceOf(new RangeError("x"), Error);
 * ```
 */
export function assertInstanceOf<T>(
  actual: unknown,
  // deno-lint-ignore no-explicit-any
  expectedType: new (...args: any[]) => T,
  msg?: string,
): asserts actual is T {
  assert(
    actual instanceof expectedType,
    msg ?? `Expected an instance of ${expectedType.name}, got ${String(actual)}`,
  );
}

/**
 * Asserts that a function throws, and returns what it threw.
 *
 * @param fn The function.
 * @param errorClass The class the error must be an instance of.
 * @param msgIncludes Text the error message must contain.
 * @returns The error.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * assertThrows(() => { throw new TypeError("bad fd"); }, TypeError, "fd");
 * ```
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => E,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (e) {
    checkError(e, errorClass, msgIncludes);
    return e as E;
  }
  throw new nodeAssert.AssertionError({ message: "Expected the function to throw" });
}

/**
 * Asserts that a promise rejects, and returns the reason.
 *
 * @param fn A function returning the promise.
 * @param errorClass The class the reason must be an instance of.
 * @param msgIncludes Text the reason's message must contain.
 * @returns The reason.
 *
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * await assertRejects(() => Promise.reject(new Error("gone")), Error, "gone");
 * ```
 */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => E,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    checkError(e, errorClass, msgIncludes);
    return e as E;
  }
  throw new nodeAssert.AssertionError({ message: "Expected the promise to reject" });
}

/**
 * Fails a test.
 *
 * @param msg Why.
 *
 * @example
 * ```ts
 * import { fail } from "@std/assert";
 * if (1 + 1 !== 2) fail("arithmetic is broken");
 * ```
 */
export function fail(msg = "Failed"): never {
  throw new nodeAssert.AssertionError({ message: msg });
}

function checkError(
  e: unknown,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
): void {
  if (errorClass && !(e instanceof errorClass)) {
    throw new nodeAssert.AssertionError({
      message: `Expected ${errorClass.name}, got ${String(e)}`,
    });
  }
  if (msgIncludes !== undefined) {
    const message = e instanceof Error ? e.message : String(e);
    assertStringIncludes(message, msgIncludes);
  }
}
