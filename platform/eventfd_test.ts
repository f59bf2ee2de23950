import { assertEquals, assertThrows } from "@std/assert";
import { EVENTFD_MAX, eventfdCreate, eventfdRead, eventfdSignal } from "./eventfd.ts";
import { Errno } from "./errno.ts";
import { closeFd, isCloexec, pipe } from "./fd.ts";

Deno.test("eventfd adds signals and a read drains the counter", () => {
  const fd = eventfdCreate({ nonblock: true });
  try {
    assertEquals(isCloexec(fd), true);
    assertEquals(eventfdRead(fd), 0n);
    assertEquals(eventfdSignal(fd), true);
    assertEquals(eventfdSignal(fd, 2), true);
    assertEquals(eventfdSignal(fd, 10n), true);
    assertEquals(eventfdRead(fd), 13n);
    assertEquals(eventfdRead(fd), 0n);
  } finally {
    closeFd(fd);
  }
});

Deno.test("eventfd in semaphore mode hands out one at a time", () => {
  const fd = eventfdCreate({ semaphore: true, nonblock: true, initial: 2 });
  try {
    assertEquals(eventfdRead(fd), 1n);
    assertEquals(eventfdRead(fd), 1n);
    assertEquals(eventfdRead(fd), 0n);
  } finally {
    closeFd(fd);
  }
});

Deno.test("eventfd signal reports a full non-blocking counter instead of blocking", () => {
  const fd = eventfdCreate({ nonblock: true });
  try {
    assertEquals(eventfdSignal(fd, EVENTFD_MAX), true);
    assertEquals(eventfdSignal(fd, 1), false);
    assertEquals(eventfdRead(fd), EVENTFD_MAX);
  } finally {
    closeFd(fd);
  }
});

Deno.test("eventfd blocking read returns at once when the counter is set", () => {
  const fd = eventfdCreate({ initial: 5 });
  try {
    assertEquals(eventfdRead(fd), 5n);
  } finally {
    closeFd(fd);
  }
});

Deno.test("eventfd rejects bad input before any system call", () => {
  assertThrows(() => eventfdCreate({ initial: -1 }), RangeError, "starting value");
  assertThrows(() => eventfdCreate({ initial: 2 ** 32 }), RangeError);
  assertThrows(() => eventfdCreate({ initial: NaN }), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => eventfdCreate(null as any), TypeError);
  assertThrows(() => eventfdSignal(-1), RangeError, "eventfd");
  assertThrows(() => eventfdSignal(1.5), RangeError);
  assertThrows(() => eventfdRead(-3), RangeError);
  assertThrows(() => eventfdRead(NaN), RangeError);
  const fd = eventfdCreate({ nonblock: true });
  try {
    assertThrows(() => eventfdSignal(fd, 0), RangeError, "count");
    assertThrows(() => eventfdSignal(fd, -1n), RangeError);
    assertThrows(() => eventfdSignal(fd, EVENTFD_MAX + 1n), RangeError);
    assertThrows(() => eventfdSignal(fd, NaN), RangeError);
    assertThrows(() => eventfdSignal(fd, 2 ** 60), RangeError, "BigInt");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => eventfdSignal(fd, "1" as any), TypeError);
    assertEquals(eventfdRead(fd), 0n, "nothing was added by the rejected calls");
  } finally {
    closeFd(fd);
  }
});

Deno.test("eventfd read of something else is an Errno, not a crash", () => {
  const [r, w] = pipe();
  try {
    // A pipe's write end cannot be read.
    assertThrows(() => eventfdRead(w), Errno, "EBADF");
  } finally {
    closeFd(r);
    closeFd(w);
  }
});
