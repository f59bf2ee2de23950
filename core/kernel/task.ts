/**
 * Processes (thread groups) and tasks (threads): what the Sentry knows of
 * everything running in a sandbox.
 *
 * A task is a host thread of a stub; its tid is its host pid in the
 * sandbox's pid namespace. A process is the stub process holding the
 * address space, the descriptor table, the file system context, the
 * credentials and the signal dispositions its threads share.
 *
 * @module
 */
import { noUsage, type Rusage } from "./rusage.ts";
import type { SeccompProfile } from "../boot/oci_seccomp.ts";
import type { TtyState } from "../vfs/host_tty.ts";
import { WaitQueue } from "../errors.ts";
import type { FdTable } from "../vfs/fd_table.ts";
import type { MountNamespace, VPath } from "../vfs/mount.ts";
import type { Credentials } from "./creds.ts";
import { type PendingSignal, SIG_DFL, type SigAction } from "./signals.ts";

/** Root, working directory and umask (shared by CLONE_FS threads). */
export interface FsContext {
  /** The root directory. */
  root: VPath;
  /** The working directory. */
  cwd: VPath;
  /** The umask. */
  umask: number;
}

/** RLIMIT_* numbers. */
export const RLIMIT = {
  CPU: 0,
  FSIZE: 1,
  DATA: 2,
  STACK: 3,
  CORE: 4,
  RSS: 5,
  NPROC: 6,
  NOFILE: 7,
  MEMLOCK: 8,
  AS: 9,
  LOCKS: 10,
  SIGPENDING: 11,
  MSGQUEUE: 12,
  NICE: 13,
  RTPRIO: 14,
  RTTIME: 15,
} as const;

/** RLIM_INFINITY. */
export const RLIM_INFINITY = 0xffffffffffffffffn;

/** A limit pair. */
export interface Rlimit {
  /** Soft limit. */
  cur: bigint;
  /** Hard limit. */
  max: bigint;
}

/**
 * Linux's defaults for a new init (as a container runtime starts it).
 *
 * @returns The limits by resource number.
 */
export function defaultRlimits(): Rlimit[] {
  const inf = { cur: RLIM_INFINITY, max: RLIM_INFINITY };
  const r: Rlimit[] = Array.from({ length: 16 }, () => ({ ...inf }));
  r[RLIMIT.STACK] = { cur: 8n << 20n, max: RLIM_INFINITY };
  r[RLIMIT.CORE] = { cur: 0n, max: RLIM_INFINITY };
  r[RLIMIT.NOFILE] = { cur: 1024n, max: 1048576n };
  r[RLIMIT.MEMLOCK] = { cur: 8n << 20n, max: 8n << 20n };
  r[RLIMIT.NPROC] = { cur: 63304n, max: 63304n };
  r[RLIMIT.SIGPENDING] = { cur: 63304n, max: 63304n };
  r[RLIMIT.MSGQUEUE] = { cur: 819200n, max: 819200n };
  r[RLIMIT.NICE] = { cur: 0n, max: 0n };
  r[RLIMIT.RTPRIO] = { cur: 0n, max: 0n };
  return r;
}

/** What the process's address space looks like to the Sentry. */
export interface AddressSpaceInfo {
  /** Start of the heap (after the program's data). */
  brkStart: bigint;
  /** Current program break. */
  brk: bigint;
  /** End of the heap mapping currently reserved. */
  brkMapped: bigint;
  /** The vDSO, given to the program in AT_SYSINFO_EHDR. */
  vdso: bigint;
  /** Start and end of the argument strings (/proc/PID/cmdline). */
  argStart: bigint;
  argEnd: bigint;
  /** Start and end of the environment strings. */
  envStart: bigint;
  envEnd: bigint;
  /** Top of the main thread's stack. */
  stackTop: bigint;
  /** Where argc is, the initial stack pointer (/proc/PID/stat's startstack). */
  startStack: bigint;
  /** The program's code and data, as Linux's ELF loader records them (/proc/PID/stat, statm). */
  codeStart: bigint;
  codeEnd: bigint;
  dataStart: bigint;
  dataEnd: bigint;
  /** The auxiliary vector given to the program, AT_NULL included (/proc/PID/auxv). */
  auxv: Uint8Array;
}

/**
 * The layout of a process that has not run a program yet.
 *
 * @returns All zero.
 */
export function emptyLayout(): AddressSpaceInfo {
  return {
    brkStart: 0n,
    brk: 0n,
    brkMapped: 0n,
    vdso: 0n,
    argStart: 0n,
    argEnd: 0n,
    envStart: 0n,
    envEnd: 0n,
    stackTop: 0n,
    startStack: 0n,
    codeStart: 0n,
    codeEnd: 0n,
    dataStart: 0n,
    dataEnd: 0n,
    auxv: new Uint8Array(0),
  };
}

/** A process: a thread group. */
export class Process {
  /** Host pid of the stub process (what host tgkill needs; stays when the leader changes). */
  hostTgid = 0;
  /** Process id (the leader's tid). */
  readonly pid: number;
  /** The parent, null for the sandbox's init. */
  parent: Process | null;
  /** Living and zombie children. */
  readonly children = new Set<Process>();
  /** Its threads by tid. */
  readonly threads = new Map<number, Task>();
  /** Process group id. */
  pgid: number;
  /** Session id. */
  sid: number;
  /** The controlling terminal (a host terminal's Sentry-side state), if any. */
  ctty: TtyState | null = null;
  /** Descriptors. */
  fds: FdTable;
  /** Root, cwd, umask. */
  fs: FsContext;
  /** The mount namespace its paths resolve in (its container's). */
  ns: MountNamespace;
  /** The container it belongs to (its init's; the root container is ""). */
  container: string;
  /** Its container's seccomp profile (linux.seccomp), applied before every call's handler. */
  seccomp: SeccompProfile | null;
  /** Credentials. */
  creds: Credentials;
  /** Dispositions, indexed by signal number. */
  sigactions: SigAction[];
  /** Signals sent to the process, not yet taken by a thread. */
  readonly pending: PendingSignal[] = [];
  /** Resource limits. */
  rlimits: Rlimit[];
  /** The address space. */
  mm: AddressSpaceInfo;
  /** The executable's path (/proc/PID/exe). */
  exe = "";
  /** Where the executable is (a VPath), for following /proc/PID/exe. */
  exeLocation: unknown = null;
  /** argv and environment of the last execve. */
  argv: string[] = [];
  env: string[] = [];
  /** Wait status once it exited (a zombie), else null. */
  exitStatus: number | null = null;
  /** The status to report once every thread is gone (exit_group, a fatal signal). */
  pendingExitStatus: number | null = null;
  /** Notified when a child changes state (exits, stops, continues). */
  readonly childEvents = new WaitQueue();
  /** Children that stopped or continued and were not yet reported by wait. */
  readonly childReports = new Map<Process, { status: number; code: number }>();
  /** Stopped by a stop signal (job control). */
  stopped = false;
  /** PR_SET_CHILD_SUBREAPER. */
  subreaper = false;
  /** PR_SET_NO_NEW_PRIVS. */
  noNewPrivs = false;
  /** /proc/PID/oom_score_adj (inherited by children). */
  oomScoreAdj = 0;
  /** Start time (ms since the sandbox's boot), for /proc/PID/stat. */
  readonly startMs: number;
  /** The signal the parent gets when this process exits (clone's low byte; SIGCHLD). */
  exitSignal = 17;
  /** A vfork parent waiting for this child to exec or exit. */
  vforkParent: Task | null = null;
  /**
   * vfork ran as fork: the part of the parent's stack the child could
   * write (from the parent's stack pointer to the end of its mapping),
   * copied back to the parent when the child execs or exits, so that what
   * a vfork child stores there (posix_spawn's error) reaches the parent.
   */
  vforkStack: { start: bigint; end: bigint } | null = null;
  /** The real uid changed to a user over RLIMIT_NPROC: the next execve checks again. */
  nprocExceeded = false;
  /** What the children it waited for used, theirs included (RUSAGE_CHILDREN, times(2)). */
  childUsage: Rusage = noUsage();
  /** Its read and write calls and their bytes (/proc/PID/io; a fork starts at zero). */
  readonly io = { rchar: 0, wchar: 0, syscr: 0, syscw: 0 };
  /** What it used itself, taken when it exited. */
  exitUsage: Rusage | null = null;

  /**
   * Makes a process.
   *
   * @param init Its fields.
   */
  constructor(init: {
    pid: number;
    parent: Process | null;
    pgid: number;
    sid: number;
    fds: FdTable;
    fs: FsContext;
    ns: MountNamespace;
    container: string;
    seccomp: SeccompProfile | null;
    creds: Credentials;
    sigactions?: SigAction[];
    rlimits: Rlimit[];
    mm: AddressSpaceInfo;
    startMs: number;
  }) {
    this.pid = init.pid;
    this.parent = init.parent;
    this.pgid = init.pgid;
    this.sid = init.sid;
    this.fds = init.fds;
    this.fs = init.fs;
    this.ns = init.ns;
    this.container = init.container;
    this.seccomp = init.seccomp;
    this.creds = init.creds;
    this.sigactions = init.sigactions ??
      Array.from({ length: 65 }, () => ({ handler: SIG_DFL, flags: 0, restorer: 0n, mask: 0n }));
    this.rlimits = init.rlimits;
    this.mm = init.mm;
    this.startMs = init.startMs;
  }

  /** The thread whose tid is the pid. */
  get leader(): Task | undefined {
    return this.threads.get(this.pid);
  }

  /** The name shown by ps (the leader's comm). */
  get comm(): string {
    return this.leader?.comm ?? this.threads.values().next().value?.comm ?? "";
  }
}

/** Why a task is not running application code. */
export type TaskState =
  /** Running (or runnable) on the host. */
  | "running"
  /** Stopped at a system call the Sentry is serving. */
  | "syscall"
  /** Parked in a Sentry system call until something happens. */
  | "blocked"
  /** Stopped by job control. */
  | "stopped"
  /** Held by `dvisor pause` until resume. */
  | "paused"
  /** Exiting; gone soon. */
  | "exiting";

/** A parked system call. */
export interface Blocked {
  /** Runs the system call again (from its start). */
  retry(): void;
  /** Stops waiting (the queues' subscriptions and any timer). */
  cancel(): void;
  /** The system call number, for restart decisions. */
  nr: number;
}

/** A thread. */
export class Task {
  /** Thread id (its host pid in the sandbox's pid namespace; after a non-leader execve, the pid). */
  tid: number;
  /** Its process. */
  process: Process;
  /** Blocked signals. */
  sigmask = 0n;
  /** Signals sent to this thread. */
  readonly pending: PendingSignal[] = [];
  /** What it is doing. */
  state: TaskState = "running";
  /** Its parked system call. */
  blocked: Blocked | null = null;
  /** The alternate signal stack. */
  altstack = { sp: 0n, size: 0n, flags: 2 /* SS_DISABLE */ };
  /** rt_sigsuspend/ppoll: the mask to restore after a handler runs. */
  savedMask: bigint | null = null;
  /** Name (prctl PR_SET_NAME, /proc/PID/comm). */
  comm = "";
  /** PR_SET_PDEATHSIG. */
  pdeathsig = 0;
  /** The Sentry sent a host signal to stop it for a signal delivery. */
  interruptRequested = false;
  /** The task called vfork, which runs as fork: it waits for the child to exec or exit. */
  vforkWaiting = false;
  /** clone flags of a fork or clone the host is running for this task. */
  pendingCloneFlags = 0n;
  /** State a parked system call keeps between its retries (a sleep's deadline); cleared when the call ends. */
  syscallState: unknown = null;
  /** Runs when a parked call ends with EINTR (nanosleep writes the time left). */
  onEintr: (() => void) | null = null;
  /** Notified whenever a signal is sent to this task or its process (sigtimedwait). */
  readonly signalArrived = new WaitQueue();

  /**
   * Makes a task.
   *
   * @param tid Its tid.
   * @param process Its process.
   */
  constructor(tid: number, process: Process) {
    this.tid = tid;
    this.process = process;
  }
}
