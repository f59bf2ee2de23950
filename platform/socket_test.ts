import { assertEquals, assertThrows } from "@std/assert";
import { leavesNothing } from "../tests/support/leaks.ts";
import { Errno } from "./errno.ts";
import { closeFd, pipe, readFd, writeFd } from "./fd.ts";
import {
  acceptConnection,
  connectUnix,
  listenUnix,
  MAX_FDS_PER_MESSAGE,
  receiveFds,
  sendFds,
  SOCK,
  socketPair,
} from "./socket.ts";

Deno.test("sendFds() and receiveFds() pass descriptors that work on the other side", async () => {
  await leavesNothing(() => {
    const [a, b] = socketPair(SOCK.SEQPACKET);
    const [r, w] = pipe();
    const [r2, w2] = pipe();
    sendFds(a, new TextEncoder().encode("two"), [w, w2]);
    closeFd(w);
    closeFd(w2);
    const buf = new Uint8Array(8);
    const got = receiveFds(b, buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, got.bytes)), "two");
    assertEquals(got.fds.length, 2);
    writeFd(got.fds[0]!, new Uint8Array([42]));
    writeFd(got.fds[1]!, new Uint8Array([43]));
    const one = new Uint8Array(1);
    readFd(r, one);
    assertEquals(one[0], 42);
    readFd(r2, one);
    assertEquals(one[0], 43);
    [a, b, r, r2, ...got.fds].forEach(closeFd);
  });
});

Deno.test("unix sockets by path: listen, connect, accept, pass a descriptor", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await leavesNothing(() => {
      const path = `${dir}/control.sock`;
      const l = listenUnix(path);
      const c = connectUnix(path);
      const s = acceptConnection(l);
      const [r, w] = pipe();
      sendFds(c, new Uint8Array([1]), [r]);
      const got = receiveFds(s, new Uint8Array(1));
      assertEquals(got.fds.length, 1);
      assertThrows(() => listenUnix(path), Errno, "EADDRINUSE");
      [l, c, s, r, w, ...got.fds].forEach(closeFd);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("receiveFds() reports end of stream and EAGAIN", async () => {
  await leavesNothing(() => {
    const [a, b] = socketPair();
    const e = assertThrows(() => receiveFds(b, new Uint8Array(1), { dontWait: true }), Errno);
    assertEquals(e.code, "EAGAIN");
    closeFd(a);
    assertEquals(receiveFds(b, new Uint8Array(1)), { bytes: 0, fds: [] });
    closeFd(b);
  });
});

Deno.test("socket functions reject bad input before any system call", () => {
  assertThrows(() => sendFds(-1, new Uint8Array(1), []), RangeError, "socket");
  assertThrows(() => sendFds(3, new Uint8Array(), [1]), RangeError, "at least one byte");
  assertThrows(
    () => sendFds(3, new Uint8Array(1), new Array(MAX_FDS_PER_MESSAGE + 1).fill(1)),
    RangeError,
    "253",
  );
  assertThrows(() => sendFds(3, new Uint8Array(1), [1.5]), RangeError, "descriptor");
  assertThrows(() => listenUnix("/tmp/" + "x".repeat(120)), RangeError, "107");
  assertThrows(() => connectUnix("/tmp/a\0b"), TypeError, "NUL");
  assertThrows(() => connectUnix(""), RangeError, "empty");
});
