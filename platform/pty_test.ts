import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { EPOLL } from "./epoll.ts";
import { Errno } from "./errno.ts";
import { EventLoop } from "./event_loop.ts";
import { closeFd, closeQuietly, isCloexec, pipe, readFd, writeAll } from "./fd.ts";
import {
  getTermios,
  getWindowSize,
  openPty,
  openPtyMaster,
  openPtySlave,
  ptyIndex,
  setRawMode,
  setTermios,
  setWindowSize,
} from "./pty.ts";
import { receiveFds, sendFds, socketPair } from "./socket.ts";
import { spawn } from "./spawn.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads a terminal end until EOF or EIO (the other side is gone), or until
 * `until` is seen; fails after `timeoutMs` instead of hanging.
 */
function readTerminal(fd: number, timeoutMs: number, until?: string): string {
  using loop = new EventLoop();
  loop.watch(fd, EPOLL.IN, 1);
  const deadline = performance.now() + timeoutMs;
  const chunk = new Uint8Array(4096);
  let text = "";
  for (;;) {
    if (until !== undefined && text.includes(until)) break;
    const left = deadline - performance.now();
    if (left <= 0 || loop.waitSync(left).events.length === 0) {
      throw new Error(`Timed out reading the terminal; got ${JSON.stringify(text)}`);
    }
    let n: number;
    try {
      n = readFd(fd, chunk);
    } catch (e) {
      if (e instanceof Errno && e.code === "EIO") break;
      throw e;
    }
    if (n === 0) break;
    text += decoder.decode(chunk.subarray(0, n));
  }
  loop.unwatch(fd);
  return text;
}

Deno.test("pty opens a close-on-exec pair named /dev/pts/N", () => {
  const pty = openPty();
  try {
    assert(isCloexec(pty.master));
    assert(isCloexec(pty.slave));
    assertEquals(pty.path, `/dev/pts/${pty.index}`);
    assertEquals(ptyIndex(pty.master), pty.index);
    assert(Deno.statSync(pty.path).isCharDevice);
    assertEquals(getTermios(pty.slave).length, 36);
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

Deno.test("pty carries bytes both ways, cooked by default", () => {
  const pty = openPty();
  try {
    writeAll(pty.slave, encoder.encode("out\n"));
    assertEquals(readTerminal(pty.master, 2000, "\n"), "out\r\n", "ONLCR adds a CR");
    writeAll(pty.master, encoder.encode("in\n"));
    assertEquals(readTerminal(pty.slave, 2000, "\n"), "in\n");
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

Deno.test("pty window size is set on one end and read on the other", () => {
  const pty = openPty({ rows: 24, cols: 80 });
  try {
    assertEquals(getWindowSize(pty.slave), { rows: 24, cols: 80, xPixels: 0, yPixels: 0 });
    setWindowSize(pty.slave, { rows: 65535, cols: 1, xPixels: 640, yPixels: 480 });
    assertEquals(getWindowSize(pty.master), { rows: 65535, cols: 1, xPixels: 640, yPixels: 480 });
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

Deno.test("pty raw mode passes bytes through and can be undone", () => {
  const pty = openPty();
  try {
    const cooked = setRawMode(pty.slave);
    writeAll(pty.master, encoder.encode("\x03x"));
    assertEquals(readTerminal(pty.slave, 2000, "x"), "\x03x", "no ISIG, no ICANON");
    writeAll(pty.slave, encoder.encode("a\n"));
    assertEquals(readTerminal(pty.master, 2000, "\n"), "a\n", "no OPOST");
    setTermios(pty.slave, cooked);
    assertEquals(getTermios(pty.slave), cooked);
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

Deno.test("pty slave is a child's controlling terminal", () => {
  const pty = openPty();
  let slave = pty.slave;
  try {
    using child = spawn({
      path: "/bin/busybox",
      // Opening /dev/tty fails (ENXIO) without a controlling terminal.
      args: ["sh", "-c", "tty; echo hi; echo ctty >/dev/tty"],
      fds: [[0, slave], [1, slave], [2, slave]],
      controllingTerminal: 0,
    });
    closeFd(slave);
    slave = -1;
    const output = readTerminal(pty.master, 10_000);
    assertEquals(child.waitSync().code, 0, output);
    assertStringIncludes(output, `/dev/pts/${pty.index}`);
    assertStringIncludes(output, "hi");
    assertStringIncludes(output, "ctty");
  } finally {
    closeQuietly(slave);
    closeFd(pty.master);
  }
});

Deno.test("pty master passed over a unix socket works on the receiving side", () => {
  const [a, b] = socketPair();
  const pty = openPty();
  let received = -1;
  try {
    setRawMode(pty.slave);
    sendFds(a, new Uint8Array([1]), [pty.master]);
    const got = receiveFds(b, new Uint8Array(1));
    assertEquals(got.fds.length, 1);
    received = got.fds[0]!;
    assert(isCloexec(received));
    assertEquals(ptyIndex(received), pty.index, "the same pty, not a new one");
    writeAll(received, encoder.encode("ping"));
    assertEquals(readTerminal(pty.slave, 2000, "ping"), "ping");
    writeAll(pty.slave, encoder.encode("pong"));
    assertEquals(readTerminal(received, 2000, "pong"), "pong");
    // Its slave can also be opened from the received master alone.
    const peer = openPtySlave(received);
    try {
      writeAll(peer, encoder.encode("peer"));
      assertEquals(readTerminal(pty.master, 2000, "peer"), "peer");
    } finally {
      closeFd(peer);
    }
  } finally {
    closeQuietly(received);
    [a, b, pty.master, pty.slave].forEach(closeFd);
  }
});

Deno.test("pty rejects bad input before any system call", () => {
  assertThrows(() => openPtySlave(-1), RangeError, "pty master");
  assertThrows(() => ptyIndex(NaN), RangeError, "pty master");
  assertThrows(() => getWindowSize(-1), RangeError);
  assertThrows(() => getTermios(1.5), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => openPtyMaster(5 as any), TypeError, "ptmx");
  assertThrows(() => openPtyMaster("/dev/\0ptmx"), TypeError, "NUL");
  assertThrows(() => openPty({ rows: -1, cols: 80 }), RangeError, "rows");
  assertThrows(() => openPty({ rows: 24, cols: 65536 }), RangeError, "cols");
  assertThrows(() => openPty({ rows: 24, cols: 80, xPixels: NaN }), RangeError, "xPixels");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => openPty(null as any), TypeError, "window size");
  const pty = openPty({ rows: 1, cols: 2 });
  try {
    // deno-lint-ignore no-explicit-any
    assertThrows(() => setWindowSize(pty.master, "24x80" as any), TypeError);
    // deno-lint-ignore no-explicit-any
    assertThrows(() => setWindowSize(pty.master, { rows: 24 } as any), RangeError, "cols");
    assertThrows(() => setTermios(pty.slave, new Uint8Array(10)), RangeError, "termios");
    // deno-lint-ignore no-explicit-any
    assertThrows(() => setTermios(pty.slave, [] as any), TypeError, "termios");
    assertEquals(getWindowSize(pty.master).rows, 1, "unchanged");
  } finally {
    closeFd(pty.master);
    closeFd(pty.slave);
  }
});

Deno.test("pty calls on a non-terminal are Errno", () => {
  const [r, w] = pipe();
  try {
    assertThrows(() => ptyIndex(r), Errno, "ENOTTY");
    assertThrows(() => openPtySlave(r), Errno, "ENOTTY");
    assertThrows(() => getWindowSize(r), Errno, "ENOTTY");
    assertThrows(() => setRawMode(r), Errno, "ENOTTY");
    assertThrows(() => openPtyMaster("/nonexistent/ptmx"), Errno, "ENOENT");
  } finally {
    closeFd(r);
    closeFd(w);
  }
});
