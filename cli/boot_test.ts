import { assertEquals } from "@std/assert";
import { sentryDenyRules } from "./boot.ts";
import { errnoNumber } from "../platform/errno.ts";

Deno.test("the sandbox process refuses each call with the errno the container gets for it", () => {
  const rules = new Map(sentryDenyRules());
  assertEquals(rules.get("perf_event_open"), errnoNumber("EACCES"));
  assertEquals(rules.get("keyctl"), errnoNumber("ENOSYS"));
  assertEquals(rules.get("bpf"), errnoNumber("EPERM"));
  assertEquals(rules.has("read"), false);
});
