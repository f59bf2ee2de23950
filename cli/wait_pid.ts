/**
 * Waiting for a process `dvisor exec` started, or for a container, without
 * blocking this thread: the blocking WaitPID or Wait call runs in a Worker
 * (wait_pid_worker.ts), so signal listeners and timers here keep running.
 *
 * @module
 */

/**
 * Waits for the end the request names.
 *
 * @param socket The sandbox's control socket.
 * @param method `METHOD.waitPid` or `METHOD.wait`.
 * @param arg Its argument (`{pid}`, `{cid}`).
 * @returns The wait status.
 * @throws {Error} When the sandbox answers with an error or is gone.
 */
export async function waitInWorker(
  socket: string,
  method: string,
  arg: Record<string, unknown>,
): Promise<{ status: number }> {
  const worker = new Worker(new URL("./wait_pid_worker.ts", import.meta.url), { type: "module" });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage({ socket, method, arg });
    });
  } finally {
    worker.terminate();
  }
}
