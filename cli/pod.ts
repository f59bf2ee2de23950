/**
 * Pods: the CRI annotations (containerd's `io.kubernetes.cri.*`, CRI-O's
 * `io.kubernetes.cri-o.*`) that put a container into another container's
 * sandbox, and creating such a container: its own gofer (in the sandbox's
 * cgroup), then CreateSubcontainer on the sandbox's control socket with
 * its stdio and file server sockets. Its init waits for `dvisor start`.
 *
 * @module
 */
import { fileOwnerMappings } from "./rootless.ts";
import { sendPidfd } from "./fd_socket.ts";
import { creatingState, writeAtomically } from "./create.ts";
import { killAndWait } from "./sandbox_reaper.ts";
import { encodeConfig } from "../core/boot/boot_config.ts";
import type { SubcontainerConfig } from "../core/boot/containers.ts";
import { METHOD } from "../core/control/protocol.ts";
import { procsFiles } from "../platform/cgroup.ts";
import { closeQuietly } from "../platform/fd.ts";
import type { PtyPair } from "../platform/pty.ts";
import type { LoadedBundle } from "./bundle.ts";
import { openConsole, sendConsole } from "./console.ts";
import {
  type ContainerState,
  NoSuchContainer,
  processStartTime,
  shownState,
  type StateStore,
} from "./container_state.ts";
import { removeContainer, setUpCgroup } from "./container_cgroup.ts";
import { callSandbox } from "./control_client.ts";
import { startGofer } from "./gofer_process.ts";
import { startWaiter } from "./waiter.ts";
import { runHooks } from "./hooks.ts";
import type { Logger } from "./log.ts";
import { preservedFds, servedDirectories } from "./sandbox_process.ts";

/** How the container is created. */
export interface PodCreate {
  /** Its bundle. */
  bundle: LoadedBundle;
  /** The sandbox container's id. */
  sandboxId: string;
  /** --console-socket. */
  consoleSocket?: string;
  /** --preserve-fds. */
  preserveFds: number;
  /** --pidfd-socket: gets a pidfd of the container's waiter. */
  pidfdSocket?: string;
  /** --pid-file: gets the waiter's pid, last. */
  pidFile?: string;
}

/**
 * Creates a container in another container's sandbox (its id is claimed
 * and locked by the caller). On failure nothing of it is left.
 *
 * @param store The state root.
 * @param id The container.
 * @param o What and where.
 * @param logger For hooks and debug lines.
 * @throws {Error} When the sandbox is not running or refuses the container.
 */
export async function createInSandbox(
  store: StateStore,
  id: string,
  o: PodCreate,
  logger: Logger,
): Promise<void> {
  const b = o.bundle;
  let sandbox: ContainerState;
  try {
    sandbox = store.read(o.sandboxId);
  } catch (e) {
    if (!(e instanceof NoSuchContainer)) throw e;
    throw new Error(`The pod's sandbox container ${o.sandboxId} does not exist: create it first`);
  }
  // A container of a pod can name another container of it: the sandbox is the same.
  const rootId = sandbox.sandbox ?? sandbox.id;
  if (sandbox.status === "stopped" || sandbox.status === "creating") {
    throw new Error(`The pod's sandbox ${rootId} is not running: start it first`);
  }
  if (Object.keys(b.spec.resources).length) {
    logger.debug(`${id}: limits of a container in a pod are not applied (the sandbox's cgroup is)`);
  }
  // Its own cgroup, when its spec names one, as runsc's compatibility
  // cgroup: it exists for tools that look for it; the processes stay in
  // the sandbox's cgroup.
  const compat = b.spec.cgroupsPath !== null && b.cgroup && b.cgroup.path !== sandbox.cgroup?.path
    ? b.cgroup
    : null;
  const base = creatingState(id, b, {
    pid: sandbox.pid,
    startTime: sandbox.startTime,
    sandbox: rootId,
    ...(compat ? { compatCgroup: compat } : {}),
  });
  store.write(base);
  if (compat) {
    try {
      setUpCgroup(compat, b.spec.resources);
    } catch (e) {
      store.remove(id);
      throw e;
    }
    store.write(base); // with the directories it made, for delete to remove
  }
  let pty: PtyPair | null = null;
  let gofer: ReturnType<typeof startGofer> | null = null;
  let waiter: { pid: number; startTime: number } | null = null;
  try {
    const stdio = preservedFds(o.preserveFds);
    if (b.spec.process.terminal) pty = openConsole(b.spec.process.consoleSize);
    gofer = startGofer(servedDirectories(b.request, b.served), b.mountPoint, {
      detached: true,
      tag: store.dir(id),
      joinCgroups: sandbox.cgroup ? procsFiles(sandbox.cgroup) : [],
      globals: b.globals,
      idMappings: b.request.idMappings ?? null,
    });
    const created: ContainerState = {
      ...base,
      goferPid: gofer.child.pid,
      goferStartTime: processStartTime(gofer.child.pid) ?? 0,
    };
    store.write(created);
    const r = b.request;
    const config: SubcontainerConfig = {
      rootReadOnly: r.rootReadOnly,
      rootOverlay: r.rootOverlay,
      mounts: r.mounts.map(({ hostPath: _h, readOnly: _r, goferFd: _g, ...m }) => m),
      process: r.process,
      maskedPaths: r.maskedPaths ?? [],
      readonlyPaths: r.readonlyPaths ?? [],
      ...(r.seccomp ? { seccomp: r.seccomp } : {}),
      ...(r.resources ? { resources: r.resources } : {}),
      ...(r.idMappings ? { idMappings: r.idMappings } : {}),
      ...fileOwnerMappings(r.idMappings),
      // CRI names the sandbox's pid namespace when the pod shares one.
      sharePidNamespace: b.spec.pidNamespacePath !== null,
      stdioCount: 3 + stdio.length,
    };
    const own = pty ? [pty.slave, pty.slave, pty.slave] : [0, 1, 2];
    callSandbox(
      store.socket(rootId),
      METHOD.createSubcontainer,
      { cid: id, config: encodeConfig(config) },
      [...own, ...stdio, ...gofer.sentryFds],
    );
    if (pty && o.consoleSocket) sendConsole(o.consoleSocket, pty.master);
    for (const point of ["prestart", "createRuntime", "createContainer"] as const) {
      await runHooks(point, b.spec.hooks, shownState(created), logger);
    }
    // What containerd's shim watches: it ends with the container (the sandbox goes on).
    // With a terminal it is also the terminal's host controlling process,
    // forwarding ^C and the like to the container's foreground group.
    const waiterPid = startWaiter(
      store.socket(rootId),
      created,
      pty ? { terminal: pty.slave } : {},
    );
    waiter = { pid: waiterPid, startTime: processStartTime(waiterPid) ?? 0 };
    store.write({
      ...created,
      status: "created",
      waiterPid,
      waiterStartTime: waiter.startTime,
    });
    if (o.pidfdSocket) sendPidfd(o.pidfdSocket, waiterPid);
    // Last: containerd takes the container as created once it is there.
    if (o.pidFile) writeAtomically(o.pidFile, String(waiterPid));
    logger.debug(`create ${id} in the sandbox of ${rootId}: gofer pid ${gofer.child.pid}`);
  } catch (e) {
    // The sandbox may hold it already (a hook failed): it goes from there too.
    try {
      callSandbox(store.socket(rootId), METHOD.destroySubcontainer, { cid: id });
    } catch { /* never created, or the sandbox is gone */ }
    if (gofer) {
      try {
        gofer.child.kill(9);
      } catch { /* gone */ }
      gofer.child.waitSync();
    }
    if (waiter) killAndWait(waiter.pid, waiter.startTime);
    removeContainer(store, id, logger);
    throw e;
  } finally {
    if (pty) [pty.master, pty.slave].forEach(closeQuietly);
    if (gofer) {
      gofer.sentryFds.forEach(closeQuietly);
      gofer.child.close();
    }
  }
}
