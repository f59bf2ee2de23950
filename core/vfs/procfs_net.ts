/**
 * procfs's network files: /proc/net (what /proc/PID/net shows: the
 * sandbox's sockets, its loopback and counters, in Linux's formats) and the
 * /proc/sys/net settings. With the sandbox's own network both come from
 * the Sentry's state (core/net/namespace.ts); with the host's network
 * (`--network host`) they are the host network namespace's own files,
 * read by the Sentry, and the settings cannot be changed from inside.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { IPPROTO, opt } from "../syscalls/socket_options.ts";
import { IcmpSocket } from "./icmp_socket.ts";
import type { Inode, OpenFile } from "./inode.ts";
import { type InetAddress, LocalSocket, type SocketAddress, SocketInode } from "./local_socket.ts";
import { SynthDir, SynthFile, type SynthFs } from "./synthetic.ts";
import { AF, SOCK } from "../net/families.ts";

/** TCP_FASTOPEN (a listener's queue length). */
const TCP_FASTOPEN = 23;

/** A setting as /proc/sys shows it: its text, and a write when it may be changed. */
export interface NetSysctl {
  read: () => string;
  write?: (text: string) => void;
}

/**
 * The net.* settings /proc/sys/net shows, by dotted key: the sandbox's own
 * network's, or the host's read-only.
 *
 * @param k The kernel.
 * @returns The settings.
 *
 * @example
 * ```ts ignore
 * for (const [key, ctl] of Object.entries(netSysctls(k))) place(key, ctl);
 * ```
 */
export function netSysctls(k: Kernel): Record<string, NetSysctl> {
  const own: Record<string, NetSysctl> = { ...k.net.sysctls(), ...IPV6_ENABLED };
  if (k.network !== "host") return own;
  const out: Record<string, NetSysctl> = {};
  for (const key of Object.keys(own)) {
    const path = `/proc/sys/${key.replaceAll(".", "/")}`;
    out[key] = { read: () => hostFile(path).replace(/\n$/, "") };
  }
  return out;
}

/**
 * IPv6 is on for lo and cannot be turned off in the sandbox's network
 * (::1 is always there): its disable_ipv6 settings read 0 and take no write.
 */
const IPV6_ENABLED: Record<string, NetSysctl> = Object.fromEntries(
  ["all", "default", "lo"].map((c) => [`net.ipv6.conf.${c}.disable_ipv6`, { read: () => "0" }]),
);

/** A host file's text, or "" when it cannot be read. */
function hostFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** The files /proc/net holds, by name. */
const FILES: Record<string, (k: Kernel) => string> = {
  tcp: (k) => tcpText(k, AF.INET),
  tcp6: (k) => tcpText(k, AF.INET6),
  udp: (k) => udpText(k, AF.INET),
  udp6: (k) => udpText(k, AF.INET6),
  raw: (k) => icmpText(k, AF.INET, true),
  raw6: (k) => icmpText(k, AF.INET6, true),
  icmp: (k) => icmpText(k, AF.INET, false),
  icmp6: (k) => icmpText(k, AF.INET6, false),
  unix: unixText,
  dev: devText,
  if_inet6: () => "00000000000000000000000000000001 01 80 10 80       lo\n",
  route: () =>
    pad("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT", 127),
  snmp: snmpText,
  sockstat: sockstatText,
  sockstat6: sockstat6Text,
};

/**
 * The directory /proc/PID/net (and so /proc/net) shows: the network
 * namespace's files, from the Sentry's network or, with `--network host`,
 * the host's own.
 *
 * @param k The kernel.
 * @param fs The procfs.
 * @param key Its key in the procfs (its path).
 * @returns The directory.
 *
 * @example
 * ```ts ignore
 * m.set("net", () => netDir(k, fs, `${p.pid}/net`));
 * ```
 */
export function netDir(k: Kernel, fs: SynthFs, key: string): Inode {
  return new SynthDir(fs, key, () =>
    new Map(
      Object.entries(FILES).map(([name, text]) => [
        name,
        () =>
          new SynthFile(
            fs,
            `${key}/${name}`,
            () => k.network === "host" ? hostFile(`/proc/self/net/${name}`) : text(k),
          ),
      ]),
    ));
}

/** A line padded with spaces to Linux's fixed width (seq_pad), and its newline. */
function pad(line: string, width: number): string {
  return line.padEnd(width) + "\n";
}

/** 32 bits in hex, as %08X prints a word read in the machine's (little-endian) order. */
function word(b: Uint8Array, at: number): string {
  return [3, 2, 1, 0].map((i) => (b[at + i] ?? 0).toString(16).padStart(2, "0")).join("")
    .toUpperCase();
}

/**
 * An address and port as /proc/net/tcp and the like print them: an IPv4
 * address as one word, an IPv6 one as four (an IPv4 address in an IPv6
 * table as its mapped form), the port in hex.
 */
function hexAddress(a: InetAddress | null, v6: boolean): string {
  const ip = a?.ip ?? new Uint8Array(v6 ? 16 : 4);
  const bytes = v6 && ip.length === 4
    ? Uint8Array.from([...new Array(10).fill(0), 255, 255, ...ip])
    : ip;
  const words = v6
    ? [0, 4, 8, 12].map((at) => word(bytes, at)).join("")
    : word(bytes.subarray(-4), 0);
  return `${words}:${(a?.port ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** A hex field of `n` digits. */
function hex(v: number, n: number): string {
  return v.toString(16).toUpperCase().padStart(n, "0");
}

/** The sockets of the namespace of one kind. */
function localSockets(k: Kernel, family: number, type: number): LocalSocket[] {
  return [...k.net.sockets].filter((s): s is LocalSocket =>
    s instanceof LocalSocket && s.family === family && s.type === type
  );
}

/** A socket's inode number (what /proc/PID/fd shows as `socket:[N]`). */
function inodeOf(s: OpenFile): bigint {
  return s.inode.stat().ino;
}

/** The kernel pointer Linux prints with %pK, hidden as it is from a container. */
const HIDDEN = "0000000000000000";

/**
 * /proc/net/tcp or tcp6: listening and connected TCP sockets, and the
 * connections waiting for accept (no inode yet), as tcp4_seq_show and
 * tcp6_seq_show print them. The Sentry's loopback takes data at once, so
 * nothing waits to be acknowledged (tx_queue 0) and no timer runs; the
 * round-trip fields are those of a connection that never measured one
 * (rto 1 s, initial window 10, slow start).
 */
function tcpText(k: Kernel, family: number): string {
  const v6 = family === AF.INET6;
  const header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
  const lines: string[] = [];
  const row = (s: LocalSocket, inode: bigint, fastopen: number) => {
    const state = s.tcpState;
    const rx = state === 10 ? s.pendingCount : s.unreadSequence;
    const local = s.local.kind === "inet" ? s.local : null;
    const peer = state === 10 ? null : s.peer?.local;
    const remote = peer?.kind === "inet" ? peer : null;
    const fields = `${String(lines.length).padStart(4)}: ${hexAddress(local, v6)} ${
      hexAddress(remote, v6)
    } ${hex(state, 2)} ${hex(0, 8)}:${hex(rx, 8)} 00:00000000 00000000 ${
      String(uidOf(s)).padStart(5)
    } ${"0".padStart(8)} ${inode} ${s.refs} ${HIDDEN} 100 0 0 10 ${state === 10 ? fastopen : -1}`;
    lines.push(v6 ? fields + "\n" : pad(fields, 149));
  };
  for (const s of localSockets(k, family, SOCK.STREAM)) {
    if (s.tcpState === 7) continue;
    row(s, inodeOf(s), fastopenQueue(s));
    // A connection reset before it was accepted waits in the queue, out of the table.
    for (const p of s.pending) if (p.tcpState !== 7) row(p, 0n, 0);
  }
  const head = v6
    ? "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    : pad(header, 149);
  return head + lines.join("");
}

/** A listener's TCP_FASTOPEN queue length (what the option was set to). */
function fastopenQueue(s: LocalSocket): number {
  const v = s.options.get(opt(IPPROTO.TCP, TCP_FASTOPEN));
  return v ? new DataView(v.buffer, v.byteOffset).getInt32(0, true) : 0;
}

/**
 * /proc/net/udp or udp6: bound UDP sockets, as udp4_format_sock prints
 * them (state 07 unconnected, 01 connected). The Sentry hands a datagram
 * to its receiver at once (tx_queue 0) and counts the receive queue in
 * bytes of data; slots are numbered in order.
 */
function udpText(k: Kernel, family: number): string {
  const v6 = family === AF.INET6;
  const lines = localSockets(k, family, SOCK.DGRAM).filter((s) => s.local.kind === "inet").map(
    (s, i) => {
      const remote = s.remote?.kind === "inet" ? s.remote : null;
      const line = `${String(i).padStart(5)}: ${hexAddress(s.local as InetAddress, v6)} ${
        hexAddress(remote, v6)
      } ${remote ? "01" : "07"} ${hex(0, 8)}:${hex(s.queued, 8)} 00:00000000 00000000 ${
        String(uidOf(s)).padStart(5)
      } ${"0".padStart(8)} ${inodeOf(s)} ${s.refs} ${HIDDEN} 0`;
      return v6 ? line + "\n" : pad(line, 127);
    },
  );
  const head = v6 ? DGRAM6_HEADER : pad(` ${DGRAM_HEADER}`, 127);
  return head + lines.join("");
}

/** The header of /proc/net/raw, icmp and udp (IPv4) and of raw6, icmp6 and udp6. */
const DGRAM_HEADER =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";
const DGRAM6_HEADER =
  "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

/**
 * /proc/net/raw, raw6 (raw ICMP sockets: the port is the protocol) and
 * icmp, icmp6 (ping sockets with an identifier: the port), as
 * raw_sock_seq_show, ping_v4_seq_show and ip6_dgram_sock_seq_show print
 * them; the receive queue in bytes of data, and the packets dropped
 * because it was full.
 */
function icmpText(k: Kernel, family: number, raw: boolean): string {
  const v6 = family === AF.INET6;
  const sockets = [...k.net.sockets].filter((s): s is IcmpSocket =>
    s instanceof IcmpSocket && s.family === family && s.raw === raw &&
    (raw ? s.hashed : s.local.port !== 0)
  ).reverse();
  const lines = sockets.map((s, i) => {
    const local = { ...s.local, port: raw ? s.protocol : s.local.port };
    const remote = s.remote ? { ...s.remote, port: raw ? 0 : s.remote.port } : null;
    const line = `${String(i).padStart(raw && !v6 ? 4 : 5)}: ${hexAddress(local, v6)} ${
      hexAddress(remote, v6)
    } ${remote ? "01" : "07"} ${hex(0, 8)}:${hex(s.queued, 8)} 00:00000000 00000000 ${
      String(uidOf(s)).padStart(5)
    } ${"0".padStart(8)} ${inodeOf(s)} ${s.refs} ${HIDDEN} ${s.drops}`;
    return v6 || raw ? line + "\n" : pad(line, 127);
  });
  const head = v6 ? DGRAM6_HEADER : raw ? DGRAM_HEADER + "\n" : pad(DGRAM_HEADER, 127);
  return head + lines.join("");
}

/** Who made a socket (its inode's owner). */
function uidOf(s: OpenFile): number {
  return s.inode instanceof SocketInode ? s.inode.uid : 0;
}

/** SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET. */
const UNIX_TYPES = [SOCK.STREAM, SOCK.DGRAM, SOCK.SEQPACKET];

/**
 * /proc/net/unix: every unix socket, as unix_seq_show prints it: the
 * listening flag (__SO_ACCEPTCON), the type, the state (01 unconnected,
 * 02 a connection not yet accepted, 03 connected: a datagram socket
 * another one connected to too) and the address (abstract ones with `@`).
 */
function unixText(k: Kernel): string {
  const all = UNIX_TYPES.flatMap((t) => localSockets(k, AF.UNIX, t));
  const targets = new Set(all.filter((s) => s.type === SOCK.DGRAM && s.peer).map((s) => s.peer));
  const row = (s: LocalSocket, inode: bigint, state: number, local: SocketAddress) => {
    const path = local.kind === "path"
      ? ` ${local.path}`
      : local.kind === "abstract"
      ? ` @${new TextDecoder().decode(local.name).replaceAll("\0", "@")}`
      : "";
    return `${HIDDEN}: ${hex(s.refs, 8)} 00000000 ${s.listening ? "00010000" : "00000000"} ${
      hex(s.type, 4)
    } ${hex(state, 2)} ${String(inode).padStart(5)}${path}\n`;
  };
  const lines: string[] = [];
  for (const s of all) {
    const connected = s.state === "connected" ||
      (s.type === SOCK.DGRAM && (s.peer || targets.has(s)));
    lines.push(row(s, inodeOf(s), connected ? 3 : 1, s.local));
    for (const p of s.pending) lines.push(row(p, 0n, 2, s.local));
  }
  return "Num       RefCount Protocol Flags    Type St Inode Path\n" + lines.join("");
}

/** /proc/net/dev: lo, the only interface, with what it carried (core/net/counters.ts). */
function devText(k: Kernel): string {
  const lo = k.net.counters.lo;
  const n = (v: number, w: number) => String(v).padStart(w);
  return "Inter-|   Receive                                                |  Transmit\n" +
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
    `${"lo".padStart(6)}:${n(lo.rxBytes, 8)} ${n(lo.rxPackets, 7)} ${n(0, 4)} ${n(0, 4)} ${
      n(0, 4)
    } ${n(0, 5)} ${n(0, 10)} ${n(0, 9)} ${n(lo.txBytes, 8)} ${n(lo.txPackets, 7)} ${n(0, 4)} ${
      n(0, 4)
    } ${n(0, 4)} ${n(0, 5)} ${n(0, 7)} ${n(0, 10)}\n`;
}

/** Names and values as /proc/net/snmp pairs them: a line of names, a line of values. */
function section(name: string, fields: Array<[string, number]>): string {
  return `${name}: ${fields.map(([f]) => f).join(" ")}\n${name}: ${
    fields.map(([, v]) => v).join(" ")
  }\n`;
}

/** The ICMP types /proc/net/snmp names, in its order. */
const ICMP_NAMES: Array<[string, number]> = [
  ["DestUnreachs", 3],
  ["TimeExcds", 11],
  ["ParmProbs", 12],
  ["SrcQuenchs", 4],
  ["Redirects", 5],
  ["Echos", 8],
  ["EchoReps", 0],
  ["Timestamps", 13],
  ["TimestampReps", 14],
  ["AddrMasks", 17],
  ["AddrMaskReps", 18],
];

/**
 * /proc/net/snmp: the counters the Sentry keeps, each in Linux's order
 * under its name (a line of names, a line of values, as netstat -s reads
 * them). Ip shows its settings only: TCP data is never cut into IP
 * packets here, so packet counts would be short; Tcp leaves out its
 * segment counts for the same reason. The error counters are 0 because
 * nothing on the loopback can fail them (no retransmission, no damage, no
 * rate limit).
 */
function snmpText(k: Kernel): string {
  const c = k.net.counters;
  const icmp = c.icmp;
  const tcp = c.tcp;
  const udp = c.udp;
  const estab = localSockets(k, AF.INET, SOCK.STREAM).concat(localSockets(k, AF.INET6, SOCK.STREAM))
    .flatMap((s) => [s, ...s.pending]).filter((s) => s.tcpState === 1 || s.tcpState === 8).length;
  const types = [...icmp.in.keys()].filter((t) => icmp.in[t] || icmp.out[t]);
  const msg: Array<[string, number]> = [
    ...types.filter((t) => icmp.in[t]).map((t) => [`InType${t}`, icmp.in[t]!] as [string, number]),
    ...types.filter((t) => icmp.out[t]).map((t) =>
      [`OutType${t}`, icmp.out[t]!] as [string, number]
    ),
  ];
  return section("Ip", [["Forwarding", 2], ["DefaultTTL", k.net.settings.defaultTtl]]) +
    section("Icmp", [
      ["InMsgs", icmp.inMsgs],
      ["InErrors", icmp.inErrors],
      ["InCsumErrors", icmp.inCsumErrors],
      ...ICMP_NAMES.map(([n, t]) => [`In${n}`, icmp.in[t]!] as [string, number]),
      ["OutMsgs", icmp.outMsgs],
      ["OutErrors", 0],
      ["OutRateLimitGlobal", 0],
      ["OutRateLimitHost", 0],
      ...ICMP_NAMES.map(([n, t]) => [`Out${n}`, icmp.out[t]!] as [string, number]),
    ]) +
    (msg.length ? section("IcmpMsg", msg) : "") +
    section("Tcp", [
      ["RtoAlgorithm", 1],
      ["RtoMin", 200],
      ["RtoMax", 120000],
      ["MaxConn", -1],
      ["ActiveOpens", tcp.activeOpens],
      ["PassiveOpens", tcp.passiveOpens],
      ["AttemptFails", tcp.attemptFails],
      ["EstabResets", tcp.estabResets],
      ["CurrEstab", estab],
      ["RetransSegs", 0],
      ["InErrs", 0],
      ["OutRsts", tcp.outRsts],
      ["InCsumErrors", 0],
    ]) +
    section("Udp", [
      ["InDatagrams", udp.inDatagrams],
      ["NoPorts", udp.noPorts],
      ["InErrors", 0],
      ["OutDatagrams", udp.outDatagrams],
      ["RcvbufErrors", 0],
      ["SndbufErrors", 0],
      ["InCsumErrors", 0],
      ["IgnoredMulti", 0],
      ["MemErrors", 0],
    ]);
}

/** Pages of data queued in some sockets (what sockstat's mem counts). */
function pages(sockets: LocalSocket[]): number {
  return Math.floor(sockets.reduce((n, s) => n + s.queued, 0) / 4096);
}

/** TCP sockets in the connection tables: listening or connected, and connections waiting for accept. */
function hashedTcp(k: Kernel, family: number): LocalSocket[] {
  return localSockets(k, family, SOCK.STREAM).filter((s) => s.tcpState !== 7).flatMap((s) => [
    s,
    ...s.pending,
  ]);
}

/** Bound UDP sockets. */
function hashedUdp(k: Kernel, family: number): LocalSocket[] {
  return localSockets(k, family, SOCK.DGRAM).filter((s) => s.local.kind === "inet");
}

/**
 * /proc/net/sockstat: sockets in use in the namespace (connections
 * waiting for accept too), the IPv4 ones in the tables by protocol, every
 * TCP socket made (alloc), pages of data queued; the Sentry keeps no
 * orphaned or TIME_WAIT sockets and never fragments.
 */
function sockstatText(k: Kernel): string {
  const tcp = hashedTcp(k, AF.INET);
  const allTcp = [AF.INET, AF.INET6].flatMap((f) => localSockets(k, f, SOCK.STREAM))
    .flatMap((s) => [s, ...s.pending]);
  const udp = hashedUdp(k, AF.INET);
  const pending = [...k.net.sockets].filter((s) => s instanceof LocalSocket)
    .reduce((n, s) => n + (s as LocalSocket).pendingCount, 0);
  return `sockets: used ${k.net.sockets.size + pending}\n` +
    `TCP: inuse ${tcp.length} orphan 0 tw 0 alloc ${allTcp.length} mem ${pages(allTcp)}\n` +
    `UDP: inuse ${udp.length} mem ${pages(udp)}\n` +
    "UDPLITE: inuse 0\n" +
    `RAW: inuse ${rawSockets(k, AF.INET)}\n` +
    "FRAG: inuse 0 memory 0\n";
}

/** How many raw sockets of a family there are. */
function rawSockets(k: Kernel, family: number): number {
  return [...k.net.sockets].filter((s) =>
    s instanceof IcmpSocket && s.hashed && s.raw && s.family === family
  )
    .length;
}

/** /proc/net/sockstat6: the IPv6 sockets in the tables by protocol. */
function sockstat6Text(k: Kernel): string {
  return `TCP6: inuse ${hashedTcp(k, AF.INET6).length}\n` +
    `UDP6: inuse ${hashedUdp(k, AF.INET6).length}\n` +
    "UDPLITE6: inuse 0\n" +
    `RAW6: inuse ${rawSockets(k, AF.INET6)}\n` +
    "FRAG6: inuse 0 memory 0\n";
}
