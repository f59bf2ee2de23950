import { assertEquals } from "@std/assert";
import { HostFdCache } from "./host_fd_cache.ts";

Deno.test("host descriptors are shared by opens, kept when idle, closed oldest first", () => {
  const closed: number[] = [];
  let next = 100;
  const opened: number[] = [];
  const open = () => {
    opened.push(next);
    return next++;
  };
  const cache = new HostFdCache(2, (fd) => closed.push(fd));
  const a1 = cache.acquire(["1:0"], open);
  const a2 = cache.acquire(["1:0"], open);
  assertEquals([a1.fd, a2.fd, a1.refs], [100, 100, 2], "one descriptor for both opens");
  cache.release(a1);
  cache.release(a2);
  assertEquals(closed, [], "idle, still cached");
  assertEquals(cache.acquire(["1:0"], open).fd, 100, "reused without opening");
  const b = cache.acquire(["2:1", "2:2"], open);
  assertEquals(b.key, "2:1", "a new descriptor is cached under the preferred key");
  cache.adopt("3:2", 50);
  assertEquals(cache.acquire(["3:0", "3:2"], open).fd, 50, "read-write serves read-only");
  cache.adopt("3:2", 51);
  assertEquals(closed, [51], "a second descriptor for a cached key is closed");
  for (const k of ["4:0", "5:0", "6:0"]) cache.release(cache.acquire([k], open));
  assertEquals(closed, [51, 102], "past the limit the oldest idle one is closed");
  cache.clear();
  assertEquals(closed.sort(), [102, 103, 104, 51].sort());
  assertEquals(opened, [100, 101, 102, 103, 104]);
});
