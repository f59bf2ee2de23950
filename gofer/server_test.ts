import { assertEquals, assertThrows } from "@std/assert";
import { leavesNothing } from "../tests/support/leaks.ts";
import { GoferClient } from "../core/vfs/gofer_client.ts";
import { LinuxError } from "../core/errors.ts";
import { closeFd, readAll, writeAll } from "../platform/fd.ts";
import { socketPair } from "../platform/socket.ts";
import { spawn } from "../platform/spawn.ts";
import { Channel } from "./channel.ts";
import { HostBackend } from "./host_backend.ts";
import { MAX_PAYLOAD, MSG, Reader, Writer } from "./protocol.ts";
import { GoferServer } from "./server.ts";

/**
 * Runs a gofer server in a child Deno process on two socket pairs (the
 * client blocks while it waits for replies, so the server needs a thread of
 * its own): one for a GoferClient, one for raw frames.
 */
async function withGofer(
  root: string,
  readOnly: boolean,
  fn: (client: GoferClient, raw: Channel) => void | Promise<void>,
): Promise<void> {
  const [sentry, gofer] = socketPair();
  const [rawSentry, rawGofer] = socketPair();
  const code = `
    import { HostBackend } from "${new URL("./host_backend.ts", import.meta.url)}";
    import { GoferServer, serveAll } from "${new URL("./server.ts", import.meta.url)}";
    const b = () => new GoferServer(new HostBackend(${
    JSON.stringify(root)
  }, { readOnly: ${readOnly} }));
    serveAll([{ fd: 3, server: b() }, { fd: 4, server: b() }]);
  `;
  const child = spawn({
    path: Deno.execPath(),
    args: ["deno", "eval", "--no-lock", code],
    env: [`PATH=${Deno.env.get("PATH")}`, `HOME=${Deno.env.get("HOME")}`],
    fds: [[0, 0], [1, 1], [2, 2], [3, gofer], [4, rawGofer]],
  });
  closeFd(gofer);
  closeFd(rawGofer);
  const raw = new Channel(rawSentry);
  try {
    await fn(new GoferClient(sentry), raw);
  } finally {
    closeFd(sentry);
    raw.close();
    await child.wait();
    child.close();
  }
}

Deno.test("gofer: walk, stat, open, readdir, create, rename, unlink through the protocol", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/hello.txt`, "hi there");
  for (let i = 0; i < 3000; i++) {
    await Deno.writeTextFile(`${dir}/many-${"x".repeat(150)}-${i}`, "");
  }
  try {
    await leavesNothing(() =>
      withGofer(dir, false, (c) => {
        const root = c.root();
        const f = c.walk(root.handle, "hello.txt");
        assertEquals(f.stat.size, 8n);
        const fd = c.open(f.handle, 0);
        assertEquals(new TextDecoder().decode(readAll(fd)), "hi there");
        closeFd(fd);
        // A listing larger than one reply comes in pages.
        assertEquals(c.readdir(root.handle).length, 3001);
        const made = c.create(root.handle, "new", 2, 0o600, { uid: 0, gid: 0 });
        closeFd(made.fd);
        c.rename(root.handle, "new", root.handle, "renamed", 0);
        assertEquals(c.walk(root.handle, "renamed").stat.mode & 0o777, 0o600);
        c.unlink(root.handle, "renamed", false);
        assertThrows(() => c.walk(root.handle, "renamed"), LinuxError, "ENOENT");
        // RENAME_EXCHANGE: handles below each name follow their directory.
        const owner = { uid: 0, gid: 0 };
        const d1 = c.mkdir(root.handle, "d1", 0o755, owner);
        const d2 = c.mkdir(root.handle, "d2", 0o755, owner);
        closeFd(c.create(d1.handle, "one", 2, 0o600, owner).fd);
        closeFd(c.create(d2.handle, "two", 2, 0o600, owner).fd);
        c.rename(root.handle, "d1", root.handle, "d2", 2);
        assertEquals(c.walk(d1.handle, "one").stat.mode & 0o777, 0o600);
        assertEquals(c.walk(d2.handle, "two").stat.mode & 0o777, 0o600);
        assertEquals(c.readdir(c.walk(root.handle, "d1").handle).map((e) => e.name), ["two"]);
        for (const [d, name] of [[d1, "one"], [d2, "two"]] as const) {
          c.unlink(d.handle, name, false);
        }
        c.unlink(root.handle, "d1", true);
        c.unlink(root.handle, "d2", true);
      })
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gofer: nothing leads out of the served directory", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/served`);
  await Deno.writeTextFile(`${dir}/secret`, "host secret");
  await Deno.symlink("../secret", `${dir}/served/up`);
  await Deno.symlink("/etc", `${dir}/served/abs`);
  try {
    await withGofer(`${dir}/served`, true, (c) => {
      const root = c.root();
      for (const name of ["..", ".", "", "a/b", "../secret"]) {
        assertThrows(() => c.walk(root.handle, name), LinuxError, "EINVAL");
      }
      const up = c.walk(root.handle, "up");
      assertEquals(up.stat.mode & 0o170000, 0o120000, "the symlink itself, not its target");
      assertThrows(() => c.open(up.handle, 0), LinuxError, "ELOOP");
      assertEquals(c.readlink(up.handle), "../secret");
      const abs = c.walk(root.handle, "abs");
      assertThrows(() => c.walk(abs.handle, "passwd"), LinuxError, "ELOOP");
      assertThrows(() => c.mkdir(root.handle, "x", 0o755, { uid: 0, gid: 0 }), LinuxError, "EROFS");
      assertThrows(() => c.open(c.walk(root.handle, "up").handle, 2), LinuxError, "EROFS");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gofer: malformed and oversized requests get error replies and the server keeps serving", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withGofer(dir, true, (c, raw) => {
      const ask = (id: number, payload: Uint8Array) => {
        raw.send(id, payload);
        return raw.receive()!;
      };
      const errno = (
        m: { id: number; payload: Uint8Array },
      ) => (m.id === MSG.ERROR ? new Reader(m.payload).u32() : 0);
      assertEquals(errno(ask(MSG.WALK, new Uint8Array(3))), 22, "truncated");
      assertEquals(errno(ask(MSG.STAT, new Writer().u64(1n).u64(2n).done())), 22, "trailing bytes");
      assertEquals(errno(ask(999, new Uint8Array())), 38, "unknown message");
      assertEquals(errno(ask(MSG.STAT, new Writer().u64(12345n).done())), 9, "unknown handle");
      // An oversized frame, written by hand past the protocol's own check.
      const big = new Uint8Array(8 + MAX_PAYLOAD + 1);
      new DataView(big.buffer).setUint32(0, MAX_PAYLOAD + 1, true);
      new DataView(big.buffer).setUint16(4, MSG.STAT, true);
      writeAll(raw.fd, big);
      assertEquals(errno(raw.receive()!), 90, "oversized");
      assertEquals(errno(ask(MSG.MOUNT, new Uint8Array())), 0, "still serving this connection");
      // The other connection still works.
      assertEquals(c.root().stat.mode & 0o170000, 0o040000);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gofer server: handle() answers in-process", () => {
  using backend = new HostBackend("/", { readOnly: true });
  const server = new GoferServer(backend);
  const mount = server.handle(MSG.MOUNT, new Uint8Array());
  assertEquals(mount.id, MSG.MOUNT);
  const r = new Reader(mount.payload);
  const root = r.u64();
  r.stat();
  assertEquals(r.u8(), 1);
  const walk = server.handle(MSG.WALK, new Writer().u64(root).str("etc").done());
  assertEquals(walk.id, MSG.WALK);
});
