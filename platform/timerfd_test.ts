import { assert, assertEquals, assertGreater, assertLess, assertThrows } from "@std/assert";
import {
  checkTimerArgs,
  TIMER_MAX_MS,
  timerfdArm,
  timerfdCreate,
  timerfdDisarm,
  timerfdGet,
  timerfdRead,
} from "./timerfd.ts";
import { Errno } from "./errno.ts";
import { closeFd, isCloexec, pipe } from "./fd.ts";

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

Deno.test("timerfd one-shot expires once after its delay", () => {
  const fd = timerfdCreate();
  try {
    assert(isCloexec(fd));
    const start = performance.now();
    timerfdArm(fd, 20);
    assertEquals(timerfdRead(fd), 1);
    assertGreater(performance.now() - start, 15);
    assertEquals(timerfdGet(fd), { remainingMs: 0, intervalMs: 0 });
  } finally {
    closeFd(fd);
  }
});

Deno.test("timerfd interval counts expirations between reads", () => {
  const fd = timerfdCreate({ nonblock: true });
  try {
    const start = performance.now();
    timerfdArm(fd, 2, 2);
    sleepSync(25);
    const n = timerfdRead(fd);
    const elapsed = performance.now() - start;
    assertGreater(n, 4);
    assertLess(n, elapsed / 2 + 1);
    assertEquals(timerfdGet(fd).intervalMs, 2);
  } finally {
    closeFd(fd);
  }
});

Deno.test("timerfd disarm drops pending expirations", () => {
  const fd = timerfdCreate({ nonblock: true });
  try {
    timerfdArm(fd, 1);
    sleepSync(5);
    timerfdDisarm(fd);
    assertEquals(timerfdRead(fd), 0);
    timerfdArm(fd, 10_000, 0.5);
    const state = timerfdGet(fd);
    assertGreater(state.remainingMs, 9_000);
    assertEquals(state.intervalMs, 0.5);
  } finally {
    closeFd(fd);
  }
});

Deno.test("timerfd tiny delays still arm the timer", () => {
  const fd = timerfdCreate();
  try {
    timerfdArm(fd, Number.MIN_VALUE);
    assertEquals(timerfdRead(fd), 1);
    timerfdArm(fd, 0.9999999999);
    assertEquals(timerfdRead(fd), 1);
  } finally {
    closeFd(fd);
  }
});

Deno.test("timerfd rejects bad input before any system call", () => {
  const fd = timerfdCreate({ nonblock: true });
  try {
    assertThrows(() => timerfdArm(fd, 0), RangeError, "above 0");
    assertThrows(() => timerfdArm(fd, -5), RangeError);
    assertThrows(() => timerfdArm(fd, NaN), RangeError);
    assertThrows(() => timerfdArm(fd, Infinity), RangeError);
    assertThrows(() => timerfdArm(fd, TIMER_MAX_MS * 2), RangeError);
    assertThrows(() => timerfdArm(fd, 5, -1), RangeError, "interval");
    assertThrows(() => timerfdArm(fd, 5, NaN), RangeError, "interval");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => timerfdArm(fd, "5" as any), TypeError);
    // deno-lint-ignore no-explicit-any
    assertThrows(() => checkTimerArgs(5, null as any), TypeError);
    assertEquals(timerfdGet(fd).remainingMs, 0, "nothing armed the timer");
  } finally {
    closeFd(fd);
  }
  assertThrows(() => timerfdArm(-1, 5), RangeError, "timerfd");
  assertThrows(() => timerfdDisarm(2 ** 31), RangeError);
  assertThrows(() => timerfdRead(0.5), RangeError);
  assertThrows(() => timerfdGet(-1), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => timerfdCreate(7 as any), TypeError);
});

Deno.test("timerfd calls on another kind of descriptor are an Errno", () => {
  const [r, w] = pipe();
  try {
    assertThrows(() => timerfdArm(r, 5), Errno, "EINVAL");
    assertThrows(() => timerfdGet(r), Errno, "EINVAL");
  } finally {
    closeFd(r);
    closeFd(w);
  }
});
