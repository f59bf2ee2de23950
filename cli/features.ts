/**
 * `dvisor features`: what this runtime supports, as runc's `features`
 * prints it (JSON), so that callers can ask before they try.
 *
 * @module
 */
import { HOOK_POINTS } from "../core/boot/oci_spec.ts";
import { CAPABILITIES } from "../platform/caps.ts";
import { parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { OCI_SPEC_VERSION } from "./version.ts";

/**
 * The features document.
 *
 * @returns runc's `features` shape, with what dvisor does.
 */
export function features(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_SPEC_VERSION,
    hooks: [...HOOK_POINTS],
    mountOptions: ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "mode", "size"],
    linux: {
      namespaces: ["pid", "network", "ipc", "uts", "mount", "user"],
      capabilities: CAPABILITIES,
      // The sandbox's host cgroup; with --systemd-cgroup laid out as systemd
      // would, but made through cgroupfs (systemd is not asked).
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      // Enforced by the Sentry on the application's calls (x86-64 names).
      seccomp: {
        enabled: true,
        actions: [
          "SCMP_ACT_ALLOW",
          "SCMP_ACT_ERRNO",
          "SCMP_ACT_KILL",
          "SCMP_ACT_KILL_PROCESS",
          "SCMP_ACT_KILL_THREAD",
          "SCMP_ACT_LOG",
          "SCMP_ACT_TRACE",
          "SCMP_ACT_TRAP",
        ],
        operators: [
          "SCMP_CMP_EQ",
          "SCMP_CMP_GE",
          "SCMP_CMP_GT",
          "SCMP_CMP_LE",
          "SCMP_CMP_LT",
          "SCMP_CMP_MASKED_EQ",
          "SCMP_CMP_NE",
        ],
        archs: ["SCMP_ARCH_X86_64"],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: {
      "io.github.dvisor.sandbox": "user-space kernel (the Sentry); files through a gofer",
      "io.github.dvisor.platforms": "seccomp,ptrace",
    },
  };
}

/** The `features` command. */
export const featuresCommand: Command = {
  async run(args) {
    const parsed = parseFlags(args, []);
    if (parsed.args.length) throw new UsageError(`Unexpected argument ${parsed.args[0]}`);
    await writeOut(JSON.stringify(features(), null, "    ") + "\n");
    return 0;
  },
};
