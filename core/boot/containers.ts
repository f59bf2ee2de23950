/**
 * The containers of one sandbox (a pod, as runsc's multi-container
 * sandboxes): the root container the sandbox was booted with, and the
 * containers created in it later (CreateSubcontainer), each with its own
 * file servers, mount namespace, seccomp profile and init. All share the
 * sandbox's kernel: one pid space (as a pod with a shared process
 * namespace), hostname, IPC and network.
 *
 * @module
 */
import { IdMappedBackend, type IdMappings } from "../vfs/id_map.ts";
import type { FsBackend } from "../vfs/backend.ts";
import type { Resources } from "../../platform/cgroup_resources.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process, Task } from "../kernel/task.ts";
import { closeQuietly } from "../../platform/fd.ts";
import { GoferClient } from "../vfs/gofer_client.ts";
import { MountNamespace } from "../vfs/mount.ts";
import { type MountConfig, populateMounts, rootMount } from "./mounts.ts";
import type { SeccompProfile } from "./oci_seccomp.ts";
import { type ProcessConfig, startProcess } from "./start_process.ts";

/** A container created in a running sandbox, as `dvisor create` sends it. */
export interface SubcontainerConfig {
  rootReadOnly: boolean;
  rootOverlay: boolean;
  /** Its mounts; each bind mount takes the next file server socket. */
  mounts: Array<Omit<MountConfig, "backend">>;
  /** Its init. */
  process: ProcessConfig;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Its linux.seccomp (none: no filter). */
  seccomp?: SeccompProfile;
  /** Its linux.resources (shown in its cgroup file system). */
  resources?: Resources;
  /** Its user namespace mappings (shown in /proc/PID/uid_map and gid_map). */
  idMappings?: IdMappings;
  /** The mappings file owners are translated across, when not `idMappings` (a rootless gofer's). */
  fileIdMappings?: IdMappings;
  /** It joins the sandbox's pid namespace (its spec names it) instead of having its own. */
  sharePidNamespace?: boolean;
  /** How many of the descriptors sent are its stdio (0, 1, 2 and preserved ones). */
  stdioCount: number;
}

/** One container, as the control handlers drive it. */
export interface Container {
  /** Its id ("" for the root container). */
  readonly id: string;
  /** Its init (null once forgotten). */
  init(): Process | null;
  /** Whether its init was started. */
  started(): boolean;
  /** Starts its init (once). */
  start(): void;
  /**
   * Starts another process in it (`dvisor exec`).
   *
   * @param pc What it runs.
   * @param stdio Host descriptors for its 0, 1 and 2 (owned).
   * @returns Its pid.
   */
  exec(pc: ProcessConfig, stdio: number[]): number;
}

/** How the containers start processes: a new stub, and resuming a loaded task. */
export interface ProcessStarter {
  /** A stopped stub with an empty address space (a fork of the zygote). */
  newStub(): number;
  /** Lets a loaded task run. */
  resume(t: Task): void;
}

/**
 * Starts another process in a container (`dvisor exec`): a new stub, its
 * program loaded, let run.
 *
 * @param k The kernel.
 * @param starter How processes start.
 * @param pc What it runs.
 * @param stdio Host descriptors for its 0, 1 and 2 (owned).
 * @param where Its container's mount namespace, id and seccomp profile (default the root's).
 * @returns Its pid.
 * @throws {StartError} When the program cannot start.
 */
export function execIn(
  k: Kernel,
  starter: ProcessStarter,
  pc: ProcessConfig,
  stdio: number[],
  where: { ns?: MountNamespace; container?: string; seccomp?: SeccompProfile | null } = {},
): number {
  const { task } = startProcess(k, starter.newStub(), pc, stdio, { init: false, ...where });
  starter.resume(task);
  return task.tid;
}

interface Sub {
  container: Container;
  backends: GoferClient[];
}

/** The sandbox's containers. */
export class SandboxContainers {
  readonly #k: Kernel;
  readonly #root: Container;
  readonly #starter: ProcessStarter;
  readonly #subs = new Map<string, Sub>();

  /**
   * Makes the registry.
   *
   * @param k The kernel.
   * @param root The root container.
   * @param starter How processes start.
   */
  constructor(k: Kernel, root: Container, starter: ProcessStarter) {
    this.#k = k;
    this.#root = root;
    this.#starter = starter;
  }

  /**
   * A container.
   *
   * @param cid Its id; none or "" for the root container.
   * @returns It, or undefined.
   */
  get(cid?: string): Container | undefined {
    return cid ? this.#subs.get(cid)?.container : this.#root;
  }

  /**
   * Creates a container: its file servers, mounts and init (loaded, not
   * running until {@linkcode Container.start}).
   *
   * @param cid Its id (not "").
   * @param cfg What it is.
   * @param fds Its stdio, then its file server sockets (root first), all owned.
   * @throws {Error} When it exists already, the descriptors do not match,
   *   or it cannot be set up (its program cannot start, a mount fails).
   */
  create(cid: string, cfg: SubcontainerConfig, fds: number[]): void {
    const binds = cfg.mounts.filter((m) => m.type === "bind").length;
    let owned = fds;
    const backends: GoferClient[] = [];
    try {
      if (!cid || this.#subs.has(cid)) throw new Error(`A container ${cid} exists already`);
      if (fds.length !== cfg.stdioCount + 1 + binds || cfg.stdioCount < 3) {
        throw new Error(
          `CreateSubcontainer needs ${cfg.stdioCount} stdio and ${
            1 + binds
          } file server descriptors, not ${fds.length}`,
        );
      }
      const stdio = fds.slice(0, cfg.stdioCount);
      for (const fd of fds.slice(cfg.stdioCount)) {
        owned = owned.filter((o) => o !== fd);
        backends.push(new GoferClient(fd));
      }
      const fileIds = cfg.fileIdMappings ?? cfg.idMappings;
      const mapped = (b: FsBackend): FsBackend => fileIds ? new IdMappedBackend(b, fileIds) : b;
      const ns = new MountNamespace(
        rootMount(mapped(backends[0]!), cfg.rootReadOnly, cfg.rootOverlay),
      );
      let next = 1;
      const mounts: MountConfig[] = cfg.mounts.map((m) =>
        m.type === "bind" ? { ...m, backend: mapped(backends[next++]!) } : m
      );
      populateMounts(this.#k, ns, {
        mounts,
        container: cid,
        ...(cfg.resources ? { resources: cfg.resources } : {}),
        maskedPaths: cfg.maskedPaths ?? [],
        readonlyPaths: cfg.readonlyPaths ?? [],
      });
      owned = [];
      if (cfg.sharePidNamespace) this.#k.pidNamespaces.set(cid, "");
      const { task } = startProcess(this.#k, this.#starter.newStub(), cfg.process, stdio, {
        init: true,
        ns,
        container: cid,
        seccomp: cfg.seccomp ?? null,
      });
      let started = false;
      const container: Container = {
        id: cid,
        init: () => this.#k.inits.get(cid) ?? null,
        started: () => started,
        start: () => {
          if (started) return;
          started = true;
          this.#starter.resume(task);
        },
        exec: (pc, execStdio) =>
          execIn(this.#k, this.#starter, pc, execStdio, {
            ns,
            container: cid,
            seccomp: cfg.seccomp ?? null,
          }),
      };
      this.#subs.set(cid, { container, backends });
      if (cfg.idMappings) this.#k.idMappings.set(cid, cfg.idMappings);
    } catch (e) {
      owned.forEach(closeQuietly);
      backends.forEach((b) => b.close());
      throw e;
    }
  }

  /**
   * Destroys a container: kills its processes and, once they are gone,
   * drops its file servers (its gofer then ends) and forgets it.
   *
   * @param cid The container (not the root: that one ends the sandbox).
   * @param done Called once it is gone.
   * @throws {Error} For the root container or one that does not exist.
   */
  destroy(cid: string, done: () => void): void {
    const sub = this.#subs.get(cid);
    if (!cid || !sub) throw new Error(`No container ${cid} in this sandbox`);
    for (const p of this.#k.liveProcesses(cid)) this.#k.killProcess(p, 9);
    this.whenGone(cid, () => {
      sub.backends.forEach((b) => b.close());
      this.#subs.delete(cid);
      this.#k.inits.delete(cid);
      this.#k.idMappings.delete(cid);
      this.#k.pidNamespaces.delete(cid);
      done();
    });
  }

  /**
   * Runs `fn` once no process of a container is left.
   *
   * @param cid The container.
   * @param fn The callback.
   */
  whenGone(cid: string, fn: () => void): void {
    if (this.#k.liveProcesses(cid).length === 0) {
      fn();
      return;
    }
    this.#k.processExits.subscribe(() => this.whenGone(cid, fn));
  }

  /**
   * What happens when a container's init ends (its pid namespace's end):
   * every other process of the container is killed.
   *
   * @param p The init that exited.
   */
  initExited(p: Process): void {
    for (const other of this.#k.liveProcesses(p.container)) this.#k.killProcess(other, 9);
  }
}
