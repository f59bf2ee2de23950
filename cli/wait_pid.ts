/**
 * Waiting for a process `dvisor exec` started without blocking this
 * thread: the blocking WaitPID call runs in a Worker
 * (wait_pid_worker.ts), so signal listeners and timers here keep running.
 *
 * @module
 */

/**
 * Waits for a process of a sandbox to end.
 *
 * @param socket The container's control socket.
 * @param pid The process (the container's pid).
 * @returns Its wait status.
 * @throws {Error} When the sandbox answers with an error or is gone.
 */
export async function waitPid(socket: string, pid: number): Promise<{ status: number }> {
  const worker = new Worker(new URL("./wait_pid_worker.ts", import.meta.url), { type: "module" });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage({ socket, pid });
    });
  } finally {
    worker.terminate();
  }
}
