/**
 * Container state under `--root` (as runc's and runsc's `container.go`):
 * one directory per container holding `state.json` (written atomically),
 * a lock file that serialises operations on it, the sandbox's control
 * socket and its exit status. The status on disk is the last one set; a
 * sandbox process that is gone reads as `stopped`.
 *
 * @module
 */
import { callSandbox } from "./control_client.ts";
import { METHOD } from "../core/control/protocol.ts";
import { procStatFields } from "../core/kernel/usage.ts";
import type { CgroupRecord } from "../platform/cgroup.ts";
import { type FileLock, lockFile } from "../platform/flock.ts";
import type { Hook, HookPoint } from "../core/boot/oci_spec.ts";
import type { IdMappings } from "../core/vfs/id_map.ts";

/** A container's status, as the OCI runtime spec names them. */
export type Status = "creating" | "created" | "running" | "paused" | "stopped";

/** What `state` prints (runc's shape), plus what dvisor needs to find the sandbox. */
export interface ContainerState {
  ociVersion: string;
  id: string;
  /** The sandbox process's host pid (0 once stopped). */
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  /** RFC 3339 creation time. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** The sandbox process's start time (/proc/PID/stat field 22): the pid is not reused. */
  startTime: number;
  /** The gofer's host pid and start time. */
  goferPid: number;
  goferStartTime: number;
  /** The spec's hooks (start and delete run theirs from here). */
  hooks?: Partial<Record<HookPoint, Hook[]>>;
  /** The sandbox's host cgroup (none when dvisor runs without one). */
  cgroup?: CgroupRecord;
  /**
   * A pod container's own cgroup, from its cgroupsPath, as runsc makes one:
   * for tools that expect each container's cgroup to exist. Its processes
   * run in the sandbox's cgroup; the limits written here bound nothing.
   */
  compatCgroup?: CgroupRecord;
  /** Its user namespace's mappings (the spec's, or those of the namespace it joined). */
  idMappings?: IdMappings;
  /**
   * A container created in another container's sandbox (a pod): that
   * container's id. `pid` and `startTime` are then its sandbox's.
   */
  sandbox?: string;
  /**
   * A pod container's waiter (see waiter.ts): the pid it shows and that
   * the pid file names, which exits when the container does.
   */
  waiterPid?: number;
  waiterStartTime?: number;
}

/**
 * The state as `runc state` prints it (without dvisor's own fields).
 *
 * @param s The state.
 * @returns The fields runc shows.
 */
export function shownState(s: ContainerState): Record<string, unknown> {
  return {
    ociVersion: s.ociVersion,
    id: s.id,
    pid: s.pid && s.waiterPid ? s.waiterPid : s.pid,
    status: s.status,
    bundle: s.bundle,
    rootfs: s.rootfs,
    created: s.created,
    owner: s.owner,
    ...(Object.keys(s.annotations).length ? { annotations: s.annotations } : {}),
  };
}

/** Ids as runc accepts them: letters, digits, `_`, `+`, `-`, `.`, not `.` or `..`. */
const ID = /^[\w+.-]+$/;

/**
 * Checks a container id.
 *
 * @param id The id.
 * @throws {Error} When it could name a path outside the state directory.
 *
 * @example
 * ```ts
 * import { checkId } from "./container_state.ts";
 * checkId("web-1");
 * ```
 */
export function checkId(id: string): void {
  if (!ID.test(id) || id === "." || id === ".." || id.length > 1024) {
    throw new Error(
      `Invalid container id ${JSON.stringify(id)}: use letters, digits, "_", "+", "-" and "."`,
    );
  }
}

/**
 * A process's start time in clock ticks since boot, or null when it is
 * gone (or a zombie: a sandbox that exited and was not reaped yet).
 *
 * @param pid The process.
 * @returns Field 22 of /proc/PID/stat.
 */
export function processStartTime(pid: number): number | null {
  if (pid <= 0) return null;
  const fields = procStatFields(`/proc/${pid}/stat`);
  if (!fields || fields[0] === "Z" || fields[0] === "X") return null;
  return Number(fields[19]);
}

/**
 * Thrown for a container id that has no state.
 *
 * @example
 * ```ts
 * import { NoSuchContainer } from "./container_state.ts";
 * const e = new NoSuchContainer("web");
 * if (e.message !== "Container web does not exist") throw e;
 * ```
 */
export class NoSuchContainer extends Error {
  /** @param id The container id. */
  constructor(readonly id: string) {
    super(`Container ${id} does not exist`);
    this.name = "NoSuchContainer";
  }
}

/** The containers under one `--root`. */
export class StateStore {
  /** The root directory. */
  readonly root: string;

  /**
   * Opens a state root (made on first use, mode 0711 as runc's).
   *
   * @param root The directory.
   */
  constructor(root: string) {
    this.root = root.replace(/\/+$/, "") || "/";
  }

  /**
   * A container's directory.
   *
   * @param id The container.
   * @returns The path.
   */
  dir(id: string): string {
    checkId(id);
    return `${this.root}/${id}`;
  }

  /**
   * The control socket of a container's sandbox.
   *
   * @param id The container.
   * @returns The path.
   */
  socket(id: string): string {
    return `${this.dir(id)}/control.sock`;
  }

  /**
   * Where a container's requests go: its sandbox's control socket (the
   * sandbox's root container's, for a container created in a pod).
   *
   * @param s The container's state.
   * @returns The path.
   */
  controlSocket(s: ContainerState): string {
    return this.socket(s.sandbox ?? s.id);
  }

  /**
   * Where the sandbox writes the init's exit status.
   *
   * @param id The container.
   * @returns The path.
   */
  exitFile(id: string): string {
    return `${this.dir(id)}/exit`;
  }

  /**
   * Takes the container's lock (exclusive, waiting for it).
   *
   * @param id The container.
   * @returns The lock; release it with `using` or unlock().
   */
  lock(id: string): FileLock {
    checkId(id);
    try {
      // "#" is never in a container id: no container's directory can be this.
      Deno.mkdirSync(`${this.root}/#locks`, { recursive: true, mode: 0o700 });
      return lockFile(`${this.root}/#locks/${id}`);
    } catch (e) {
      if (
        !(e instanceof Deno.errors.PermissionDenied) && (e as { code?: string })?.code !== "EACCES"
      ) {
        throw e;
      }
      throw new Error(
        `Cannot keep state in ${this.root} (permission denied): run as root, or give --root DIR` +
          (Deno.uid() !== 0 ? " or set XDG_RUNTIME_DIR (rootless: $XDG_RUNTIME_DIR/dvisor)" : ""),
      );
    }
  }

  /**
   * Runs `fn` holding the container's lock; the lock file goes too when
   * the container does not exist afterwards (a failed create, a delete, a
   * call for an unknown id), so nothing is left behind.
   *
   * @param id The container.
   * @param fn What to do.
   * @returns What `fn` returns.
   */
  async locked<T>(id: string, fn: () => T | Promise<T>): Promise<T> {
    const lock = this.lock(id);
    try {
      return await fn();
    } finally {
      let exists = true;
      try {
        Deno.statSync(this.dir(id));
      } catch {
        exists = false;
      }
      if (!exists) {
        try {
          Deno.removeSync(lock.path);
        } catch { /* removed meanwhile */ }
      }
      lock.unlock();
    }
  }

  /**
   * Makes a new container's directory.
   *
   * @param id The container.
   * @throws {Error} When the id is taken.
   */
  claim(id: string): void {
    Deno.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      Deno.mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new Error(`Container ${id} already exists: pick another id or delete it first`);
      }
      throw e;
    }
  }

  /**
   * Reads a container's state, its status as it is now.
   *
   * @param id The container.
   * @returns The state.
   * @throws {Error} When there is no such container.
   */
  read(id: string): ContainerState {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${this.dir(id)}/state.json`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new NoSuchContainer(id);
      }
      throw e;
    }
    const s = JSON.parse(text) as ContainerState;
    if (s.status !== "stopped" && s.status !== "creating") {
      if (processStartTime(s.pid) !== s.startTime) s.status = "stopped";
      // In a pod, a container ends before its sandbox does: the sandbox knows.
      else if (s.sandbox && s.status !== "created") s.status = this.#askStatus(s);
    }
    if (s.status === "stopped") s.pid = 0;
    return s;
  }

  #askStatus(s: ContainerState): Status {
    try {
      const r = callSandbox(this.controlSocket(s), METHOD.state, { cid: s.id }) as {
        status: Status;
      };
      return r.status;
    } catch {
      return "stopped";
    }
  }

  /**
   * Writes a container's state atomically (a temporary file renamed over).
   *
   * @param s The state.
   */
  write(s: ContainerState): void {
    const dir = this.dir(s.id);
    const tmp = `${dir}/.state.json.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
    Deno.renameSync(tmp, `${dir}/state.json`);
  }

  /**
   * Removes a container's directory (idempotent).
   *
   * @param id The container.
   */
  remove(id: string): void {
    try {
      Deno.removeSync(this.dir(id), { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /**
   * The containers that have a state file.
   *
   * @returns Their states, by id.
   */
  list(): ContainerState[] {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.root)];
    } catch {
      return [];
    }
    const out: ContainerState[] = [];
    for (const e of entries.filter((e) => e.isDirectory).sort((a, b) => a.name < b.name ? -1 : 1)) {
      try {
        out.push(this.read(e.name));
      } catch {
        // a container being created or deleted
      }
    }
    return out;
  }
}
