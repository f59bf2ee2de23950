/**
 * The tracer thread of a sandbox: a Worker that boots the Sentry from a
 * plain-data configuration and serves it until every process is gone.
 *
 * Message in: a {@linkcode WorkerConfig}. Messages out: `{ ready, waker }`
 * once it runs (wake it after writing to `control`), then
 * `{ ok: true, status }` (the init's wait status) or
 * `{ ok: false, message, status }` (it could not start).
 *
 * @module
 */
import { HostBackend } from "../../gofer/host_backend.ts";
import { GoferClient } from "../vfs/gofer_client.ts";
import { type MountConfig, type ProcessConfig, runSandbox, StartError } from "./sandbox.ts";
import type { PlatformName } from "../../platform/machine.ts";

/** What the Worker needs, as data (descriptors are process-wide numbers). */
export interface WorkerConfig {
  platform: PlatformName;
  /** The root's file server: a gofer socket, or (tests) a host path served in this process. */
  rootGoferFd?: number;
  rootPath?: string;
  rootReadOnly: boolean;
  rootOverlay: boolean;
  /** Mounts; a bind mount is served by a gofer socket (`goferFd`) or, in tests, from `hostPath` in-process. */
  mounts: Array<
    Omit<MountConfig, "backend"> & { hostPath?: string; readOnly?: boolean; goferFd?: number }
  >;
  process: ProcessConfig;
  hostname: string;
  stdio: [number, number, number];
  emptyRootAt: string;
  debugLog: string | null;
  /** Log every system call the Sentry serves to the debug log. */
  strace?: boolean;
  /** Shared `[stop, signal]` words; see SandboxConfig.control. */
  control?: SharedArrayBuffer;
}

const worker = self as unknown as {
  onmessage: (e: MessageEvent<WorkerConfig>) => void;
  postMessage: (m: unknown) => void;
};

worker.onmessage = (e) => {
  const c = e.data;
  const write = (level: string, msg: string) => {
    if (!c.debugLog) return;
    try {
      Deno.writeTextFileSync(c.debugLog, `${new Date().toISOString()} ${level} ${msg}\n`, {
        append: true,
      });
    } catch {
      // debug logging must never break the sandbox
    }
  };
  try {
    const root = c.rootGoferFd !== undefined
      ? new GoferClient(c.rootGoferFd)
      : new HostBackend(c.rootPath!, { readOnly: c.rootReadOnly || c.rootOverlay });
    const mounts: MountConfig[] = c.mounts.map((m) => ({
      ...m,
      ...(m.type === "bind"
        ? { backend: new HostBackend(m.hostPath!, { readOnly: m.readOnly ?? false }) }
        : {}),
    }));
    const status = runSandbox({
      platform: c.platform,
      root,
      rootReadOnly: c.rootReadOnly,
      rootOverlay: c.rootOverlay,
      mounts,
      process: c.process,
      hostname: c.hostname,
      stdio: c.stdio,
      emptyRootAt: c.emptyRootAt,
      ...(c.control ? { control: new Int32Array(c.control) } : {}),
      onReady: (waker) => worker.postMessage({ ready: true, waker }),
      log: {
        debug: (m) => write("D", m),
        warn: (m) => write("W", m),
        ...(c.strace ? { strace: (m: string) => write("S", m) } : {}),
      },
    });
    worker.postMessage({ ok: true, status });
  } catch (err) {
    if (err instanceof StartError) {
      worker.postMessage({ ok: false, message: err.message, status: err.status });
      return;
    }
    write("E", err instanceof Error ? err.stack ?? err.message : String(err));
    worker.postMessage({
      ok: false,
      message: err instanceof Error ? err.message : String(err),
      status: 1,
    });
  }
};
