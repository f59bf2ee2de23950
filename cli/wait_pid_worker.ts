/**
 * A Worker that makes one blocking call on a sandbox's control socket
 * (WaitPID, Wait), so the thread that asked keeps handling signals
 * meanwhile.
 *
 * Message in: `{ socket, method, arg }`. Message out: the result, or `{ error }`.
 *
 * @module
 */
import { callSandbox } from "./control_client.ts";

const worker = self as unknown as {
  onmessage: (e: MessageEvent<{ socket: string; method: string; arg: unknown }>) => void;
  postMessage: (m: unknown) => void;
};

worker.onmessage = (e) => {
  try {
    worker.postMessage(callSandbox(e.data.socket, e.data.method, e.data.arg));
  } catch (err) {
    worker.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};
