/**
 * Starts a container's gofer: `dvisor gofer` in namespaces of its own
 * (mount, pid, ipc, uts, net) with no new privileges, connected to the
 * Sentry by one socket pair per served directory.
 *
 * @module
 */
import { goferUserNamespace } from "./rootless.ts";
import type { IdMappings } from "../core/vfs/id_map.ts";
import { containerTagArg } from "./sandbox_reaper.ts";
import { closeFd, closeQuietly, O, openFile } from "../platform/fd.ts";
import { socketPair } from "../platform/socket.ts";
import { type Child, spawn } from "../platform/spawn.ts";
import { selfCommand, selfEnv } from "./self.ts";

/** A directory to serve. */
export interface Served {
  /** Host path. */
  path: string;
  /** Refuse changes. */
  readOnly: boolean;
}

/** A running gofer. */
export interface Gofer {
  /** The process. */
  child: Child;
  /** The Sentry's ends of the sockets, one per served directory, in order. */
  sentryFds: number[];
}

/** How a gofer runs. */
export interface GoferOptions {
  /** Outlive the calling process (`dvisor create`); by default it dies with it. */
  detached?: boolean;
  /** `STATE_ROOT/ID` for its command line (see {@linkcode taggedProcesses}). */
  tag?: string;
  /** `cgroup.procs` files it joins before it runs. */
  joinCgroups?: string[];
  /** Its oom_score_adj. */
  oomScoreAdj?: number;
  /** Global flags to pass on (--log, --debug-log...). */
  globals?: readonly string[];
  /** The container's user namespace mappings (a rootless gofer with subordinate ids takes them). */
  idMappings?: IdMappings | null;
  /**
   * The socket pairs to serve on, one per directory (`[sentry end, gofer
   * end]`), when the caller made them first (see {@linkcode goferSockets});
   * by default new ones. The gofer ends are closed here either way; given
   * sentry ends stay the caller's to close, even on failure.
   */
  sockets?: Array<[number, number]>;
}

/**
 * Socket pairs for a gofer serving `n` directories, made before it starts
 * so that the sandbox process can be started with its ends first.
 *
 * @param n How many directories.
 * @returns `[sentry end, gofer end]` pairs.
 *
 * @example
 * ```ts
 * import { goferSockets } from "./gofer_process.ts";
 * import { closeFd } from "../platform/fd.ts";
 * const pairs = goferSockets(2);
 * if (pairs.length !== 2) throw new Error();
 * pairs.flat().forEach(closeFd);
 * ```
 */
export function goferSockets(n: number): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  try {
    for (let i = 0; i < n; i++) pairs.push(socketPair());
  } catch (e) {
    pairs.flat().forEach(closeQuietly);
    throw e;
  }
  return pairs;
}

/**
 * Starts a gofer serving directories.
 *
 * @param served The directories (the container's root first).
 * @param emptyRootAt An existing empty directory for its empty root.
 * @param options How it runs.
 * @returns The gofer.
 */
export function startGofer(
  served: Served[],
  emptyRootAt: string,
  options: GoferOptions = {},
): Gofer {
  const { detached = false, tag, joinCgroups = [], globals = [], oomScoreAdj } = options;
  const pairs = options.sockets ?? goferSockets(served.length);
  const userNamespace = goferUserNamespace(options.idMappings);
  const devnull = openFile("/dev/null", O.RDWR);
  try {
    const serveArgs = served.flatMap((
      s,
      i,
    ) => ["--serve", `${s.path}:${s.readOnly ? "ro" : "rw"}:${3 + i}`]);
    const { path, argv } = selfCommand([
      ...globals,
      "gofer",
      ...(tag ? [containerTagArg(tag)] : []),
      "--empty-root",
      emptyRootAt,
      ...serveArgs,
    ]);
    const child = spawn({
      path,
      args: argv,
      env: selfEnv(),
      // A detached gofer must not hold the caller's stderr: containerd's shim
      // reads create's output until it closes (its errors go to --log).
      fds: [
        [0, devnull],
        [1, devnull],
        [2, detached ? devnull : 2],
        ...pairs.map(([, g], i) => [3 + i, g] as const),
      ],
      ...userNamespace,
      namespaces: [...userNamespace.namespaces, "mount", "pid", "ipc", "uts", "net"],
      noNewPrivileges: true,
      ...(detached ? { setsid: true } : { parentDeathSignal: 9 }),
      ...(joinCgroups.length ? { joinCgroups } : {}),
      ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
    });
    return { child, sentryFds: pairs.map(([s]) => s) };
  } catch (e) {
    if (!options.sockets) pairs.forEach(([a]) => closeQuietly(a));
    throw e;
  } finally {
    pairs.forEach(([, g]) => closeQuietly(g));
    closeFd(devnull);
  }
}
