/**
 * What {@linkcode spawn} can be asked to do, the checks on it, and how it
 * becomes the step table the clone runner executes in the child.
 *
 * Step order in the child (each optional): reset signal handlers -> parent
 * death signal -> join cgroups -> join a network namespace -> oom_score_adj -> descriptors into place -> user namespace maps -> session and
 * controlling terminal -> hostname -> mounts and pivot_root -> cwd -> rlimits ->
 * bounding set -> groups, gid, uid -> capabilities -> no_new_privs -> mark
 * other descriptors close-on-exec -> PTRACE_TRACEME (and stop) -> unblock
 * signals -> seccomp -> execve (or stop).
 *
 * @module
 */
import { signalMask } from "./signalfd.ts";
import type { Arena } from "./arena_unsafe.ts";
import { CAPABILITIES, capabilityMask } from "./caps.ts";
import { cString, fdArg, intArg } from "./checks.ts";
import { O } from "./fd.ts";
import { StepTable } from "./spawn_table.ts";
import { SYS } from "./sysno.ts";

/** Namespaces a child can be given. */
export type Namespace =
  | "user"
  | "pid"
  | "mount"
  | "uts"
  | "ipc"
  | "net"
  | "cgroup";

const NAMESPACE_FLAGS: Record<Namespace, bigint> = {
  mount: 0x00020000n,
  cgroup: 0x02000000n,
  uts: 0x04000000n,
  ipc: 0x08000000n,
  user: 0x10000000n,
  pid: 0x20000000n,
  net: 0x40000000n,
};

/** mount(2) flags. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
} as const;

/** One line of a user namespace's uid or gid map. */
export interface IdMapping {
  /** First id inside the namespace. */
  containerId: number;
  /** First id outside it. */
  hostId: number;
  /** How many ids. */
  size: number;
}

/** A mount made in the child's mount namespace. */
export interface MountSpec {
  /** What to mount (device, directory to bind, or a name like `proc`). */
  source?: string;
  /** Where; inside `rootfs` when one is given, else an absolute path. */
  target: string;
  /** File system type (`proc`, `tmpfs`); none for a bind mount. */
  type?: string;
  /** `MS.*` flags. A bind mount with RDONLY/NOSUID/NODEV/NOEXEC is remounted. */
  flags?: number;
  /** File system options (`size=64k,mode=755`). */
  data?: string;
  /** Create the target directory first (an existing one is fine). */
  mkdir?: boolean;
}

/** A resource limit (`prlimit64`). */
export interface Rlimit {
  /** `RLIMIT_*` number (RLIMIT_NOFILE is 7). */
  resource: number;
  /** Soft limit. */
  soft: bigint;
  /** Hard limit. */
  hard: bigint;
}

/** Capability sets, as lists of capability numbers (see caps.ts). */
export interface CapabilitySets {
  /** Capabilities kept in the bounding set; every other one is dropped. */
  bounding?: number[];
  /** Effective set. */
  effective?: number[];
  /** Permitted set. */
  permitted?: number[];
  /** Inheritable set. */
  inheritable?: number[];
  /** Ambient set (each must be permitted and inheritable). */
  ambient?: number[];
}

/** What to start and how. */
export interface SpawnOptions {
  /** The program to execute (unless `executableFd` or `execute: false`). */
  path?: string;
  /** A descriptor of the program, run with execveat (a memfd, for example). */
  executableFd?: number;
  /** argv, including argv[0]. */
  args: string[];
  /** Environment as `KEY=value` strings; empty when not given. */
  env?: string[];
  /** New namespaces. */
  namespaces?: Namespace[];
  /** uid map of the new user namespace. */
  uidMappings?: IdMapping[];
  /** gid map of the new user namespace. */
  gidMappings?: IdMapping[];
  /** Hostname in the new UTS namespace. */
  hostname?: string;
  /** NIS domain name in the new UTS namespace. */
  domainname?: string;
  /** Directory that becomes the child's root (pivot_root); needs "mount". */
  rootfs?: string;
  /**
   * An existing directory to mount an empty, read-only tmpfs on and make the
   * child's root, so that it sees no file at all (stubs); needs "mount",
   * excludes `rootfs` and `mounts`.
   */
  emptyRootAt?: string;
  /** Signals whose disposition is SIG_IGN in the child (kept across execve). */
  ignoredSignals?: number[];
  /**
   * Signals blocked in the child (the mask is kept across execve, and every
   * thread the program starts inherits it): for a program that takes them
   * from a signalfd. Everything else is unblocked.
   */
  blockedSignals?: number[];
  /** Mounts, made before the pivot; need "mount". */
  mounts?: MountSpec[];
  /** Working directory (after the pivot). */
  cwd?: string;
  /** Identity to switch to. */
  user?: { uid: number; gid: number; groups?: number[] };
  /** Capability sets. */
  capabilities?: CapabilitySets;
  /** Resource limits. */
  rlimits?: Rlimit[];
  /** Set no_new_privs. */
  noNewPrivileges?: boolean;
  /** A seccomp filter installed just before execve. */
  seccomp?: {
    /** The compiled program (8-byte sock_filter entries). */
    program: Uint8Array;
    /** seccomp(2) flags. */
    flags?: number;
    /**
     * With SECCOMP_FILTER_FLAG_NEW_LISTENER: the child-side descriptor of a
     * unix socket over which the child sends the listener to the parent
     * (the child closes both afterwards).
     */
    sendListenerOn?: number;
  };
  /** Descriptors of the child: `[child fd, parent fd]`. Only these stay open; default stdio. */
  fds?: ReadonlyArray<readonly [number, number]>;
  /** Start a new session. */
  setsid?: boolean;
  /** A child descriptor (after `fds`) to make the controlling terminal; implies setsid. */
  controllingTerminal?: number;
  /** Signal sent to the child when the spawning thread dies. */
  parentDeathSignal?: number;
  /**
   * `cgroup.procs` files the child writes itself into first: it (and all
   * it starts) is in those cgroups before it runs anything.
   */
  joinCgroups?: string[];
  /**
   * The network namespace the child joins (a path such as
   * /var/run/netns/NAME or /proc/PID/ns/net), before anything else that
   * namespace affects; not with a new "net" namespace.
   */
  joinNetwork?: string;
  /**
   * The child's oom_score_adj (-1000 to 1000), set before it runs anything;
   * a value under the current one needs CAP_SYS_RESOURCE, else it stays.
   */
  oomScoreAdj?: number;
  /** `traceme`: PTRACE_TRACEME; `stop`: also stop before execve for the tracer. */
  trace?: "traceme" | "stop";
  /** False: stop (SIGSTOP) instead of execve; a stub for a tracer to take over. */
  execute?: boolean;
  /** `vfork` (cheapest, the caller's thread waits for execve) or `fork`. */
  mode?: "vfork" | "fork";
}

const MNT_DETACH = 2n;
const AT_FDCWD = -100n;
const AT_EMPTY_PATH = 0x1000n;
const CLOSE_RANGE_CLOEXEC = 4n;
const SIG_SETMASK = 2n;
const TIOCSCTTY = 0x540en;
const PR_SET_PDEATHSIG = 1n;
const PR_SET_KEEPCAPS = 8n;
const PR_CAPBSET_DROP = 24n;
const PR_SET_NO_NEW_PRIVS = 38n;
const PR_CAP_AMBIENT = 47n;
const PR_CAP_AMBIENT_RAISE = 2n;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const SECCOMP_SET_MODE_FILTER = 1n;
const MAX_ID = 0xfffffffe;

/** Descriptors and facts the parent prepared for the plan. */
export interface PlanContext {
  /** Parent's high-numbered copy of the failure pipe's write end. */
  errfd: number;
  /** Child end of the socket used to wait while the parent writes id maps. */
  syncFd?: number;
  /** Child descriptor -> high-numbered parent copy to dup3 onto it. */
  fdSources: ReadonlyMap<number, number>;
  /** High-numbered copy of `executableFd`. */
  execFd?: number;
  /** The kernel's highest capability number (/proc/sys/kernel/cap_last_cap). */
  lastCap: number;
  /** Whether the parent writes the id maps (fork mode). */
  parentWritesMaps: boolean;
  /** Effective uid and gid of the parent, for default self-maps. */
  euid: number;
  /** Effective gid of the parent. */
  egid: number;
}

/**
 * Checks spawn options before anything is done.
 *
 * @param o The options.
 * @throws {TypeError | RangeError} Naming the first problem and how to fix it.
 *
 * @example
 * ```ts
 * import { validateSpawnOptions } from "./spawn_plan.ts";
 * validateSpawnOptions({ path: "/bin/true", args: ["true"] });
 * ```
 */
export function validateSpawnOptions(o: SpawnOptions): void {
  if (!Array.isArray(o.args) || o.args.length === 0) {
    throw new TypeError("Spawn needs args with at least argv[0]");
  }
  o.args.forEach((a, i) => cString(a, `argument ${i}`));
  (o.env ?? []).forEach((e, i) => {
    cString(e, `environment entry ${i}`);
    if (!e.includes("=")) {
      throw new TypeError(
        `Invalid environment entry ${JSON.stringify(e)}: use KEY=value`,
      );
    }
  });
  if (
    o.execute !== false && o.path === undefined && o.executableFd === undefined
  ) {
    throw new TypeError("Spawn needs a path or an executableFd to execute");
  }
  if (o.path !== undefined) cString(o.path, "program path", 4095);
  if (o.executableFd !== undefined) {
    fdArg(o.executableFd, "executable descriptor");
  }
  const ns = new Set<string>();
  for (const n of o.namespaces ?? []) {
    if (!(n in NAMESPACE_FLAGS)) {
      throw new RangeError(
        `Unknown namespace ${n}: use ${Object.keys(NAMESPACE_FLAGS).join(", ")}`,
      );
    }
    if (ns.has(n)) throw new RangeError(`Namespace ${n} is listed twice`);
    ns.add(n);
  }
  const need = (cond: unknown, namespace: Namespace, what: string) => {
    if (cond !== undefined && !ns.has(namespace)) {
      throw new RangeError(
        `${what} needs a new ${namespace} namespace: add "${namespace}" to namespaces`,
      );
    }
  };
  need(o.uidMappings, "user", "A uid map");
  need(o.gidMappings, "user", "A gid map");
  need(o.hostname, "uts", "A hostname");
  need(o.domainname, "uts", "A domain name");
  need(o.rootfs, "mount", "A rootfs");
  need(o.emptyRootAt, "mount", "An empty root");
  if (o.emptyRootAt !== undefined) {
    absolutePath(o.emptyRootAt, "empty root directory");
    if (o.rootfs !== undefined || o.mounts !== undefined) {
      throw new RangeError("An empty root excludes rootfs and mounts: give one or the other");
    }
  }
  for (const procs of o.joinCgroups ?? []) absolutePath(procs, "cgroup.procs file");
  if (o.joinNetwork !== undefined) {
    absolutePath(o.joinNetwork, "network namespace");
    if (o.namespaces?.includes("net")) {
      throw new RangeError("A child cannot both join a network namespace and get a new one");
    }
  }
  if (o.oomScoreAdj !== undefined) intArg(o.oomScoreAdj, -1000, 1000, "oom_score_adj");
  for (const sig of o.ignoredSignals ?? []) {
    intArg(sig, 1, 64, "ignored signal");
    if (sig === 9 || sig === 19) throw new RangeError(`Signal ${sig} cannot be ignored`);
  }
  for (const sig of o.blockedSignals ?? []) {
    intArg(sig, 1, 64, "blocked signal");
    if (sig === 9 || sig === 19) throw new RangeError(`Signal ${sig} cannot be blocked`);
  }
  need(o.mounts, "mount", "Mounting");
  for (const m of [...(o.uidMappings ?? []), ...(o.gidMappings ?? [])]) {
    intArg(m.containerId, 0, MAX_ID, "id map container id");
    intArg(m.hostId, 0, MAX_ID, "id map host id");
    intArg(m.size, 1, MAX_ID, "id map size");
  }
  if (o.hostname !== undefined) cString(o.hostname, "hostname", 64);
  if (o.domainname !== undefined) cString(o.domainname, "domain name", 64);
  if (o.rootfs !== undefined) absolutePath(o.rootfs, "rootfs");
  for (const m of o.mounts ?? []) {
    absolutePath(m.target, "mount target");
    if (m.source !== undefined) cString(m.source, "mount source", 4095);
    if (m.type !== undefined) cString(m.type, "file system type", 255);
    if (m.data !== undefined) cString(m.data, "mount options", 4095);
    if (m.flags !== undefined) intArg(m.flags, 0, 0xffffffff, "mount flags");
  }
  if (o.cwd !== undefined) absolutePath(o.cwd, "cwd");
  if (o.user) {
    intArg(o.user.uid, 0, MAX_ID, "uid");
    intArg(o.user.gid, 0, MAX_ID, "gid");
    if ((o.user.groups ?? []).length > 65536) {
      throw new RangeError("More than 65536 groups");
    }
    (o.user.groups ?? []).forEach((g) => intArg(g, 0, MAX_ID, "group"));
  }
  const caps = o.capabilities ?? {};
  for (
    const set of [
      caps.bounding,
      caps.effective,
      caps.permitted,
      caps.inheritable,
      caps.ambient,
    ]
  ) {
    if (set) capabilityMask(set);
  }
  for (const r of o.rlimits ?? []) {
    intArg(r.resource, 0, 15, "rlimit resource");
    if (
      typeof r.soft !== "bigint" || typeof r.hard !== "bigint" || r.soft < 0n ||
      r.hard < 0n
    ) {
      throw new TypeError(
        `Invalid rlimit ${r.resource}: soft and hard are non-negative BigInts`,
      );
    }
    if (r.soft > r.hard) {
      throw new RangeError(
        `Invalid rlimit ${r.resource}: the soft limit ${r.soft} is above the hard limit ${r.hard}`,
      );
    }
  }
  if (o.seccomp) {
    const len = o.seccomp.program.length;
    if (len === 0 || len % 8 !== 0 || len / 8 > 4096) {
      throw new RangeError(
        `Invalid seccomp program of ${len} bytes: use 1 to 4096 8-byte instructions`,
      );
    }
    if (o.seccomp.sendListenerOn !== undefined) {
      fdArg(o.seccomp.sendListenerOn, "listener socket");
    }
  }
  const targets = new Set<number>();
  for (const [child, parent] of o.fds ?? []) {
    fdArg(child, "child descriptor");
    fdArg(parent, "parent descriptor");
    if (targets.has(child)) {
      throw new RangeError(`Child descriptor ${child} is mapped twice`);
    }
    targets.add(child);
  }
  if (o.controllingTerminal !== undefined) {
    fdArg(o.controllingTerminal, "terminal descriptor");
  }
  if (o.parentDeathSignal !== undefined) {
    intArg(o.parentDeathSignal, 1, 64, "parent death signal");
  }
  if (o.trace !== undefined && o.trace !== "traceme" && o.trace !== "stop") {
    throw new RangeError(
      `Invalid trace mode ${o.trace}: use "traceme" or "stop"`,
    );
  }
  if (o.execute === false && ns.has("pid") && o.trace === undefined) {
    throw new RangeError(
      "The init of a new pid namespace ignores its own SIGSTOP, so a stub there can only stop when traced: add trace",
    );
  }
  if (o.mode !== undefined && o.mode !== "vfork" && o.mode !== "fork") {
    throw new RangeError(`Invalid spawn mode ${o.mode}: use "vfork" or "fork"`);
  }
}

function absolutePath(p: string, what: string): void {
  cString(p, what, 4095);
  if (!p.startsWith("/")) {
    throw new RangeError(`The ${what} ${p} must be an absolute path`);
  }
  if (p.split("/").includes("..")) {
    throw new RangeError(`The ${what} ${p} must not contain ".."`);
  }
}

/**
 * Returns the clone flags for the namespaces asked for.
 *
 * @param namespaces The namespaces.
 * @returns The CLONE_NEW* bits.
 */
export function namespaceFlags(namespaces: readonly Namespace[]): bigint {
  return namespaces.reduce((f, n) => f | NAMESPACE_FLAGS[n], 0n);
}

/**
 * Reports whether the parent must write the id maps: always as root (so any
 * mapping works and setgroups stays allowed), and for an unprivileged
 * caller whenever the maps are not a single mapping of its own ids (which
 * then fails unless it holds CAP_SETUID).
 *
 * @param o The options.
 * @param euid The caller's effective uid.
 * @param egid The caller's effective gid.
 * @returns True when the parent writes the maps.
 */
export function parentWritesMaps(
  o: SpawnOptions,
  euid: number,
  egid: number,
): boolean {
  if (!(o.namespaces ?? []).includes("user")) return false;
  if (euid === 0) return true;
  const self = (maps: IdMapping[] | undefined, id: number) =>
    maps === undefined ||
    (maps.length === 1 && maps[0]!.size === 1 && maps[0]!.hostId === id);
  return !(self(o.uidMappings, euid) && self(o.gidMappings, egid));
}

/**
 * Renders an id map the way /proc/PID/uid_map takes it.
 *
 * @param maps The mappings, or undefined for the caller's own id as 0.
 * @param id The caller's id, for the default.
 * @returns The text to write in one write(2).
 */
export function idMapText(maps: IdMapping[] | undefined, id: number): string {
  return (maps ?? [{ containerId: 0, hostId: id, size: 1 }])
    .map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join("");
}

/**
 * Turns spawn options into the child's steps.
 *
 * Preconditions: `validateSpawnOptions(o)` passed.
 *
 * @param o The options.
 * @param arena Where strings and structures the child reads go.
 * @param ctx What the parent prepared.
 * @returns The steps.
 */
export function planSpawn(
  o: SpawnOptions,
  arena: Arena,
  ctx: PlanContext,
): StepTable {
  const t = new StepTable();
  const str = (s: string, what: string) => arena.cString(s, what);
  const ns = new Set(o.namespaces ?? []);

  const sigaction = arena.addr(arena.alloc(32));
  for (let sig = 1; sig <= 64; sig++) {
    if (sig === 9 || sig === 19) continue;
    t.add(`reset signal ${sig}`, SYS.rt_sigaction, [
      BigInt(sig),
      sigaction,
      0n,
      8n,
    ], {
      ignoreError: true,
    });
  }
  if (o.ignoredSignals?.length) {
    const ignore = arena.alloc(32);
    arena.view.setBigUint64(ignore, 1n, true); // SIG_IGN
    for (const sig of o.ignoredSignals) {
      t.add(`ignore signal ${sig}`, SYS.rt_sigaction, [BigInt(sig), arena.addr(ignore), 0n, 8n]);
    }
  }
  if (o.parentDeathSignal !== undefined) {
    t.add("prctl PR_SET_PDEATHSIG", SYS.prctl, [
      PR_SET_PDEATHSIG,
      BigInt(o.parentDeathSignal),
    ]);
  }
  // "0" is the writer itself.
  for (const procs of o.joinCgroups ?? []) writeProcFile(t, arena, procs, "0");
  if (o.joinNetwork !== undefined) {
    const slot = arena.addr(arena.alloc(8));
    t.add(`open ${o.joinNetwork}`, SYS.openat, [
      AT_FDCWD,
      str(o.joinNetwork, "network namespace path"),
      BigInt(O.RDONLY | O.CLOEXEC),
      0n,
    ], { storeU64: slot });
    t.add("setns CLONE_NEWNET", SYS.setns, [slot, NAMESPACE_FLAGS.net], { load: [0] });
    t.add(`close ${o.joinNetwork}`, SYS.close, [slot], { load: [0] });
  }
  if (o.oomScoreAdj !== undefined) {
    // Lowering it needs CAP_SYS_RESOURCE: without it the child keeps its
    // parent's (the caller can read /proc/PID/oom_score_adj to know).
    writeProcFile(t, arena, "/proc/self/oom_score_adj", String(o.oomScoreAdj), true);
  }
  for (const [target, source] of ctx.fdSources) {
    t.add(`dup3 descriptor ${target}`, SYS.dup3, [
      BigInt(source),
      BigInt(target),
      0n,
    ]);
  }

  if (ns.has("user")) {
    if (ctx.parentWritesMaps) {
      const byte = arena.addr(arena.alloc(1));
      const sync = BigInt(ctx.syncFd!);
      t.add("sync with the parent", SYS.write, [sync, byte, 1n], {
        expect: 1n,
      });
      t.add("wait for the id maps", SYS.read, [sync, byte, 1n], { expect: 1n });
    } else {
      writeProcFile(t, arena, "/proc/self/setgroups", "deny\n");
      writeProcFile(
        t,
        arena,
        "/proc/self/uid_map",
        idMapText(o.uidMappings, ctx.euid),
      );
      writeProcFile(
        t,
        arena,
        "/proc/self/gid_map",
        idMapText(o.gidMappings, ctx.egid),
      );
    }
  }

  if (o.setsid || o.controllingTerminal !== undefined) {
    t.add("setsid", SYS.setsid, []);
  }
  if (o.controllingTerminal !== undefined) {
    t.add("ioctl TIOCSCTTY", SYS.ioctl, [
      BigInt(o.controllingTerminal),
      TIOCSCTTY,
      0n,
    ]);
  }
  if (o.hostname !== undefined) {
    const len = BigInt(cString(o.hostname).length - 1);
    t.add("sethostname", SYS.sethostname, [str(o.hostname, "hostname"), len]);
  }
  if (o.domainname !== undefined) {
    const len = BigInt(cString(o.domainname).length - 1);
    t.add("setdomainname", SYS.setdomainname, [
      str(o.domainname, "domain name"),
      len,
    ]);
  }

  if (ns.has("mount")) planMounts(t, arena, o);
  if (o.cwd !== undefined) {
    t.add(`chdir ${o.cwd}`, SYS.chdir, [str(o.cwd, "cwd")]);
  }

  for (const r of o.rlimits ?? []) {
    const at = arena.alloc(16);
    arena.view.setBigUint64(at, r.soft, true);
    arena.view.setBigUint64(at + 8, r.hard, true);
    t.add(`prlimit resource ${r.resource}`, SYS.prlimit64, [
      0n,
      BigInt(r.resource),
      arena.addr(at),
      0n,
    ]);
  }

  planIdentity(t, arena, o, ctx.lastCap);
  if (o.noNewPrivileges) {
    t.add("prctl PR_SET_NO_NEW_PRIVS", SYS.prctl, [
      PR_SET_NO_NEW_PRIVS,
      1n,
      0n,
      0n,
      0n,
    ]);
  }

  const kept = o.fds ? [...new Set(o.fds.map(([c]) => c))].sort((a, b) => a - b) : [0, 1, 2];
  let next = 0;
  for (const fd of [...kept, 0x7fffffff]) {
    if (fd > next) {
      const last = fd === 0x7fffffff ? 0xffffffffn : BigInt(fd - 1);
      t.add("mark descriptors close-on-exec", SYS.close_range, [
        BigInt(next),
        last,
        CLOSE_RANGE_CLOEXEC,
      ]);
    }
    next = fd + 1;
  }

  if (o.trace !== undefined) t.add("ptrace PTRACE_TRACEME", SYS.ptrace, [0n]);
  if (o.trace === "stop") stopSelf(t, "stop for the tracer");

  const mask = arena.alloc(8);
  arena.view.setBigUint64(mask, signalMask(o.blockedSignals ?? []), true);
  t.add("set the signal mask", SYS.rt_sigprocmask, [SIG_SETMASK, arena.addr(mask), 0n, 8n]);

  if (o.seccomp) planSeccomp(t, arena, o.seccomp);

  if (o.execute === false) {
    stopSelf(t, "stop before execve");
    return t;
  }
  const argv = arena.cStringArray(o.args, "argument");
  const envp = arena.cStringArray(o.env ?? [], "environment entry");
  if (ctx.execFd !== undefined) {
    t.add("execve", SYS.execveat, [
      BigInt(ctx.execFd),
      str("", "path"),
      argv,
      envp,
      AT_EMPTY_PATH,
    ]);
  } else {
    t.add("execve", SYS.execve, [str(o.path!, "program path"), argv, envp]);
  }
  return t;
}

function stopSelf(t: StepTable, name: string): void {
  t.add("getpid", SYS.getpid, []);
  t.add(name, SYS.kill, [0n, 19n], { fromPrevious: [0] });
}

function writeProcFile(
  t: StepTable,
  arena: Arena,
  path: string,
  text: string,
  mayFail = false,
): void {
  const slot = arena.addr(arena.alloc(8));
  const data = cString(text);
  const len = BigInt(data.length - 1);
  t.add(`open ${path}`, SYS.openat, [
    AT_FDCWD,
    arena.cString(path),
    BigInt(O.WRONLY | O.CLOEXEC),
    0n,
  ], {
    storeU64: slot,
  });
  t.add(`write ${path}`, SYS.write, [slot, arena.put(data, 1), len], {
    load: [0],
    ...(mayFail ? { ignoreError: true } : { expect: len }),
  });
  t.add(`close ${path}`, SYS.close, [slot], { load: [0] });
}

function planMounts(t: StepTable, arena: Arena, o: SpawnOptions): void {
  const str = (s: string) => arena.cString(s);
  t.add("make / private", SYS.mount, [
    0n,
    str("/"),
    0n,
    BigInt(MS.REC | MS.PRIVATE),
    0n,
  ]);
  if (o.emptyRootAt !== undefined) {
    const at = str(o.emptyRootAt);
    const flags = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;
    t.add(`mount an empty root on ${o.emptyRootAt}`, SYS.mount, [
      str("tmpfs"),
      at,
      str("tmpfs"),
      BigInt(flags),
      str("size=4k,nr_inodes=1,mode=0555"),
    ]);
    t.add(`chdir ${o.emptyRootAt}`, SYS.chdir, [at]);
  }
  if (o.rootfs !== undefined) {
    const root = str(o.rootfs);
    t.add(`bind ${o.rootfs}`, SYS.mount, [
      root,
      root,
      0n,
      BigInt(MS.BIND | MS.REC),
      0n,
    ]);
    t.add(`chdir ${o.rootfs}`, SYS.chdir, [root]);
  }
  const remountable = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;
  for (const m of o.mounts ?? []) {
    const path = o.rootfs !== undefined ? (m.target.replace(/^\/+/, "") || ".") : m.target;
    const target = str(path);
    if (m.mkdir) {
      t.add(`mkdir ${m.target}`, SYS.mkdirat, [AT_FDCWD, target, 0o755n], {
        ignoreError: true,
      });
    }
    const flags = m.flags ?? 0;
    t.add(`mount ${m.target}`, SYS.mount, [
      m.source !== undefined ? str(m.source) : 0n,
      target,
      m.type !== undefined ? str(m.type) : 0n,
      BigInt(flags >>> 0),
      m.data !== undefined ? str(m.data) : 0n,
    ]);
    if ((flags & MS.BIND) && (flags & remountable)) {
      const again = (flags & (remountable | MS.REC)) | MS.BIND | MS.REMOUNT;
      t.add(`remount ${m.target}`, SYS.mount, [
        0n,
        target,
        0n,
        BigInt(again),
        0n,
      ]);
    }
  }
  if (o.rootfs !== undefined || o.emptyRootAt !== undefined) {
    const dot = str(".");
    t.add("pivot_root", SYS.pivot_root, [dot, dot]);
    t.add("detach the old root", SYS.umount2, [dot, MNT_DETACH]);
    t.add("chdir /", SYS.chdir, [str("/")]);
  }
}

function planIdentity(
  t: StepTable,
  arena: Arena,
  o: SpawnOptions,
  lastCap: number,
): void {
  const caps = o.capabilities;
  if (caps?.bounding) {
    const keep = new Set(caps.bounding);
    for (let c = 0; c <= lastCap; c++) {
      if (keep.has(c)) continue;
      t.add(
        `drop ${CAPABILITIES[c] ?? `capability ${c}`} from the bounding set`,
        SYS.prctl,
        [
          PR_CAPBSET_DROP,
          BigInt(c),
        ],
      );
    }
  }
  const setsCaps = caps !== undefined &&
    (caps.effective ?? caps.permitted ?? caps.inheritable ?? caps.ambient) !==
      undefined;
  if (o.user) {
    const { uid, gid, groups } = o.user;
    if (groups !== undefined) {
      const at = arena.alloc(4 * Math.max(groups.length, 1), 4);
      groups.forEach((g, i) => arena.view.setUint32(at + 4 * i, g, true));
      t.add("setgroups", SYS.setgroups, [
        BigInt(groups.length),
        arena.addr(at),
      ]);
    }
    if (setsCaps && uid !== 0) {
      t.add("prctl PR_SET_KEEPCAPS", SYS.prctl, [PR_SET_KEEPCAPS, 1n]);
    }
    const g = BigInt(gid);
    const u = BigInt(uid);
    t.add("setresgid", SYS.setresgid, [g, g, g]);
    t.add("setresuid", SYS.setresuid, [u, u, u]);
  }
  if (!setsCaps) return;
  const header = arena.alloc(8);
  arena.view.setUint32(header, LINUX_CAPABILITY_VERSION_3, true);
  const data = arena.alloc(24);
  const sets = [caps!.effective, caps!.permitted, caps!.inheritable].map((s) =>
    capabilityMask(s ?? [])
  );
  sets.forEach((mask, i) => {
    arena.view.setUint32(data + 4 * i, Number(mask & 0xffffffffn), true);
    arena.view.setUint32(data + 12 + 4 * i, Number(mask >> 32n), true);
  });
  t.add("capset", SYS.capset, [arena.addr(header), arena.addr(data)]);
  for (const c of caps!.ambient ?? []) {
    t.add(`raise ambient ${CAPABILITIES[c]}`, SYS.prctl, [
      PR_CAP_AMBIENT,
      PR_CAP_AMBIENT_RAISE,
      BigInt(c),
      0n,
      0n,
    ]);
  }
}

function planSeccomp(
  t: StepTable,
  arena: Arena,
  seccomp: NonNullable<SpawnOptions["seccomp"]>,
): void {
  const program = arena.put(seccomp.program);
  const fprog = arena.alloc(16);
  arena.view.setUint16(fprog, seccomp.program.length / 8, true);
  arena.view.setBigUint64(fprog + 8, program, true);
  const flags = BigInt(seccomp.flags ?? 0);
  const args = [SECCOMP_SET_MODE_FILTER, flags, arena.addr(fprog)];
  if (seccomp.sendListenerOn === undefined) {
    t.add("seccomp", SYS.seccomp, args);
    return;
  }
  // msghdr { iov -> 1 byte, control -> one SCM_RIGHTS cmsg whose fd the
  // seccomp step stores }.
  const byte = arena.put(new Uint8Array([0x4c]), 1);
  const iov = arena.alloc(16);
  arena.view.setBigUint64(iov, byte, true);
  arena.view.setBigUint64(iov + 8, 1n, true);
  const cmsg = arena.alloc(24);
  arena.view.setBigUint64(cmsg, 20n, true);
  arena.view.setInt32(cmsg + 8, 1, true);
  arena.view.setInt32(cmsg + 12, 1, true);
  const fdSlot = arena.addr(cmsg + 16);
  const msg = arena.alloc(56);
  arena.view.setBigUint64(msg + 16, arena.addr(iov), true);
  arena.view.setBigUint64(msg + 24, 1n, true);
  arena.view.setBigUint64(msg + 32, arena.addr(cmsg), true);
  arena.view.setBigUint64(msg + 40, 24n, true);
  t.add("seccomp", SYS.seccomp, args, { storeU32: fdSlot });
  t.add("send the seccomp listener", SYS.sendmsg, [
    BigInt(seccomp.sendListenerOn),
    arena.addr(msg),
    0n,
  ], {
    expect: 1n,
  });
  t.add("close the seccomp listener", SYS.close, [fdSlot], { load: [0] });
  t.add("close the listener socket", SYS.close, [BigInt(seccomp.sendListenerOn)]);
}
