/**
 * A process in a sandbox as the library shows it: its stdio as web
 * streams, its end as a promise, signals by name. The sandbox's first
 * process and every `exec`'d one have this shape.
 *
 * @module
 */
import { SIG } from "../core/kernel/signals.ts";
import { closeQuietly, O, openFile, pipe } from "../platform/fd.ts";
import { fdFile } from "../platform/fd_file.ts";
import { parseSignal } from "../cli/signal_names.ts";
import { SandboxOptionsError } from "./errors.ts";
import type { StdioOption } from "./options.ts";

/** How a process ended. */
export interface SandboxStatus {
  /** It exited with code 0. */
  success: boolean;
  /** Its exit code, or 128 + the signal that killed it (as a shell shows it). */
  code: number;
  /** The signal that killed it, or null. */
  signal: Deno.Signal | null;
}

/** A finished process's status and everything it wrote. */
export interface SandboxOutput extends SandboxStatus {
  /** Its standard output (empty unless piped). */
  stdout: Uint8Array;
  /** Its standard error (empty unless piped). */
  stderr: Uint8Array;
}

/**
 * The status a wait status stands for.
 *
 * @param wait A wait status (`code << 8`, or the signal number).
 * @returns The status.
 *
 * @example
 * ```ts
 * import { statusOf } from "./process.ts";
 * const s = statusOf(9);
 * if (s.code !== 137 || s.signal !== "SIGKILL" || s.success) throw new Error();
 * ```
 */
export function statusOf(wait: number): SandboxStatus {
  const signo = wait & 0x7f;
  if (signo === 0) {
    const code = (wait >> 8) & 0xff;
    return { success: code === 0, code, signal: null };
  }
  const name = Object.entries(SIG).find(([, n]) => n === signo)?.[0];
  return {
    success: false,
    code: 128 + signo,
    signal: (name ? `SIG${name}` : `SIGRTMIN+${signo - 34}`) as Deno.Signal,
  };
}

/**
 * A signal given by name or number, as its number.
 *
 * @param signal `"SIGTERM"`, `"TERM"`, 15.
 * @returns The number.
 * @throws {SandboxOptionsError} For an unknown signal.
 */
export function signalNumber(signal: Deno.Signal | string | number): number {
  try {
    return parseSignal(String(signal));
  } catch (e) {
    throw new SandboxOptionsError((e as Error).message);
  }
}

/**
 * The three standard streams of a process being started: the descriptors
 * it gets, and this side's ends as files.
 */
export class Stdio {
  /** Descriptors 0, 1 and 2 for the process (close with {@linkcode Stdio.passed}). */
  readonly child: [number, number, number];
  /** This side's ends (null: not piped). */
  readonly files: [Deno.FsFile | null, Deno.FsFile | null, Deno.FsFile | null];
  /** The process's stdin as a stream, when piped. */
  readonly stdin: WritableStream<Uint8Array> | null;
  #owned: number[];

  private constructor(
    child: [number, number, number],
    files: Stdio["files"],
    owned: number[],
  ) {
    this.child = child;
    this.files = files;
    this.#owned = owned;
    this.stdin = files[0] ? writableOf(files[0]) : null;
  }

  /**
   * Opens pipes (or /dev/null) as the options say.
   *
   * @param modes stdin, stdout and stderr.
   * @returns The streams.
   */
  static async open(modes: [StdioOption, StdioOption, StdioOption]): Promise<Stdio> {
    const child: number[] = [];
    const files: Stdio["files"] = [null, null, null];
    const owned: number[] = [];
    try {
      for (const [i, mode] of modes.entries()) {
        if (mode === "inherit") {
          child.push(i);
        } else if (mode === "null") {
          const fd = openFile("/dev/null", (i === 0 ? O.RDONLY : O.WRONLY) | O.CLOEXEC);
          owned.push(fd);
          child.push(fd);
        } else {
          const [r, w] = pipe(O.CLOEXEC);
          const [theirs, ours] = i === 0 ? [r, w] : [w, r];
          owned.push(theirs);
          child.push(theirs);
          files[i] = await fdFile(ours, i === 0 ? "write" : "read");
        }
      }
    } catch (e) {
      owned.forEach(closeQuietly);
      for (const f of files) f?.close();
      throw e;
    }
    return new Stdio(child as [number, number, number], files, owned);
  }

  /** Closes this process's copies of the child's ends (it has its own now, or failed to start). */
  passed(): void {
    this.#owned.splice(0).forEach(closeQuietly);
  }

  /** Closes everything still open on this side (the process has ended). */
  async close(): Promise<void> {
    this.passed();
    for (const [i, f] of this.files.entries()) {
      if (!f) continue;
      const stream = i === 0 ? this.stdin! : f.readable;
      if (stream.locked) {
        // The caller's writer may never close it: the process is gone, so it goes.
        if (i === 0) closeFile(f);
        continue; // a reader gets to the end of the output by itself
      }
      try {
        await (i === 0
          ? (stream as WritableStream<Uint8Array>).close()
          : (stream as ReadableStream<Uint8Array>).cancel());
      } catch { /* already closed, or the reader went */ }
    }
  }
}

function closeFile(f: Deno.FsFile): void {
  try {
    f.close();
  } catch { /* closed already */ }
}

/**
 * A pipe's write end as a stream whose writes are in the pipe when they
 * resolve (`FsFile.writable` holds them back until it is closed).
 */
function writableOf(f: Deno.FsFile): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let at = 0; at < chunk.length;) at += await f.write(chunk.subarray(at));
    },
    close: () => closeFile(f),
    abort: () => closeFile(f),
  });
}

/** How a process is reached in its sandbox. */
export interface ProcessControl {
  /** Sends a signal (number). */
  signal(signo: number): void;
  /** Resolves with the wait status when it ends. */
  ended: Promise<SandboxStatus>;
}

/**
 * A process running in a sandbox: `Sandbox.exec` returns one, and the
 * sandbox itself has the same members for its first process.
 *
 * @example
 * ```ts
 * import { Sandbox, SandboxProcess } from "../mod.ts";
 * await using sb = await Sandbox.create({ rootfs: "host", args: ["sleep", "60"] });
 * const p = await sb.exec(["sh", "-c", "exit 4"]);
 * if (!(p instanceof SandboxProcess) || (await p.status).code !== 4) throw new Error();
 * ```
 */
export class SandboxProcess {
  /** Its pid (in the sandbox for exec'd processes; the sandbox's host pid for a sandbox). */
  readonly pid: number;
  /** How it ends. Never rejects for the process's own failure: a crash is a signal, a code. */
  readonly status: Promise<SandboxStatus>;
  #stdio: Stdio;
  #control: ProcessControl;

  /**
   * Wraps a started process (internal: `Sandbox.create` and `exec` make them).
   *
   * @param pid Its pid.
   * @param stdio Its streams.
   * @param control How to signal and wait for it.
   */
  constructor(pid: number, stdio: Stdio, control: ProcessControl) {
    this.pid = pid;
    this.#stdio = stdio;
    this.#control = control;
    this.status = control.ended;
  }

  /** Its standard input (with `stdin: "piped"`, the default); close it to send EOF. */
  get stdin(): WritableStream<Uint8Array> {
    return this.#stream(0) as WritableStream<Uint8Array>;
  }

  /** Its standard output (with `stdout: "piped"`, the default). */
  get stdout(): ReadableStream<Uint8Array> {
    return this.#stream(1) as ReadableStream<Uint8Array>;
  }

  /** Its standard error (with `stderr: "piped"`, the default). */
  get stderr(): ReadableStream<Uint8Array> {
    return this.#stream(2) as ReadableStream<Uint8Array>;
  }

  #stream(i: 0 | 1 | 2): ReadableStream<Uint8Array> | WritableStream<Uint8Array> {
    const f = this.#stdio.files[i];
    if (!f) {
      throw new TypeError(
        `${["stdin", "stdout", "stderr"][i]} is not piped: give ${
          ["stdin", "stdout", "stderr"][i]
        }: "piped"`,
      );
    }
    return i === 0 ? this.#stdio.stdin! : f.readable;
  }

  /**
   * Sends it a signal.
   *
   * @param signal A name (`"SIGTERM"`, the default) or number.
   * @throws {SandboxOptionsError} For an unknown signal.
   */
  kill(signal: Deno.Signal | number = "SIGTERM"): void {
    this.#control.signal(signalNumber(signal));
  }

  /**
   * Waits for its end and collects what it wrote. (Close `stdin` first if
   * it is piped and the process reads to its end.)
   *
   * @returns Its status, stdout and stderr.
   */
  async output(): Promise<SandboxOutput> {
    const read = async (f: Deno.FsFile | null) =>
      f && !f.readable.locked ? new Uint8Array(await new Response(f.readable).arrayBuffer()) : (
        new Uint8Array()
      );
    const [stdout, stderr, status] = await Promise.all([
      read(this.#stdio.files[1]),
      read(this.#stdio.files[2]),
      this.status,
    ]);
    return { ...status, stdout, stderr };
  }

  /**
   * Closes what is left of its streams once it has ended (internal).
   *
   * @returns When they are closed.
   */
  closeStdio(): Promise<void> {
    return this.#stdio.close();
  }
}
