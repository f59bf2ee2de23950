/**
 * A tracer Worker: receives {@linkcode TraceProbeOptions} (or
 * `{ scenario: "seize" }`), runs {@linkcode traceProbe} (or
 * {@linkcode seizeSleeper}) on this thread (the tracer), and posts
 * `{ ok: true, result, leaked }` or `{ ok: false, error }`.
 *
 * `leaked` lists descriptors and child processes that exist after the run
 * but did not before it. It is measured here, around the synchronous run,
 * because Deno's own Worker machinery opens and closes descriptors of its
 * own at unpredictable moments around a Worker's start and end.
 *
 * @module
 */
import { holdings } from "../../tests/support/leaks.ts";
import { seizeSleeper } from "./seize_probe.ts";
import { traceProbe, type TraceProbeOptions } from "./trace_probe.ts";

const worker = self as unknown as {
  onmessage: (e: MessageEvent<TraceProbeOptions | { scenario: "seize" }>) => void;
  postMessage: (m: unknown) => void;
};
worker.onmessage = (e) => {
  try {
    const before = holdings();
    const result = "scenario" in e.data ? seizeSleeper() : traceProbe(e.data);
    const after = holdings();
    const leaked = {
      fds: after.fds.filter((f) => !before.fds.includes(f)),
      children: after.children.filter((p) => !before.children.includes(p)),
      mounts: after.mounts.length - before.mounts.length,
    };
    worker.postMessage({ ok: true, result, leaked });
  } catch (err) {
    worker.postMessage({
      ok: false,
      error: err instanceof Error ? err.stack ?? err.message : String(err),
    });
  }
};
