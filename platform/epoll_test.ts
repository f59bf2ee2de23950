import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Arena } from "./arena_unsafe.ts";
import {
  EPOLL,
  epollAdd,
  epollCreate,
  epollDelete,
  EpollEvents,
  epollModify,
  epollTimeout,
  epollWait,
  epollWaitAsync,
} from "./epoll.ts";
import { Errno } from "./errno.ts";
import { closeFd, isCloexec, O, openFile, pipe, readFd, writeFd } from "./fd.ts";

/** An epoll set, a pipe and an event buffer, cleaned up together. */
function fixture(capacity = 8) {
  const arena = new Arena(4096);
  const events = new EpollEvents(arena, capacity);
  const ep = epollCreate();
  const [r, w] = pipe();
  return {
    arena,
    events,
    ep,
    r,
    w,
    [Symbol.dispose]() {
      [ep, r, w].forEach(closeFd);
      arena.dispose();
    },
  };
}

Deno.test("epoll reports a readable pipe with its data word", () => {
  using f = fixture();
  assert(isCloexec(f.ep));
  epollAdd(f.ep, f.r, EPOLL.IN, 0xfedcba9876543210n);
  epollAdd(f.ep, f.w, EPOLL.OUT, 2 ** 53 - 1);
  assertEquals(epollWait(f.ep, f.events, 0), 1, "only the write end is ready");
  assertEquals(f.events.data(0), BigInt(2 ** 53 - 1));
  assertEquals(f.events.events(0), EPOLL.OUT);
  epollDelete(f.ep, f.w);
  writeFd(f.w, new Uint8Array([1, 2]));
  assertEquals(epollWait(f.ep, f.events, 1000), 1);
  assertEquals(f.events.data(0), 0xfedcba9876543210n);
  assertEquals(f.events.events(0), EPOLL.IN);
});

Deno.test("epoll reports a hang-up when the writer closes", () => {
  using f = fixture();
  const [r, w] = pipe();
  try {
    epollAdd(f.ep, r, EPOLL.IN | EPOLL.RDHUP, 1);
    closeFd(w);
    assertEquals(epollWait(f.ep, f.events, 1000), 1);
    assert(f.events.events(0) & EPOLL.HUP);
  } finally {
    closeFd(r);
  }
});

Deno.test("epoll one-shot reports once until modified", () => {
  using f = fixture();
  writeFd(f.w, new Uint8Array([1]));
  epollAdd(f.ep, f.r, EPOLL.IN | EPOLL.ONESHOT, 5);
  assertEquals(epollWait(f.ep, f.events, 0), 1);
  assertEquals(epollWait(f.ep, f.events, 0), 0, "disabled after one report");
  epollModify(f.ep, f.r, EPOLL.IN | EPOLL.ONESHOT, 6);
  assertEquals(epollWait(f.ep, f.events, 0), 1);
  assertEquals(f.events.data(0), 6n);
});

Deno.test("epoll edge-triggered reports new data only", () => {
  using f = fixture();
  epollAdd(f.ep, f.r, EPOLL.IN | EPOLL.ET, 1);
  writeFd(f.w, new Uint8Array([1]));
  assertEquals(epollWait(f.ep, f.events, 0), 1);
  assertEquals(epollWait(f.ep, f.events, 0), 0, "still readable, but no new edge");
  writeFd(f.w, new Uint8Array([2]));
  assertEquals(epollWait(f.ep, f.events, 0), 1);
  readFd(f.r, new Uint8Array(2));
});

Deno.test("epoll wait returns no more events than the buffer holds", () => {
  using f = fixture(1);
  const [r2, w2] = pipe();
  try {
    epollAdd(f.ep, f.w, EPOLL.OUT, 1);
    epollAdd(f.ep, w2, EPOLL.OUT, 2);
    assertEquals(epollWait(f.ep, f.events, 0), 1);
    assertThrows(() => f.events.data(1), RangeError, "index");
  } finally {
    closeFd(r2);
    closeFd(w2);
  }
});

Deno.test("epoll wait times out", () => {
  using f = fixture();
  epollAdd(f.ep, f.r, EPOLL.IN, 1);
  const start = performance.now();
  assertEquals(epollWait(f.ep, f.events, 30), 0);
  assert(performance.now() - start >= 25);
});

Deno.test("epoll async wait resolves when data arrives, without blocking this thread", async () => {
  using f = fixture();
  epollAdd(f.ep, f.r, EPOLL.IN, 77);
  let ticks = 0;
  const interval = setInterval(() => ticks++, 1);
  try {
    const waiting = epollWaitAsync(f.ep, f.events, 5000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    writeFd(f.w, new Uint8Array([1]));
    assertEquals(await waiting, 1);
    assertEquals(f.events.data(0), 77n);
    assert(ticks > 0, "timers ran while waiting");
  } finally {
    clearInterval(interval);
  }
});

Deno.test("epoll async wait times out", async () => {
  using f = fixture();
  assertEquals(await epollWaitAsync(f.ep, f.events, 10), 0);
});

Deno.test("epoll buffer serves one wait at a time", async () => {
  using f = fixture();
  epollAdd(f.ep, f.r, EPOLL.IN, 1);
  const waiting = epollWaitAsync(f.ep, f.events, 5000);
  assertThrows(() => epollWait(f.ep, f.events, 0), Error, "in use");
  await assertRejects(() => epollWaitAsync(f.ep, f.events, 0), Error, "in use");
  writeFd(f.w, new Uint8Array([1]));
  assertEquals(await waiting, 1);
  assertEquals(epollWait(f.ep, f.events, 0), 1, "free again");
});

Deno.test("epoll timeouts: -1 and Infinity wait forever, fractions round up", () => {
  assertEquals(epollTimeout(-1), -1);
  assertEquals(epollTimeout(Infinity), -1);
  assertEquals(epollTimeout(0), 0);
  assertEquals(epollTimeout(0.1), 1);
  assertEquals(epollTimeout(2 ** 31 - 1), 2 ** 31 - 1);
  assertThrows(() => epollTimeout(NaN), RangeError, "Invalid timeout NaN");
  assertThrows(() => epollTimeout(-2), RangeError);
  assertThrows(() => epollTimeout(-Infinity), RangeError);
  assertThrows(() => epollTimeout(2 ** 31), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => epollTimeout("5" as any), TypeError);
});

Deno.test("epoll rejects bad input before any system call", async () => {
  using f = fixture();
  assertThrows(() => epollAdd(-1, f.r, EPOLL.IN, 0), RangeError, "epoll descriptor");
  assertThrows(() => epollAdd(f.ep, -1, EPOLL.IN, 0), RangeError, "file descriptor");
  assertThrows(() => epollAdd(f.ep, f.r, -(2 ** 31) - 1, 0), RangeError, "mask");
  assertThrows(() => epollAdd(f.ep, f.r, 0.5, 0), RangeError, "mask");
  assertThrows(() => epollAdd(f.ep, f.r, 2 ** 32, 0), RangeError, "mask");
  assertThrows(() => epollAdd(f.ep, f.r, EPOLL.IN, -1), RangeError, "data");
  assertThrows(() => epollAdd(f.ep, f.r, EPOLL.IN, 1.5), RangeError, "data");
  assertThrows(() => epollAdd(f.ep, f.r, EPOLL.IN, 2n ** 64n), RangeError, "data");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => epollAdd(f.ep, f.r, EPOLL.IN, "1" as any), TypeError, "data");
  assertThrows(() => epollAdd(f.ep, f.ep, EPOLL.IN, 0), RangeError, "itself");
  assertThrows(() => epollModify(f.ep, NaN, EPOLL.IN, 0), RangeError);
  assertThrows(() => epollDelete(f.ep, -5), RangeError);
  assertThrows(() => epollWait(f.ep, f.events, NaN), RangeError);
  assertThrows(() => epollWait(-1, f.events, 0), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => epollWait(f.ep, new Uint8Array(12) as any, 0), TypeError, "EpollEvents");
  await assertRejects(() => epollWaitAsync(f.ep, f.events, NaN), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => new EpollEvents({} as any, 4), TypeError, "Arena");
  assertThrows(() => new EpollEvents(f.arena, 0), RangeError, "capacity");
  assertThrows(() => new EpollEvents(f.arena, 1e9), RangeError, "capacity");
  assertThrows(() => f.events.events(-1), RangeError);
  // Nothing was added by the rejected calls.
  assertThrows(() => epollDelete(f.ep, f.r), Errno, "ENOENT");
});

Deno.test("epoll kernel refusals are Errno", () => {
  using f = fixture();
  epollAdd(f.ep, f.r, EPOLL.IN, 1);
  assertThrows(() => epollAdd(f.ep, f.r, EPOLL.IN, 1), Errno, "EEXIST");
  assertThrows(() => epollModify(f.ep, f.w, EPOLL.OUT, 1), Errno, "ENOENT");
  assertThrows(() => epollWait(f.r, f.events, 0), Errno, "EINVAL");
  const dir = Deno.makeTempDirSync();
  const file = openFile(`${dir}/file`, O.RDWR | O.CREAT);
  try {
    assertThrows(() => epollAdd(f.ep, file, EPOLL.IN, 1), Errno, "EPERM");
  } finally {
    closeFd(file);
    Deno.removeSync(dir, { recursive: true });
  }
});
