/**
 * Runs {@linkcode machineProbe} on this thread (the tracer) and posts the
 * result: `{ ok: true, result }` or `{ ok: false, error }`.
 *
 * @module
 */
import { machineProbe } from "./machine_probe.ts";

const worker = self as unknown as {
  onmessage: (
    e: MessageEvent<{ platform: "seccomp" | "ptrace"; answer: number; dir: string }>,
  ) => void;
  postMessage: (m: unknown) => void;
};
worker.onmessage = (e) => {
  try {
    worker.postMessage({
      ok: true,
      result: machineProbe(e.data.platform, e.data.answer, e.data.dir),
    });
  } catch (err) {
    worker.postMessage({
      ok: false,
      error: err instanceof Error ? err.stack ?? err.message : String(err),
    });
  }
};
