/**
 * The tracer thread of a sandbox: a Worker that boots the Sentry from a
 * plain-data configuration and serves it until every process is gone.
 *
 * Message in: a {@linkcode WorkerConfig}. Messages out: `{ ready, waker }`
 * once it runs (wake it after writing to `control`), then
 * `{ ok: true, status }` (the init's wait status) or
 * `{ ok: false, message, status, quiet? }` (it could not start, or lost
 * its gofer: `quiet`, the caller that watches the gofer reports it).
 *
 * @module
 */
import { HostBackend } from "../../gofer/host_backend.ts";
import { GoferClient } from "../vfs/gofer_client.ts";
import { writeAll } from "../../platform/fd.ts";
import { FileServerLost } from "../errors.ts";
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
  /** The debug log as an open descriptor (a sandbox that confined itself cannot open paths). */
  debugLogFd?: number;
  /** Log every system call the Sentry serves to the debug log. */
  strace?: boolean;
  /** The exit status when the first program cannot start (default: as a shell, 126 or 127). */
  startFailureStatus?: number;
  /** Shared `[stop, signal]` words; see SandboxConfig.control. */
  control?: SharedArrayBuffer;
}

const worker = self as unknown as {
  onmessage: (e: MessageEvent<WorkerConfig>) => void;
  postMessage: (m: unknown) => void;
};

worker.onmessage = (e) => {
  if ((e.data as { ping?: boolean }).ping) {
    // Loaded: every module this Worker needs has been read from disk.
    worker.postMessage({ pong: true });
    return;
  }
  const c = e.data;
  const write = (level: string, msg: string) => {
    const line = `${new Date().toISOString()} ${level} ${msg}\n`;
    try {
      if (c.debugLogFd !== undefined) writeAll(c.debugLogFd, new TextEncoder().encode(line));
      else if (c.debugLog) Deno.writeTextFileSync(c.debugLog, line, { append: true });
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
        ? {
          backend: m.goferFd !== undefined
            ? new GoferClient(m.goferFd)
            : new HostBackend(m.hostPath!, { readOnly: m.readOnly ?? false }),
        }
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
      worker.postMessage({
        ok: false,
        message: err.message,
        status: c.startFailureStatus ?? err.status,
      });
      return;
    }
    if (err instanceof FileServerLost) {
      // The process that started the gofer saw it die and says so.
      write("E", err.message);
      worker.postMessage({ ok: false, message: err.message, status: 137, quiet: true });
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
