import { assertEquals, assertThrows } from "@std/assert";
import { Arena } from "./arena_unsafe.ts";
import { checkLength, cString, fdArg, intArg } from "./checks.ts";
import {
  closeFd,
  dupFd,
  ioctl,
  isCloexec,
  O,
  openFile,
  pipe,
  readFd,
  setNonblocking,
} from "./fd.ts";
import { Errno } from "./errno.ts";
import { sealedMemfd } from "./memfd.ts";

Deno.test("argument checks throw clear errors", () => {
  assertEquals(fdArg(0), 0n);
  for (const bad of [-1, 1.5, NaN, 2 ** 31, Infinity]) {
    assertThrows(() => fdArg(bad), RangeError, "descriptor");
  }
  assertThrows(
    () => intArg(65, 1, 64, "signal"),
    RangeError,
    "Invalid signal 65: use an integer from 1 to 64",
  );
  assertThrows(() => cString("a\0"), TypeError, "NUL");
  assertThrows(() => cString("abc", "hostname", 2), RangeError, "longer than 2");
  assertThrows(() => cString(5 as unknown as string), TypeError, "expected a string");
  assertThrows(() => checkLength(new Uint8Array(3), 4, "siginfo"), RangeError, "shorter");
});

Deno.test("Arena hands out aligned zeroed memory and C strings", () => {
  using arena = new Arena(4096);
  const a = arena.alloc(3, 1);
  arena.bytes.fill(0xff, a, a + 3);
  const b = arena.alloc(8, 16);
  assertEquals(b % 16, 0);
  assertEquals(arena.view.getBigUint64(b, true), 0n);
  const argv = arena.cStringArray(["ab", "c"]);
  const first = arena.view.getBigUint64(Number(argv - arena.base), true);
  assertEquals(
    arena.bytes.subarray(Number(first - arena.base), Number(first - arena.base) + 3),
    new Uint8Array([97, 98, 0]),
  );
  assertThrows(() => arena.alloc(5000), RangeError, "full");
  assertThrows(() => new Arena(0), RangeError, "arena size");
  const view = arena.view;
  arena.dispose();
  assertThrows(() => arena.alloc(1), RangeError, "disposed");
  assertThrows(() => view.getUint8(0), TypeError, "detached");
});

Deno.test("fd helpers: close-on-exec by default, non-blocking reads, ioctl errors", () => {
  const [r, w] = pipe();
  assertEquals(isCloexec(r), true);
  setNonblocking(r, true);
  assertThrows(() => readFd(r, new Uint8Array(1)), Errno, "EAGAIN");
  const high = dupFd(r, 200);
  assertEquals(high >= 200, true);
  assertEquals(isCloexec(high), true);
  assertThrows(() => ioctl(r, 0x5401, new Uint8Array(60), "TCGETS"), Errno, "ENOTTY");
  assertThrows(() => openFile("/nonexistent", O.RDONLY), Errno, "open /nonexistent: ENOENT");
  [r, w, high].forEach(closeFd);
  assertThrows(() => closeFd(high), Errno, "EBADF");
});

Deno.test("a sealed memfd cannot be written", () => {
  const fd = sealedMemfd("t", new Uint8Array([1, 2]));
  try {
    assertThrows(() => Deno.writeFileSync(`/proc/self/fd/${fd}`, new Uint8Array([3])));
  } finally {
    closeFd(fd);
  }
});
