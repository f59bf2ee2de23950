/**
 * Host descriptors the gofer donated, shared by every open of the same
 * file with the same access mode (as gVisor's gofer dentries keep their
 * read and write handles): the Sentry reads and writes them with
 * pread/pwrite at each open file's own offset, so one descriptor serves
 * them all, and reopening a file costs no gofer round trip. Descriptors
 * no open file uses stay cached, least recently used first out, up to a
 * limit.
 *
 * @module
 */
import { closeQuietly } from "../../platform/fd.ts";

/** A shared descriptor: held by open files, cached when idle. */
export interface SharedFd {
  /** The host descriptor. */
  readonly fd: number;
  /** What it is cached under. */
  readonly key: string;
  /** Open files using it. */
  refs: number;
}

/**
 * The idle descriptors of one file system, by key, oldest first.
 *
 * @example
 * ```ts
 * import { HostFdCache } from "./host_fd_cache.ts";
 * const cache = new HostFdCache(2);
 * const a = cache.acquire(["7:0"], () => 100);
 * if (a.fd !== 100 || a.refs !== 1) throw new Error();
 * ```
 */
export class HostFdCache {
  readonly #limit: number;
  readonly #inUse = new Map<string, SharedFd>();
  readonly #idle = new Map<string, SharedFd>();
  readonly #close: (fd: number) => void;

  /**
   * Makes a cache.
   *
   * @param limit How many idle descriptors to keep.
   * @param close How to close one (tests replace it).
   */
  constructor(limit: number, close: (fd: number) => void = closeQuietly) {
    this.#limit = limit;
    this.#close = close;
  }

  /**
   * Takes a reference to the first cached descriptor among `keys`, or to
   * a new one opened and cached under the first key.
   *
   * @param keys The file and access modes that serve, preferred first.
   * @param open Opens a new descriptor (the gofer round trip).
   * @returns The shared descriptor; give it back with {@linkcode release}.
   */
  acquire(keys: readonly string[], open: () => number): SharedFd {
    let s: SharedFd | undefined;
    for (const key of keys) {
      s = this.#inUse.get(key);
      if (s) break;
      s = this.#idle.get(key);
      if (s) {
        this.#idle.delete(key);
        this.#inUse.set(key, s);
        break;
      }
    }
    if (!s) {
      s = { fd: open(), key: keys[0]!, refs: 0 };
      this.#inUse.set(s.key, s);
    }
    s.refs++;
    return s;
  }

  /**
   * Caches a descriptor obtained otherwise (the one a create returned).
   *
   * @param key The file and access mode.
   * @param fd The descriptor (owned from now on).
   */
  adopt(key: string, fd: number): void {
    if (this.#inUse.has(key) || this.#idle.has(key)) {
      this.#close(fd);
      return;
    }
    this.#idle.set(key, { fd, key, refs: 0 });
    this.#trim();
  }

  /**
   * Gives a reference back; the last one makes the descriptor idle.
   *
   * @param s The descriptor.
   */
  release(s: SharedFd): void {
    if (--s.refs > 0) return;
    this.#inUse.delete(s.key);
    this.#idle.set(s.key, s);
    this.#trim();
  }

  #trim(): void {
    while (this.#idle.size > this.#limit) {
      const [oldest, idle] = this.#idle.entries().next().value!;
      this.#idle.delete(oldest);
      this.#close(idle.fd);
    }
  }

  /**
   * Closes the idle descriptors whose key starts with `prefix` (a file
   * that was removed: its data should not be kept alive).
   *
   * @param prefix The file's key prefix.
   */
  forget(prefix: string): void {
    for (const [key, s] of this.#idle) {
      if (!key.startsWith(prefix)) continue;
      this.#idle.delete(key);
      this.#close(s.fd);
    }
  }

  /** Closes every idle descriptor. */
  clear(): void {
    for (const s of this.#idle.values()) this.#close(s.fd);
    this.#idle.clear();
  }
}
