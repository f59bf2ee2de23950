/**
 * dvisor's global flags, taken before the subcommand (runc's, and runsc's
 * that matter here); `install` checks the runtime flags it writes with them.
 *
 * @module
 */
import type { FlagSpec } from "./flags.ts";

/** Flags accepted before the subcommand (runc's, and runsc's that matter here). */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "root", type: "string", help: "directory for container state (default /run/dvisor)" },
  { name: "log", type: "string", help: "append runtime log records to this file" },
  { name: "log-format", type: "string", help: "log record format: text or json" },
  { name: "debug", type: "bool", help: "write debug records to the log" },
  {
    name: "debug-log",
    type: "string",
    help: "debug log: a directory (ending in /) of one file per process, or one shared file; " +
      "%ID% and %COMMAND% expand",
  },
  { name: "platform", type: "string", help: "how system calls are caught: seccomp or ptrace" },
  { name: "strace", type: "bool", help: "log every system call the Sentry serves to --debug-log" },
  { name: "network", type: "string", help: "networking: none or host" },
  {
    name: "systemd-cgroup",
    type: "bool",
    help: "take cgroupsPath as systemd's slice:prefix:name (laid out in cgroupfs)",
  },
  { name: "rootless", type: "string", help: "rootless mode: true, false or auto" },
  {
    name: "overlay",
    type: "bool",
    help: "keep writes to the container's root in the sandbox (host rootfs untouched)",
  },
  { name: "criu", type: "string", help: "(runc) path to criu; ignored", ignored: true },
  { name: "version", type: "bool", aliases: ["v"], help: "print the version" },
  { name: "help", type: "bool", aliases: ["h"], help: "show this help" },
];
