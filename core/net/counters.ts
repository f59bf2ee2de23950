/**
 * The counters the sandbox's own network keeps (`--network none`), as
 * Linux's SNMP MIBs and interface statistics count them: what
 * /proc/net/snmp and /proc/net/dev show. Only events the Sentry's loopback
 * really has are counted: ICMP messages and UDP datagrams (packets on lo),
 * TCP connections opened, refused and reset. TCP data is a byte stream
 * between the two ends here, never cut into segments, so segments are not
 * counted and lo's statistics hold ICMP and UDP packets only.
 *
 * @module
 */

/** ICMP messages counted by type, in and out, and the received ones that were dropped. */
export class IcmpCounters {
  /** Messages received (all, the dropped ones too). */
  inMsgs = 0;
  /** Received messages, by type. */
  readonly in = new Array<number>(256).fill(0);
  /** Received messages dropped (too short, bad checksum, unknown type). */
  inErrors = 0;
  /** Of those, the ones with a bad checksum. */
  inCsumErrors = 0;
  /** Messages sent, by type. */
  readonly out = new Array<number>(256).fill(0);

  /** Messages sent. */
  get outMsgs(): number {
    return this.out.reduce((a, b) => a + b, 0);
  }
}

/**
 * Everything counted in one network namespace.
 *
 * @example
 * ```ts
 * import { NetCounters } from "./counters.ts";
 * const c = new NetCounters();
 * c.packet(84);
 * c.icmp.out[8]!++;
 * if (c.lo.txPackets !== 1 || c.lo.rxBytes !== 84 || c.icmp.outMsgs !== 1) throw new Error();
 * ```
 */
export class NetCounters {
  /** ICMP (IPv4). */
  readonly icmp = new IcmpCounters();
  /** ICMPv6. */
  readonly icmp6 = new IcmpCounters();
  /** TCP connections (Linux's Tcp MIB, the connection counters). */
  readonly tcp = {
    /** Connections this side opened (connect sent its SYN). */
    activeOpens: 0,
    /** Connections a listener took. */
    passiveOpens: 0,
    /** connect(2)s refused. */
    attemptFails: 0,
    /** Established connections ended by a reset, sent or received. */
    estabResets: 0,
    /** Resets sent. */
    outRsts: 0,
  };
  /** UDP over IPv4 (Linux's Udp MIB): datagrams read by the application, to no socket, sent. */
  readonly udp = { inDatagrams: 0, noPorts: 0, outDatagrams: 0 };
  /** The loopback's interface statistics (every packet sent on lo is received on lo). */
  readonly lo = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0 };

  /**
   * Counts one IP packet through lo: sent and received (lo counts the IP
   * packet, its Ethernet header already taken off).
   *
   * @param ipLength The IP packet's length (header included).
   */
  packet(ipLength: number): void {
    this.lo.txPackets++;
    this.lo.txBytes += ipLength;
    this.lo.rxPackets++;
    this.lo.rxBytes += ipLength;
  }
}
