/**
 * The control protocol between the CLI and a sandbox (DESIGN.md section 5): a
 * unix stream connection carries one JSON request `{method, arg}` (with
 * descriptors, as SCM_RIGHTS, on its first bytes) and, after the client
 * shuts its side down, one JSON reply `{success, err, result}`. Method
 * names follow runsc's `controller.go`.
 *
 * @module
 */

/** The largest request or reply. */
export const MAX_CONTROL_MESSAGE = 1 << 20;

/** The methods a sandbox serves. */
/**
 * Every method but StartRoot, Pause and Resume takes `cid` in its argument:
 * the container (absent: the root container).
 */
export const METHOD = {
  /** Starts the root container's init (it was loaded at create). */
  startRoot: "containerManager.StartRoot",
  /** Sends a signal: `{signo, mode: "process" | "all" | "foreground", pid?}` (foreground: to the foreground group of the terminal of pid). */
  signal: "containerManager.Signal",
  /** Waits for the init: replies `{status}` (a wait status) when it has exited. */
  wait: "containerManager.Wait",
  /** Waits for a process started by ExecuteAsync: `{pid}` -> `{status}`. */
  waitPid: "containerManager.WaitPID",
  /**
   * Hands over a waiter's socket (one descriptor) for a process started by
   * ExecuteAsync (`{pid}`) or, without pid, the container's init; with
   * `foreground`, the signals the waiter passes on go to the foreground
   * group of that process's terminal. See core/control/exit_watch.ts.
   */
  watch: "containerManager.Watch",
  /** The processes: `[{pid, ppid, hostPid, uid, comm, state}]` (hostPid in the sandbox process's namespace). */
  processes: "containerManager.Processes",
  /** `{status}`: created, running, paused or stopped. */
  state: "containerManager.ContainerRuntimeState",
  /** Starts a process in the container (stdio as descriptors): `{args, env, cwd, uid, gid}` -> `{pid}`. */
  executeAsync: "containerManager.ExecuteAsync",
  /** Stops every task of the sandbox. */
  pause: "containerManager.Pause",
  /** Lets them run again. */
  resume: "containerManager.Resume",
  /** Statistics: `{cpuNs, memoryBytes, pids}`. */
  event: "containerManager.Event",
  /**
   * Creates a container in the sandbox: `{cid, config}` (an encoded
   * SubcontainerConfig) with its stdio and file server sockets; its init
   * waits for StartSubcontainer.
   */
  createSubcontainer: "containerManager.CreateSubcontainer",
  /** Starts a created container's init: `{cid}`. */
  startSubcontainer: "containerManager.StartSubcontainer",
  /** Kills a container's processes and drops its files: `{cid}`; replies once they are gone. */
  destroySubcontainer: "containerManager.DestroySubcontainer",
} as const;

/** A request. */
export interface ControlRequest {
  method: string;
  arg?: unknown;
}

/** A reply. */
export interface ControlReply {
  success: boolean;
  err?: string;
  result?: unknown;
}

/**
 * Decodes a request, checking its shape.
 *
 * @param bytes What the client sent.
 * @returns The request.
 * @throws {Error} When it is not a request.
 *
 * @example
 * ```ts
 * import { decodeRequest, METHOD } from "./protocol.ts";
 * const r = decodeRequest(new TextEncoder().encode(`{"method":"${METHOD.state}"}`));
 * if (r.method !== METHOD.state) throw new Error();
 * ```
 */
export function decodeRequest(bytes: Uint8Array): ControlRequest {
  if (bytes.length > MAX_CONTROL_MESSAGE) throw new Error("The request is too large");
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("The request is not JSON");
  }
  if (typeof v !== "object" || v === null || typeof (v as ControlRequest).method !== "string") {
    throw new Error("The request has no method");
  }
  return v as ControlRequest;
}
