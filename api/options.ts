/**
 * The library's options, checked, and the OCI spec they make: a sandbox
 * made with `Sandbox.create` runs exactly what a bundle with that
 * config.json would under `dvisor run`.
 *
 * @module
 */
import { PLATFORMS } from "../platform/platform_name.ts";
import { defaultSpec } from "../cli/spec.ts";
import { SandboxOptionsError } from "./errors.ts";
import type { ImageProgress } from "./oci_image.ts";

/** Where a stream of the sandboxed process goes: to the caller, to the caller's own, or nowhere. */
export type StdioOption = "piped" | "inherit" | "null";

/** A host directory or file shown in the sandbox (through the gofer). */
export interface BindMount {
  /** The host path. */
  source: string;
  /** Where the sandbox sees it (absolute). */
  target: string;
  /** Read-only (default false). */
  readOnly?: boolean;
}

/** A memory-backed file system inside the sandbox. */
export interface TmpfsMount {
  /** "tmpfs". */
  type: "tmpfs";
  /** Where (absolute). */
  target: string;
  /** Its size limit in bytes (default: none). */
  sizeBytes?: number;
}

/** Limits on what the sandbox may use of the host (its host cgroup: needs root). */
export interface SandboxLimits {
  /** Memory, the sandbox's own (about 100 MiB) included, in bytes. */
  memoryBytes?: number;
  /** CPU time, in CPUs (1.5 = one and a half CPUs' worth). */
  cpus?: number;
  /**
   * How many host processes and threads the sandbox may have at once:
   * each process in it is one, and dvisor's own take 15 to 50 (more while it starts).
   */
  pids?: number;
}

/** What a process runs: shared by the sandbox's first process and `exec`. */
export interface ProcessOptions {
  /** The program and its arguments; the program is looked up in PATH. */
  args: string[];
  /** Environment (default: PATH only). */
  env?: Record<string, string>;
  /** Working directory (default: `/`, or the caller's with `rootfs: "host"`). */
  cwd?: string;
  /** Who it runs as (default root, uid 0, inside the sandbox). */
  user?: { uid: number; gid: number; groups?: number[] };
  /** stdin (default "piped"). */
  stdin?: StdioOption;
  /** stdout (default "piped"). */
  stdout?: StdioOption;
  /** stderr (default "piped"). */
  stderr?: StdioOption;
}

/** What to sandbox and how. */
export interface SandboxOptions extends Omit<ProcessOptions, "args"> {
  /** The program and its arguments (default: the image's entrypoint and command). */
  args?: string[];
  /**
   * The container's root: a directory holding its files (written to unless
   * `overlay` or `readOnly`), or `"host"` for the host's own root seen
   * read-only with a writable layer in the sandbox (as `dvisor do`).
   * Give this or `image`.
   */
  rootfs?: string;
  /**
   * An OCI image layout directory (`podman save --format oci-dir`, `skopeo
   * copy ... oci:DIR`): unpacked into the sandbox's state directory, its
   * config's environment, command, working directory and user the
   * defaults. Give this or `rootfs`.
   */
  image?: string;
  /** Called while an image is unpacked. */
  onProgress?: (progress: ImageProgress) => void;
  /** The root is read-only (default false; always with `"host"` without overlay). */
  readOnly?: boolean;
  /** Writes to the root stay in the sandbox's memory (default: true for `"host"`, else false). */
  overlay?: boolean;
  /** More file systems. */
  mounts?: Array<BindMount | TmpfsMount>;
  /**
   * Networking: `"none"` (default: a loopback of the sandbox's own) or
   * `"host"` (TCP and UDP sockets are host sockets in the host's network).
   */
  network?: "none" | "host";
  /** How system calls are caught: `"seccomp"` (default) or `"ptrace"`. */
  platform?: "seccomp" | "ptrace";
  /** Host resource limits. */
  limits?: SandboxLimits;
  /** The sandbox's hostname (default "dvisor"). */
  hostname?: string;
  /** Where to keep the sandbox's state (default: a new private directory, removed at the end). */
  root?: string;
  /** A directory for the sandbox's debug logs (`--debug-log`). */
  debugLog?: string;
  /** Log every system call to the debug log (`--strace`). */
  strace?: boolean;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function fail(message: string): never {
  throw new SandboxOptionsError(message);
}

function isPositive(n: unknown, integer: boolean): boolean {
  return typeof n === "number" && Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n));
}

/**
 * Checks the process options (for `create` and `exec`).
 *
 * @param o The options.
 * @throws {SandboxOptionsError} Saying which option is wrong.
 */
export function checkProcessOptions(o: ProcessOptions): void {
  if (!Array.isArray(o.args) || o.args.length === 0 || o.args.some((a) => typeof a !== "string")) {
    fail("args must be a non-empty array of strings: give the program and its arguments");
  }
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (!k || k.includes("=") || typeof v !== "string") {
      fail(`env ${k} is not a NAME: "value" pair: give string values and names without "="`);
    }
  }
  if (o.cwd !== undefined && !o.cwd.startsWith("/")) {
    fail(`cwd ${o.cwd} is not absolute: give a path from the sandbox's root`);
  }
  const u = o.user;
  const isId = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) < 2 ** 32;
  if (u && (!isId(u.uid) || !isId(u.gid) || (u.groups ?? []).some((g) => !isId(g)))) {
    fail("A user id is not a whole number from 0 to 2^32-1: give { uid, gid, groups } as numbers");
  }
  for (const s of [o.stdin, o.stdout, o.stderr]) {
    if (s !== undefined && s !== "piped" && s !== "inherit" && s !== "null") {
      fail(`stdio ${s} is unknown: use "piped", "inherit" or "null"`);
    }
  }
}

/**
 * Checks the sandbox's options.
 *
 * @param o The options.
 * @throws {SandboxOptionsError} Saying which option is wrong.
 */
export async function checkSandboxOptions(o: SandboxOptions): Promise<void> {
  if (typeof o !== "object" || o === null) fail("Sandbox.create needs options: { rootfs, args }");
  if ((o.rootfs === undefined) === (o.image === undefined)) {
    fail(
      'Give rootfs (a directory, or "host") or image (an OCI image layout), not both or neither',
    );
  }
  if (o.image !== undefined) {
    if (typeof o.image !== "string" || !(await Deno.stat(o.image).catch(() => null))?.isDirectory) {
      fail(`The image ${o.image} is not a directory: give an OCI image layout directory`);
    }
    // The image gives args; the process is checked once its defaults are in.
    if (o.args !== undefined) checkProcessOptions({ ...o, args: o.args });
  } else {
    checkProcessOptions({ ...o, args: o.args! });
  }
  if (o.rootfs !== undefined && (typeof o.rootfs !== "string" || !o.rootfs)) {
    fail('rootfs is empty: give a directory holding the container\'s files, or "host"');
  }
  if (o.rootfs !== undefined && o.rootfs !== "host") {
    const st = await Deno.stat(o.rootfs).catch(() => null);
    if (!st?.isDirectory) {
      fail(
        `The rootfs ${o.rootfs} is not a directory: give a directory holding the container's files, or "host"`,
      );
    }
  }
  if (o.platform !== undefined && !PLATFORMS.includes(o.platform)) {
    fail(`Unknown platform ${o.platform}: use ${PLATFORMS.join(" or ")}`);
  }
  if (o.network !== undefined && o.network !== "none" && o.network !== "host") {
    fail(`Unknown network ${o.network}: use "none" or "host"`);
  }
  const l = o.limits ?? {};
  if (l.memoryBytes !== undefined && !isPositive(l.memoryBytes, true)) {
    fail(
      `limits.memoryBytes ${l.memoryBytes} is not a positive whole number: give the limit in bytes`,
    );
  }
  if (l.cpus !== undefined && !isPositive(l.cpus, false)) {
    fail(`limits.cpus ${l.cpus} is not a positive number: give CPUs, e.g. 0.5 or 2`);
  }
  if (l.pids !== undefined && !isPositive(l.pids, true)) {
    fail(`limits.pids ${l.pids} is not a positive whole number: give a process count`);
  }
  for (const m of o.mounts ?? []) {
    if (typeof m.target !== "string" || !m.target.startsWith("/")) {
      fail(`Mount target ${m.target} is not absolute: give a path from the sandbox's root`);
    }
    if ("type" in m) {
      if (m.type !== "tmpfs") fail(`Mount type ${m.type} is not supported: use "tmpfs" or a bind`);
      if (m.sizeBytes !== undefined && !isPositive(m.sizeBytes, true)) {
        fail(`Mount ${m.target} has a bad sizeBytes: give a positive whole number of bytes`);
      }
    } else if (!(await Deno.stat(m.source).catch(() => null))) {
      fail(`Mount source ${m.source} does not exist: give an existing host path`);
    }
  }
}

/**
 * The OCI process object for process options.
 *
 * @param o The options (checked).
 * @param cwd The working directory when the options name none.
 * @returns config.json's `process`.
 */
export function specProcess(o: ProcessOptions, cwd: string): Record<string, unknown> {
  const base = defaultSpec().process as Record<string, unknown>;
  const env = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return {
    ...base,
    terminal: false,
    args: o.args,
    env: env.some((e) => e.startsWith("PATH=")) ? env : [DEFAULT_PATH, ...env],
    cwd: o.cwd ?? cwd,
    user: {
      uid: o.user?.uid ?? 0,
      gid: o.user?.gid ?? 0,
      ...(o.user?.groups?.length ? { additionalGids: o.user.groups } : {}),
    },
  };
}

/**
 * The OCI spec (config.json's object) a sandbox's options make: runc's
 * default spec with the options' process, root, mounts and limits.
 *
 * @param o The options (checked).
 * @returns The spec.
 *
 * @example
 * ```ts
 * import { sandboxSpec } from "./options.ts";
 * const spec = sandboxSpec({ rootfs: "host", args: ["true"], limits: { pids: 64 } });
 * const linux = spec.linux as { resources: { pids: { limit: number } } };
 * if (linux.resources.pids.limit !== 64) throw new Error();
 * ```
 */
export function sandboxSpec(
  o: SandboxOptions & { rootfs: string; args: string[] },
): Record<string, unknown> {
  const spec = defaultSpec();
  const host = o.rootfs === "host";
  const mounts = [...spec.mounts as unknown[]];
  for (const m of o.mounts ?? []) {
    mounts.push(
      "type" in m
        ? {
          destination: m.target,
          type: "tmpfs",
          source: "tmpfs",
          options: ["nosuid", "nodev", ...(m.sizeBytes ? [`size=${m.sizeBytes}`] : [])],
        }
        : {
          destination: m.target,
          type: "bind",
          source: m.source,
          options: ["rbind", m.readOnly ? "ro" : "rw"],
        },
    );
  }
  const l = o.limits ?? {};
  const linux = spec.linux as Record<string, unknown>;
  return {
    ...spec,
    process: specProcess({ ...o, args: o.args }, host ? Deno.cwd() : "/"),
    root: { path: host ? "/" : o.rootfs, readonly: host || o.readOnly === true },
    hostname: o.hostname ?? "dvisor",
    mounts,
    linux: {
      ...linux,
      resources: {
        ...(linux.resources as Record<string, unknown>),
        ...(l.memoryBytes ? { memory: { limit: l.memoryBytes } } : {}),
        ...(l.cpus ? { cpu: { quota: Math.round(l.cpus * 100_000), period: 100_000 } } : {}),
        ...(l.pids ? { pids: { limit: l.pids } } : {}),
      },
    },
  };
}
