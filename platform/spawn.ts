/**
 * Starts a child process in new namespaces without running JavaScript in the
 * child: the options become a table of system calls that the clone runner
 * (asm/native.S) executes between clone(2) and execve(2).
 *
 * A step that fails is reported as a {@linkcode SpawnError} naming the step
 * and its errno (`execve: ENOENT`), and the child is reaped before the error
 * is thrown, so nothing is left behind.
 *
 * @module
 */
import { Arena } from "./arena_unsafe.ts";
import { CAP_LAST } from "./caps.ts";
import { Errno } from "./errno.ts";
import { closeQuietly, dupFd, O, openFile, pipe, readFd, setNonblocking, writeFd } from "./fd.ts";
import { native } from "./native_unsafe.ts";
import {
  type ExitStatus,
  pidfdSignal,
  tryWaitPidfd,
  waitPidfdAsync,
  waitPidfdSync,
} from "./pidfd.ts";
import { socketPair } from "./socket.ts";
import { type StepTable, TABLE } from "./spawn_table.ts";
import {
  idMapText,
  namespaceFlags,
  parentWritesMaps,
  planSpawn,
  type SpawnOptions,
  validateSpawnOptions,
} from "./spawn_plan.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";

export type {
  CapabilitySets,
  IdMapping,
  MountSpec,
  Namespace,
  Rlimit,
  SpawnOptions,
} from "./spawn_plan.ts";
export { MS } from "./spawn_plan.ts";

const CLONE_VM = 0x100n;
const CLONE_VFORK = 0x4000n;
const CLONE_PIDFD = 0x1000n;
const SIGCHLD = 17n;
const SIGKILL = 9;
const VFORK_STACK = 16384;

/**
 * A step of the spawn failed in the child.
 *
 * @example
 * ```ts
 * import { spawn, SpawnError } from "./spawn.ts";
 * try {
 *   spawn({ path: "/nonexistent", args: ["x"] });
 * } catch (e) {
 *   if (!(e instanceof SpawnError) || e.step !== "execve" || e.code !== "ENOENT") throw e;
 * }
 * ```
 */
export class SpawnError extends Errno {
  /** The failing step (`execve`, `mount /proc`, `sethostname`). */
  readonly step: string;

  /**
   * Makes the error.
   *
   * @param errno The step's errno.
   * @param step The step's name.
   * @param program What was being started.
   */
  constructor(errno: number, step: string, program: string) {
    super(errno, step);
    this.name = "SpawnError";
    this.step = step;
    this.message = `Cannot start ${program}: ${this.message}`;
  }
}

/**
 * A started child process, held by its pidfd.
 *
 * Dispose it (`using child = spawn(...)`) to kill and reap it if it still
 * runs and close its descriptors.
 */
export class Child {
  /** Host process id. */
  readonly pid: number;
  /** pidfd of the child (close-on-exec). */
  readonly pidfd: number;
  #failFd: number;
  #steps: StepTable;
  #program: string;
  #status: ExitStatus | null = null;
  #waiting: Promise<ExitStatus> | null = null;
  #closed = false;

  /** @internal Made by {@linkcode spawn}. */
  constructor(
    pid: number,
    pidfd: number,
    failFd: number,
    steps: StepTable,
    program: string,
  ) {
    this.pid = pid;
    this.pidfd = pidfd;
    this.#failFd = failFd;
    this.#steps = steps;
    this.#program = program;
  }

  /** How the child ended, once it has been reaped. */
  get status(): ExitStatus | null {
    return this.#status;
  }

  /**
   * Returns the step that failed, for a child that stopped before execve
   * and then exited: its report is read without blocking.
   *
   * @returns The failure, or null if there was none (yet).
   */
  failure(): SpawnError | null {
    if (this.#failFd < 0) return null;
    const report = new Uint8Array(16);
    let got: number;
    try {
      setNonblocking(this.#failFd, true);
      got = readFd(this.#failFd, report);
    } catch {
      return null;
    }
    return got === 16 ? decodeFailure(report, this.#steps, this.#program) : null;
  }

  /**
   * Waits for the child to exit and reaps it.
   *
   * @returns How it ended.
   */
  wait(): Promise<ExitStatus> {
    if (this.#status) return Promise.resolve(this.#status);
    // Every caller shares one waitid: a second would find nothing to reap.
    this.#waiting ??= waitPidfdAsync(this.pidfd).then((st) => (this.#status = st));
    return this.#waiting;
  }

  /**
   * Waits for the child to exit and reaps it, blocking this thread.
   *
   * @returns How it ended.
   */
  waitSync(): ExitStatus {
    if (!this.#status) this.#status = waitPidfdSync(this.pidfd);
    return this.#status;
  }

  /**
   * Reaps the child if it has exited.
   *
   * @returns How it ended, or null while it runs.
   */
  tryWait(): ExitStatus | null {
    if (!this.#status) this.#status = tryWaitPidfd(this.pidfd);
    return this.#status;
  }

  /**
   * Sends a signal (through the pidfd, so never to a reused pid).
   *
   * @param signal The signal number; SIGKILL by default.
   * @throws {Errno} ESRCH if the child was already reaped.
   */
  kill(signal = SIGKILL): void {
    pidfdSignal(this.pidfd, signal);
  }

  /**
   * Closes the child's descriptors without killing or reaping it, for a
   * child that another party (a tracer) waits for.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.pidfd);
    closeQuietly(this.#failFd);
    this.#failFd = -1;
  }

  /** Kills the child if it runs, reaps it, and closes its descriptors. */
  [Symbol.dispose](): void {
    if (this.#closed) return;
    if (!this.#status) {
      try {
        this.kill(SIGKILL);
      } catch { /* already dead */ }
      try {
        this.waitSync();
      } catch { /* reaped elsewhere (a tracer) */ }
    }
    this.close();
  }
}

function decodeFailure(
  report: Uint8Array,
  steps: StepTable,
  program: string,
): SpawnError {
  const v = new DataView(report.buffer, report.byteOffset, 16);
  return new SpawnError(
    Number(v.getBigUint64(8, true)),
    steps.name(Number(v.getBigUint64(0, true))),
    program,
  );
}

let lastCapCache: number | undefined;

function kernelLastCap(): number {
  if (lastCapCache === undefined) {
    try {
      lastCapCache = Math.min(
        CAP_LAST,
        Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim()),
      );
    } catch {
      lastCapCache = CAP_LAST;
    }
  }
  return lastCapCache;
}

/**
 * Starts a child process as the options say.
 *
 * Without `trace: "stop"` or `execute: false` this returns once the child
 * has called execve, so a returned child is running the program; a failing
 * step throws a {@linkcode SpawnError} after the child was reaped. With
 * them it returns once the child was created; a step failing later shows as
 * exit code 127 and {@linkcode Child.failure}.
 *
 * In vfork mode (the default) the calling thread is suspended until the
 * child calls execve, as with posix_spawn. Fork mode, chosen automatically
 * when the parent must act before execve (writing id maps as root, a
 * child that stops), copies the process's page tables instead.
 *
 * @param options What to start.
 * @returns The child.
 * @throws {TypeError | RangeError} For invalid options, before anything runs.
 * @throws {SpawnError} When a step fails in the child.
 * @throws {Errno} When the parent's part fails (clone, writing id maps).
 *
 * @example
 * ```ts
 * import { spawn } from "./spawn.ts";
 * using child = spawn({ path: "/bin/true", args: ["true"] });
 * if (child.waitSync().code !== 0) throw new Error();
 * ```
 */
export function spawn(options: SpawnOptions): Child {
  validateSpawnOptions(options);
  const o = options;
  const euid = Number(syscall(SYS.geteuid));
  const egid = Number(syscall(SYS.getegid));
  const byParent = parentWritesMaps(o, euid, egid);
  const stops = o.trace === "stop" || o.execute === false;
  const mode = o.mode ?? (byParent || stops ? "fork" : "vfork");
  if (mode === "vfork" && (byParent || stops)) {
    throw new RangeError(
      byParent
        ? "The parent writes these id maps, which vfork mode cannot wait for: use fork mode"
        : "A child that stops before execve would hang vfork mode: use fork mode",
    );
  }
  const program = o.path ??
    (o.executableFd !== undefined ? `descriptor ${o.executableFd}` : o.args[0]!);
  const fds = o.fds ?? [[0, 0], [1, 1], [2, 2]];
  const base = Math.max(3, ...fds.map(([c]) => c + 1));

  const parentCopies: number[] = [];
  const high = (fd: number) => {
    const h = dupFd(fd, base);
    parentCopies.push(h);
    return h;
  };
  let failRead = -1;
  let pidfd = -1;
  let sync: [number, number] | undefined;
  const arena = new Arena(256 * 1024);
  try {
    const [r, w] = pipe();
    failRead = r;
    parentCopies.push(w);
    const errfd = high(w);
    const fdSources = new Map(
      fds.map(([child, parent]) => [child, high(parent)]),
    );
    let syncFd: number | undefined;
    if (byParent) {
      sync = socketPair();
      syncFd = high(sync[1]);
    }
    const steps = planSpawn(o, arena, {
      errfd,
      ...(syncFd !== undefined ? { syncFd } : {}),
      fdSources,
      ...(o.executableFd !== undefined ? { execFd: high(o.executableFd) } : {}),
      lastCap: kernelLastCap(),
      parentWritesMaps: byParent,
      euid,
      egid,
    });
    let cloneFlags = namespaceFlags(o.namespaces ?? []) | CLONE_PIDFD | SIGCHLD;
    let stack = 0n;
    if (mode === "vfork") {
      cloneFlags |= CLONE_VM | CLONE_VFORK;
      stack = arena.addr(arena.alloc(VFORK_STACK, 16) + VFORK_STACK);
    }
    const table = steps.write(arena, { cloneFlags, stack, errfd });
    const pid = checked(native().run(arena.addr(table)), "clone");
    pidfd = arena.view.getInt32(table + TABLE.pidfd, true);
    parentCopies.splice(0).forEach(closeQuietly);
    if (sync) {
      closeQuietly(sync[1]);
      writeIdMaps(pid, o, sync[0], euid, egid);
    }
    if (!stops) {
      const report = readReport(failRead);
      if (report) throw decodeFailure(report, steps, program);
      closeQuietly(failRead);
      failRead = -1;
    }
    const child = new Child(pid, pidfd, failRead, steps, program);
    pidfd = -1;
    failRead = -1;
    return child;
  } finally {
    parentCopies.forEach(closeQuietly);
    if (sync) sync.forEach(closeQuietly);
    closeQuietly(failRead);
    if (pidfd >= 0) {
      try {
        pidfdSignal(pidfd, SIGKILL);
      } catch { /* it already exited */ }
      try {
        waitPidfdSync(pidfd);
      } catch { /* nothing to reap */ }
      closeQuietly(pidfd);
    }
    arena.dispose();
  }
}

/** Reads the child's failure report: 16 bytes, or null at EOF (execve happened). */
function readReport(fd: number): Uint8Array | null {
  const report = new Uint8Array(16);
  let got = 0;
  while (got < 16) {
    let n: number;
    try {
      n = readFd(fd, report.subarray(got));
    } catch (e) {
      if (e instanceof Errno && e.code === "EINTR") continue;
      throw e;
    }
    if (n === 0) break;
    got += n;
  }
  return got === 16 ? report : null;
}

/** Waits for the child's request, writes its id maps, and lets it go on. */
function writeIdMaps(
  pid: number,
  o: SpawnOptions,
  sync: number,
  euid: number,
  egid: number,
): void {
  const byte = new Uint8Array(1);
  if (readFd(sync, byte) !== 1) return; // the child failed first; its report says why
  if (euid === 0) {
    writeProcFile(`/proc/${pid}/uid_map`, idMapText(o.uidMappings, euid));
    writeProcFile(`/proc/${pid}/gid_map`, idMapText(o.gidMappings, egid));
  } else {
    // Ids beyond one's own: only the setuid helpers may map them, each
    // checking /etc/subuid or /etc/subgid.
    mapThroughHelper("newuidmap", pid, idMapText(o.uidMappings, euid));
    mapThroughHelper("newgidmap", pid, idMapText(o.gidMappings, egid));
  }
  writeFd(sync, byte);
}

/** Runs newuidmap or newgidmap for `pid` with the ranges of a map's text. */
function mapThroughHelper(helper: string, pid: number, text: string): void {
  const args = [String(pid), ...text.trim().split(/\s+/)];
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(helper, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .outputSync();
  } catch {
    throw new Error(
      `Cannot run ${helper}: mapping subordinate ids needs it (Debian: apt-get install uidmap)`,
    );
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
    throw new Error(
      `${helper} refused the mappings (${why}): give ranges your /etc/subuid and /etc/subgid allow`,
    );
  }
}

function writeProcFile(path: string, text: string): void {
  const fd = openFile(path, O.WRONLY);
  try {
    writeFd(fd, new TextEncoder().encode(text));
  } finally {
    closeQuietly(fd);
  }
}
