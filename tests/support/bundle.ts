/**
 * OCI bundles for integration tests, and running one under runc or dvisor
 * the way containerd's shim would (`RUNTIME run --bundle DIR ID`).
 *
 * @module
 */
import { DVISOR, type Ran, run } from "./run.ts";
import { cgroupHierarchies } from "../../platform/cgroup.ts";

/** Where tests/run.sh caches a `debootstrap --variant=minbase` Debian rootfs. */
export const DEBIAN_ROOTFS = "/var/cache/dvisor/debian-rootfs";

/** What a test bundle runs. */
export interface BundleOptions {
  /** The root file system (an absolute path; it is not copied). */
  rootfs: string;
  /** The container's command. */
  args: string[];
  /** `root.readonly` (default true, so a shared rootfs stays clean). */
  readonly?: boolean;
  /** `process.cwd` (default /). */
  cwd?: string;
  /** Extra `process.env` entries. */
  env?: string[];
  /** Extra mounts after runc's defaults. */
  mounts?: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  /** Capabilities beyond runc's default three (`CAP_NET_RAW`...), in every set. */
  capabilities?: string[];
  /** `process.user` (default root). */
  user?: { uid: number; gid: number };
  /** `linux.maskedPaths` (default: runc's). */
  maskedPaths?: string[];
  /** `linux.readonlyPaths` (default: runc's). */
  readonlyPaths?: string[];
  /** `process.terminal`, with `process.consoleSize` as `{ height, width }`. */
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  /** `hostname` (default "test"). */
  hostname?: string;
  /** `domainname` (default: none). */
  domainname?: string;
  /** `linux.sysctl`. */
  sysctl?: Record<string, string>;
  /** No network namespace: runc runs in the host's (dvisor needs --network=host for that). */
  hostNetwork?: boolean;
  /** A network namespace to join, by path. */
  networkPath?: string;
  /** `linux.seccomp`. */
  seccomp?: Record<string, unknown>;
  /** `linux.resources` beyond runc's default device rule. */
  resources?: Record<string, unknown>;
  /** `linux.cgroupsPath`. */
  cgroupsPath?: string;
  /** `annotations`. */
  annotations?: Record<string, string>;
  /** `hooks`. */
  hooks?: Record<
    string,
    Array<{ path: string; args?: string[]; env?: string[]; timeout?: number }>
  >;
}

/**
 * Writes a bundle directory whose config.json is what `runc spec` writes,
 * with the given command and root, and a tmpfs on /tmp.
 *
 * @param o What to run.
 * @returns The bundle directory; remove it when done.
 *
 * @example
 * ```ts ignore
 * const bundle = await makeBundle({ rootfs: "/srv/rootfs", args: ["true"] });
 * ```
 */
export async function makeBundle(o: BundleOptions): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-bundle-" });
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", ...(o.capabilities ?? [])];
  const config = {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: o.terminal ?? false,
      ...(o.consoleSize ? { consoleSize: o.consoleSize } : {}),
      user: o.user ?? { uid: 0, gid: 0 },
      args: o.args,
      env: [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
        ...(o.env ?? []),
      ],
      cwd: o.cwd ?? "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: o.rootfs, readonly: o.readonly ?? true },
    hostname: o.hostname ?? "test",
    ...(o.annotations ? { annotations: o.annotations } : {}),
    ...(o.domainname !== undefined ? { domainname: o.domainname } : {}),
    ...(o.hooks ? { hooks: o.hooks } : {}),
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/tmp",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=1777"],
      },
      ...(o.mounts ?? []),
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }], ...o.resources },
      ...(o.cgroupsPath ? { cgroupsPath: o.cgroupsPath } : {}),
      namespaces: [
        { type: "pid" },
        ...(o.hostNetwork
          ? []
          : [{ type: "network", ...(o.networkPath ? { path: o.networkPath } : {}) }]),
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
      ],
      maskedPaths: o.maskedPaths ??
        ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      ...(o.seccomp ? { seccomp: o.seccomp } : {}),
      ...(o.sysctl ? { sysctl: o.sysctl } : {}),
      readonlyPaths: o.readonlyPaths ??
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2));
  return dir;
}

let serial = 0;

/**
 * Runs a bundle to its end with `runc run` or `dvisor run` (stdin empty).
 *
 * @param runtime Which runtime.
 * @param bundle The bundle directory.
 * @param flags Global flags for the runtime (dvisor: `--platform=ptrace`, `--overlay`).
 * @returns What the container printed and the runtime's exit code.
 */
export function runBundle(
  runtime: "runc" | "dvisor",
  bundle: string,
  flags: string[] = [],
): Promise<Ran> {
  const id = `dvisor-test-${Deno.pid}-${++serial}`;
  const cmd = runtime === "runc" ? "runc" : DVISOR;
  return run(cmd, [...flags, "run", "--bundle", bundle, id]);
}

/**
 * Processes, mounts and files a sandbox could leave on the host: dvisor's
 * gofer, sandbox and stub processes, host mounts naming dvisor, dvisor's
 * entries in /tmp, and cgroups named for dvisor at any depth of two.
 *
 * @returns A description to compare before and after.
 */
export function sandboxTraces(): {
  processes: string[];
  mounts: string[];
  tmp: string[];
  cgroups: string[];
} {
  const processes: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      const exe = Deno.readLinkSync(`/proc/${e.name}/exe`);
      const role = cmd.includes("boot") || cmd.includes("gofer");
      if (exe.includes("dvisor-stub") || (role && cmd.some((a) => a.includes("dvisor")))) {
        processes.push(`${e.name} ${cmd.join(" ")}`);
      }
    } catch {
      // gone, or a kernel thread
    }
  }
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((l) => l.includes("dvisor"));
  const tmp = [...Deno.readDirSync("/tmp")].map((e) => e.name)
    .filter((n) => n.startsWith("dvisor-") && !n.startsWith("dvisor-bundle-"));
  const cgroups: string[] = [];
  for (const h of cgroupHierarchies()) {
    const list = (dir: string, depth: number) => {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.isDirectory) continue;
        if (e.name.includes("dvisor")) cgroups.push(`${dir}/${e.name}`);
        if (depth < 2) list(`${dir}/${e.name}`, depth + 1);
      }
    };
    list(h.mountPoint, 1);
  }
  return { processes, mounts, tmp, cgroups };
}
