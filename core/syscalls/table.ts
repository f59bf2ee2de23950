/**
 * The system call table as data: one row per x86-64 system call the
 * Sentry knows, with its support level and a note. Numbers without a row
 * fail with ENOSYS (logged once). `dvisor help syscalls` prints this.
 *
 * @module
 */
import { SELF_ONLY } from "../../platform/self_only.ts";
import { SYS, type SyscallName } from "../../platform/sysno.ts";
import type { Handler, Support, SyscallEntry } from "../kernel/kernel.ts";
import { FS_HANDLERS } from "./fs.ts";
import { ITIMER_HANDLERS } from "./itimer.ts";
import { MEMORY_HANDLERS } from "./memory.ts";
import { POLL_HANDLERS } from "./poll.ts";
import { PROCESS_HANDLERS } from "./process.ts";
import { SIGNAL_HANDLERS } from "./signal.ts";
import { SPLICE_HANDLERS } from "./splice.ts";
import { SOCKET_HANDLERS } from "./socket.ts";
import { withHostSockets } from "./host_socket.ts";
import { withNetlink } from "./netlink.ts";
import { withIcmp } from "./icmp.ts";
import { EVENT_HANDLERS } from "./events.ts";
import { POSIX_TIMER_HANDLERS } from "./posix_timers.ts";
import { INOTIFY_HANDLERS } from "./inotify.ts";
import { IPC_HANDLERS } from "./ipc.ts";
import { MQUEUE_HANDLERS } from "./mqueue.ts";
import { TIME_HANDLERS } from "./time.ts";
import { REFUSED } from "./refused.ts";

/** A row: name, support, note (handlers are found by name). */
type Row = [SyscallName, Support, string];

const PARTIAL: Row[] = [
  [
    "socket",
    "partial",
    "AF_UNIX (stream, datagram, seqpacket); AF_INET and AF_INET6 TCP and UDP: on the sandbox's loopback with --network none (other addresses ENETUNREACH), host sockets held by the Sentry with --network host (control messages pass to and from the host, never descriptors or credentials); ICMP with --network none: ping sockets (SOCK_DGRAM, IPPROTO_ICMP or IPPROTO_ICMPV6; groups outside net.ipv4.ping_group_range EACCES) and raw ICMP sockets (SOCK_RAW, CAP_NET_RAW or EPERM), the loopback answering echo and timestamp requests, raw sockets getting every ICMP packet their filter lets through; raw sockets of other protocols EPROTONOSUPPORT, IP_HDRINCL not served; with --network host ping sockets are host sockets and raw ones ESOCKTNOSUPPORT; AF_NETLINK NETLINK_ROUTE (--network none: the loopback's link, addresses and routes; with the host's or a joined network namespace: a host rtnetlink socket that only reads, changes answered with an EPERM error message; other netlink protocols EPROTONOSUPPORT); packet sockets EAFNOSUPPORT",
  ],
  [
    "epoll_ctl",
    "partial",
    "level and edge triggered, EPOLLONESHOT; EPOLLEXCLUSIVE is accepted and wakes every waiter",
  ],
  [
    "timer_create",
    "partial",
    "wall clocks (REALTIME, MONOTONIC, BOOTTIME); CPU-time clocks EINVAL; timers are not deleted at execve",
  ],
  [
    "memfd_create",
    "partial",
    "seals are enforced on write, truncate, fallocate, chmod and new shared mappings; F_SEAL_WRITE does not refuse (EBUSY) a file that already has writable shared mappings, nor stop writes through them",
  ],
  [
    "inotify_add_watch",
    "partial",
    "events for changes made in the sandbox, on every file system; changes the host makes to mounted files behind the sandbox's back are not seen; IN_UNMOUNT is never sent",
  ],
  ["timerfd_settime", "partial", "TFD_TIMER_CANCEL_ON_SET is accepted and never cancels"],
  ["socketpair", "partial", "AF_UNIX (AF_INET: EOPNOTSUPP, as Linux)"],
  [
    "getsockopt",
    "partial",
    "SOL_SOCKET (SO_PEERCRED, SO_TYPE, SO_ERROR (a TCP reset's error, once), SO_LINGER, buffers, ...), IPV6_V6ONLY; ICMP sockets' options (filters, IPV6_CHECKSUM, TTL and hop limit, TOS and traffic class, the control messages asked for); other TCP and IP options are kept and reported (TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT default to net.ipv4.tcp_keepalive_*, IP_TTL to ip_default_ttl)",
  ],
  [
    "setsockopt",
    "partial",
    "SO_PASSCRED, buffers, IPV6_V6ONLY, SO_RCVTIMEO and SO_SNDTIMEO applied; SO_LINGER applied to TCP (0 seconds: close resets the connection; a timeout: close returns at once, the loopback having taken the data); on ICMP sockets ICMP_FILTER, ICMP6_FILTER, IPV6_CHECKSUM, IP_TTL, IP_TOS, IP_MTU_DISCOVER (Don't Fragment), IPV6_UNICAST_HOPS, IPV6_TCLASS, SO_TIMESTAMP, SO_TIMESTAMPNS, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS and IPV6_2292HOPLIMIT applied, IP_RECVERR and IPV6_RECVERR kept (no error is ever queued); TCP_NODELAY and the like kept, without effect (host sockets: all applied by the host)",
  ],
  [
    "ioctl",
    "partial",
    "FIONBIO, FIOCLEX, FIONCLEX, FIONREAD (raw ICMP sockets: the next packet's length; ping sockets ENOTTY, as Linux); terminals and devices add their own; on sockets of the sandbox's own network the SIOCGIF* interface requests (lo)",
  ],
  [
    "fcntl",
    "partial",
    "no leases, F_NOTIFY or F_SETOWN signals; F_SETLKW does not detect deadlocks",
  ],
  [
    "mmap",
    "partial",
    "files map from host descriptors (gofer files; tmpfs files through a memfd); devices other than /dev/zero: ENODEV",
  ],
  [
    "clone",
    "partial",
    "no CLONE_NEW* (EPERM) or CLONE_PIDFD (EINVAL); CLONE_VFORK runs as fork with the parent waiting and its stack copied back; CLONE_VM without CLONE_THREAD or CLONE_VFORK: EINVAL",
  ],
  [
    "vfork",
    "partial",
    "runs as fork; the parent waits until the child execs or exits and gets back what the child wrote to its stack (not other memory)",
  ],
  [
    "getrusage",
    "partial",
    "times, peak memory, faults and context switches from the stubs; no block I/O counts",
  ],
  [
    "prlimit64",
    "partial",
    "enforced: NOFILE, FSIZE (SIGXFSZ), NPROC, AS, DATA, STACK (the last three by the host on the stub); MSGQUEUE by mq_open; CPU, MEMLOCK, LOCKS, SIGPENDING, RTTIME kept without effect",
  ],
  ["setrlimit", "partial", "as prlimit64"],
  [
    "shmat",
    "partial",
    "attachments are counted through shmat, shmdt, fork, execve and exit, and one undone by munmap or mremap is found gone in the stub's mappings when shmctl or shmdt next looks; one split in two by munmapping its middle counts once (Linux counts its pieces)",
  ],
  ["shmctl", "partial", "SHM_LOCK and SHM_UNLOCK set the flag without locking pages"],
  [
    "mq_notify",
    "partial",
    "SIGEV_THREAD through the Sentry's netlink sockets; with --network host the C library's netlink socket is the host's: EBADF",
  ],
  ["sched_setaffinity", "partial", "accepted, without effect"],
  ["setpriority", "partial", "accepted, without effect"],
  ["membarrier", "partial", "MEMBARRIER_CMD_QUERY (reports no command)"],
  ["mincore", "partial", "reports every page resident"],
  ["fallocate", "partial", "modes 0 and FALLOC_FL_KEEP_SIZE"],
  [
    "prctl",
    "partial",
    "names, death signal, subreaper, no_new_privs, keepcaps, capabilities; no seccomp",
  ],
];

const HANDLERS: Record<string, Handler> = {
  ...FS_HANDLERS,
  ...PROCESS_HANDLERS,
  ...SIGNAL_HANDLERS,
  ...MEMORY_HANDLERS,
  ...TIME_HANDLERS,
  ...POLL_HANDLERS,
  ...SPLICE_HANDLERS,
  ...ITIMER_HANDLERS,
  ...withNetlink(withHostSockets(withIcmp(SOCKET_HANDLERS))),
  ...EVENT_HANDLERS,
  ...POSIX_TIMER_HANDLERS,
  ...INOTIFY_HANDLERS,
  ...IPC_HANDLERS,
  ...MQUEUE_HANDLERS,
};

/**
 * Builds the table, indexed by system call number.
 *
 * @returns The rows.
 *
 * @example
 * ```ts
 * import { buildSyscallTable } from "./table.ts";
 * const t = buildSyscallTable();
 * if (t[0]?.name !== "read" || t[0].support !== "full") throw new Error();
 * ```
 */
export function buildSyscallTable(): (SyscallEntry | undefined)[] {
  const table: (SyscallEntry | undefined)[] = [];
  const nr = (name: string) => (SYS as Record<string, number>)[name];
  for (const [name, handler] of Object.entries(HANDLERS)) {
    const n = nr(name);
    if (n === undefined) throw new Error(`No system call named ${name}`);
    table[n] = { name, support: "full", note: "", handler };
  }
  for (const [name, support, note] of PARTIAL) {
    const e = table[SYS[name]];
    if (!e) throw new Error(`Partial row ${name} has no handler`);
    e.support = support;
    e.note = note;
  }
  for (const [name, errno, note] of REFUSED) {
    if (table[SYS[name]]?.handler) continue;
    table[SYS[name]] = { name, support: "error", note, errno };
  }
  for (const e of SELF_ONLY) {
    const name = Object.entries(SYS).find(([, v]) => v === e.nr)![0];
    const served = table[e.nr];
    if (served?.handler) {
      // Some forms run natively, the others reach this handler.
      served.note = `native when self-only (${e.note}); otherwise ${
        served.note || "served by the Sentry"
      }`;
      continue;
    }
    table[e.nr] = { name, support: "full", note: `native (self-only): ${e.note}` };
  }
  return table;
}

/** One row of the system call table as shown to users. */
export interface SyscallRow {
  nr: number;
  name: string;
  /** full, partial, error (fails on purpose) or missing (ENOSYS). */
  support: string;
  note: string;
}

/**
 * The system call table, x86-64 numbers in order, with every number the
 * Sentry does not serve shown as missing.
 *
 * @returns The rows, and the counts by support level as one line.
 *
 * @example
 * ```ts
 * import { syscallRows } from "./table.ts";
 * const { rows } = syscallRows();
 * if (rows.find((r) => r.name === "openat")?.support !== "full") throw new Error();
 * ```
 */
export function syscallRows(): { rows: SyscallRow[]; summary: string } {
  const t = buildSyscallTable();
  const rows = Object.entries(SYS).map(([name, nr]) => {
    const e = t[nr];
    return {
      nr,
      name,
      support: e ? e.support : "missing",
      note: e ? (e.errno ? `${e.errno}: ${e.note}` : e.note) : "ENOSYS",
    };
  });
  const count = (s: string) => rows.filter((r) => r.support === s).length;
  const summary = `${count("full")} full, ${count("partial")} partial, ${
    count("error")
  } fail on purpose, ${count("missing")} missing (ENOSYS)`;
  return { rows, summary };
}

/**
 * The system call table as `dvisor help syscalls` prints it.
 *
 * @returns The table, one line per x86-64 system call number.
 *
 * @example
 * ```ts
 * import { syscallTableText } from "./table.ts";
 * if (!syscallTableText().includes("openat")) throw new Error();
 * ```
 */
export function syscallTableText(): string {
  const { rows, summary } = syscallRows();
  const lines = ["nr   name                     support  note"];
  for (const r of rows) {
    lines.push(
      `${String(r.nr).padEnd(4)} ${r.name.padEnd(24)} ${r.support.padEnd(8)} ${r.note}`.trimEnd(),
    );
  }
  return [...lines, "", summary].join("\n") + "\n";
}

/**
 * The system call table as a Markdown table (README.md's, kept up to date
 * by `deno task docs`).
 *
 * @returns The summary line and the table.
 *
 * @example
 * ```ts
 * import { syscallTableMarkdown } from "./table.ts";
 * if (!syscallTableMarkdown().includes("| 257 | openat | full |")) throw new Error();
 * ```
 */
export function syscallTableMarkdown(): string {
  const { rows, summary } = syscallRows();
  const cell = (s: string) => s.replaceAll("|", "\\|");
  return [
    `${summary}.`,
    "",
    "| nr | name | support | note |",
    "| -- | ---- | ------- | ---- |",
    ...rows.map((r) => `| ${r.nr} | ${r.name} | ${r.support} | ${cell(r.note)} |`),
  ].join("\n") + "\n";
}
