/**
 * Advisory whole-file locks (flock) for state files: shared for readers,
 * exclusive for writers, released on unlock or when the process dies.
 *
 * A flock lock belongs to an open file description, so two separate opens
 * of the same file contend even within one process; each lock here opens
 * the file anew.
 *
 * @module
 */
import { fdArg } from "./checks.ts";
import { closeQuietly, O, openFile } from "./fd.ts";
import { checked, syscall, syscallAsync } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EINTR = -4n;
const EWOULDBLOCK = -11n;
const LOCK_FILE_MODE = 0o600;

/** How to lock. */
export interface LockOptions {
  /** Exclusive (the default) for writers; false for a shared lock. */
  exclusive?: boolean;
  /** Wait for the lock (the default); false to give up at once if it is held. */
  wait?: boolean;
}

/**
 * A held lock. Unlock it (or dispose it: `using lock = lockFile(...)`) to
 * release it and close its descriptor.
 *
 * @example
 * ```ts
 * import { lockFile } from "./flock.ts";
 * const dir = Deno.makeTempDirSync();
 * const lock = lockFile(`${dir}/state.lock`);
 * lock.unlock();
 * if (lock.locked) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class FileLock {
  /** The locked file. */
  readonly path: string;
  /** True for an exclusive lock, false for a shared one. */
  readonly exclusive: boolean;
  #fd: number;

  /**
   * Made by {@linkcode lockFile} and {@linkcode lockFileAsync}.
   *
   * @param path The locked file.
   * @param fd Its descriptor, which holds the lock.
   * @param exclusive Whether the lock is exclusive.
   * @internal
   */
  constructor(path: string, fd: number, exclusive: boolean) {
    fdArg(fd, "lock descriptor");
    this.path = path;
    this.#fd = fd;
    this.exclusive = exclusive;
  }

  /** The descriptor holding the lock (close-on-exec); -1 once unlocked. */
  get fd(): number {
    return this.#fd;
  }

  /** True until {@linkcode FileLock.unlock}. */
  get locked(): boolean {
    return this.#fd >= 0;
  }

  /** Releases the lock and closes its descriptor. Idempotent. */
  unlock(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    syscall(SYS.flock, BigInt(fd), BigInt(LOCK_UN));
    closeQuietly(fd);
  }

  /** Same as {@linkcode FileLock.unlock}, for `using`. */
  [Symbol.dispose](): void {
    this.unlock();
  }
}

/**
 * Locks a file, creating it (mode 0600) if missing. Waiting blocks the
 * calling thread; the main thread should use {@linkcode lockFileAsync}.
 *
 * @param path The lock file.
 * @param options Exclusive or shared; whether to wait.
 * @returns The lock; or, with `wait: false`, null when another open file
 *   holds a conflicting lock (EWOULDBLOCK is never thrown).
 * @throws {TypeError} If `path` or an option has the wrong type.
 * @throws {RangeError} If the path is too long.
 * @throws {Errno} If the file cannot be opened or locked.
 *
 * @example
 * ```ts
 * import { lockFile } from "./flock.ts";
 * const dir = Deno.makeTempDirSync();
 * {
 *   using held = lockFile(`${dir}/lock`, { exclusive: true });
 *   if (lockFile(`${dir}/lock`, { wait: false }) !== null) throw new Error("not exclusive");
 * }
 * using again = lockFile(`${dir}/lock`, { wait: false });
 * if (again === null) throw new Error("the first lock was not released");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function lockFile(path: string, options?: LockOptions & { wait?: true }): FileLock;
export function lockFile(path: string, options: LockOptions & { wait: false }): FileLock | null;
export function lockFile(path: string, options?: LockOptions): FileLock | null;
export function lockFile(path: string, options: LockOptions = {}): FileLock | null {
  const { exclusive, wait } = lockOptions(options);
  const fd = openLockFile(path);
  try {
    const op = BigInt((exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB));
    for (;;) {
      const r = syscall(SYS.flock, BigInt(fd), op);
      if (r === EINTR) continue;
      if (r === EWOULDBLOCK && !wait) {
        closeQuietly(fd);
        return null;
      }
      checked(r, `flock ${path}`);
      return new FileLock(path, fd, exclusive);
    }
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/**
 * Locks a file, creating it (mode 0600) if missing, waiting on Deno's
 * blocking thread pool so the calling thread's event loop keeps running.
 * A wait cannot be cancelled: it ends when the lock is granted.
 *
 * @param path The lock file.
 * @param options `exclusive` (default true); `wait: false` resolves null
 *   at once instead of waiting when the lock is held.
 * @returns A promise of the lock (or null, with `wait: false`).
 * @throws {TypeError} If `path` or an option has the wrong type.
 * @throws {Errno} If the file cannot be opened or locked.
 *
 * @example
 * ```ts
 * import { lockFile, lockFileAsync } from "./flock.ts";
 * const dir = Deno.makeTempDirSync();
 * const first = lockFile(`${dir}/lock`);
 * const second = lockFileAsync(`${dir}/lock`);
 * setTimeout(() => first.unlock(), 20);
 * using lock = await second;
 * if (!lock.locked) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function lockFileAsync(
  path: string,
  options?: LockOptions & { wait?: true },
): Promise<FileLock>;
export function lockFileAsync(
  path: string,
  options: LockOptions & { wait: false },
): Promise<FileLock | null>;
export function lockFileAsync(path: string, options?: LockOptions): Promise<FileLock | null>;
export async function lockFileAsync(
  path: string,
  options: LockOptions = {},
): Promise<FileLock | null> {
  const { exclusive, wait } = lockOptions(options);
  if (!wait) return lockFile(path, { exclusive, wait: false });
  const fd = openLockFile(path);
  try {
    const op = BigInt(exclusive ? LOCK_EX : LOCK_SH);
    for (;;) {
      const r = await syscallAsync(SYS.flock, BigInt(fd), op);
      if (r === EINTR) continue;
      checked(r, `flock ${path}`);
      return new FileLock(path, fd, exclusive);
    }
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

function lockOptions(options: LockOptions): { exclusive: boolean; wait: boolean } {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Invalid lock options: pass an object such as { exclusive: true }");
  }
  const { exclusive = true, wait = true } = options;
  if (typeof exclusive !== "boolean") {
    throw new TypeError(
      `Invalid lock option exclusive: expected a boolean, got ${typeof exclusive}`,
    );
  }
  if (typeof wait !== "boolean") {
    throw new TypeError(`Invalid lock option wait: expected a boolean, got ${typeof wait}`);
  }
  return { exclusive, wait };
}

function openLockFile(path: string): number {
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError("Invalid lock file path: pass a non-empty string");
  }
  return openFile(path, O.RDONLY | O.CREAT, LOCK_FILE_MODE);
}
