import { assertEquals, assertThrows } from "@std/assert";
import { Errno, errnoMessage, errnoName, errnoNumber } from "./errno.ts";

Deno.test("errno names match the kernel headers when they are installed", async () => {
  let text = "";
  for (const f of ["/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h"]) {
    try {
      text += await Deno.readTextFile(f);
    } catch {
      return; // headers not installed: nothing to compare with
    }
  }
  for (const m of text.matchAll(/#define\s+(E\w+)\s+(\d+)/g)) {
    const [, name, n] = m;
    if (name === "EWOULDBLOCK" || name === "EDEADLOCK") continue;
    assertEquals(errnoName(Number(n)), name);
    assertEquals(errnoNumber(name!), Number(n));
  }
});

Deno.test("Errno carries name, number and call", () => {
  const e = new Errno(13, "open /root/x");
  assertEquals([e.errno, e.code, e.call], [13, "EACCES", "open /root/x"]);
  assertEquals(e.message, "open /root/x: EACCES (Permission denied)");
  assertEquals(errnoName(9999), "E9999");
  assertEquals(errnoMessage(2), "No such file or directory");
  assertEquals(errnoNumber("EWOULDBLOCK"), 11);
  assertThrows(() => errnoNumber("ENOPE"), RangeError);
});
