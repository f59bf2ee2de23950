/**
 * The sandbox process's system call allow-list (DESIGN.md invariant 4):
 * what Deno, V8 and the Sentry call once the container runs. Installed
 * after the first stub exists, so stubs (forks of it) never inherit it;
 * anything else fails with EPERM and never reaches the host kernel.
 *
 * @module
 */
import { action, type Rule } from "../platform/seccomp_bpf.ts";
import { SYS, type SyscallName } from "../platform/sysno.ts";

const CLONE_THREAD = 0x10000;

/** Calls allowed with any arguments. */
export const SANDBOX_ALLOWED: readonly SyscallName[] = [
  // memory (V8, the allocator, FFI arenas)
  "mmap",
  "munmap",
  "mprotect",
  "mremap",
  "madvise",
  "brk",
  "membarrier",
  // descriptors and files: the gofer's donated descriptors, memfds, /proc of the stubs
  "read",
  "write",
  "pread64",
  "pwrite64",
  "readv",
  "writev",
  "close",
  "dup",
  "dup3",
  "fcntl",
  "ioctl",
  "lseek",
  "openat",
  "statx",
  "newfstatat",
  "fstat",
  "getdents64",
  "readlink",
  "ftruncate",
  "fallocate",
  "memfd_create",
  "pipe2",
  "fsync",
  "fdatasync",
  // the gofer's sockets
  "sendmsg",
  "accept4",
  "recvmsg",
  "shutdown",
  // waiting: the event loop, timers, the doorbell, futexes
  "epoll_create1",
  "epoll_ctl",
  "epoll_wait",
  "epoll_pwait",
  "epoll_pwait2",
  "eventfd2",
  "timerfd_create",
  "timerfd_settime",
  "timerfd_gettime",
  "poll",
  "ppoll",
  "futex",
  "nanosleep",
  "clock_nanosleep",
  "clock_gettime",
  "clock_getres",
  "gettimeofday",
  "sched_yield",
  // the platform: tracing stubs, their memory, their signals and exits
  "ptrace",
  "wait4",
  "waitid",
  "process_vm_readv",
  "process_vm_writev",
  "kill",
  "tkill",
  "tgkill",
  "pidfd_open",
  "pidfd_send_signal",
  "pidfd_getfd",
  // threads and signals of this process
  "rt_sigaction",
  "rt_sigprocmask",
  "rt_sigreturn",
  "sigaltstack",
  "set_robust_list",
  "rseq",
  "set_tid_address",
  "exit",
  "exit_group",
  "getpid",
  "gettid",
  "getppid",
  "prctl",
  "arch_prctl",
  "getrandom",
  "sched_getaffinity",
  "prlimit64",
  "getrlimit",
  "uname",
  "getuid",
  "geteuid",
  "getgid",
  "getegid",
  "sysinfo",
  "getrusage",
  "times",
  "sched_getparam",
  "sched_getscheduler",
];

/**
 * The allow-list as seccomp rules: the calls above, thread creation only
 * through clone with CLONE_THREAD (clone3's arguments are out of a
 * filter's sight, so it is ENOSYS and the C library falls back to clone).
 *
 * @returns The rules.
 */
export function sandboxRules(network: "none" | "host" = "none"): Rule[] {
  return [
    ...SANDBOX_ALLOWED.map((n) => ({ syscall: SYS[n], action: action.allow() })),
    ...(network === "host" ? hostNetworkRules() : []),
    {
      syscall: SYS.clone,
      args: [{ arg: 0, op: "masked-eq", mask: CLONE_THREAD, value: CLONE_THREAD, width: 32 }],
      action: action.allow(),
    },
    { syscall: SYS.clone3, action: action.errno(38) },
  ];
}

/** The calls on host sockets (sendmsg, recvmsg, accept4 and shutdown are allowed already). */
const HOST_NETWORK_CALLS: readonly SyscallName[] = [
  "bind",
  "connect",
  "listen",
  "getsockname",
  "getpeername",
  "getsockopt",
  "setsockopt",
  "sendto",
  "recvfrom",
];

/**
 * With `--network host`, the application's TCP and UDP sockets are the
 * sandbox process's host sockets: it may make AF_INET and AF_INET6 sockets
 * of type stream or datagram (never raw, packet or netlink ones) and use
 * them.
 */
function hostNetworkRules(): Rule[] {
  const socketOf = (family: number, type: number): Rule => ({
    syscall: SYS.socket,
    args: [
      { arg: 0, op: "masked-eq", mask: 0xffffffff, value: family, width: 32 },
      // The type without SOCK_NONBLOCK and SOCK_CLOEXEC.
      { arg: 1, op: "masked-eq", mask: 0xf, value: type, width: 32 },
    ],
    action: action.allow(),
  });
  return [
    ...[2, 10].flatMap((family) => [socketOf(family, 1), socketOf(family, 2)]),
    // rtnetlink (protocol 0) to read the network's interfaces, addresses and routes.
    ...[2, 3].map((type) => {
      const rule = socketOf(16, type);
      return {
        ...rule,
        args: [...rule.args!, { arg: 2, op: "masked-eq", mask: 0xffffffff, value: 0, width: 32 }],
      } as Rule;
    }),
    ...HOST_NETWORK_CALLS.map((n) => ({ syscall: SYS[n], action: action.allow() })),
  ];
}
