/**
 * `dvisor spec [--bundle DIR] [--rootless]`: writes a default config.json,
 * runc's (`sh` on a terminal), that `dvisor run` runs as is with a rootfs
 * beside it; `--rootless` makes runc's rootless variant of it.
 *
 * @module
 */
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { OCI_SPEC_VERSION } from "./version.ts";

const FLAGS: FlagSpec[] = [
  { name: "bundle", aliases: ["b"], type: "string", help: "where to write config.json" },
  { name: "rootless", type: "bool", help: "a spec for a user other than root (docs/rootless.md)" },
];

const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/**
 * The default spec.
 *
 * @returns config.json's object.
 */
export function defaultSpec(): Record<string, unknown> {
  return {
    ociVersion: OCI_SPEC_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS, ambient: CAPS },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "dvisor",
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
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [
        { type: "pid" },
        { type: "network" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
      ],
      maskedPaths: [
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

/**
 * The rootless variant of a spec, as runc's `spec --rootless` makes it: a
 * user namespace mapping the container's root to the caller's ids (and no
 * network namespace), /sys bound read-only from the host, no uid= or gid=
 * mount options, no resources.
 *
 * @param spec A spec (changed and returned).
 * @param uid The caller's uid.
 * @param gid The caller's gid.
 * @returns The spec.
 *
 * @example
 * ```ts
 * import { defaultSpec, rootlessSpec } from "./spec.ts";
 * const s = rootlessSpec(defaultSpec(), 1000, 1000) as { linux: { uidMappings: unknown[] } };
 * if (s.linux.uidMappings.length !== 1) throw new Error();
 * ```
 */
export function rootlessSpec(
  spec: Record<string, unknown>,
  uid: number,
  gid: number,
): Record<string, unknown> {
  const linux = spec.linux as Record<string, unknown>;
  const namespaces = (linux.namespaces as Array<{ type: string }>).filter((n) =>
    n.type !== "network" && n.type !== "user"
  );
  linux.namespaces = [...namespaces, { type: "user" }];
  linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  delete linux.resources;
  spec.mounts = (spec.mounts as Array<{ destination: string; options?: string[] }>).map((m) =>
    m.destination === "/sys"
      ? {
        destination: "/sys",
        type: "none",
        source: "/sys",
        options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
      }
      : {
        ...m,
        ...(m.options
          ? { options: m.options.filter((o) => !o.startsWith("gid=") && !o.startsWith("uid=")) }
          : {}),
      }
  );
  return spec;
}

/** The `spec` command. */
export const specCommand: Command = {
  async run(args) {
    const parsed = parseFlags(args, FLAGS);
    if (parsed.args.length) throw new UsageError(`Unexpected argument ${parsed.args[0]}`);
    const spec = parsed.flags.rootless
      ? rootlessSpec(defaultSpec(), Deno.uid() ?? 0, Deno.gid() ?? 0)
      : defaultSpec();
    const dir = (parsed.flags.bundle as string | undefined) ?? ".";
    const path = `${dir}/config.json`;
    try {
      await Deno.writeTextFile(path, JSON.stringify(spec, null, "\t") + "\n", {
        createNew: true,
      });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new Error(`File ${path} exists: remove it first`);
      }
      throw new Error(`Cannot write ${path}: ${e instanceof Error ? e.message : e}`);
    }
    return 0;
  },
};
