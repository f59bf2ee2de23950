/**
 * Reading an OCI bundle's `config.json`: what dvisor honours of the
 * runtime spec, checked, with one clear error per problem.
 *
 * @module
 */
import { parseSeccomp, type SeccompProfile } from "./oci_seccomp.ts";
import { type Ignored, parseResources } from "./oci_resources.ts";
import type { IdMappings, IdRange } from "../vfs/id_map.ts";
import type { Resources } from "../../platform/cgroup_resources.ts";
import { CAPABILITIES, capabilityNumber } from "../../platform/caps.ts";
import type { ProcessConfig } from "./start_process.ts";

/** A problem with the bundle the user has to fix. */
export class SpecError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "SpecError";
  }
}

/** A mount as dvisor makes it. */
export interface SpecMount {
  /** Where, inside the container. */
  destination: string;
  /** tmpfs, proc, devfs (for a tmpfs on /dev), sysfs, cgroup, or bind (served by the gofer). */
  kind: "tmpfs" | "proc" | "devfs" | "devpts" | "sysfs" | "cgroup" | "mqueue" | "bind";
  /** For bind: the host path. */
  source?: string;
  /** Mount flags. */
  readOnly: boolean;
  nosuid: boolean;
  nodev: boolean;
  noexec: boolean;
  /** tmpfs size in bytes. */
  sizeBytes?: number;
  /** tmpfs root mode. */
  mode?: number;
}

/** An OCI process as parsed: a process configuration that says whether it wants a terminal. */
export type SpecProcess =
  & Required<Pick<ProcessConfig, "capabilities" | "rlimits" | "noNewPrivileges">>
  & ProcessConfig
  & {
    terminal: boolean;
    /** The terminal's window size (`consoleSize`), when given. */
    consoleSize?: { rows: number; cols: number };
  };

/** The parts of config.json dvisor uses. */
export interface Spec {
  /** Spec version. */
  ociVersion: string;
  /** The rootfs, absolute. */
  rootPath: string;
  /** root.readonly. */
  rootReadOnly: boolean;
  /** Hostname. */
  hostname: string;
  /** NIS domain name (`domainname`); "" leaves the kernel's "(none)", as runc. */
  domainname: string;
  /** The process (with its capability sets and limits always given). */
  process: SpecProcess;
  /** Mounts, in order. */
  mounts: SpecMount[];
  /** Mounts dvisor does not make, with why (for the debug log). */
  skipped: string[];
  /** Annotations. */
  annotations: Record<string, string>;
  /** linux.maskedPaths: hidden (an empty directory, or /dev/null for a file). */
  maskedPaths: string[];
  /** linux.sysctl: namespaced kernel settings, kept by the Sentry (dotted keys). */
  sysctl: Record<string, string>;
  /** linux.seccomp: the container's own system call filter, applied by the Sentry. */
  seccomp?: SeccompProfile;
  /** linux.readonlyPaths: made read-only. */
  readonlyPaths: string[];
  /** hooks, by the point in the lifecycle they run at. */
  hooks: Partial<Record<HookPoint, Hook[]>>;
  /** linux.cgroupsPath: the sandbox's host cgroup (null: dvisor picks one). */
  cgroupsPath: string | null;
  /** linux.resources: the limits of that cgroup. */
  resources: Resources;
  /** Fields of linux.resources dvisor does not apply, with why. */
  ignoredResources: Ignored[];
  /**
   * The user namespace's linux.uidMappings/gidMappings (null: none). With
   * {@linkcode Spec.userNamespacePath} they may be left out: the
   * namespace's own are read by the caller (runc reads them so).
   */
  idMappings: IdMappings | null;
  /** The user namespace linux.namespaces names to join, or null. */
  userNamespacePath: string | null;
  /** The pid namespace linux.namespaces names to join (a pod's shared one), or null. */
  pidNamespacePath: string | null;
  /** The network namespace linux.namespaces names to join (a CNI or Docker one), or null. */
  networkNamespacePath: string | null;
}

/** RLIMIT_* names and numbers. */
export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    throw new SpecError(`config.json: ${what} must be an array of strings`);
  }
  return v as string[];
}

function int(v: unknown, what: string, min = 0, max = 0xffffffff): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new SpecError(`config.json: ${what} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function capMask(names: unknown, what: string): bigint {
  let mask = 0n;
  for (const n of strings(names, what)) {
    try {
      mask |= 1n << BigInt(capabilityNumber(n));
    } catch {
      throw new SpecError(`config.json: ${what} names an unknown capability ${n}`);
    }
  }
  return mask;
}

function absolute(p: string, what: string): string {
  if (!p.startsWith("/")) throw new SpecError(`config.json: ${what} ${p} must be an absolute path`);
  return p;
}

function parseSize(s: string): number {
  const m = /^(\d+)([kmg%]?)$/i.exec(s);
  if (!m) throw new SpecError(`config.json: tmpfs size=${s} is not a size`);
  const n = Number(m[1]);
  switch (m[2]!.toLowerCase()) {
    case "k":
      return n * 1024;
    case "m":
      return n * 1024 * 1024;
    case "g":
      return n * 1024 * 1024 * 1024;
  }
  return n;
}

/**
 * Parses a bundle's config.json.
 *
 * @param text The file's text.
 * @param bundle The bundle directory (root.path is relative to it).
 * @returns What dvisor runs.
 * @throws {SpecError} For invalid JSON or a field dvisor cannot honour.
 *
 * @example
 * ```ts
 * import { parseSpec } from "./oci_spec.ts";
 * const s = parseSpec(JSON.stringify({ ociVersion: "1.0.2", root: { path: "rootfs" }, process: { args: ["sh"], cwd: "/" } }), "/b");
 * if (s.rootPath !== "/b/rootfs") throw new Error();
 * ```
 */
export function parseSpec(text: string, bundle: string): Spec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SpecError(`config.json is not valid JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (!isObject(raw)) throw new SpecError("config.json must hold a JSON object");
  if (typeof raw.ociVersion !== "string") throw new SpecError("config.json: ociVersion is missing");
  const root = raw.root;
  if (!isObject(root) || typeof root.path !== "string" || root.path === "") {
    throw new SpecError("config.json: root.path is missing");
  }
  const rootPath = root.path.startsWith("/") ? root.path : `${bundle}/${root.path}`;
  const process = parseProcess(raw.process);
  const mounts: SpecMount[] = [];
  const skipped: string[] = [];
  for (const m of Array.isArray(raw.mounts) ? raw.mounts : []) {
    if (!isObject(m) || typeof m.destination !== "string") {
      throw new SpecError("config.json: a mount has no destination");
    }
    const destination = absolute(m.destination, "mount destination");
    if (destination.split("/").includes("..")) {
      throw new SpecError(`config.json: mount destination ${destination} must not contain ".."`);
    }
    const options = strings(m.options, `options of mount ${destination}`);
    const type = typeof m.type === "string" ? m.type : "";
    const isBind = type === "bind" || options.includes("bind") || options.includes("rbind");
    const flags = {
      readOnly: options.includes("ro"),
      nosuid: options.includes("nosuid"),
      nodev: options.includes("nodev"),
      noexec: options.includes("noexec"),
    };
    if (isBind) {
      if (typeof m.source !== "string") {
        throw new SpecError(`config.json: bind mount ${destination} has no source`);
      }
      const source = m.source.startsWith("/") ? m.source : `${bundle}/${m.source}`;
      mounts.push({ destination, kind: "bind", source, ...flags });
      continue;
    }
    if (type === "proc") {
      mounts.push({ destination, kind: "proc", ...flags });
    } else if (type === "devpts") {
      mounts.push({ destination, kind: "devpts", ...flags });
    } else if (type === "sysfs") {
      mounts.push({ destination, kind: "sysfs", ...flags });
    } else if (type === "mqueue") {
      mounts.push({ destination, kind: "mqueue", ...flags });
    } else if (type === "cgroup" || type === "cgroup2") {
      mounts.push({ destination, kind: "cgroup", ...flags });
    } else if (type === "tmpfs") {
      const size = options.find((o) => o.startsWith("size="));
      const mode = options.find((o) => o.startsWith("mode="));
      mounts.push({
        destination,
        kind: destination === "/dev" ? "devfs" : "tmpfs",
        ...flags,
        ...(size ? { sizeBytes: parseSize(size.slice(5)) } : {}),
        ...(mode ? { mode: parseInt(mode.slice(5), 8) } : {}),
      });
    } else {
      // Not made yet: an empty read-only directory stands in, so the path
      // exists as the container expects.
      mounts.push({
        destination,
        kind: "tmpfs",
        ...flags,
        readOnly: true,
        mode: 0o755,
      });
      skipped.push(
        `${type || "untyped"} on ${destination}: not made yet, an empty directory stands in`,
      );
    }
  }
  const annotations: Record<string, string> = {};
  if (isObject(raw.annotations)) {
    for (const [k, v] of Object.entries(raw.annotations)) {
      if (typeof v === "string") annotations[k] = v;
    }
  }
  return {
    ociVersion: raw.ociVersion,
    rootPath,
    rootReadOnly: root.readonly === true,
    hostname: typeof raw.hostname === "string" ? raw.hostname : "",
    domainname: typeof raw.domainname === "string" ? raw.domainname : "",
    process,
    mounts,
    skipped,
    annotations,
    maskedPaths: linuxPaths(raw, "maskedPaths"),
    ...seccompOf(raw),
    sysctl: sysctlOf(raw),
    readonlyPaths: linuxPaths(raw, "readonlyPaths"),
    hooks: parseHooks(raw.hooks),
    ...cgroupOf(raw),
    idMappings: idMappingsOf(raw),
    userNamespacePath: namespacePath(raw, "user"),
    pidNamespacePath: namespacePath(raw, "pid"),
    networkNamespacePath: namespacePath(raw, "network"),
  };
}

/** The path linux.namespaces gives a namespace of this type, or null. */
function namespacePath(raw: Record<string, unknown>, type: string): string | null {
  const linux = isObject(raw.linux) ? raw.linux : {};
  const namespaces = Array.isArray(linux.namespaces) ? linux.namespaces : [];
  const ns = namespaces.find((n) => isObject(n) && n.type === type) as
    | Record<string, unknown>
    | undefined;
  return typeof ns?.path === "string" && ns.path ? ns.path : null;
}

/** linux.uidMappings and gidMappings, for a new user namespace. */
function idMappingsOf(raw: Record<string, unknown>): IdMappings | null {
  const linux = isObject(raw.linux) ? raw.linux : {};
  const namespaces = Array.isArray(linux.namespaces) ? linux.namespaces : [];
  const user = namespaces.find((n) => isObject(n) && n.type === "user") as
    | Record<string, unknown>
    | undefined;
  const ranges = (key: string): IdRange[] => {
    const v = linux[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new SpecError(`config.json: linux.${key} must be an array`);
    return v.map((r) => {
      if (!isObject(r)) throw new SpecError(`config.json: linux.${key} entries must be objects`);
      return {
        containerId: int(r.containerID, `linux.${key}.containerID`),
        hostId: int(r.hostID, `linux.${key}.hostID`),
        size: int(r.size, `linux.${key}.size`, 1),
      };
    });
  };
  const uid = ranges("uidMappings");
  const gid = ranges("gidMappings");
  if (!user) {
    if (uid.length || gid.length) {
      throw new SpecError(
        'config.json: uid/gid mappings need a user namespace: add {"type": "user"} to linux.namespaces',
      );
    }
    return null;
  }
  if (typeof user.path === "string" && user.path) {
    // Joined: its own mappings count; given ones must be both (and match them).
    if (!uid.length && !gid.length) return null;
    if (!uid.length || !gid.length) {
      throw new SpecError(
        "config.json: a user namespace needs both linux.uidMappings and linux.gidMappings, or neither with a path",
      );
    }
    return { uid, gid };
  }
  if (!uid.length || !gid.length) {
    throw new SpecError(
      "config.json: a user namespace needs linux.uidMappings and linux.gidMappings",
    );
  }
  return { uid, gid };
}

/** linux.cgroupsPath and linux.resources, checked. */
function cgroupOf(
  raw: Record<string, unknown>,
): Pick<Spec, "cgroupsPath" | "resources" | "ignoredResources"> {
  const linux = isObject(raw.linux) ? raw.linux : {};
  const path = linux.cgroupsPath;
  if (path !== undefined && path !== null && typeof path !== "string") {
    throw new SpecError("config.json: linux.cgroupsPath must be a string");
  }
  try {
    const { resources, ignored } = parseResources(linux.resources, "linux.resources");
    return { cgroupsPath: path || null, resources, ignoredResources: ignored };
  } catch (e) {
    throw new SpecError(`config.json: ${e instanceof Error ? e.message : e}`);
  }
}

/** Where in the lifecycle a hook runs. */
export type HookPoint =
  | "prestart"
  | "createRuntime"
  | "createContainer"
  | "startContainer"
  | "poststart"
  | "poststop";

/** A hook: a host program the runtime runs with the container's state on its stdin. */
export interface Hook {
  /** Absolute path of the program. */
  path: string;
  /** argv, argv[0] included (default: the path). */
  args: string[];
  /** Its environment. */
  env: string[];
  /** Seconds it may take (none: no limit). */
  timeout?: number;
}

/** Every hook point, in lifecycle order. */
export const HOOK_POINTS: readonly HookPoint[] = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
];

function parseHooks(raw: unknown): Partial<Record<HookPoint, Hook[]>> {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new SpecError("config.json: hooks must be an object");
  const out: Partial<Record<HookPoint, Hook[]>> = {};
  for (const point of HOOK_POINTS) {
    const list = raw[point];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new SpecError(`config.json: hooks.${point} must be an array`);
    out[point] = list.map((h: unknown, i: number) => {
      const what = `hooks.${point}[${i}]`;
      if (!isObject(h) || typeof h.path !== "string") {
        throw new SpecError(`config.json: ${what} has no path`);
      }
      const path = absolute(h.path, `${what}.path`);
      const args = h.args === undefined ? [path] : strings(h.args, `${what}.args`);
      const timeout = h.timeout === undefined ? undefined : int(h.timeout, `${what}.timeout`, 1);
      return {
        path,
        args: args.length ? args : [path],
        env: strings(h.env, `${what}.env`),
        ...(timeout !== undefined ? { timeout } : {}),
      };
    });
  }
  return out;
}

/** Sysctls a container may set, as runc allows them: those its own namespaces hold. */
const NAMESPACED_SYSCTL =
  /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced|hostname|domainname)|fs\.mqueue\.[a-z_]+|net\.[a-z0-9_.-]+)$/;

/**
 * linux.sysctl, checked for shape and for keys a container may set; their
 * values are checked by checkSysctls (oci_sysctl.ts), which
 * loads the namespaces that hold them.
 */
function sysctlOf(raw: Record<string, unknown>): Record<string, string> {
  const linux = isObject(raw.linux) ? raw.linux : {};
  if (linux.sysctl === undefined || linux.sysctl === null) return {};
  if (!isObject(linux.sysctl)) throw new SpecError("config.json: linux.sysctl must be an object");
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(linux.sysctl)) {
    if (typeof value !== "string") {
      throw new SpecError(`config.json: linux.sysctl ${key} must be a string`);
    }
    const dotted = key.replaceAll("/", ".");
    if (!NAMESPACED_SYSCTL.test(dotted)) {
      throw new SpecError(
        `config.json: sysctl ${key} is not in a separate kernel namespace: remove it from linux.sysctl`,
      );
    }
    out[dotted] = value;
  }
  return out;
}

/** linux.seccomp, parsed, when there is one. */
function seccompOf(raw: Record<string, unknown>): { seccomp?: SeccompProfile } {
  const linux = isObject(raw.linux) ? raw.linux : {};
  if (linux.seccomp === undefined || linux.seccomp === null) return {};
  try {
    return { seccomp: parseSeccomp(linux.seccomp) };
  } catch (e) {
    throw new SpecError(`config.json: ${e instanceof Error ? e.message : e}`);
  }
}

/** linux.maskedPaths or linux.readonlyPaths: absolute paths without "..". */
function linuxPaths(raw: Record<string, unknown>, key: string): string[] {
  const linux = isObject(raw.linux) ? raw.linux : {};
  return strings(linux[key], `linux.${key}`).map((p) => {
    const path = absolute(p, `linux.${key}`);
    if (path.split("/").includes("..")) {
      throw new SpecError(`config.json: linux.${key} entry ${p} must not contain ".."`);
    }
    return path;
  });
}

/**
 * Parses an OCI `Process` object (config.json's process, or the
 * process.json `exec --process` reads).
 *
 * @param proc The object.
 * @returns The process.
 * @throws {SpecError} When it is not a valid process.
 *
 * @example
 * ```ts
 * import { parseProcess } from "./oci_spec.ts";
 * const p = parseProcess({ args: ["sh"], cwd: "/", user: { uid: 1, gid: 2 } });
 * if (p.uid !== 1 || p.args[0] !== "sh") throw new Error();
 * ```
 */
export function parseProcess(proc: unknown): SpecProcess {
  if (!isObject(proc)) throw new SpecError("config.json: process is missing");
  const args = strings(proc.args, "process.args");
  if (args.length === 0) throw new SpecError("config.json: process.args must name a program");
  const cwd = typeof proc.cwd === "string" ? absolute(proc.cwd, "process.cwd") : "/";
  const user = isObject(proc.user) ? proc.user : {};
  const caps = isObject(proc.capabilities) ? proc.capabilities : {};
  const rlimits = (Array.isArray(proc.rlimits) ? proc.rlimits : []).map((r: unknown) => {
    if (!isObject(r) || typeof r.type !== "string" || !(r.type in RLIMITS)) {
      throw new SpecError(
        `config.json: process.rlimits has an unknown type ${isObject(r) ? r.type : r}`,
      );
    }
    const hard = BigInt(int(r.hard, `${r.type}.hard`, 0, Number.MAX_SAFE_INTEGER));
    const soft = BigInt(int(r.soft, `${r.type}.soft`, 0, Number.MAX_SAFE_INTEGER));
    if (soft > hard) {
      throw new SpecError(`config.json: ${r.type} has soft ${soft} above hard ${hard}`);
    }
    return { resource: RLIMITS[r.type]!, soft, hard };
  });
  const size = isObject(proc.consoleSize) ? proc.consoleSize : null;
  return {
    terminal: proc.terminal === true,
    ...(size
      ? {
        consoleSize: {
          rows: int(size.height ?? 0, "process.consoleSize.height", 0, 65535),
          cols: int(size.width ?? 0, "process.consoleSize.width", 0, 65535),
        },
      }
      : {}),
    args,
    env: strings(proc.env, "process.env"),
    cwd,
    uid: int(user.uid ?? 0, "process.user.uid"),
    gid: int(user.gid ?? 0, "process.user.gid"),
    groups: (Array.isArray(user.additionalGids) ? user.additionalGids : []).map((g: unknown) =>
      int(g, "process.user.additionalGids")
    ),
    ...(user.umask !== undefined ? { umask: int(user.umask, "process.user.umask", 0, 0o777) } : {}),
    capabilities: {
      effective: capMask(caps.effective, "process.capabilities.effective"),
      permitted: capMask(caps.permitted, "process.capabilities.permitted"),
      inheritable: capMask(caps.inheritable, "process.capabilities.inheritable"),
      bounding: capMask(caps.bounding, "process.capabilities.bounding"),
      ambient: capMask(caps.ambient, "process.capabilities.ambient"),
    },
    rlimits,
    noNewPrivileges: proc.noNewPrivileges === true,
    ...(proc.oomScoreAdj !== undefined && proc.oomScoreAdj !== null
      ? { oomScoreAdj: int(proc.oomScoreAdj, "process.oomScoreAdj", -1000, 1000) }
      : {}),
  };
}

/**
 * Writes a process back as an OCI `Process` object (what
 * {@linkcode parseProcess} reads): how `dvisor exec` sends one to a sandbox.
 *
 * @param p The process.
 * @returns The object.
 *
 * @example
 * ```ts
 * import { parseProcess, processObject } from "./oci_spec.ts";
 * const p = parseProcess({ args: ["sh"], cwd: "/tmp", capabilities: { bounding: ["CAP_KILL"] } });
 * const q = parseProcess(processObject(p));
 * if (q.cwd !== "/tmp" || q.capabilities?.bounding !== p.capabilities?.bounding) throw new Error();
 * ```
 */
export function processObject(p: SpecProcess): Record<string, unknown> {
  const names = (mask: bigint) => CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
  const rlimitName = Object.fromEntries(Object.entries(RLIMITS).map(([k, v]) => [v, k]));
  return {
    terminal: p.terminal,
    ...(p.consoleSize
      ? { consoleSize: { height: p.consoleSize.rows, width: p.consoleSize.cols } }
      : {}),
    args: p.args,
    env: p.env,
    cwd: p.cwd,
    user: {
      uid: p.uid,
      gid: p.gid,
      additionalGids: p.groups,
      ...(p.umask !== undefined ? { umask: p.umask } : {}),
    },
    ...(p.capabilities
      ? {
        capabilities: {
          effective: names(p.capabilities.effective),
          permitted: names(p.capabilities.permitted),
          inheritable: names(p.capabilities.inheritable),
          bounding: names(p.capabilities.bounding),
          ambient: names(p.capabilities.ambient),
        },
      }
      : {}),
    rlimits: (p.rlimits ?? []).map((r) => ({
      type: rlimitName[r.resource],
      soft: Number(r.soft),
      hard: Number(r.hard),
    })),
    noNewPrivileges: p.noNewPrivileges ?? false,
    ...(p.oomScoreAdj !== undefined ? { oomScoreAdj: p.oomScoreAdj } : {}),
  };
}
