/**
 * `dvisor create [--bundle DIR] [--pid-file FILE] ID`: starts the sandbox
 * (gofer and sandbox process) with the container's init loaded but not
 * running, records the container under `--root` as `created`, writes the
 * pid file last (containerd reads it once create has exited), and leaves
 * the sandbox running detached. `dvisor start` runs the init.
 *
 * @module
 */
import { sendPidfd } from "./fd_socket.ts";
import type { PtyPair } from "../platform/pty.ts";
import { checkConsoleFlags, openConsole, sendConsole } from "./console.ts";
import { closeQuietly, O, openFile } from "../platform/fd.ts";
import { listenUnix } from "../platform/socket.ts";
import { loadBundle, type LoadedBundle } from "./bundle.ts";
import {
  checkId,
  type ContainerState,
  processStartTime,
  shownState,
  StateStore,
} from "./container_state.ts";
import { runHooks } from "./hooks.ts";
import {
  oomExplanation,
  removeContainer,
  setUpCgroup,
  startFailureExplanation,
} from "./container_cgroup.ts";
import { procsFiles } from "../platform/cgroup.ts";
import { createInSandbox } from "./pod.ts";
import { podSandbox } from "./pod_annotations.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import type { Logger } from "./log.ts";
import {
  firstReport,
  type LaunchOptions,
  launchSandbox,
  warnOomScoreAdj,
} from "./sandbox_process.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "bundle", type: "string", aliases: ["b"], help: "the bundle directory (default: .)" },
  { name: "pid-file", type: "string", help: "write the sandbox's pid here once created" },
  {
    name: "console-socket",
    type: "string",
    help: "(with process.terminal) where to send the pty master",
  },
  {
    name: "pidfd-socket",
    type: "string",
    help: "send a pidfd of the container's process to this socket (as runc 1.2)",
  },
  {
    name: "no-pivot",
    type: "bool",
    help: "(runc) ignored: the Sentry never pivots",
    ignored: true,
  },
  { name: "no-new-keyring", type: "bool", help: "(runc) ignored: no keyrings", ignored: true },
  { name: "preserve-fds", type: "int", help: "pass descriptors 3 to 3+N-1 to the container" },
  { name: "detach", aliases: ["d"], type: "bool", help: "(runc) create always detaches" },
];

/**
 * Writes a file atomically (a temporary file renamed over it).
 *
 * @param path The file.
 * @param text Its contents.
 */
export function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.dvisor-tmp`;
  Deno.writeTextFileSync(tmp, text);
  Deno.renameSync(tmp, path);
}

/** The `create` command. */
export const createCommand: Command = {
  flags: FLAGS,
  async run(args, { globals, logger }) {
    const parsed = parseFlags(args, FLAGS);
    const [id, ...extra] = parsed.args;
    if (!id) throw new UsageError("dvisor create needs a container id: dvisor create ID");
    if (extra.length) throw new UsageError(`Unexpected argument ${extra[0]}: give one id`);
    try {
      checkId(id);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const store = new StateStore(stateRoot(globals));
    return await store.locked(id, () => create(store, id, parsed, globals, logger));
  },
};

/**
 * A container being registered: its first state, its control socket and
 * exit file, and the cgroup its sandbox joins.
 */
export interface Registration {
  base: ContainerState;
  control: { controlListenFd: number; exitFd: number };
  /** The `cgroup.procs` files the sandbox's processes write themselves into. */
  joinCgroups: string[];
  /** Closes this process's copies of the descriptors (idempotent). */
  close(): void;
}

/**
 * How to launch a registered container's sandbox: what its bundle and its
 * registration give (the caller adds detached or gated, stdio, terminal).
 *
 * @param store The state root.
 * @param id The container.
 * @param b Its bundle.
 * @param reg Its registration.
 * @returns Launch options.
 */
export function registeredLaunch(
  store: StateStore,
  id: string,
  b: LoadedBundle,
  reg: Registration,
): LaunchOptions {
  return {
    request: b.request,
    served: b.served,
    mountPoint: b.mountPoint,
    globals: b.globals,
    control: reg.control,
    tag: store.dir(id),
    joinCgroups: reg.joinCgroups,
  };
}

/**
 * A container's first state (`creating`, no processes yet).
 *
 * @param id The container.
 * @param b Its bundle.
 * @param extra Fields to set too (its cgroup, its pod's sandbox and pid).
 * @returns The state.
 */
export function creatingState(
  id: string,
  b: LoadedBundle,
  extra: Partial<ContainerState> = {},
): ContainerState {
  return {
    ociVersion: b.spec.ociVersion,
    id,
    pid: 0,
    status: "creating",
    bundle: b.bundle,
    rootfs: b.spec.rootPath,
    created: new Date().toISOString(),
    owner: "",
    annotations: b.spec.annotations,
    startTime: 0,
    goferPid: 0,
    goferStartTime: 0,
    hooks: b.spec.hooks,
    ...(b.spec.idMappings ? { idMappings: b.spec.idMappings } : {}),
    ...extra,
  };
}

/**
 * Records a container as `creating`, makes its cgroup, and opens its
 * control socket and exit file for its sandbox. On failure the state stays
 * for the caller's {@linkcode removeContainer}.
 *
 * @param store The state root.
 * @param id The container (claimed).
 * @param b Its bundle.
 * @returns The registration.
 */
export function register(store: StateStore, id: string, b: LoadedBundle): Registration {
  const base = creatingState(id, b, { ...(b.cgroup ? { cgroup: b.cgroup } : {}) });
  // Recorded before it is made: a create killed midway leaves nothing delete misses.
  store.write(base);
  if (b.cgroup) setUpCgroup(b.cgroup, b.spec.resources);
  const exitFd = openFile(store.exitFile(id), O.WRONLY | O.CREAT | O.TRUNC, 0o600);
  let listenFd: number;
  try {
    listenFd = listenUnix(store.socket(id));
  } catch (e) {
    closeQuietly(exitFd);
    throw e;
  }
  let open = true;
  return {
    base,
    control: { controlListenFd: listenFd, exitFd },
    joinCgroups: b.cgroup ? procsFiles(b.cgroup) : [],
    close() {
      // Once only: a descriptor number closed twice may be someone else's by then.
      if (!open) return;
      open = false;
      closeQuietly(listenFd);
      closeQuietly(exitFd);
    },
  };
}

/**
 * A state with its sandbox's processes recorded.
 *
 * @param base The state.
 * @param status The new status.
 * @param pid The sandbox process.
 * @param goferPid The gofer.
 * @returns The state.
 */
export function withSandbox(
  base: ContainerState,
  status: ContainerState["status"],
  pid: number,
  goferPid: number,
): ContainerState {
  return {
    ...base,
    status,
    pid,
    startTime: processStartTime(pid) ?? 0,
    goferPid,
    goferStartTime: processStartTime(goferPid) ?? 0,
  };
}

async function create(
  store: StateStore,
  id: string,
  parsed: ReturnType<typeof parseFlags>,
  globals: Record<string, unknown>,
  logger: Logger,
): Promise<number> {
  store.claim(id);
  let launched: ReturnType<typeof launchSandbox> | null = null;
  let pty: PtyPair | null = null;
  let cgroup: LoadedBundle["cgroup"] = null;
  try {
    const b = await loadBundle(parsed.flags.bundle as string | undefined, id, globals, logger);
    cgroup = b.cgroup;
    const consoleSocket = parsed.flags["console-socket"] as string | undefined;
    checkConsoleFlags(b.spec.process.terminal, consoleSocket, true);
    const pidFile = parsed.flags["pid-file"] as string | undefined;
    const pidfdSocket = parsed.flags["pidfd-socket"] as string | undefined;
    const sandboxId = podSandbox(b.spec.annotations);
    if (sandboxId !== null) {
      await createInSandbox(store, id, {
        bundle: b,
        sandboxId,
        ...(consoleSocket ? { consoleSocket } : {}),
        ...(pidfdSocket ? { pidfdSocket } : {}),
        ...(pidFile ? { pidFile } : {}),
        preserveFds: (parsed.flags["preserve-fds"] as number | undefined) ?? 0,
      }, logger);
      return 0;
    }
    if (b.spec.process.terminal) pty = openConsole(b.spec.process.consoleSize);
    const reg = register(store, id, b);
    try {
      launched = launchSandbox({
        ...registeredLaunch(store, id, b, reg),
        detached: true,
        ...(pty ? { terminal: pty.slave } : {}),
        preserveFds: (parsed.flags["preserve-fds"] as number | undefined) ?? 0,
      });
    } finally {
      reg.close();
    }
    // Recorded at once: a create killed from here on leaves a state that
    // `delete --force` finds the sandbox's processes by.
    const pid = launched.boot.pid;
    warnOomScoreAdj(pid, b.request, logger);
    const creating = withSandbox(reg.base, "creating", launched.boot.pid, launched.gofer.pid);
    store.write(creating);
    const first = firstReport(launched.reportRead);
    if (!first?.ready) {
      throw new Error(
        first?.message ?? oomExplanation(b.cgroup) ??
          "The sandbox did not start: see --debug-log",
      );
    }
    if (pty && consoleSocket) sendConsole(consoleSocket, pty.master);
    if (pidfdSocket) sendPidfd(pidfdSocket, pid);
    for (const point of ["prestart", "createRuntime", "createContainer"] as const) {
      await runHooks(point, b.spec.hooks, shownState(creating), logger);
    }
    store.write({ ...creating, status: "created" });
    if (pidFile) writeAtomically(pidFile, String(pid));
    logger.debug(`create ${id}: sandbox pid ${pid}, gofer pid ${launched.gofer.pid}`);
    return 0;
  } catch (e) {
    const why = e instanceof Error ? startFailureExplanation(cgroup, e.message) : null;
    // Leave nothing behind: the sandbox's processes, the state directory.
    for (const c of [launched?.boot, launched?.gofer]) {
      try {
        c?.kill(9);
      } catch { /* gone */ }
      c?.waitSync();
    }
    removeContainer(store, id, logger);
    throw why ? new Error(why) : e;
  } finally {
    if (pty) [pty.master, pty.slave].forEach(closeQuietly);
    if (launched) {
      closeQuietly(launched.reportRead);
      launched.boot.close();
      launched.gofer.close();
    }
  }
}
