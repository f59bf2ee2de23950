/**
 * A tracer Worker: receives {@linkcode TraceProbeOptions}, runs
 * {@linkcode traceProbe} on this thread (the tracer), and posts the result
 * (`{ ok: true, result }` or `{ ok: false, error }`).
 *
 * @module
 */
import { traceProbe, type TraceProbeOptions } from "./trace_probe.ts";

const worker = self as unknown as {
  onmessage: (e: MessageEvent<TraceProbeOptions>) => void;
  postMessage: (m: unknown) => void;
};
worker.onmessage = (e) => {
  try {
    worker.postMessage({ ok: true, result: traceProbe(e.data) });
  } catch (err) {
    worker.postMessage({ ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
};
