/**
 * `Sandbox`: a container run from a Deno program, no bundle or CLI
 * needed. It is `dvisor run` in this process's hands: the same spec
 * handling, gofer, sandbox process and control socket, with the
 * container's stdio as web streams. The sandbox dies with this process.
 *
 * @module
 */
import { parseProcess, parseSpec, processObject, SpecError } from "../core/boot/oci_spec.ts";
import { METHOD } from "../core/control/protocol.ts";
import { closeQuietly } from "../platform/fd.ts";
import { fdFile } from "../platform/fd_file.ts";
import { prepareBundle } from "../cli/bundle.ts";
import {
  oomExplanation,
  removeContainer,
  startFailureExplanation,
} from "../cli/container_cgroup.ts";
import { type ContainerState, StateStore } from "../cli/container_state.ts";
import { callSandbox, callSandboxAsync, SandboxGone } from "../cli/control_client.ts";
import { register, registeredLaunch, withSandbox } from "../cli/create.ts";
import { containerStats } from "../cli/events.ts";
import { UsageError } from "../cli/flags.ts";
import { Logger } from "../cli/log.ts";
import { type LaunchedSandbox, launchSandbox, reportLines } from "../cli/sandbox_process.ts";
import type { BigJson } from "../platform/cgroup_stats.ts";
import { hostUsage } from "../core/kernel/usage.ts";
import {
  SandboxDisposedError,
  SandboxError,
  SandboxOptionsError,
  SandboxStartError,
  SandboxStateError,
} from "./errors.ts";
import {
  checkProcessOptions,
  checkSandboxOptions,
  type ProcessOptions,
  type SandboxOptions,
  sandboxSpec,
  specProcess,
} from "./options.ts";
import { SandboxProcess, type SandboxStatus, statusOf, Stdio } from "./process.ts";
import { unpackImage } from "./oci_image.ts";

/** What a sandbox uses of the host, now. */
export interface SandboxStats {
  /** CPU time used so far, in nanoseconds (the sandbox's own work included). */
  cpuNs: number;
  /** Memory in use, in bytes (the sandbox's own included). */
  memoryBytes: number;
  /** The memory limit, or null for none. */
  memoryLimitBytes: number | null;
  /** The container's processes and threads. */
  pids: number;
  /** The limit on them, or null for none. */
  pidsLimit: number | null;
}

/** Options for `exec`: a process like the sandbox's first, with these changes. */
export type ExecOptions = Omit<ProcessOptions, "args">;

/** What a request to an ended sandbox gets. */
function endedError(id: string): SandboxStateError {
  return new SandboxStateError(`The sandbox ${id} has ended: create a new one`);
}

/** A request on a sandbox's control socket; an ended sandbox gives {@linkcode endedError}. */
function call(
  socket: string,
  id: string,
  method: string,
  arg: Record<string, unknown> = {},
  fds: number[] = [],
): unknown {
  try {
    return callSandbox(socket, method, arg, fds);
  } catch (e) {
    if (e instanceof SandboxGone) throw endedError(id);
    throw e;
  }
}

/** Options with the root and the first process settled (an image's defaults in). */
type Resolved = SandboxOptions & { rootfs: string; args: string[] };

/**
 * Unpacks the options' image, if any, into the sandbox's state directory
 * and fills in its defaults: command, environment (the options' win),
 * working directory, user.
 */
async function resolveImage(o: SandboxOptions, root: string): Promise<Resolved> {
  if (o.image === undefined) return o as Resolved;
  const rootfs = `${root}/image-rootfs`;
  let config;
  try {
    config = await unpackImage(o.image, rootfs, o.onProgress);
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw new SandboxOptionsError(
      `The image ${o.image} cannot be unpacked: ${e instanceof Error ? e.message : e}`,
    );
  }
  const resolved: Resolved = {
    ...o,
    rootfs,
    args: o.args ?? config.args,
    env: { ...config.env, ...o.env },
    ...(o.cwd ?? config.cwd ? { cwd: o.cwd ?? config.cwd } : {}),
    ...(o.user ?? config.user ? { user: o.user ?? config.user } : {}),
  };
  if (resolved.args.length === 0) {
    throw new SandboxOptionsError(`The image ${o.image} names no command: give args`);
  }
  checkProcessOptions(resolved);
  return resolved;
}

/** How long the sandbox may take to load its first process. */
const READY_TIMEOUT_MS = 60_000;
/** Limits from here up mean none (v2's "max" shows as 2^64-1, v1's as about 2^63). */
const UNLIMITED = 1n << 62n;

/**
 * A sandboxed container. Create one with {@linkcode Sandbox.create}; its
 * first process runs at once. Dispose of it (`await using`, or
 * `dispose()`) to stop it and remove everything it left on the host.
 *
 * @example
 * ```ts
 * import { Sandbox } from "../mod.ts";
 * await using sb = await Sandbox.create({ rootfs: "host", args: ["sh", "-c", "echo hi; cat"] });
 * const w = sb.stdin.getWriter();
 * await w.write(new TextEncoder().encode("from stdin\n"));
 * await w.close();
 * const { code, stdout } = await sb.output();
 * if (code !== 0 || new TextDecoder().decode(stdout) !== "hi\nfrom stdin\n") throw new Error();
 * ```
 */
export class Sandbox extends SandboxProcess implements AsyncDisposable {
  /** Its container id (in its state root). */
  readonly id: string;
  #store: StateStore;
  #state: ContainerState;
  #launched: LaunchedSandbox;
  #options: Resolved;
  #ownRoot: boolean;
  #execs: SandboxProcess[] = [];
  #disposed = false;
  #ended = false;

  private constructor(
    id: string,
    store: StateStore,
    state: ContainerState,
    launched: LaunchedSandbox,
    stdio: Stdio,
    ended: Promise<SandboxStatus>,
    options: Resolved,
  ) {
    const socket = store.socket(id);
    super(launched.boot.pid, stdio, {
      signal: (signo) => call(socket, id, METHOD.signal, { signo, mode: "process" }),
      ended,
    });
    this.id = id;
    this.#store = store;
    this.#state = state;
    this.#launched = launched;
    this.#options = options;
    this.#ownRoot = options.root === undefined;
    ended.then(() => this.#ended = true, () => this.#ended = true);
  }

  /**
   * Starts a sandbox running `options.args`.
   *
   * @param options What to run and how.
   * @returns The running sandbox.
   * @throws {SandboxOptionsError} For options that cannot be used.
   * @throws {SandboxStartError} When it could not start (nothing is left behind).
   *
   * @example
   * ```ts
   * import { Sandbox, SandboxOptionsError } from "../mod.ts";
   * try {
   *   await Sandbox.create({ rootfs: "/does/not/exist", args: ["true"] });
   *   throw new Error("created");
   * } catch (e) {
   *   if (!(e instanceof SandboxOptionsError)) throw e;
   * }
   * ```
   */
  static async create(given: SandboxOptions): Promise<Sandbox> {
    await checkSandboxOptions(given);
    const root = given.root ?? await Deno.makeTempDir({ prefix: "dvisor-sandbox-" });
    let options: Resolved;
    try {
      options = await resolveImage(given, root);
    } catch (e) {
      if (given.root === undefined) await Deno.remove(root, { recursive: true });
      throw e;
    }
    const host = options.rootfs === "host";
    const id = `dvisor-${crypto.randomUUID().slice(0, 13).replace("-", "")}`;
    const globals: Record<string, unknown> = {
      root,
      platform: options.platform ?? "seccomp",
      network: options.network ?? "none",
      overlay: options.overlay ?? host,
      ...(options.debugLog ? { "debug-log": options.debugLog } : {}),
      ...(options.strace ? { strace: true } : {}),
    };
    const logger = new Logger({});
    const store = new StateStore(root);
    let stdio: Stdio | null = null;
    let launched: LaunchedSandbox | null = null;
    let claimed = false;
    let cgroup: Parameters<typeof oomExplanation>[0] = null;
    try {
      const spec = parseSpec(JSON.stringify(sandboxSpec(options)), root);
      const prepared = await prepareBundle(root, spec, id, globals, logger);
      // A host cgroup only for limits: without one, a caller killed before it
      // disposes of the sandbox leaves only the private state directory.
      const b = options.limits && Object.keys(options.limits).length
        ? prepared
        : { ...prepared, cgroup: null };
      cgroup = b.cgroup;
      stdio = await Stdio.open([
        options.stdin ?? "piped",
        options.stdout ?? "piped",
        options.stderr ?? "piped",
      ]);
      await store.locked(id, () => store.claim(id));
      claimed = true;
      const reg = register(store, id, b);
      try {
        launched = launchSandbox({
          ...registeredLaunch(store, id, b, reg),
          gated: true,
          stdio: stdio.child,
        });
      } finally {
        reg.close();
        stdio.passed();
      }
      const { boot, gofer } = launched;
      const report = await fdFile(launched.reportRead, "read");
      launched.reportRead = -1;
      store.write(withSandbox(reg.base, "creating", boot.pid, gofer.pid));
      const first = await firstLine(report);
      if (!first?.ready) {
        report.close();
        throw new SandboxStartError(
          first?.message ?? oomExplanation(b.cgroup) ??
            "The sandbox did not start: give debugLog a directory and read its logs",
        );
      }
      const created = withSandbox(reg.base, "created", boot.pid, gofer.pid);
      store.write(created);
      callSandbox(store.socket(id), METHOD.startRoot);
      const running = { ...created, status: "running" as const };
      store.write(running);
      const ended = waitForEnd(launched, report, store.exitFile(id), b.cgroup);
      // A caller that never awaits status must not see an unhandled rejection.
      ended.catch(() => {});
      return new Sandbox(id, store, running, launched, stdio, ended, options);
    } catch (e) {
      const why = e instanceof SandboxError || !(e instanceof Error)
        ? null
        : startFailureExplanation(cgroup, e.message);
      for (const c of [launched?.boot, launched?.gofer]) {
        try {
          c?.kill(9);
        } catch { /* gone */ }
        await c?.wait();
        c?.close();
      }
      if (launched) [launched.controlWrite ?? -1, launched.reportRead].forEach(closeQuietly);
      await stdio?.close();
      if (claimed) await store.locked(id, () => removeContainer(store, id, logger));
      if (options.root === undefined) await Deno.remove(root, { recursive: true });
      if (why) throw new SandboxStartError(why, { cause: e });
      if (e instanceof SandboxError) throw e;
      if (e instanceof UsageError || e instanceof SpecError) {
        throw new SandboxOptionsError(e.message);
      }
      throw new SandboxStartError(
        `The sandbox could not start: ${e instanceof Error ? e.message : e}`,
        { cause: e },
      );
    }
  }

  #check(running = true): void {
    if (this.#disposed) throw new SandboxDisposedError();
    if (running && this.#ended) throw endedError(this.id);
  }

  #call(method: string, arg: Record<string, unknown> = {}, fds: number[] = []): unknown {
    return call(this.#store.socket(this.id), this.id, method, arg, fds);
  }

  override get stdin(): WritableStream<Uint8Array> {
    this.#check(false);
    return super.stdin;
  }

  override get stdout(): ReadableStream<Uint8Array> {
    this.#check(false);
    return super.stdout;
  }

  override get stderr(): ReadableStream<Uint8Array> {
    this.#check(false);
    return super.stderr;
  }

  /**
   * Sends the sandbox's first process a signal.
   *
   * @param signal A name (`"SIGTERM"`, the default) or number.
   * @throws {SandboxStateError} When the sandbox has ended.
   */
  override kill(signal: Deno.Signal | number = "SIGTERM"): void {
    this.#check();
    super.kill(signal);
  }

  /**
   * Runs another process in the sandbox, by default as its first one runs
   * (environment, working directory, user).
   *
   * @param args The program and its arguments.
   * @param options Changes to the environment, directory, user, stdio.
   * @returns The process.
   * @throws {SandboxStartError} When it could not start (no such program).
   *
   * @example
   * ```ts
   * import { Sandbox } from "../mod.ts";
   * await using sb = await Sandbox.create({ rootfs: "host", args: ["sleep", "60"] });
   * const p = await sb.exec(["sh", "-c", "echo $X"], { env: { X: "exec'd" } });
   * const out = await p.output();
   * if (new TextDecoder().decode(out.stdout) !== "exec'd\n") throw new Error();
   * ```
   */
  async exec(args: string[], options: ExecOptions = {}): Promise<SandboxProcess> {
    this.#check();
    const base = this.#options;
    const o: ProcessOptions = {
      args,
      env: options.env ?? base.env ?? {},
      ...(options.cwd ?? base.cwd ? { cwd: options.cwd ?? base.cwd } : {}),
      ...(options.user ?? base.user ? { user: options.user ?? base.user } : {}),
      ...(options.stdin ? { stdin: options.stdin } : {}),
      ...(options.stdout ? { stdout: options.stdout } : {}),
      ...(options.stderr ? { stderr: options.stderr } : {}),
    };
    checkProcessOptions(o);
    const proc = parseProcess(specProcess(o, base.rootfs === "host" ? Deno.cwd() : "/"));
    const stdio = await Stdio.open([o.stdin ?? "piped", o.stdout ?? "piped", o.stderr ?? "piped"]);
    let pid: number;
    try {
      ({ pid } = this.#call(METHOD.executeAsync, processObject(proc), stdio.child) as {
        pid: number;
      });
    } catch (e) {
      await stdio.close();
      if (e instanceof SandboxError) throw e;
      throw new SandboxStartError(e instanceof Error ? e.message : String(e));
    } finally {
      stdio.passed();
    }
    const socket = this.#store.socket(this.id);
    const ended = callSandboxAsync(socket, METHOD.waitPid, { pid }).then(
      (r) => statusOf((r as { status: number }).status),
      // The sandbox ended, and the process with it (SIGKILL, as a pid namespace's).
      () => statusOf(9),
    );
    const p = new SandboxProcess(pid, stdio, {
      signal(signo) {
        try {
          callSandbox(socket, METHOD.signal, { signo, mode: "process", pid });
        } catch (e) {
          if (!(e instanceof SandboxGone)) throw e;
        }
      },
      ended,
    });
    this.#execs.push(p);
    return p;
  }

  /**
   * Stops every process of the sandbox where it is.
   *
   * @throws {SandboxStateError} When it is paused already or has ended.
   */
  pause(): Promise<void> {
    return this.#pauseOrResume("pause");
  }

  /**
   * Lets a paused sandbox go on.
   *
   * @throws {SandboxStateError} When it is not paused.
   */
  resume(): Promise<void> {
    return this.#pauseOrResume("resume");
  }

  async #pauseOrResume(verb: "pause" | "resume"): Promise<void> {
    this.#check();
    const [from, to] = verb === "pause" ? ["running", "paused"] : ["paused", "running"];
    await this.#store.locked(this.id, () => {
      const s = this.#store.read(this.id);
      if (s.status !== from) {
        throw new SandboxStateError(`Cannot ${verb} sandbox ${this.id}: it is ${s.status}`);
      }
      this.#call(verb === "pause" ? METHOD.pause : METHOD.resume);
      this.#store.write({ ...s, status: to as "paused" | "running" });
    });
  }

  /**
   * What the sandbox uses of the host now: from its host cgroup when it
   * has limits, otherwise the container's processes as the Sentry counts
   * them plus the sandbox's own two processes.
   *
   * @returns CPU, memory and process counts.
   *
   * @example
   * ```ts
   * import { Sandbox } from "../mod.ts";
   * await using sb = await Sandbox.create({
   *   rootfs: "host",
   *   args: ["sleep", "60"],
   *   limits: { pids: 32 },
   * });
   * const s = await sb.stats();
   * if (s.pids < 1 || s.memoryBytes <= 0 || (Deno.uid() === 0 && s.pidsLimit !== 32)) {
   *   throw new Error(JSON.stringify(s));
   * }
   * ```
   */
  // deno-lint-ignore require-await
  async stats(): Promise<SandboxStats> {
    this.#check();
    let data: { [key: string]: BigJson };
    try {
      data = containerStats(this.#state, this.#store.socket(this.id));
    } catch (e) {
      if (e instanceof SandboxGone) throw endedError(this.id);
      throw e;
    }
    const get = (...path: string[]): bigint => {
      let v: BigJson | undefined = data;
      for (const k of path) v = (v as { [key: string]: BigJson } | undefined)?.[k];
      return typeof v === "bigint" ? v : BigInt(typeof v === "number" ? v : 0);
    };
    const limit = (v: bigint) => (v === 0n || v >= UNLIMITED ? null : Number(v));
    // Without a host cgroup the Sentry counts its container's processes:
    // add the sandbox's own two processes, as a cgroup would.
    const own = this.#state.cgroup
      ? { userNs: 0, systemNs: 0, rssBytes: 0 }
      : hostUsage([this.#launched.boot.pid, this.#launched.gofer.pid]);
    return {
      cpuNs: Number(get("cpu", "usage", "total")) + own.userNs + own.systemNs,
      memoryBytes: Number(get("memory", "usage", "usage")) + own.rssBytes,
      memoryLimitBytes: limit(get("memory", "usage", "limit")),
      pids: Number(get("pids", "current")),
      pidsLimit: limit(get("pids", "limit")),
    };
  }

  /**
   * Stops the sandbox (every process in it) and removes what it left on
   * the host: its state, its cgroup, its private state directory. Safe to
   * call twice; the `await using` form calls it.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const { boot, gofer } = this.#launched;
    try {
      // The sandbox process is its pid namespace's init: every process goes with it.
      boot.kill(9);
    } catch { /* gone */ }
    await this.status.catch(() => {});
    await Promise.all(this.#execs.map((p) => p.status));
    closeQuietly(this.#launched.controlWrite ?? -1);
    boot.close();
    gofer.close();
    await Promise.all([this, ...this.#execs].map((p) => p.closeStdio()));
    const logger = new Logger({});
    await this.#store.locked(this.id, () => removeContainer(this.#store, this.id, logger));
    if (this.#ownRoot) await Deno.remove(this.#store.root, { recursive: true });
  }

  /** Same as {@linkcode Sandbox.dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * Reads the report pipe's first line (ready, or why the sandbox stopped).
 *
 * @param report The report pipe.
 * @returns The line, or null when the pipe closed or nothing came in time.
 */
async function firstLine(
  report: Deno.FsFile,
): Promise<{ ready?: boolean; message?: string } | null> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) => timer = setTimeout(() => r(null), READY_TIMEOUT_MS));
  try {
    for (;;) {
      const n = await Promise.race([report.read(buf), timeout]);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      if (buf.subarray(0, n).includes(10)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  return reportLines(bytes)[0] ?? null;
}

/**
 * The first process's end: the sandbox process exits with it, having
 * written the wait status to the exit file; if it wrote none, the sandbox
 * itself failed and the promise rejects with why.
 */
async function waitForEnd(
  launched: LaunchedSandbox,
  report: Deno.FsFile,
  exitFile: string,
  cgroup: Parameters<typeof oomExplanation>[0],
): Promise<SandboxStatus> {
  const boot = await launched.boot.wait();
  const gofer = await launched.gofer.wait();
  const rest = new Uint8Array(await new Response(report.readable).arrayBuffer());
  const text = await Deno.readTextFile(exitFile).catch(() => "");
  if (text.trim()) return statusOf(Number(text.trim()));
  const failure = reportLines(rest).find((l) => !l.ready);
  const goferDied = gofer.code !== 0 || gofer.signal !== null;
  const oom = oomExplanation(cgroup);
  // Killed (by dispose, or from outside) with everything in it: its processes died of that signal.
  if (boot.signal !== null && !failure && !goferDied && !oom) return statusOf(boot.signal);
  const why = failure?.message ?? oom ??
    (goferDied
      ? "the gofer died: the sandbox was stopped"
      : `the sandbox process ended (${
        boot.signal !== null ? `signal ${boot.signal}` : `exit code ${boot.code}`
      }) without its first process's status`);
  throw new SandboxError(`The sandbox failed: ${why}`);
}
