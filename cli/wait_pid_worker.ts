/**
 * A Worker that makes one blocking WaitPID call on a sandbox's control
 * socket, so the thread that asked keeps handling signals meanwhile.
 *
 * Message in: `{ socket, pid }`. Message out: `{ status }` or `{ error }`.
 *
 * @module
 */
import { METHOD } from "../core/control/protocol.ts";
import { callSandbox } from "./control_client.ts";

const worker = self as unknown as {
  onmessage: (e: MessageEvent<{ socket: string; pid: number }>) => void;
  postMessage: (m: unknown) => void;
};

worker.onmessage = (e) => {
  try {
    worker.postMessage(callSandbox(e.data.socket, METHOD.waitPid, { pid: e.data.pid }));
  } catch (err) {
    worker.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};
