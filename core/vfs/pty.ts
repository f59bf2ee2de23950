/**
 * Pseudo-terminals made inside the sandbox (/dev/ptmx, /dev/pts/N), with
 * the Sentry's own line discipline (as Linux's n_tty): what the master
 * writes is the terminal's input: canonical line editing (erase, kill,
 * word erase, end of file, literal next), echo, CR/NL translation, and the
 * signal characters (^C, ^\, ^Z) sent to the foreground process group;
 * what the slave writes is its output, with NL to CR-NL. No host terminal
 * is involved: the sandbox's ptys cost the host nothing.
 *
 * Sessions and process groups are kept in a {@linkcode TtyState}, as for
 * host terminals, so job control (tty.ts) treats both alike.
 *
 * Flow control: with IXON, ^S stops the slave's output (its writers wait)
 * and ^Q (with IXANY, any character) starts it again; tcflow() stops and
 * starts either direction and sends the STOP and START characters. Packet
 * mode (TIOCPKT) gives the master a status byte before what it reads, and
 * the flush, stop and start events on their own.
 *
 * VMIN and VTIME as n_tty: with both, VTIME is an inter-byte timer.
 *
 * Echoes made while output is stopped wait until it starts again.
 *
 * Not done: ECHOPRT and XCASE.
 *
 * @module
 */
import { callHooks, LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { SIG } from "../kernel/signals.ts";
import { TTY, ttyHooks, TtyState } from "./host_tty.ts";
import { type Inode, O, OpenFile, POLL, type UserMemory } from "./inode.ts";

/** c_iflag bits. */
const I = {
  ISTRIP: 0x20,
  INLCR: 0x40,
  IGNCR: 0x80,
  ICRNL: 0x100,
  IXON: 0x400,
  IXANY: 0x800,
  IUTF8: 0x4000,
};
/** c_oflag bits. */
const OF = { OPOST: 1, ONLCR: 4, OCRNL: 8 };
/** c_lflag bits. */
const L = {
  ISIG: 1,
  ICANON: 2,
  ECHO: 8,
  ECHOE: 0x10,
  ECHOK: 0x20,
  ECHONL: 0x40,
  NOFLSH: 0x80,
  TOSTOP: 0x100,
  ECHOCTL: 0x200,
  ECHOKE: 0x800,
  IEXTEN: 0x8000,
};
/** c_cc indexes. */
const V = {
  INTR: 0,
  QUIT: 1,
  ERASE: 2,
  KILL: 3,
  EOF: 4,
  TIME: 5,
  MIN: 6,
  START: 8,
  STOP: 9,
  SUSP: 10,
  EOL: 11,
  REPRINT: 12,
  WERASE: 14,
  LNEXT: 15,
  EOL2: 16,
};

/** Pty ioctls beyond the common terminal ones. */
export const PTY = {
  TIOCGPTN: 0x80045430,
  TIOCSPTLCK: 0x40045431,
  TIOCGPTLCK: 0x80045439,
  TIOCSIG: 0x40045436,
  TIOCGPTPEER: 0x5441,
  TIOCPKT: 0x5420,
  TIOCGPKT: 0x80045438,
} as const;

/** Packet mode's status bits (the byte before what the master reads). */
const PKT = { FLUSHREAD: 1, FLUSHWRITE: 2, STOP: 4, START: 8, NOSTOP: 16, DOSTOP: 32 };

/** What a canonical read can take (Linux's N_TTY_BUF_SIZE less one). */
const INPUT_MAX = 4095;
/** Output the master has not read yet before a slave writer waits. */
const OUTPUT_MAX = 65536;

/** A terminal's settings (`struct termios`, 36 bytes). */
export class Termios {
  iflag: number;
  oflag: number;
  cflag: number;
  lflag: number;
  line = 0;
  readonly cc: Uint8Array;

  /** Makes Linux's defaults for a pty slave (tty_std_termios). */
  constructor() {
    this.cflag = 0o277; // B38400 | CS8 | CREAD
    this.iflag = 0x500; // ICRNL | IXON
    this.oflag = OF.OPOST | OF.ONLCR;
    this.lflag = L.ISIG | L.ICANON | L.ECHO | L.ECHOE | L.ECHOK | L.ECHOCTL | L.ECHOKE | L.IEXTEN;
    this.cc = new Uint8Array([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0]);
  }

  /** @returns The 36 bytes TCGETS gives. */
  encode(): Uint8Array {
    const b = new Uint8Array(36);
    const v = new DataView(b.buffer);
    v.setUint32(0, this.iflag, true);
    v.setUint32(4, this.oflag, true);
    v.setUint32(8, this.cflag, true);
    v.setUint32(12, this.lflag, true);
    b[16] = this.line;
    b.set(this.cc, 17);
    return b;
  }

  /**
   * Takes what TCSETS gives.
   *
   * @param b 36 bytes.
   */
  decode(b: Uint8Array): void {
    const v = new DataView(b.buffer, b.byteOffset, 36);
    this.iflag = v.getUint32(0, true);
    this.oflag = v.getUint32(4, true);
    this.cflag = v.getUint32(8, true);
    this.lflag = v.getUint32(12, true);
    this.line = b[16]!;
    this.cc.set(b.subarray(17, 36));
  }
}

/**
 * One pseudo-terminal: the line discipline and the queues between its
 * master and its slave.
 *
 * @example
 * ```ts
 * import { Terminal } from "./pty.ts";
 * const t = new Terminal(0);
 * t.input(new TextEncoder().encode("ab\x7fc\r"));
 * const line = new Uint8Array(10);
 * const n = t.readSlave(line, true);
 * if (new TextDecoder().decode(line.subarray(0, n)) !== "ac\n") throw new Error();
 * const echo = new Uint8Array(20);
 * const e = t.readMaster(echo, true);
 * if (new TextDecoder().decode(echo.subarray(0, e)) !== "ab\b \bc\r\n") throw new Error();
 * ```
 */
export class Terminal {
  /** Sessions and groups (job control), shared with the kernel's terminal code. */
  readonly tty: TtyState;
  readonly termios = new Termios();
  winsize = new Uint8Array(8);
  /** TIOCSPTLCK: the slave cannot be opened while locked (posix_openpt leaves it so). */
  locked = true;
  /** Open files of the master and of the slave. */
  masters = 0;
  slaves = 0;
  /** A slave was opened and all its files closed since: the master reads EIO. */
  slaveGone = false;
  /** The master is closed: the slave reads end of file and writes EIO. */
  hungUp = false;
  /** Called once neither end is open any more (the kernel forgets the terminal). */
  onFree: (() => void) | null = null;
  /** Notified on any change of the queues or the ends. */
  readonly changed = new WaitQueue();
  /** Canonical mode: complete lines ready to read (an empty one is an end of file). */
  #lines: Uint8Array[] = [];
  /** Canonical mode: the line being edited; raw mode: the bytes to read. */
  #line: number[] = [];
  /** Output for the master to read. */
  #output: number[] = [];
  /** Echoes made while output is stopped, held until it starts again (as n_tty's echo buffer). */
  #held: number[] = [];
  /** The next input byte is taken literally (VLNEXT). */
  #literal = false;
  /** When the last input byte came (VMIN and VTIME: VTIME is then an inter-byte timer). */
  #lastByteMs = 0;
  /** The slave's output is stopped (^S, tcflow TCOOFF): its writers wait. */
  stopped = false;
  /** ...by tcflow TCOOFF, which only TCOON undoes (not ^Q or IXANY). */
  #tcoStopped = false;
  /** The master's writes are stopped (tcflow TCOOFF on the master). */
  inputStopped = false;
  /** TIOCPKT: the master reads a status byte first. */
  packet = false;
  /** Packet mode events the master has not read (PKT bits). */
  #ctrl = 0;

  /** @param index N of /dev/pts/N. */
  constructor(readonly index: number) {
    this.tty = new TtyState(index);
  }

  #has(flag: number, bits: number): boolean {
    return (flag & bits) !== 0;
  }

  get #canonical(): boolean {
    return this.#has(this.termios.lflag, L.ICANON);
  }

  /** Bytes the slave can read now (FIONREAD). */
  get readable(): number {
    if (!this.#canonical) return this.#line.length;
    return this.#lines.reduce((n, l) => n + l.length, 0);
  }

  /** Whether a slave read would return now (data, an end of file, a hangup). */
  get slaveReady(): boolean {
    if (this.hungUp) return true;
    return this.#canonical ? this.#lines.length > 0 : this.#line.length > 0;
  }

  /** Bytes the master can read now. */
  get outputLength(): number {
    return this.#output.length;
  }

  /** Room for input (what the master may write before it waits). */
  get inputRoom(): number {
    return Math.max(0, INPUT_MAX - this.readable - this.#line.length);
  }

  // ---- output (slave writes, echoes) -------------------------------------

  /** Queues bytes for the master, or holds them while output is stopped. */
  #emit(...bytes: number[]): void {
    (this.stopped ? this.#held : this.#output).push(...bytes);
  }

  /** Puts one byte out through the output processing (OPOST, ONLCR, OCRNL). */
  #put(c: number): void {
    const o = this.termios.oflag;
    if (this.#has(o, OF.OPOST)) {
      if (c === 10 && this.#has(o, OF.ONLCR)) {
        this.#emit(13, 10);
        return;
      }
      if (c === 13 && this.#has(o, OF.OCRNL)) c = 10;
    }
    this.#emit(c);
  }

  /** Echoes an input byte: control characters as ^X with ECHOCTL. */
  #echo(c: number): void {
    const l = this.termios.lflag;
    if (!this.#has(l, L.ECHO)) return;
    if (this.#has(l, L.ECHOCTL) && (c < 32 || c === 127) && c !== 9 && c !== 10) {
      this.#emit(94, c === 127 ? 63 : c + 64);
      return;
    }
    this.#put(c);
  }

  /** Columns an echoed byte took (ECHOCTL shows control characters in two). */
  #width(c: number): number {
    const ctl = this.#has(this.termios.lflag, L.ECHOCTL) && (c < 32 || c === 127) && c !== 9;
    // A UTF-8 continuation byte adds no column.
    if (this.#has(this.termios.iflag, I.IUTF8) && (c & 0xc0) === 0x80) return 0;
    return ctl ? 2 : 1;
  }

  /** Erases the line's last character (a whole UTF-8 sequence), visibly with ECHOE. */
  #eraseOne(): boolean {
    if (this.#line.length === 0) return false;
    let c = this.#line.pop()!;
    let cols = this.#width(c);
    if (this.#has(this.termios.iflag, I.IUTF8)) {
      while ((c & 0xc0) === 0x80 && this.#line.length) {
        c = this.#line.pop()!;
        cols += this.#width(c);
      }
    }
    const l = this.termios.lflag;
    if (this.#has(l, L.ECHO) && this.#has(l, L.ECHOE)) {
      for (let i = 0; i < cols; i++) this.#emit(8, 32, 8);
    }
    return true;
  }

  /**
   * Output from the slave.
   *
   * @param data The bytes.
   * @param nonblocking O_NONBLOCK.
   * @returns Bytes taken.
   * @throws {LinuxError} EIO after a hangup, EAGAIN when full or stopped and nonblocking.
   * @throws {WouldBlock} When full or stopped.
   */
  output(data: Uint8Array, nonblocking: boolean): number {
    if (this.hungUp) throw new LinuxError("EIO");
    const room = this.stopped ? 0 : OUTPUT_MAX - this.#output.length;
    if (room <= 0) {
      if (nonblocking) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.changed]);
    }
    const n = Math.min(room, data.length);
    for (let i = 0; i < n; i++) this.#put(data[i]!);
    this.changed.notify();
    return n;
  }

  /**
   * What the master reads: the output and the echoes.
   *
   * @param buf Where to.
   * @param nonblocking O_NONBLOCK.
   * @returns Bytes read.
   * @throws {LinuxError} EIO once the slave was closed and nothing is left.
   * @throws {WouldBlock} While there is nothing.
   */
  readMaster(buf: Uint8Array, nonblocking: boolean): number {
    if (this.packet && this.#ctrl) {
      // A status of its own: one byte.
      buf[0] = this.#ctrl;
      this.#ctrl = 0;
      return 1;
    }
    if (this.#output.length === 0) {
      if (this.slaveGone) throw new LinuxError("EIO");
      if (nonblocking) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.changed]);
    }
    // Packet mode: data comes after a TIOCPKT_DATA (0) byte.
    const at = this.packet ? 1 : 0;
    if (at) buf[0] = 0;
    const n = Math.min(buf.length - at, this.#output.length);
    buf.set(this.#output.splice(0, n), at);
    this.changed.notify();
    return n + at;
  }

  // ---- input (master writes) ----------------------------------------------

  /**
   * Input from the master, through the line discipline.
   *
   * @param data The bytes.
   * @returns Bytes taken (all, unless the input queue is full).
   */
  input(data: Uint8Array): number {
    let taken = 0;
    for (const byte of data) {
      if (this.inputRoom === 0 && !this.#canonical) break;
      this.#receive(byte);
      taken++;
    }
    if (taken) this.changed.notify();
    return taken;
  }

  #receive(byte: number): void {
    const t = this.termios;
    const cc = t.cc;
    let c = this.#has(t.iflag, I.ISTRIP) ? byte & 0x7f : byte;
    const is = (v: number) => cc[v] !== 0 && c === cc[v];
    if (this.#literal) {
      this.#literal = false;
      // Take back the "^" shown for the VLNEXT.
      if (this.#has(t.lflag, L.ECHO) && this.#has(t.lflag, L.ECHOCTL)) this.#emit(8);
      this.#add(c);
      return;
    }
    if (this.#has(t.iflag, I.IXON)) {
      // START before STOP: with both the same character, it toggles.
      if (is(V.START) && (this.stopped || !is(V.STOP))) {
        this.start();
        return;
      }
      if (is(V.STOP)) {
        this.stop();
        return;
      }
      if (this.stopped && this.#has(t.iflag, I.IXANY)) this.start();
    }
    if (c === 13) {
      if (this.#has(t.iflag, I.IGNCR)) return;
      if (this.#has(t.iflag, I.ICRNL)) c = 10;
    } else if (c === 10 && this.#has(t.iflag, I.INLCR)) c = 13;
    if (this.#has(t.lflag, L.ISIG)) {
      const sig = is(V.INTR) ? SIG.INT : is(V.QUIT) ? SIG.QUIT : is(V.SUSP) ? SIG.TSTP : 0;
      if (sig) {
        if (!this.#has(t.lflag, L.NOFLSH)) this.flushInput();
        this.#echo(c);
        ttyHooks.signalForeground?.(this.tty, sig);
        return;
      }
    }
    if (!this.#canonical) {
      this.#add(c);
      return;
    }
    const extended = this.#has(t.lflag, L.IEXTEN);
    if (is(V.ERASE)) {
      // Without ECHOE the erase character itself is echoed.
      if (this.#eraseOne() && this.#has(t.lflag, L.ECHO) && !this.#has(t.lflag, L.ECHOE)) {
        this.#echo(c);
      }
      return;
    }
    if (is(V.KILL)) {
      const l = t.lflag;
      if (this.#has(l, L.ECHOKE) && this.#has(l, L.ECHOE)) {
        while (this.#eraseOne());
      } else {
        this.#line = [];
        this.#echo(c);
        if (this.#has(l, L.ECHOK)) this.#put(10);
      }
      return;
    }
    if (extended && is(V.WERASE)) {
      const word = (x: number) =>
        x === 95 || (x >= 48 && x <= 57) || ((x | 32) >= 97 && (x | 32) <= 122) || x >= 128;
      while (this.#line.length && !word(this.#line.at(-1)!)) this.#eraseOne();
      while (this.#line.length && word(this.#line.at(-1)!)) this.#eraseOne();
      return;
    }
    if (extended && is(V.LNEXT)) {
      this.#literal = true;
      if (this.#has(t.lflag, L.ECHO) && this.#has(t.lflag, L.ECHOCTL)) this.#emit(94);
      return;
    }
    if (extended && is(V.REPRINT) && this.#has(t.lflag, L.ECHO)) {
      this.#echo(c);
      this.#put(10);
      for (const x of this.#line) this.#echo(x);
      return;
    }
    if (is(V.EOF)) {
      // The line so far, without the character; alone, an end of file.
      this.#lines.push(Uint8Array.from(this.#line));
      this.#line = [];
      return;
    }
    if (c === 10 || is(V.EOL) || is(V.EOL2)) {
      if (c === 10 && !this.#has(t.lflag, L.ECHO) && this.#has(t.lflag, L.ECHONL)) this.#put(10);
      else this.#echo(c);
      this.#line.push(c);
      this.#lines.push(Uint8Array.from(this.#line));
      this.#line = [];
      return;
    }
    this.#add(c);
  }

  /** A byte into the line being edited (dropped when the line is full, as Linux). */
  #add(c: number): void {
    if (this.#canonical && this.#line.length >= INPUT_MAX) return;
    this.#line.push(c);
    this.#lastByteMs = performance.now();
    this.#echo(c);
  }

  /**
   * What the slave reads: a line (canonical), or what there is (raw, as
   * VMIN and VTIME say).
   *
   * @param buf Where to.
   * @param nonblocking O_NONBLOCK.
   * @param started When the read began (performance.now()), kept by the caller across retries.
   * @returns Bytes read; 0 at an end of file or after a hangup.
   * @throws {WouldBlock} While there is nothing to read.
   */
  readSlave(buf: Uint8Array, nonblocking: boolean, started: number | null = null): number {
    if (buf.length === 0) return 0;
    if (this.#canonical) {
      const line = this.#lines[0];
      if (!line) {
        if (this.hungUp) return 0;
        if (nonblocking) throw new LinuxError("EAGAIN");
        throw new WouldBlock([this.changed]);
      }
      const n = Math.min(buf.length, line.length);
      buf.set(line.subarray(0, n));
      if (n === line.length) this.#lines.shift();
      else this.#lines[0] = line.subarray(n);
      this.changed.notify();
      return n;
    }
    const min = this.termios.cc[V.MIN]!;
    const time = this.termios.cc[V.TIME]!;
    const have = this.#line.length;
    const enough = have > 0 && have >= Math.min(min, buf.length);
    // VMIN 0: VTIME times the whole read, from its start. VMIN and VTIME:
    // VTIME is an inter-byte timer, from the later of the read's start and
    // the last byte that came, once there is one (until then the read waits
    // for good).
    const start = started ?? performance.now();
    const until = !time
      ? null
      : min === 0
      ? start + time * 100
      : have
      ? Math.max(start, this.#lastByteMs) + time * 100
      : null;
    const timedOut = until !== null && performance.now() >= until;
    if (
      !enough && !this.hungUp && !(min === 0 && time === 0) &&
      !(timedOut && (have > 0 || min === 0))
    ) {
      if (nonblocking) throw new LinuxError("EAGAIN");
      throw new WouldBlock([this.changed], until);
    }
    const n = Math.min(buf.length, have);
    buf.set(this.#line.splice(0, n));
    if (n) this.changed.notify();
    return n;
  }

  /** Drops the input not read yet (TCIFLUSH, a signal character without NOFLSH). */
  flushInput(): void {
    this.#lines = [];
    this.#line = [];
    this.#event(PKT.FLUSHREAD, 0);
    this.changed.notify();
  }

  /** Drops the output the master has not read (TCOFLUSH). */
  flushOutput(): void {
    this.#output = [];
    this.#held = [];
    this.#event(PKT.FLUSHWRITE, 0);
    this.changed.notify();
  }

  /** A packet mode event for the master (nothing outside packet mode). */
  #event(set: number, clear: number): void {
    if (!this.packet) return;
    this.#ctrl = (this.#ctrl & ~clear) | set;
    this.changed.notify();
  }

  /** Whether the master has a packet mode status to read. */
  get packetStatus(): boolean {
    return this.#ctrl !== 0;
  }

  /** Turns packet mode on (its status starts empty) or off (TIOCPKT). */
  setPacket(on: boolean): void {
    if (on && !this.packet) this.#ctrl = 0;
    this.packet = on;
  }

  /**
   * Stops the slave's output (^S, or tcflow TCOOFF with `tco`).
   *
   * @param tco By tcflow: only tcflow starts it again.
   */
  stop(tco = false): void {
    if (tco) this.#tcoStopped = true;
    if (this.stopped) return;
    this.stopped = true;
    this.#event(PKT.STOP, PKT.START);
  }

  /**
   * Starts the slave's output again (^Q, IXANY, or tcflow TCOON with `tco`).
   *
   * @param tco By tcflow (which also undoes its own stop).
   */
  start(tco = false): void {
    if (tco) this.#tcoStopped = false;
    if (!this.stopped || this.#tcoStopped) return;
    this.stopped = false;
    this.#output.push(...this.#held);
    this.#held = [];
    this.#event(PKT.START, PKT.STOP);
    this.changed.notify();
  }

  /**
   * Sends a flow control character to the other end at once (tcflow
   * TCIOFF/TCION): the slave's goes out to the master, the master's comes
   * in as the slave's input.
   *
   * @param master Which end sends it.
   * @param start START (else STOP).
   */
  sendFlowChar(master: boolean, start: boolean): void {
    const c = this.termios.cc[start ? V.START : V.STOP]!;
    if (c === 0) return;
    if (master) this.input(Uint8Array.of(c));
    else {
      this.#output.push(c);
      this.changed.notify();
    }
  }

  /** Whether IXON is on with ^S and ^Q as STOP and START (packet mode's DOSTOP). */
  #ctrlSFlow(): boolean {
    const t = this.termios;
    return this.#has(t.iflag, I.IXON) && t.cc[V.STOP] === 0x13 && t.cc[V.START] === 0x11;
  }

  /**
   * New settings: leaving canonical mode makes the partial and complete
   * lines plain input; entering it makes pending input one line.
   *
   * @param raw The 36 bytes of TCSETS.
   */
  setTermios(raw: Uint8Array): void {
    const was = this.#canonical;
    const flowWas = this.#ctrlSFlow();
    const ixonWas = this.#has(this.termios.iflag, I.IXON);
    this.termios.decode(raw);
    // Packet mode tells the master whether ^S/^Q are flow control now (DOSTOP/NOSTOP).
    const flow = this.#ctrlSFlow();
    if (flow !== flowWas) this.#event(flow ? PKT.DOSTOP : PKT.NOSTOP, PKT.DOSTOP | PKT.NOSTOP);
    // No more IXON: output stopped by ^S goes on.
    if (ixonWas && !this.#has(this.termios.iflag, I.IXON)) this.start();
    if (was && !this.#canonical) {
      this.#line = [...this.#lines.flatMap((l) => [...l]), ...this.#line];
      this.#lines = [];
    } else if (!was && this.#canonical && this.#line.length) {
      this.#lines.push(Uint8Array.from(this.#line));
      this.#line = [];
    }
    this.changed.notify();
  }
}

function writeInt(memory: UserMemory, addr: bigint, value: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  memory.write(addr, b);
}

/**
 * The requests both ends answer alike: settings, window size, queue sizes.
 *
 * @returns The result, or null when `request` is not one of them.
 */
function commonIoctl(
  t: Terminal,
  master: boolean,
  request: number,
  arg: bigint,
  memory: UserMemory,
): bigint | null {
  switch (request) {
    // Settings and the window size are the slave's, from either end (as Linux's tty_mode_ioctl).
    case TTY.TCGETS:
      memory.write(arg, t.termios.encode());
      return 0n;
    case TTY.TCSETS:
    case TTY.TCSETSW:
    case TTY.TCSETSF: {
      const raw = memory.read(arg, 36);
      if (!master) ttyHooks.jobControl?.(t.tty, SIG.TTOU);
      if (request === TTY.TCSETSF) t.flushInput();
      t.setTermios(raw);
      return 0n;
    }
    case TTY.TIOCGWINSZ:
      memory.write(arg, t.winsize);
      return 0n;
    case TTY.TIOCSWINSZ: {
      const next = memory.read(arg, 8).slice();
      const changed = next.some((b, i) => b !== t.winsize[i]);
      t.winsize = next;
      if (changed) ttyHooks.signalForeground?.(t.tty, SIG.WINCH);
      return 0n;
    }
    case TTY.FIONREAD:
      writeInt(memory, arg, master ? t.outputLength : t.readable);
      return 0n;
    case TTY.TIOCOUTQ:
      writeInt(memory, arg, master ? 0 : t.outputLength);
      return 0n;
    case TTY.TCFLSH: {
      const q = Number(arg);
      if (q !== 0 && q !== 1 && q !== 2) throw new LinuxError("EINVAL");
      // The master's input is the slave's output.
      const input = master ? q !== 0 : q !== 1;
      const output = master ? q !== 1 : q !== 0;
      if (input) t.flushInput();
      if (output) t.flushOutput();
      return 0n;
    }
    case TTY.TCXONC: {
      // TCOOFF, TCOON: this end's output (the master's is the slave's input); TCIOFF, TCION: send STOP, START.
      const a = Number(arg);
      if (a < 0 || a > 3) throw new LinuxError("EINVAL");
      if (a >= 2) t.sendFlowChar(master, a === 3);
      else if (master) {
        t.inputStopped = a === 0;
        t.changed.notify();
      } else if (a === 0) t.stop(true);
      else t.start(true);
      return 0n;
    }
    case TTY.TCSBRK:
    case TTY.TCSBRKP:
      return 0n; // nothing waits between the ends
    case TTY.TIOCSTI:
      throw new LinuxError("EPERM"); // no faking input, as with dev.tty.legacy_tiocsti=0
  }
  return null;
}

/** The master end (/dev/ptmx). */
export class PtyMaster extends OpenFile {
  /**
   * Opens the master of a new terminal.
   *
   * @param inode The /dev/ptmx node opened.
   * @param flags Open flags.
   * @param terminal The terminal.
   */
  constructor(inode: Inode, flags: number, readonly terminal: Terminal) {
    super(inode, flags);
    terminal.masters++;
  }

  protected override readAt(buf: Uint8Array): number {
    return this.terminal.readMaster(buf, (this.flags & O.NONBLOCK) !== 0);
  }

  protected override writeAt(data: Uint8Array): number {
    const t = this.terminal;
    if (data.length === 0) return 0;
    const n = t.inputStopped ? 0 : t.input(data);
    if (n === 0) {
      if (this.flags & O.NONBLOCK) throw new LinuxError("EAGAIN");
      throw new WouldBlock([t.changed]);
    }
    return n;
  }

  override get seekable(): boolean {
    return false;
  }

  override poll(): { events: number; queue: WaitQueue | null } {
    const t = this.terminal;
    let ev = 0;
    if (t.outputLength > 0) ev |= POLL.IN | POLL.RDNORM;
    if (t.packet && t.packetStatus) ev |= POLL.PRI | POLL.IN;
    if (t.slaveGone) ev |= POLL.HUP | POLL.IN;
    if (t.inputRoom > 0 && !t.inputStopped) ev |= POLL.OUT | POLL.WRNORM;
    return { events: ev, queue: t.changed };
  }

  override ioctl(request: number, arg: bigint, memory: UserMemory): bigint {
    const t = this.terminal;
    switch (request) {
      case PTY.TIOCGPTN:
        writeInt(memory, arg, t.index);
        return 0n;
      case PTY.TIOCSPTLCK:
        t.locked = new DataView(memory.read(arg, 4).buffer).getInt32(0, true) !== 0;
        return 0n;
      case PTY.TIOCGPTLCK:
        writeInt(memory, arg, t.locked ? 1 : 0);
        return 0n;
      case PTY.TIOCPKT:
        t.setPacket(new DataView(memory.read(arg, 4).buffer).getInt32(0, true) !== 0);
        return 0n;
      case PTY.TIOCGPKT:
        writeInt(memory, arg, t.packet ? 1 : 0);
        return 0n;
      case PTY.TIOCSIG: {
        const sig = Number(arg);
        if (sig < 1 || sig > 64) throw new LinuxError("EINVAL");
        ttyHooks.signalForeground?.(t.tty, sig);
        return 0n;
      }
    }
    const r = commonIoctl(t, true, request, arg, memory);
    if (r === null) throw new LinuxError("ENOTTY");
    return r;
  }

  protected override release(): void {
    const t = this.terminal;
    if (--t.masters > 0) return;
    // The master's end: a hangup for the slave's session.
    t.hungUp = true;
    t.changed.notify();
    ttyHooks.hangup?.(t);
    if (t.slaves === 0) t.onFree?.();
  }
}

/** The slave end (/dev/pts/N): the terminal programs use. */
export class PtySlave extends OpenFile {
  readonly tty: TtyState;

  /**
   * Opens the slave.
   *
   * @param inode The /dev/pts/N node opened.
   * @param flags Open flags.
   * @param terminal The terminal.
   */
  constructor(inode: Inode, flags: number, readonly terminal: Terminal) {
    super(inode, flags);
    this.tty = terminal.tty;
    terminal.slaves++;
    terminal.slaveGone = false;
  }

  override read(buf: Uint8Array, _offset: bigint | null): number {
    ttyHooks.jobControl?.(this.tty, SIG.TTIN);
    const t = this.terminal;
    // VTIME counts from the start of the read, kept across its retries.
    const now = () => performance.now();
    const started = callHooks.keep ? callHooks.keep(now) : now();
    return t.readSlave(buf, (this.flags & O.NONBLOCK) !== 0, started);
  }

  override write(data: Uint8Array, _offset: bigint | null): number {
    const t = this.terminal;
    ttyHooks.jobControl?.(this.tty, SIG.TTOU, () => (t.termios.lflag & L.TOSTOP) !== 0);
    if (data.length === 0) return 0;
    return t.output(data, (this.flags & O.NONBLOCK) !== 0);
  }

  override get seekable(): boolean {
    return false;
  }

  override poll(): { events: number; queue: WaitQueue | null } {
    const t = this.terminal;
    let ev = 0;
    if (t.slaveReady) ev |= POLL.IN | POLL.RDNORM;
    if (t.hungUp) ev |= POLL.HUP;
    else if (t.outputLength < OUTPUT_MAX && !t.stopped) ev |= POLL.OUT | POLL.WRNORM;
    return { events: ev, queue: t.changed };
  }

  override ioctl(request: number, arg: bigint, memory: UserMemory): bigint {
    const r = commonIoctl(this.terminal, false, request, arg, memory);
    if (r === null) throw new LinuxError("ENOTTY");
    return r;
  }

  protected override release(): void {
    const t = this.terminal;
    if (--t.slaves === 0) {
      t.slaveGone = true;
      t.changed.notify();
      if (t.masters === 0) t.onFree?.();
    }
  }
}
