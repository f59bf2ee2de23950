/**
 * The doorbell: a tracer blocked in Machine.wait() also wakes for a timer
 * and for another thread's wake(). Used by machine_test.ts in a Worker.
 *
 * @module
 */
import { EventLoop, type WakerInfo } from "../event_loop.ts";
import { Machine } from "../machine.ts";

/**
 * Waits through the machine for a 20 ms timer, then (after posting the
 * loop's waker) for a wake from another thread.
 *
 * @param post Sends the waker to the other thread.
 * @returns What each wait saw.
 *
 * @example
 * ```ts ignore
 * doorbellProbe((w) => postMessage(w)); // { timer: 7, woken: true }
 * ```
 */
export function doorbellProbe(post: (waker: WakerInfo) => void): { timer: number; woken: boolean } {
  using machine = new Machine("seccomp");
  using loop = new EventLoop();
  machine.startDoorbell(loop.epollFd);
  loop.addTimer(20, 7);
  let timer = -1;
  while (timer < 0) {
    const e = machine.wait();
    if (e.kind !== "doorbell") throw new Error(`unexpected ${e.kind}`);
    timer = loop.waitSync(0).events[0]?.token ?? -1;
    machine.ringDone();
  }
  post(loop.waker());
  let woken = false;
  while (!woken) {
    const e = machine.wait();
    if (e.kind !== "doorbell") throw new Error(`unexpected ${e.kind}`);
    woken = loop.waitSync(0).woken;
    machine.ringDone();
  }
  return { timer, woken };
}
