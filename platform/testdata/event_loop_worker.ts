/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A Worker for event_loop_test.ts: it either blocks in an event loop until
 * the main thread wakes it, or wakes the main thread's loop.
 *
 * Messages in: `{ kind: "block", timeoutMs }` or
 * `{ kind: "wake", waker, delayMs }`. Messages out: `{ kind: "waker", waker }`
 * then `{ kind: "result", woken, events, elapsedMs }`; or `{ kind: "woke", ok }`.
 *
 * @module
 */
import { EventLoop, type WaitResult, wake, type WakerInfo } from "../event_loop.ts";

/** What the test sends. */
type Request =
  | { kind: "block"; timeoutMs: number }
  | { kind: "wake"; waker: WakerInfo; delayMs: number };

self.onmessage = (e: MessageEvent<Request>) => {
  const request = e.data;
  if (request.kind === "block") {
    const loop = new EventLoop();
    let result: WaitResult;
    const start = performance.now();
    try {
      self.postMessage({ kind: "waker", waker: loop.waker() });
      result = loop.waitSync(request.timeoutMs);
    } finally {
      // Closed before reporting, so the test's later wake() finds it closed.
      loop.close();
    }
    self.postMessage({
      kind: "result",
      woken: result.woken,
      events: result.events.length,
      elapsedMs: performance.now() - start,
    });
  } else {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, request.delayMs);
    self.postMessage({ kind: "woke", ok: wake(request.waker) });
  }
};
