import { assertEquals } from "@std/assert";
import { SYS, syscallName } from "./sysno.ts";

Deno.test("system call numbers match asm/unistd_64.h when it is installed", async () => {
  let text;
  try {
    text = await Deno.readTextFile("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
  } catch {
    return;
  }
  let n = 0;
  for (const [, name, nr] of text.matchAll(/#define __NR_(\w+)\s+(\d+)/g)) {
    assertEquals((SYS as Record<string, number>)[name!], Number(nr), name);
    n++;
  }
  assertEquals(n > 300, true);
});

Deno.test("syscallName() names numbers and marks unknown ones", () => {
  assertEquals(syscallName(0), "read");
  assertEquals(syscallName(SYS.clone3), "clone3");
  assertEquals(syscallName(1000), "syscall_1000");
});
