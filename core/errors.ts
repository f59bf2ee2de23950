/**
 * Errors the Sentry returns to applications, and blocking.
 *
 * A system call handler throws a {@linkcode LinuxError} to fail with an
 * errno; a host {@linkcode Errno} from platform/ (a gofer or host file call)
 * carries a Linux errno too and is returned the same way. A handler that
 * must wait throws {@linkcode WouldBlock}: the task is parked and the
 * handler runs again when one of the wait queues is notified.
 *
 * @module
 */
import { errnoName, errnoNumber } from "../platform/errno.ts";

/**
 * A system call failure to return to the application as `-errno`.
 *
 * @example
 * ```ts
 * import { LinuxError } from "./errors.ts";
 * const e = new LinuxError("ENOENT");
 * if (e.errno !== 2) throw new Error();
 * ```
 */
export class LinuxError extends Error {
  /** The positive errno. */
  readonly errno: number;

  /**
   * Makes the error.
   *
   * @param code An errno name (`ENOENT`) or number.
   * @param detail What went wrong, for debug logs.
   */
  constructor(code: string | number, detail?: string) {
    const errno = typeof code === "number" ? code : errnoNumber(code);
    super(detail ? `${errnoName(errno)}: ${detail}` : errnoName(errno));
    this.name = "LinuxError";
    this.errno = errno;
  }
}

/**
 * Returns the errno of anything a handler may throw, or null when it is a
 * bug rather than a failure the application should see.
 *
 * @param e The thrown value.
 * @returns Its errno, or null.
 *
 * @example
 * ```ts
 * import { errnoOf, LinuxError } from "./errors.ts";
 * if (errnoOf(new LinuxError("EBADF")) !== 9) throw new Error();
 * if (errnoOf(new TypeError("bug")) !== null) throw new Error();
 * ```
 */
export function errnoOf(e: unknown): number | null {
  if (e instanceof LinuxError) return e.errno;
  if (
    e instanceof Error && e.name === "Errno" && typeof (e as { errno?: unknown }).errno === "number"
  ) {
    return (e as unknown as { errno: number }).errno;
  }
  return null;
}

/**
 * Something tasks wait on: a pipe's readers, a child's parent, a timer.
 * `notify()` runs every subscriber once.
 *
 * @example
 * ```ts
 * import { WaitQueue } from "./errors.ts";
 * const q = new WaitQueue();
 * let woke = 0;
 * q.subscribe(() => woke++);
 * q.notify();
 * q.notify();
 * if (woke !== 1) throw new Error("a subscription fires once");
 * ```
 */
export class WaitQueue {
  #waiters = new Set<() => void>();

  /**
   * Runs `fn` at the next notify().
   *
   * @param fn The callback.
   * @returns A function that cancels the subscription.
   */
  subscribe(fn: () => void): () => void {
    const once = () => {
      this.#waiters.delete(once);
      fn();
    };
    this.#waiters.add(once);
    return () => this.#waiters.delete(once);
  }

  /** Wakes every subscriber. */
  notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Whether anyone waits. */
  get waiting(): boolean {
    return this.#waiters.size > 0;
  }
}

/**
 * Thrown by an operation that would block: the caller waits until one of
 * `queues` is notified (or `deadlineMs`, a `performance.now()` time,
 * passes) and tries again.
 *
 * @example
 * ```ts
 * import { WaitQueue, WouldBlock } from "./errors.ts";
 * const e = new WouldBlock([new WaitQueue()]);
 * if (e.queues.length !== 1) throw new Error();
 * ```
 */
export class WouldBlock extends Error {
  /** What to wait on. */
  readonly queues: WaitQueue[];
  /** When to give up waiting, or null for never. */
  readonly deadlineMs: number | null;

  /**
   * Makes it.
   *
   * @param queues What to wait on.
   * @param deadlineMs When to stop waiting.
   */
  constructor(queues: WaitQueue[], deadlineMs: number | null = null) {
    super("would block");
    this.name = "WouldBlock";
    this.queues = queues;
    this.deadlineMs = deadlineMs;
  }
}

/**
 * Thrown when a file server (the gofer) is gone: the sandbox cannot go on
 * without its files, so the Sentry stops it rather than hand the container
 * I/O errors.
 *
 * @example
 * ```ts
 * import { FileServerLost } from "./errors.ts";
 * const e = new FileServerLost("connection reset");
 * if (!e.message.includes("gofer")) throw new Error();
 * ```
 */
export class FileServerLost extends Error {
  /**
   * Makes it.
   *
   * @param why What the connection said.
   */
  constructor(why: string) {
    super(`the gofer is gone (${why})`);
    this.name = "FileServerLost";
  }
}

/**
 * A value kept across the retries of the system call in progress (a
 * deadline that counts from its first try): supplied by the kernel, which
 * knows the calling task. Without a kernel, `make` runs every time.
 *
 * @example
 * ```ts
 * import { callHooks } from "./errors.ts";
 * const d = callHooks.keep ? callHooks.keep(() => 5) : 5;
 * if (d !== 5) throw new Error();
 * ```
 */
export const callHooks: {
  keep: ((make: () => number | null) => number | null) | null;
} = { keep: null };
