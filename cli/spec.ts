/**
 * `dvisor spec [--bundle DIR]`: writes a default config.json, runc's
 * (`sh` on a terminal), that `dvisor run` runs as is with a rootfs beside it.
 *
 * @module
 */
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { OCI_SPEC_VERSION } from "./version.ts";

const FLAGS: FlagSpec[] = [
  { name: "bundle", aliases: ["b"], type: "string", help: "where to write config.json" },
  { name: "rootless", type: "bool", help: "(runc) not supported: dvisor runs as root" },
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

/** The `spec` command. */
export const specCommand: Command = {
  async run(args) {
    const parsed = parseFlags(args, FLAGS);
    if (parsed.args.length) throw new UsageError(`Unexpected argument ${parsed.args[0]}`);
    if (parsed.flags.rootless) {
      throw new UsageError("--rootless is not supported: dvisor runs as root");
    }
    const dir = (parsed.flags.bundle as string | undefined) ?? ".";
    const path = `${dir}/config.json`;
    try {
      await Deno.writeTextFile(path, JSON.stringify(defaultSpec(), null, "\t") + "\n", {
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
