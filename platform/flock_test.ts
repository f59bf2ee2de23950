import { assert, assertEquals, assertGreater, assertRejects, assertThrows } from "@std/assert";
import { Errno } from "./errno.ts";
import { FileLock, lockFile, lockFileAsync } from "./flock.ts";
import { isCloexec } from "./fd.ts";

function tempDir(): { dir: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "dvisor-flock-" });
  return { dir, [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }) };
}

const FLOCK_MODULE = new URL("./flock.ts", import.meta.url).href;

/** Runs `deno eval` with the flock module imported as `lockFile`. */
function denoEval(code: string, ...args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { lockFile } from ${JSON.stringify(FLOCK_MODULE)};\n${code}`, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("flock creates a missing lock file with mode 0600", () => {
  using t = tempDir();
  const path = `${t.dir}/state.lock`;
  using lock = lockFile(path);
  assert(lock.locked);
  assert(lock.exclusive);
  assertEquals(lock.path, path);
  assert(isCloexec(lock.fd));
  assertEquals(Deno.statSync(path).mode! & 0o777, 0o600 & ~Deno.umask());
  lock.unlock();
  assertEquals(lock.locked, false);
  assertEquals(lock.fd, -1);
  lock.unlock();
});

Deno.test("flock locks contend between two opens in one process", () => {
  using t = tempDir();
  const path = `${t.dir}/lock`;
  {
    using held = lockFile(path, { exclusive: true });
    assertEquals(lockFile(path, { wait: false }), null);
    assertEquals(lockFile(path, { exclusive: false, wait: false }), null);
    assert(held.locked);
  }
  {
    using a = lockFile(path, { exclusive: false });
    using b = lockFile(path, { exclusive: false, wait: false });
    assert(b !== null, "shared locks coexist");
    assertEquals(lockFile(path, { wait: false }), null, "but exclude a writer");
    assert(a.locked);
  }
  using free = lockFile(path, { wait: false });
  assert(free !== null, "both shared locks were released");
});

Deno.test("flock locks contend with another process", async () => {
  using t = tempDir();
  const path = `${t.dir}/lock`;
  const tryIt =
    `const l = lockFile(Deno.args[0], { wait: false }); console.log(l ? "got" : "busy");`;
  {
    using _held = lockFile(path);
    const out = await denoEval(tryIt, path).output();
    assertEquals(
      new TextDecoder().decode(out.stdout).trim(),
      "busy",
      new TextDecoder().decode(out.stderr),
    );
  }
  const out = await denoEval(tryIt, path).output();
  assertEquals(
    new TextDecoder().decode(out.stdout).trim(),
    "got",
    new TextDecoder().decode(out.stderr),
  );
});

Deno.test("flock async lock waits for another process without blocking this thread", async () => {
  using t = tempDir();
  const path = `${t.dir}/lock`;
  const holdIt = `const l = lockFile(Deno.args[0]); console.log("held");
    await new Promise((r) => setTimeout(r, 300)); l.unlock();`;
  const child = denoEval(holdIt, path).spawn();
  try {
    const reader = child.stdout.getReader();
    let said = "";
    while (!said.includes("held")) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`The child exited early: ${JSON.stringify(said)}`);
      said += new TextDecoder().decode(chunk.value);
    }
    reader.releaseLock();
    assertEquals(lockFile(path, { wait: false }), null, "the child holds it");
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    const start = performance.now();
    try {
      using lock = await lockFileAsync(path);
      assert(lock.locked);
      assertGreater(performance.now() - start, 100);
      assertGreater(ticks, 5, "timers ran while the lock was awaited");
    } finally {
      clearInterval(interval);
    }
  } finally {
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    await child.status;
  }
});

Deno.test("flock async lock resolves when another open in this process unlocks", async () => {
  using t = tempDir();
  const path = `${t.dir}/lock`;
  const first = lockFile(path);
  const second = lockFileAsync(path, { exclusive: false });
  setTimeout(() => first.unlock(), 30);
  using lock = await second;
  assertEquals(lock.exclusive, false);
  assertEquals(await lockFileAsync(path, { wait: false }), null, "shared lock excludes a writer");
  using shared = await lockFileAsync(path, { exclusive: false, wait: false });
  assert(shared !== null);
});

Deno.test("flock rejects bad input before any system call", async () => {
  using t = tempDir();
  const path = `${t.dir}/lock`;
  // deno-lint-ignore no-explicit-any
  assertThrows(() => lockFile(42 as any), TypeError, "path");
  assertThrows(() => lockFile(""), TypeError, "path");
  assertThrows(() => lockFile(`${t.dir}/a\0b`), TypeError, "NUL");
  assertThrows(() => lockFile("x".repeat(5000)), RangeError);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => lockFile(path, null as any), TypeError, "options");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => lockFile(path, { exclusive: "yes" as any }), TypeError, "exclusive");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => lockFile(path, { wait: 0 as any }), TypeError, "wait");
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => lockFileAsync(path, { wait: 1 as any }), TypeError, "wait");
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => lockFileAsync(undefined as any), TypeError, "path");
  assertThrows(() => new FileLock(path, -1, true), RangeError);
  assertEquals(await Array.fromAsync(Deno.readDir(t.dir)), [], "no lock file was created");
});

Deno.test("flock reports kernel refusals as Errno", () => {
  using t = tempDir();
  assertThrows(() => lockFile(`${t.dir}/missing/lock`), Errno, "ENOENT");
  assertThrows(() => lockFile(t.dir), Errno, "EISDIR");
});
