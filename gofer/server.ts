/**
 * The gofer's request loop: decodes requests, runs them on a host backend,
 * encodes replies. A malformed, oversized or unknown request gets an error
 * reply (EINVAL, EMSGSIZE, ENOSYS) and the server keeps serving.
 *
 * @module
 */
import { closeQuietly } from "../platform/fd.ts";
import { EventLoop } from "../platform/event_loop.ts";
import { Channel } from "./channel.ts";
import type { HostBackend } from "./host_backend.ts";
import { MSG, ProtocolError, Reader, SETATTR, Writer } from "./protocol.ts";
import type { SetAttr } from "../core/vfs/inode.ts";

/** Serves one backend's requests. */
export class GoferServer {
  readonly #backend: HostBackend;
  /** Called with a line for each request that failed unexpectedly (bugs, not errnos). */
  onBug: (msg: string) => void = () => {};
  /** Called with a line for each request refused with an errno or malformed (debug logs). */
  onRefused: (msg: string) => void = () => {};

  /**
   * Makes a server for a backend.
   *
   * @param backend What to serve.
   */
  constructor(backend: HostBackend) {
    this.#backend = backend;
  }

  /**
   * Runs one request.
   *
   * @param id The message id.
   * @param payload Its payload.
   * @returns The reply: id, payload and descriptors to pass (closed after sending).
   */
  handle(id: number, payload: Uint8Array): { id: number; payload: Uint8Array; fds: number[] } {
    const r = new Reader(payload);
    const w = new Writer();
    const b = this.#backend;
    const fds: number[] = [];
    const node = (n: { handle: number; stat: Parameters<Writer["stat"]>[0] }) =>
      w.u64(BigInt(n.handle)).stat(n.stat);
    const h = () => Number(r.u64());
    // Every argument is decoded, and the whole payload checked, before the
    // backend is called: a malformed request changes nothing.
    const end = () => {
      if (r.left !== 0) throw new ProtocolError("trailing bytes");
    };
    try {
      switch (id) {
        case MSG.MOUNT:
          end();
          node(b.root());
          w.u8(b.readOnly ? 1 : 0);
          break;
        case MSG.STAT: {
          const handle = h();
          end();
          w.stat(b.stat(handle));
          break;
        }
        case MSG.SETATTR: {
          const handle = h();
          const mask = r.u32();
          const mode = r.u32();
          const uid = r.u32();
          const gid = r.u32();
          const size = r.u64();
          const atime = r.i64();
          const mtime = r.i64();
          const attrs: SetAttr = {};
          if (mask & SETATTR.MODE) attrs.mode = mode;
          if (mask & SETATTR.UID) attrs.uid = uid;
          if (mask & SETATTR.GID) attrs.gid = gid;
          if (mask & SETATTR.SIZE) attrs.size = size;
          if (mask & SETATTR.ATIME) attrs.atimeNs = atime;
          if (mask & SETATTR.MTIME) attrs.mtimeNs = mtime;
          end();
          b.setattr(handle, attrs);
          break;
        }
        case MSG.WALK: {
          const dir = h();
          const name = r.str();
          end();
          node(b.walk(dir, name));
          break;
        }
        case MSG.OPEN: {
          const handle = h();
          const flags = r.u32();
          end();
          fds.push(b.open(handle, flags));
          break;
        }
        case MSG.CREATE: {
          const dir = h();
          const name = r.str();
          const flags = r.u32();
          const mode = r.u32();
          const uid = r.u32();
          const gid = r.u32();
          end();
          const made = b.create(dir, name, flags, mode, { uid, gid });
          node(made.node);
          fds.push(made.fd);
          break;
        }
        case MSG.RELEASE: {
          const handle = h();
          end();
          b.release(handle);
          break;
        }
        case MSG.MKDIR: {
          const dir = h();
          const name = r.str();
          const mode = r.u32();
          const owner = { uid: r.u32(), gid: r.u32() };
          end();
          node(b.mkdir(dir, name, mode, owner));
          break;
        }
        case MSG.MKNOD: {
          const dir = h();
          const name = r.str();
          const mode = r.u32();
          const dev = r.u64();
          const owner = { uid: r.u32(), gid: r.u32() };
          end();
          node(b.mknod(dir, name, mode, dev, owner));
          break;
        }
        case MSG.SYMLINK: {
          const dir = h();
          const name = r.str();
          const target = r.str();
          const owner = { uid: r.u32(), gid: r.u32() };
          end();
          node(b.symlink(dir, name, target, owner));
          break;
        }
        case MSG.LINK: {
          const dir = h();
          const name = r.str();
          const target = h();
          end();
          node(b.link(dir, name, target));
          break;
        }
        case MSG.STATFS: {
          const handle = h();
          end();
          w.bytes(b.statfs(handle));
          break;
        }
        case MSG.READLINK: {
          const handle = h();
          end();
          w.str(b.readlink(handle));
          break;
        }
        case MSG.UNLINK: {
          const dir = h();
          const name = r.str();
          const rmdir = r.u8() === 1;
          end();
          b.unlink(dir, name, rmdir);
          break;
        }
        case MSG.RENAME: {
          const oldDir = h();
          const oldName = r.str();
          const newDir = h();
          const newName = r.str();
          const flags = r.u32();
          end();
          b.rename(oldDir, oldName, newDir, newName, flags);
          break;
        }
        case MSG.READDIR: {
          const handle = h();
          const start = r.u32();
          end();
          const all = b.readdir(handle);
          const page = new Writer();
          let count = 0;
          let i = start;
          for (; i < all.length; i++) {
            const e = all[i]!;
            page.u64(e.ino).u8(e.type).str(e.name);
            count++;
            if (page.done().length > 512 * 1024) {
              i++;
              break;
            }
          }
          w.u32(count).u8(i < all.length ? 1 : 0).bytes(page.done());
          break;
        }
        default:
          this.onRefused(`request ${id} is unknown`);
          return errorReply(38); // ENOSYS
      }
    } catch (e) {
      fds.forEach(closeQuietly);
      const name = requestName(id);
      if (e instanceof ProtocolError) {
        this.onRefused(`request ${name} is malformed: ${e.message}`);
        return errorReply(22);
      }
      const errno = (e as { errno?: unknown }).errno;
      if (typeof errno === "number") {
        this.onRefused(`request ${name} failed with errno ${errno}`);
        return errorReply(errno);
      }
      this.onBug(
        `gofer request ${name} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`,
      );
      return errorReply(5);
    }
    return { id, payload: w.done(), fds };
  }
}

/** A request's name for logs (`STAT`), or its number. */
function requestName(id: number): string {
  return Object.entries(MSG).find(([, n]) => n === id)?.[0] ?? String(id);
}

function errorReply(errno: number): { id: number; payload: Uint8Array; fds: number[] } {
  return { id: MSG.ERROR, payload: new Writer().u32(errno).done(), fds: [] };
}

/**
 * Serves connections until every peer has closed its end.
 *
 * @param pairs Each connected socket and the server for it.
 *
 * @example
 * ```ts ignore
 * serveAll([{ fd: 3, server: new GoferServer(new HostBackend(rootFd, { readOnly: true })) }]);
 * ```
 */
export function serveAll(pairs: Array<{ fd: number; server: GoferServer }>): void {
  using loop = new EventLoop();
  const live = new Map<number, { channel: Channel; server: GoferServer }>();
  pairs.forEach((p, i) => {
    live.set(i, { channel: new Channel(p.fd), server: p.server });
    loop.watch(p.fd, 1, /* EPOLLIN */ i);
  });
  while (live.size) {
    const { events } = loop.waitSync(-1);
    for (const e of events) {
      const conn = live.get(e.token);
      if (!conn) continue;
      let msg;
      try {
        msg = conn.channel.receive();
      } catch {
        msg = null;
      }
      if (!msg) {
        loop.unwatch(conn.channel.fd);
        conn.channel.close();
        live.delete(e.token);
        continue;
      }
      const reply = msg.oversized ? errorReply(90) : conn.server.handle(msg.id, msg.payload);
      msg.fds.forEach(closeQuietly);
      try {
        conn.channel.send(reply.id, reply.payload, reply.fds);
      } catch {
        loop.unwatch(conn.channel.fd);
        conn.channel.close();
        live.delete(e.token);
      }
      reply.fds.forEach(closeQuietly);
    }
  }
}
