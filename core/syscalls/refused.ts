/**
 * The system calls the Sentry refuses outright, with the errno the
 * container gets and why: rows of the system call table, kept apart so
 * that the sandbox process can build its own seccomp filter from them
 * without loading the Sentry.
 *
 * @module
 */
import type { SyscallName } from "../../platform/sysno.ts";

/** Refused calls: name, errno name, note. */
export const REFUSED: ReadonlyArray<[SyscallName, string, string]> = [
  ["mount", "EPERM", "file systems are set up by the runtime"],
  ["umount2", "EPERM", "file systems are set up by the runtime"],
  ["pivot_root", "EPERM", "the root is set up by the runtime"],
  ["ptrace", "EPERM", "tracing inside the sandbox is not supported"],
  ["process_vm_readv", "EPERM", "no access to other processes' memory"],
  ["process_vm_writev", "EPERM", "no access to other processes' memory"],
  ["kcmp", "EPERM", "not supported"],
  ["setns", "EPERM", "no namespaces inside the sandbox"],
  ["unshare", "EPERM", "no namespaces inside the sandbox"],
  ["bpf", "EPERM", "no BPF programs"],
  ["perf_event_open", "EACCES", "no performance counters"],
  ["open_by_handle_at", "EPERM", "no file handles"],
  ["name_to_handle_at", "EOPNOTSUPP", "no file handles"],
  ["keyctl", "ENOSYS", "no key management"],
  ["add_key", "ENOSYS", "no key management"],
  ["request_key", "ENOSYS", "no key management"],
  ["userfaultfd", "ENOSYS", "not supported"],
  ["io_uring_setup", "ENOSYS", "not supported"],
  ["io_uring_enter", "ENOSYS", "not supported"],
  ["io_uring_register", "ENOSYS", "not supported"],
  ["kexec_load", "EPERM", "not in a sandbox"],
  ["kexec_file_load", "EPERM", "not in a sandbox"],
  ["init_module", "EPERM", "not in a sandbox"],
  ["finit_module", "EPERM", "not in a sandbox"],
  ["delete_module", "EPERM", "not in a sandbox"],
  ["reboot", "EPERM", "not in a sandbox"],
  ["swapon", "EPERM", "not in a sandbox"],
  ["swapoff", "EPERM", "not in a sandbox"],
  ["syslog", "EPERM", "no kernel log"],
  ["acct", "EPERM", "no process accounting"],
  ["settimeofday", "EPERM", "the clock is the host's"],
  ["clock_settime", "EPERM", "the clock is the host's"],
  ["clock_adjtime", "EPERM", "the clock is the host's"],
  ["adjtimex", "EPERM", "the clock is the host's"],
  ["iopl", "EPERM", "no port I/O"],
  ["ioperm", "EPERM", "no port I/O"],
  ["quotactl", "EPERM", "no quotas"],
  ["lookup_dcookie", "EPERM", "not supported"],
  ["fanotify_init", "ENOSYS", "not supported"],
  ["mbind", "EPERM", "no NUMA policy"],
  ["set_mempolicy", "EPERM", "no NUMA policy"],
  ["migrate_pages", "EPERM", "no NUMA policy"],
  ["move_pages", "EPERM", "no NUMA policy"],
  ["vhangup", "EPERM", "not supported"],
  ["uselib", "ENOSYS", "obsolete"],
  ["clone3", "ENOSYS", "C libraries fall back to clone"],
];

/**
 * The error a system call always fails with in the sandbox, if it is one
 * of the calls the Sentry refuses outright.
 *
 * @param name The system call.
 * @returns The errno name (`"EPERM"`), or null when the Sentry serves it.
 *
 * @example
 * ```ts
 * import { refusedWith } from "./refused.ts";
 * if (refusedWith("bpf") !== "EPERM" || refusedWith("read") !== null) throw new Error();
 * ```
 */
export function refusedWith(name: SyscallName): string | null {
  return REFUSED.find(([n]) => n === name)?.[1] ?? null;
}
