/**
 * Runs {@linkcode machineProbe} (or, for `{ scenario: "doorbell" }`,
 * {@linkcode doorbellProbe}, posting `{ waker }` on the way) on this thread
 * (the tracer) and posts the result: `{ ok: true, result }` or
 * `{ ok: false, error }`.
 *
 * @module
 */
import { doorbellProbe } from "./doorbell_probe.ts";
import { machineProbe } from "./machine_probe.ts";

type Request =
  | { platform: "seccomp" | "ptrace"; answer: number; dir: string }
  | { scenario: "doorbell" };

const worker = self as unknown as {
  onmessage: (e: MessageEvent<Request>) => void;
  postMessage: (m: unknown) => void;
};
worker.onmessage = (e) => {
  try {
    const d = e.data;
    const result = "scenario" in d
      ? doorbellProbe((waker) => worker.postMessage({ waker }))
      : machineProbe(d.platform, d.answer, d.dir);
    worker.postMessage({ ok: true, result });
  } catch (err) {
    worker.postMessage({
      ok: false,
      error: err instanceof Error ? err.stack ?? err.message : String(err),
    });
  }
};
