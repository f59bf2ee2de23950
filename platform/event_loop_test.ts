import { assert, assertEquals, assertGreater, assertRejects, assertThrows } from "@std/assert";
import { EPOLL } from "./epoll.ts";
import { Errno } from "./errno.ts";
import { EventLoop, type LoopEvent, wake, type WakerInfo } from "./event_loop.ts";
import { closeFd, pipe, readFd, writeFd } from "./fd.ts";
import { spawn } from "./spawn.ts";

/** How many epoll, eventfd and timerfd descriptors this process has open. */
function eventFdCount(): number {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const link = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
      if (/^anon_inode:\[(eventpoll|eventfd|timerfd)\]$/.test(link)) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

function tokens(events: LoopEvent[]): number[] {
  return events.map((e) => e.token).sort((a, b) => a - b);
}

/** A module Worker running testdata/event_loop_worker.ts, with its messages queued. */
function startWorker() {
  const worker = new Worker(new URL("./testdata/event_loop_worker.ts", import.meta.url), {
    type: "module",
  });
  const queue: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  worker.onmessage = (e: MessageEvent) => {
    const next = waiting.shift();
    if (next) next(e.data);
    else queue.push(e.data);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    const next = waiting.shift();
    next?.({ kind: "error", message: e.message });
  };
  return {
    worker,
    // deno-lint-ignore no-explicit-any
    next(): Promise<any> {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve) => waiting.push(resolve));
    },
    [Symbol.dispose]() {
      worker.terminate();
    },
  };
}

// First in this file: terminated Workers close their runtime's own epoll fds later.
Deno.test("event loop close releases every descriptor", () => {
  const before = eventFdCount();
  const [r, w] = pipe();
  for (let i = 0; i < 20; i++) {
    const loop = new EventLoop();
    loop.watch(r, EPOLL.IN, 1);
    loop.addTimer(60_000, 2);
    loop.addTimer(1, 3);
    loop.waitSync(1000);
    loop.close();
  }
  closeFd(r);
  closeFd(w);
  assertEquals(eventFdCount(), before);
});

Deno.test("event loop wakes when a watched process exits", () => {
  using child = spawn({ path: "/bin/busybox", args: ["sleep", "0.1"] });
  using loop = new EventLoop();
  loop.watchPidfd(child.pidfd, 11);
  const start = performance.now();
  const result = loop.waitSync(5000);
  assertGreater(performance.now() - start, 50);
  assertEquals(result.woken, false);
  assertEquals(result.events.length, 1);
  assertEquals(result.events[0]!.token, 11);
  assert(result.events[0]!.events & EPOLL.IN);
  assertEquals(child.waitSync().code, 0);
  assertEquals(loop.unwatch(child.pidfd), false, "a process exit is reported once");
  assertEquals(loop.waitSync(0).events.length, 0);
});

Deno.test("event loop async wait reports a process exit", async () => {
  using child = spawn({ path: "/bin/busybox", args: ["sleep", "0.1"] });
  using loop = new EventLoop();
  loop.watchPidfd(child.pidfd, 12);
  const result = await loop.wait(5000);
  assertEquals(tokens(result.events), [12]);
  assertEquals((await child.wait()).code, 0);
});

Deno.test("event loop wakes when a watched pipe becomes readable", async () => {
  const [r, w] = pipe();
  try {
    using loop = new EventLoop();
    loop.watch(r, EPOLL.IN, 21);
    assertEquals(loop.waitSync(0).events, []);
    setTimeout(() => writeFd(w, new Uint8Array([7])), 20);
    const result = await loop.wait(5000);
    assertEquals(result, {
      woken: false,
      events: [{ token: 21, events: EPOLL.IN, expirations: 0 }],
    });
    // Level-triggered: still readable, reported again until read.
    assertEquals(tokens(loop.waitSync(0).events), [21]);
    readFd(r, new Uint8Array(1));
    assertEquals(loop.waitSync(0).events, []);
    assert(loop.unwatch(r));
    writeFd(w, new Uint8Array([8]));
    assertEquals(loop.waitSync(0).events, [], "no longer watched");
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

Deno.test("event loop modify changes what a descriptor waits for", () => {
  const [r, w] = pipe();
  try {
    using loop = new EventLoop();
    loop.watch(w, EPOLL.OUT | EPOLL.ONESHOT, 31);
    assertEquals(tokens(loop.waitSync(0).events), [31]);
    assertEquals(loop.waitSync(0).events, [], "one-shot");
    loop.modify(w, EPOLL.OUT);
    assertEquals(tokens(loop.waitSync(0).events), [31]);
    assertThrows(() => loop.modify(r, EPOLL.IN), RangeError, "not watched");
    loop.unwatch(w);
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

Deno.test("event loop timer fires once and is then removed", async () => {
  using loop = new EventLoop();
  const start = performance.now();
  const timer = loop.addTimer(30, 41);
  assert(timer.active);
  const result = await loop.wait(5000);
  assertGreater(performance.now() - start, 25);
  assertEquals(result.events, [{ token: 41, events: EPOLL.IN, expirations: 1 }]);
  assertEquals(timer.active, false);
  assertEquals(loop.waitSync(40).events, [], "reported once");
  timer.cancel();
});

Deno.test("event loop interval timer reports expirations until cancelled", () => {
  using loop = new EventLoop();
  const timer = loop.addTimer(5, 42, 5);
  let total = 0;
  for (let i = 0; i < 3; i++) {
    const [event, ...rest] = loop.waitSync(5000).events;
    assertEquals(rest.length, 0);
    assertEquals(event?.token, 42);
    total += event!.expirations;
  }
  assert(total >= 3);
  assert(timer.active);
  timer.cancel();
  assertEquals(timer.active, false);
  assertEquals(loop.waitSync(20).events, []);
});

Deno.test("event loop reports several sources in one wait", () => {
  const [r, w] = pipe();
  try {
    using loop = new EventLoop();
    loop.watch(r, EPOLL.IN, 1);
    loop.addTimer(1, 2);
    writeFd(w, new Uint8Array([1]));
    loop.wake();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    const result = loop.waitSync(1000);
    assertEquals(result.woken, true);
    assertEquals(tokens(result.events), [1, 2]);
    loop.unwatch(r);
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

Deno.test("event loop wakes are reported as woken, not as events", () => {
  using loop = new EventLoop();
  assertEquals(loop.waitSync(0), { woken: false, events: [] });
  assert(wake(loop.waker()));
  assert(wake(loop.waker()));
  assertEquals(loop.waitSync(1000), { woken: true, events: [] });
  assertEquals(loop.waitSync(0), { woken: false, events: [] }, "wakes coalesce");
});

Deno.test("event loop in a Worker's waitSync is woken by the main thread", async () => {
  using w = startWorker();
  w.worker.postMessage({ kind: "block", timeoutMs: 10_000 });
  const hello = await w.next();
  assertEquals(hello.kind, "waker");
  const waker: WakerInfo = hello.waker;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert(wake(waker));
  const result = await w.next();
  assertEquals(result.kind, "result");
  assertEquals(result.woken, true);
  assertEquals(result.events, 0);
  assertGreater(result.elapsedMs, 30, "the Worker was blocked until the wake");
  assert(result.elapsedMs < 9_000, "woken, not timed out");
  // The Worker closed its loop: waking it now is refused, not written to a stale fd.
  assertEquals(wake(waker), false);
});

Deno.test("event loop main-thread wait is woken by a Worker", async () => {
  using w = startWorker();
  using loop = new EventLoop();
  const start = performance.now();
  w.worker.postMessage({ kind: "wake", waker: loop.waker(), delayMs: 40 });
  const result = await loop.wait(10_000);
  assertEquals(result, { woken: true, events: [] });
  assertGreater(performance.now() - start, 30);
  assertEquals(await w.next(), { kind: "woke", ok: true });
});

Deno.test("event loop close during an async wait resolves it", async () => {
  const loop = new EventLoop();
  loop.addTimer(60_000, 1, 60_000);
  const waiting = loop.wait();
  loop.close();
  assertEquals(await waiting, { woken: true, events: [] });
  assert(loop.closed);
});

Deno.test("event loop forgets a watched descriptor closed without unwatch", () => {
  using loop = new EventLoop();
  const [r, w] = pipe();
  loop.watch(r, EPOLL.IN, 1);
  closeFd(r);
  closeFd(w);
  assertEquals(loop.waitSync(0).events, []);
  assertEquals(loop.unwatch(r), true);
  const [r2, w2] = pipe();
  try {
    loop.watch(r2, EPOLL.IN, 2);
    writeFd(w2, new Uint8Array([1]));
    assertEquals(tokens(loop.waitSync(1000).events), [2]);
  } finally {
    closeFd(r2);
    closeFd(w2);
  }
});

Deno.test("event loop refuses use after close and a second waiter", async () => {
  const loop = new EventLoop();
  const waiting = loop.wait(5000);
  assertThrows(() => loop.waitSync(0), Error, "already waiting");
  await assertRejects(() => loop.wait(0), Error, "already waiting");
  loop.wake();
  assertEquals((await waiting).woken, true);
  const info = loop.waker();
  loop.close();
  assertThrows(() => loop.waitSync(0), Error, "closed");
  await assertRejects(() => loop.wait(0), Error, "closed");
  assertThrows(() => loop.watch(0, EPOLL.IN, 1), Error, "closed");
  assertThrows(() => loop.addTimer(1, 1), Error, "closed");
  assertThrows(() => loop.waker(), Error, "closed");
  assertThrows(() => loop.wake(), Error, "closed");
  assertEquals(wake(info), false);
  loop.close();
});

Deno.test("event loop rejects bad input before any system call", async () => {
  using loop = new EventLoop();
  const [r, w] = pipe();
  try {
    assertThrows(() => loop.watch(-1, EPOLL.IN, 1), RangeError, "file descriptor");
    assertThrows(() => loop.watch(1.5, EPOLL.IN, 1), RangeError);
    assertThrows(() => loop.watch(r, NaN, 1), RangeError, "mask");
    assertThrows(() => loop.watch(r, EPOLL.IN, NaN), RangeError, "token");
    assertThrows(() => loop.watch(r, EPOLL.IN, 2 ** 53), RangeError, "token");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => loop.watch(r, EPOLL.IN, "1" as any), TypeError, "token");
    assertThrows(() => loop.watchPidfd(-3, 1), RangeError, "pidfd");
    assertThrows(() => loop.unwatch(-1), RangeError);
    assertThrows(() => loop.modify(-1, EPOLL.IN), RangeError);
    assertThrows(() => loop.addTimer(NaN, 1), RangeError, "delay");
    assertThrows(() => loop.addTimer(0, 1), RangeError, "delay");
    assertThrows(() => loop.addTimer(-1, 1), RangeError);
    assertThrows(() => loop.addTimer(5, 1, NaN), RangeError, "interval");
    assertThrows(() => loop.addTimer(5, 0.5), RangeError, "token");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => loop.addTimer("5" as any, 1), TypeError);
    assertThrows(() => loop.waitSync(NaN), RangeError, "timeout");
    assertThrows(() => loop.waitSync(-2), RangeError, "timeout");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => loop.waitSync("1" as any), TypeError, "timeout");
    await assertRejects(() => loop.wait(NaN), RangeError, "timeout");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => wake(null as any), TypeError, "waker");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => wake({ fd: 5 } as any), TypeError, "waker");
    assertThrows(() => wake({ fd: -1, state: new SharedArrayBuffer(8) }), RangeError);
    assertThrows(() => new EventLoop({ maxEvents: 0 }), RangeError, "maxEvents");
    assertThrows(() => new EventLoop({ maxEvents: NaN }), RangeError, "maxEvents");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => new EventLoop(3 as any), TypeError);
    // Nothing was registered by the rejected calls.
    writeFd(w, new Uint8Array([1]));
    assertEquals(loop.waitSync(0), { woken: false, events: [] });
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

Deno.test("event loop kernel refusals are Errno", () => {
  using loop = new EventLoop();
  const [r, w] = pipe();
  try {
    loop.watch(r, EPOLL.IN, 1);
    assertThrows(() => loop.watch(r, EPOLL.IN, 2), Errno, "EEXIST");
    closeFd(w);
    assertThrows(() => loop.watch(w, EPOLL.OUT, 3), Errno, "EBADF");
  } finally {
    closeFd(r);
  }
});
