/**
 * `dvisor boot` (internal): the sandbox process. It leaves the host's file
 * system, runs the Sentry on its main thread (signals for the init come
 * through the control pipe), and exits with the init's status the way runc
 * reports it (the code, or 128 + the signal). An error that stopped the
 * start goes to the report descriptor for the starting process to print.
 *
 *     dvisor boot --config-fd N
 *
 * The configuration (a JSON {@linkcode BootConfig}) is read from the
 * descriptor; stdin, stdout and stderr are the container's; gofer sockets
 * are inherited at the numbers the configuration names.
 *
 * @module
 */
import { CONTAINER_TAG_FLAG } from "./sandbox_reaper.ts";
import { closeFd, dupFd, readAll, writeAll } from "../platform/fd.ts";
import { denoCacheDir, sealFilesUnder } from "../platform/deno_cache_unsafe.ts";
import { allowOnly, denySyscalls, enterSandboxRoot } from "../platform/confine.ts";
import { sandboxRules } from "./sandbox_syscalls.ts";
import { errnoNumber } from "../platform/errno.ts";
import type { SyscallName } from "../platform/sysno.ts";
import { refusedWith } from "../core/syscalls/refused.ts";
import { exitCodeOf } from "../core/kernel/exit_code.ts";
import { decodeConfig } from "../core/boot/boot_config.ts";
import { bootSandbox } from "../core/boot/boot_sandbox.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";

const FLAGS: FlagSpec[] = [
  CONTAINER_TAG_FLAG,
  { name: "config-fd", type: "int", help: "descriptor holding the sandbox configuration (JSON)" },
];

/**
 * What the sandbox process never does once running. (It still creates
 * stubs, which takes clone, mount, pivot_root and execveat of the stub;
 * ptrace and process_vm are its platform.)
 *
 * Stubs inherit this filter, and a seccomp errno outranks the stub
 * filter's own trap, so each call is refused with the errno the Sentry
 * gives the container for it: the container sees the same on every
 * platform.
 */
const SENTRY_DENIED = [
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "bpf",
  "perf_event_open",
  "keyctl",
  "add_key",
  "request_key",
  "open_by_handle_at",
  "name_to_handle_at",
  "userfaultfd",
  "iopl",
  "ioperm",
  "swapon",
  "swapoff",
  "reboot",
  "acct",
  "settimeofday",
  "clock_settime",
  "clock_adjtime",
  "adjtimex",
  "quotactl",
  "syslog",
  "lookup_dcookie",
  "fanotify_init",
] as const;

/**
 * The sandbox process's seccomp rules: each refused call with its errno.
 *
 * @returns The rules.
 */
export function sentryDenyRules(): Array<[SyscallName, number]> {
  return SENTRY_DENIED.map((name) => {
    const errno = refusedWith(name);
    if (errno === null) throw new Error(`The Sentry serves ${name}: it cannot be denied`);
    return [name, errnoNumber(errno)];
  });
}

/** The `boot` command. */
export const bootCommand: Command = {
  flags: FLAGS,
  run(args, { logger }) {
    const parsed = parseFlags(args, FLAGS);
    const fd = parsed.flags["config-fd"];
    if (typeof fd !== "number") throw new UsageError("dvisor boot needs --config-fd");
    const text = new TextDecoder().decode(readAll(fd));
    closeFd(fd);
    const config = decodeConfig(text);
    // Its own copies of 0-2 (Deno keeps using ours); preserved descriptors as given.
    config.stdio = [dupFd(0, 3), dupFd(1, 3), dupFd(2, 3), ...config.stdio.slice(3)];
    logger.debug(
      `sandbox of ${config.process.args.join(" ")} on platform ${config.platform}` +
        `${config.strace ? ", system calls traced" : ""}`,
    );
    // Every module the Sentry uses is loaded (this module imports them):
    // from now on the sandbox process needs no host path. Leave the host's
    // file system, then refuse the calls the Sentry never makes.
    // Its records go to the debug log (opened by main) from now on: --log is a host path.
    logger.leaveHost();
    sealFilesUnder(denoCacheDir());
    const stubDir = enterSandboxRoot(config.emptyRootAt);
    denySyscalls(sentryDenyRules());
    // Once the first stub exists (stubs must not inherit it): only the
    // calls the sandbox process makes reach the host (invariant 4).
    const report = (line: unknown) => {
      if (config.reportFd === undefined) return;
      try {
        writeAll(config.reportFd, new TextEncoder().encode(JSON.stringify(line) + "\n"));
      } catch {
        // the starting process is gone (create returned): nobody reads it
      }
    };
    const r = bootSandbox({ ...config, emptyRootAt: stubDir }, () => {
      allowOnly(sandboxRules(config.network));
      report({ ready: true });
    }, {
      debug: (m) => logger.debug(m),
      warn: (m) => logger.warn(m),
      error: (m) => logger.error(m),
      strace: (m) => logger.strace(m),
    });
    logger.debug(r.ok ? `the init ended with wait status ${r.status}` : `failed: ${r.message}`);
    if (r.ok && config.exitFd !== undefined) {
      writeAll(config.exitFd, new TextEncoder().encode(`${r.status}\n`));
    }
    if (r.ok) return exitCodeOf(r.status);
    if (r.quiet) return r.status;
    // The starting process prints and logs the error (this one cannot reach --log any more).
    if (config.reportFd !== undefined) {
      report(r);
    } else {
      logger.error(r.message ?? "the sandbox failed");
      writeAll(2, new TextEncoder().encode(`dvisor: ${r.message}\n`));
    }
    return r.status;
  },
};
