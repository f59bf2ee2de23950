/**
 * A network namespace: the sandbox's own network (`--network none`), which
 * all its processes share (a pod's containers too, as a Kubernetes pod
 * shares one). It holds the names sockets are bound to, every socket made
 * in it (what /proc/net lists), the counters its loopback keeps, and its
 * settings: the `net.*` sysctls Linux keeps per network namespace, each
 * one obeyed where the Sentry's network does what it governs.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import { intSysctl, type Sysctl, sysctlIntegers } from "../kernel/sysctl.ts";
import { SocketNames } from "../vfs/local_socket.ts";
import { NetCounters } from "./counters.ts";
import type { IcmpEndpoint } from "./icmp.ts";

const INT_MAX = 0x7fffffffn;
/** The largest group id (gid_t's all-ones value is no group). */
const GID_MAX = 0xfffffffen;
/** The largest value proc_dointvec_jiffies takes (seconds, at HZ 1000). */
const JIFFY_SECONDS_MAX = 2147483n;

/** The settings (Linux's defaults for a new network namespace). */
export interface NetSettings {
  /** net.core.somaxconn: the longest listen backlog. */
  somaxconn: number;
  /** net.ipv4.ip_local_port_range: where ephemeral ports come from. */
  localPorts: [number, number];
  /** net.ipv4.ip_unprivileged_port_start: binding below it needs CAP_NET_BIND_SERVICE. */
  unprivilegedPortStart: number;
  /** net.ipv4.ping_group_range: the groups that may make ICMP echo (ping) sockets. */
  pingGroups: [number, number];
  /** net.ipv4.ip_default_ttl: the TTL of IPv4 packets sent. */
  defaultTtl: number;
  /** net.ipv4.icmp_echo_ignore_all: echo requests are not answered. */
  echoIgnoreAll: number;
  /** net.ipv4.icmp_echo_ignore_broadcasts: echo requests to the broadcast address are not answered. */
  echoIgnoreBroadcasts: number;
  /** net.ipv6.icmp.echo_ignore_all: ICMPv6 echo requests are not answered. */
  echo6IgnoreAll: number;
  /** net.ipv4.tcp_keepalive_time, _intvl (seconds) and _probes: TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT's defaults. */
  keepalive: { time: number; intvl: number; probes: number };
}

/**
 * The namespace.
 *
 * @example
 * ```ts
 * import { NetNamespace } from "./namespace.ts";
 * const ns = new NetNamespace();
 * ns.sysctls()["net.ipv4.ip_local_port_range"]!.write("40000 40001");
 * if (ns.names.ephemeralPort("tcp") !== 40000) throw new Error();
 * ```
 */
export class NetNamespace {
  readonly settings: NetSettings = {
    somaxconn: 4096,
    localPorts: [32768, 60999],
    unprivilegedPortStart: 1024,
    pingGroups: [1, 0],
    defaultTtl: 64,
    echoIgnoreAll: 0,
    echoIgnoreBroadcasts: 1,
    echo6IgnoreAll: 0,
    keepalive: { time: 7200, intvl: 75, probes: 9 },
  };
  /** Abstract names, socket files, ports. */
  readonly names = new SocketNames(() => this.settings.localPorts);
  /** Every socket made in the namespace and not yet closed (what /proc/net lists). */
  readonly sockets = new Set<object>();
  /** What its loopback counted. */
  readonly counters = new NetCounters();
  /** The ICMP sockets (raw and ping), which the loopback delivers ICMP packets to. */
  readonly icmp = new Set<IcmpEndpoint>();
  /**
   * The ICMP echo identifiers ping sockets hold (IPv4 and IPv6 alike), each
   * with its holders, the last bound first (the one an echo reply finds).
   */
  readonly pingIdents = new Map<number, object[]>();
  /** The last identifier given to a ping socket (Linux starts it at random). */
  #pingRover = crypto.getRandomValues(new Uint16Array(1))[0]!;
  /** The next IPv4 identification field. */
  #ipId = crypto.getRandomValues(new Uint16Array(1))[0]!;

  /**
   * Takes an echo identifier for a ping socket: the one asked for, or the
   * next free one after the last given (never 0), as Linux's ping_get_port.
   *
   * @param owner The socket.
   * @param wanted The identifier asked for (bind), or 0.
   * @param shared Whether it may share with a holder (both have SO_REUSEADDR, on by default).
   * @returns The identifier.
   * @throws {LinuxError} EADDRINUSE when taken.
   */
  takePingIdent(owner: object, wanted: number, shared: (holder: object) => boolean): number {
    if (wanted) {
      const holders = this.pingIdents.get(wanted) ?? [];
      if (holders.some((h) => h !== owner && !shared(h))) throw new LinuxError("EADDRINUSE");
      this.pingIdents.set(wanted, [owner, ...holders]);
      return wanted;
    }
    for (let i = 0, id = this.#pingRover + 1; i < 0x10000; i++, id++) {
      id &= 0xffff;
      if (id === 0 || this.pingIdents.has(id)) continue;
      this.#pingRover = id;
      this.pingIdents.set(id, [owner]);
      return id;
    }
    throw new LinuxError("EADDRINUSE");
  }

  /**
   * Gives an echo identifier back (a ping socket closed).
   *
   * @param owner The socket.
   * @param id Its identifier.
   */
  dropPingIdent(owner: object, id: number): void {
    const rest = (this.pingIdents.get(id) ?? []).filter((h) => h !== owner);
    if (rest.length) this.pingIdents.set(id, rest);
    else this.pingIdents.delete(id);
  }

  /**
   * The identification field of the next IPv4 packet.
   *
   * @returns 16 bits.
   */
  nextIpId(): number {
    this.#ipId = (this.#ipId + 1) & 0xffff;
    return this.#ipId;
  }

  /**
   * Whether a process may make a ping socket: its effective group or one
   * of its supplementary groups is in net.ipv4.ping_group_range.
   *
   * @param egid The effective group.
   * @param groups The supplementary groups.
   * @returns True if so.
   */
  mayPing(egid: number, groups: readonly number[]): boolean {
    const [low, high] = this.settings.pingGroups;
    return [egid, ...groups].some((g) => g >= low && g <= high);
  }

  /**
   * The namespace's sysctls, by dotted key, as /proc/sys/net shows them.
   *
   * @returns The settings above.
   */
  sysctls(): Record<string, Sysctl> {
    const s = this.settings;
    const flag = (get: () => number, set: (v: number) => void) =>
      intSysctl(get, (v) => set(Number(v)), 0n, 1n);
    const seconds = (key: "time" | "intvl") =>
      intSysctl(
        () => s.keepalive[key],
        (v) => (s.keepalive[key] = Number(v)),
        -JIFFY_SECONDS_MAX,
        JIFFY_SECONDS_MAX,
      );
    return {
      "net.core.somaxconn": intSysctl(
        () => s.somaxconn,
        (v) => (s.somaxconn = Number(v)),
        0n,
        INT_MAX,
      ),
      "net.ipv4.ip_local_port_range": {
        read: () => s.localPorts.join("\t"),
        write: (t) => {
          const [low, high] = sysctlIntegers(t, s.localPorts, 1n, 65535n) as [number, number];
          if (high < low || low < s.unprivilegedPortStart) throw new LinuxError("EINVAL");
          s.localPorts = [low, high];
        },
      },
      "net.ipv4.ip_unprivileged_port_start": intSysctl(
        () => s.unprivilegedPortStart,
        (v) => {
          if (Number(v) > s.localPorts[0]) throw new LinuxError("EINVAL");
          s.unprivilegedPortStart = Number(v);
        },
        0n,
        65535n,
      ),
      "net.ipv4.ping_group_range": {
        read: () => s.pingGroups.join("\t"),
        write: (t) => {
          const [low, high] = sysctlIntegers(t, s.pingGroups, 0n, GID_MAX) as [
            number,
            number,
          ];
          // An empty range is stored as Linux's "nobody" one.
          s.pingGroups = high < low ? [1, 0] : [low, high];
        },
      },
      "net.ipv4.ip_default_ttl": intSysctl(
        () => s.defaultTtl,
        (v) => (s.defaultTtl = Number(v)),
        1n,
        255n,
      ),
      "net.ipv4.icmp_echo_ignore_all": flag(() => s.echoIgnoreAll, (v) => (s.echoIgnoreAll = v)),
      "net.ipv4.icmp_echo_ignore_broadcasts": flag(
        () => s.echoIgnoreBroadcasts,
        (v) => (s.echoIgnoreBroadcasts = v),
      ),
      "net.ipv6.icmp.echo_ignore_all": flag(() => s.echo6IgnoreAll, (v) => (s.echo6IgnoreAll = v)),
      "net.ipv4.tcp_keepalive_time": seconds("time"),
      "net.ipv4.tcp_keepalive_intvl": seconds("intvl"),
      "net.ipv4.tcp_keepalive_probes": intSysctl(
        () => s.keepalive.probes,
        (v) => (s.keepalive.probes = Number(v)),
        0n,
        255n,
      ),
    };
  }
}
