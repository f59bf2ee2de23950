/**
 * The sandbox's host cgroup, under cgroup v1 (one directory per mounted
 * hierarchy) or v2 (one directory in the unified hierarchy): found from
 * /proc/self/mountinfo, made, limited, read, removed. Processes join it
 * themselves before they run anything (spawn's `joinCgroups`), so the
 * sandbox and everything it starts are accounted from the start.
 *
 * @module
 */
import { type ControlWrite, controlWrites, type Resources } from "./cgroup_resources.ts";

/** A mounted cgroup hierarchy. */
export interface Hierarchy {
  version: 1 | 2;
  /** Where it is mounted. */
  mountPoint: string;
  /** The cgroup the mount shows as its root (mountinfo's root field). */
  root: string;
  /** v1: its controllers (`cpu`, `memory`, `name=systemd`); v2: none listed. */
  controllers: string[];
}

/** One directory of a cgroup: a hierarchy's controllers and the path on the host. */
export interface CgroupDir {
  controllers: string[];
  dir: string;
}

/** What is kept of a cgroup in the container's state, to find it again. */
export interface CgroupRecord {
  version: 1 | 2;
  /** The path given (after systemd's slice expansion), e.g. `/default/ID`. */
  path: string;
  dirs: CgroupDir[];
  /** The directories dvisor made (removed at delete; ones that existed stay). */
  created: string[];
}

const V1_CONTROLLERS = new Set([
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "pids",
  "devices",
  "freezer",
  "blkio",
  "net_cls",
  "net_prio",
  "perf_event",
  "hugetlb",
  "rdma",
  "misc",
]);

/** Controllers dvisor enables for the sandbox under v2. */
const V2_CONTROLLERS = ["cpu", "cpuset", "hugetlb", "io", "memory", "pids"];

/**
 * The cgroup hierarchies mounted on the host (one entry per hierarchy).
 *
 * @param mountinfo The text of /proc/self/mountinfo.
 * @returns The hierarchies.
 *
 * @example
 * ```ts
 * import { cgroupHierarchies } from "./cgroup.ts";
 * const h = cgroupHierarchies(
 *   "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
 * );
 * if (h[0]?.version !== 2 || h[0].mountPoint !== "/sys/fs/cgroup") throw new Error();
 * ```
 */
export function cgroupHierarchies(
  mountinfo: string = Deno.readTextFileSync("/proc/self/mountinfo"),
): Hierarchy[] {
  const out: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [fsType, , superOptions = ""] = right.split(" ");
    const root = unescapeMount(fields[3] ?? "/");
    const mountPoint = unescapeMount(fields[4] ?? "");
    if (fsType === "cgroup2") {
      if (!seen.has("unified")) out.push({ version: 2, mountPoint, root, controllers: [] });
      seen.add("unified");
    } else if (fsType === "cgroup") {
      const controllers = superOptions.split(",").filter((o) =>
        V1_CONTROLLERS.has(o) || o.startsWith("name=")
      );
      const key = controllers.sort().join(",");
      if (!controllers.length || seen.has(key)) continue;
      seen.add(key);
      out.push({ version: 1, mountPoint, root, controllers });
    }
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Expands a systemd slice name into its path (`a-b.slice` is
 * `a.slice/a-b.slice`; `-.slice` is the root).
 */
function slicePath(slice: string): string {
  if (slice === "" || slice === "-.slice") return "";
  if (!slice.endsWith(".slice") || slice.includes("/")) {
    throw new RangeError(`Invalid systemd slice ${slice}: use a name like system.slice`);
  }
  const parts = slice.slice(0, -".slice".length).split("-");
  if (parts.some((p) => p === "")) {
    throw new RangeError(`Invalid systemd slice ${slice}: use a name like system.slice`);
  }
  return parts.map((_, i) => `${parts.slice(0, i + 1).join("-")}.slice`).join("/");
}

/**
 * The cgroup path of a container: `linux.cgroupsPath`, or `/ID` when it has
 * none (as runsc). With `--systemd-cgroup` the path is systemd's
 * `slice:prefix:name` (default `system.slice:dvisor:ID`), which becomes
 * `/slice/prefix-name.scope` as systemd lays it out.
 *
 * @param cgroupsPath The spec's path, or null.
 * @param id The container id.
 * @param systemd Whether `--systemd-cgroup` was given.
 * @returns The path; absolute, or relative to the runtime's own cgroup.
 * @throws {RangeError} For a systemd path that is not `slice:prefix:name`.
 *
 * @example
 * ```ts
 * import { containerCgroupPath } from "./cgroup.ts";
 * if (containerCgroupPath(null, "c1", false) !== "/c1") throw new Error();
 * const p = containerCgroupPath("kubepods-besteffort.slice:cri:c1", "c1", true);
 * if (p !== "/kubepods.slice/kubepods-besteffort.slice/cri-c1.scope") throw new Error(p);
 * ```
 */
export function containerCgroupPath(
  cgroupsPath: string | null,
  id: string,
  systemd: boolean,
): string {
  if (!systemd) return cgroupsPath || `/${id}`;
  const parts = (cgroupsPath || `system.slice:dvisor:${id}`).split(":");
  if (parts.length !== 3) {
    throw new RangeError(
      `Invalid cgroupsPath ${cgroupsPath} for --systemd-cgroup: use slice:prefix:name`,
    );
  }
  const [slice, prefix, name] = parts as [string, string, string];
  const parent = slicePath(slice || "system.slice");
  const unit = name.endsWith(".slice") ? slicePath(name) : `${prefix}-${name}.scope`;
  return `/${parent ? `${parent}/` : ""}${unit}`;
}

/** The runtime's own cgroup in each hierarchy, from /proc/self/cgroup. */
function ownCgroups(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[2] === "") out.set("unified", m[3]!);
    for (const c of m[2]!.split(",")) if (c) out.set(c, m[3]!);
  }
  return out;
}

/**
 * Finds where a cgroup path lives on this host (nothing is made).
 *
 * @param path Absolute (from each hierarchy's root) or relative to the
 *   runtime's own cgroup.
 * @param hierarchies The mounted hierarchies (default: this host's).
 * @param self The text of /proc/self/cgroup (for relative paths).
 * @returns The record of the cgroup; `created` lists the directories that
 *   do not exist yet ({@linkcode makeCgroup} makes them).
 * @throws {Error} When the host has no cgroup file system mounted.
 *
 * @example
 * ```ts
 * import { locateCgroup } from "./cgroup.ts";
 * const r = locateCgroup("/c1", [{ version: 2, mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] }]);
 * if (r.dirs[0]?.dir !== "/sys/fs/cgroup/c1") throw new Error();
 * ```
 */
export function locateCgroup(
  path: string,
  hierarchies: Hierarchy[] = cgroupHierarchies(),
  self?: string,
): CgroupRecord {
  if (path.split("/").includes("..")) {
    throw new RangeError(`Invalid cgroupsPath ${path}: it must not contain ".."`);
  }
  const v1 = hierarchies.filter((h) => h.version === 1);
  const v2 = hierarchies.filter((h) => h.version === 2);
  // Hybrid hosts: v1 controllers, and membership in the unified hierarchy too (as runc).
  const chosen = v1.length ? [...v1, ...v2] : v2;
  if (!chosen.length) {
    throw new Error("No cgroup file system is mounted: mount one on /sys/fs/cgroup");
  }
  let own: Map<string, string> | null = null;
  const dirs = chosen.map((h) => {
    let inHierarchy = path;
    if (!path.startsWith("/")) {
      own ??= ownCgroups(self ?? Deno.readTextFileSync("/proc/self/cgroup"));
      const base = own.get(h.version === 2 ? "unified" : h.controllers[0]!) ?? "/";
      inHierarchy = `${base}/${path}`;
    }
    // A mount of a sub-tree (in a cgroup namespace) shows paths from its root.
    if (h.root !== "/" && (inHierarchy + "/").startsWith(h.root + "/")) {
      inHierarchy = inHierarchy.slice(h.root.length);
    }
    const clean = inHierarchy.split("/").filter((p) => p && p !== ".").join("/");
    return { controllers: h.controllers, dir: clean ? `${h.mountPoint}/${clean}` : h.mountPoint };
  });
  // What does not exist yet is dvisor's to make and, at delete, to remove.
  const created = dirs.filter((d) => !exists(d.dir)).map((d) => d.dir);
  return { version: v1.length ? 1 : 2, path, dirs, created };
}

/**
 * Makes a cgroup's directories (parents too), as needed: under v1 a new
 * cpuset directory gets its parent's CPUs and memory nodes; under v2 the
 * parents delegate the controllers dvisor uses.
 *
 * @param r The cgroup.
 * @throws {Deno.errors.PermissionDenied} And other file errors (what was
 *   made so far is in `r.created`, for {@linkcode removeCgroup}).
 */
export function makeCgroup(r: CgroupRecord): void {
  for (const { controllers, dir } of r.dirs) {
    const path: string[] = [];
    for (let d = dir; d && !isMountPoint(d); d = d.slice(0, d.lastIndexOf("/"))) path.unshift(d);
    for (const d of path) {
      const parent = d.slice(0, d.lastIndexOf("/"));
      if (!exists(d)) {
        if (r.version === 2) delegate(parent);
        Deno.mkdirSync(d);
      }
      // A v1 cpuset with no CPUs or memory nodes takes no process (ENOSPC),
      // made by dvisor or not: it gets its parent's.
      if (r.version === 1 && controllers.includes("cpuset")) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          if (readControl(d, f) === "") Deno.writeTextFileSync(`${d}/${f}`, readControl(parent, f));
        }
      }
    }
  }
}

/** Whether a directory is the root of a cgroup hierarchy (it has no parent cgroup). */
function isMountPoint(dir: string): boolean {
  try {
    const parent = Deno.statSync(dir.slice(0, dir.lastIndexOf("/")) || "/");
    return Deno.statSync(dir).dev !== parent.dev;
  } catch {
    return false;
  }
}

/** v2: lets a directory's children use the controllers dvisor sets (those it has). */
function delegate(dir: string): void {
  const have = readControl(dir, "cgroup.controllers").split(" ");
  const on = readControl(dir, "cgroup.subtree_control").split(" ");
  for (const c of V2_CONTROLLERS) {
    if (have.includes(c) && !on.includes(c)) {
      Deno.writeTextFileSync(`${dir}/cgroup.subtree_control`, `+${c}`);
    }
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a control file, trimmed ("" when it does not exist).
 *
 * @param dir The cgroup directory.
 * @param file The file.
 * @returns Its text.
 */
export function readControl(dir: string, file: string): string {
  try {
    return Deno.readTextFileSync(`${dir}/${file}`).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/**
 * The directory of a cgroup that holds a controller's files.
 *
 * @param r The cgroup.
 * @param controller `memory`, `cpu`, ...
 * @returns The directory, or null when the host has no such controller.
 */
export function controllerDir(r: CgroupRecord, controller: string): string | null {
  if (r.version === 2) return r.dirs[0]?.dir ?? null;
  return r.dirs.find((d) => d.controllers.includes(controller))?.dir ?? null;
}

/**
 * The `cgroup.procs` files a process writes itself into to join the cgroup.
 *
 * @param r The cgroup.
 * @returns One per hierarchy.
 */
export function procsFiles(r: CgroupRecord): string[] {
  return r.dirs.map((d) => `${d.dir}/cgroup.procs`);
}

/**
 * Sets resource limits on a cgroup.
 *
 * @param r The cgroup.
 * @param res The limits (only the fields given change).
 * @throws {Error} Naming the control file and value the kernel refused,
 *   or a limit this host's cgroups cannot express.
 */
export function setResources(r: CgroupRecord, res: Resources): void {
  const memoryDir = controllerDir(r, "memory");
  const current = r.version === 2 && memoryDir ? readControl(memoryDir, "memory.max") : "";
  const cpuDir = r.version === 2 ? controllerDir(r, "cpu") : null;
  const cpuQuota = cpuDir ? readControl(cpuDir, "cpu.max").split(" ")[0] : "";
  const writes = controlWrites(r.version, res, {
    ...(/^\d+$/.test(current) ? { memoryLimit: Number(current) } : {}),
    ...(cpuQuota ? { cpuQuota } : {}),
  });
  for (const w of writes) {
    const dir = controllerDir(r, w.controller === "unified" ? "memory" : w.controller);
    if (!dir) {
      if (w.mayFail) continue;
      throw new Error(
        `The host has no ${w.controller} cgroup controller: remove the ${w.controller} limits`,
      );
    }
    try {
      const pick = w.fallback && !exists(`${dir}/${w.file}`) ? w.fallback : w;
      Deno.writeTextFileSync(`${dir}/${pick.file}`, pick.value, { create: false });
    } catch (e) {
      if (w.mayFail) continue;
      throw new Error(
        `Cannot set ${w.file} to ${w.value} in ${dir}: ${refusal(e, dir, w, r.version)}`,
      );
    }
  }
}

/** Why the kernel refused a control file write, in words. */
function refusal(e: unknown, dir: string, w: ControlWrite, version: 1 | 2): string {
  if (e instanceof Deno.errors.NotFound) return "the host kernel does not support it";
  if ((e as { code?: string })?.code === "EBUSY" && w.controller === "memory") {
    const usage = readControl(dir, version === 1 ? "memory.usage_in_bytes" : "memory.current");
    return `the container already uses ${usage} bytes: give a larger limit`;
  }
  // Deno's message ends with the call and path, which the caller already names.
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/ \(os error \d+\).*$/, "");
}

/**
 * Removes the directories dvisor made for a cgroup (its processes must be
 * gone; a directory the kernel still finds busy is retried for a moment).
 *
 * @param r The cgroup.
 * @returns The directories that could not be removed.
 */
export function removeCgroup(r: CgroupRecord): string[] {
  const left: string[] = [];
  for (const dir of r.created) {
    for (let attempt = 0;; attempt++) {
      try {
        Deno.removeSync(dir);
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        // Exiting processes leave the cgroup a little after they are reaped.
        if (attempt >= 50) {
          left.push(dir);
          break;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }
  return left;
}

/**
 * How many times the kernel's OOM killer has killed a process of the
 * cgroup (v1 memory.oom_control and v2 memory.events `oom_kill`).
 *
 * @param r The cgroup.
 * @returns The count (0 when the kernel does not say).
 */
export function oomKills(r: CgroupRecord): number {
  const dir = controllerDir(r, "memory");
  if (!dir) return 0;
  const text = readControl(dir, r.version === 2 ? "memory.events" : "memory.oom_control");
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}
