/**
 * flock(2) locks: shared or exclusive, held by an open file description
 * on a file (all its descriptors, across fork), converted in place,
 * dropped with LOCK_UN or when the description's last descriptor closes.
 * A file is known by its device and inode number, whoever opened it.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { fileIdentity, OpenFile } from "./inode.ts";

/** flock operations. */
export const LOCK = { SH: 1, EX: 2, NB: 4, UN: 8 } as const;

interface FileLocks {
  shared: Set<OpenFile>;
  exclusive: OpenFile | null;
  /** Notified when a lock is dropped. */
  queue: WaitQueue;
}

const locks = new Map<string, FileLocks>();
const held = new WeakMap<OpenFile, string>();

function unlock(f: OpenFile): void {
  const key = held.get(f);
  if (key === undefined) return;
  held.delete(f);
  const l = locks.get(key)!;
  l.shared.delete(f);
  if (l.exclusive === f) l.exclusive = null;
  l.queue.notify();
  if (!l.shared.size && !l.exclusive && !l.queue.waiting) locks.delete(key);
}

OpenFile.closeHooks.push(unlock);

/**
 * flock: takes, converts or drops a lock.
 *
 * @param f The open file.
 * @param op LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB.
 * @throws {LinuxError} EWOULDBLOCK with LOCK_NB when another holds a conflicting lock.
 * @throws {WouldBlock} Until it can be taken.
 *
 * @example
 * ```ts
 * import { flock, LOCK } from "./flock.ts";
 * import { makePipe } from "./pipe.ts";
 * const [a, b] = makePipe(0, { uid: 0, gid: 0 });
 * flock(a, LOCK.EX);
 * let refused = false;
 * try {
 *   flock(b, LOCK.SH | LOCK.NB);
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("both ends are one file: the lock conflicts");
 * a.unref();
 * flock(b, LOCK.SH | LOCK.NB); // the closed end's lock went with it
 * ```
 */
export function flock(f: OpenFile, op: number): void {
  const kind = op & ~LOCK.NB;
  if (kind === LOCK.UN) {
    unlock(f);
    return;
  }
  if (kind !== LOCK.SH && kind !== LOCK.EX) throw new LinuxError("EINVAL");
  const key = fileIdentity(f);
  let l = locks.get(key);
  if (!l) locks.set(key, l = { shared: new Set(), exclusive: null, queue: new WaitQueue() });
  const others = kind === LOCK.EX
    ? [...l.shared].some((o) => o !== f) || (l.exclusive !== null && l.exclusive !== f)
    : l.exclusive !== null && l.exclusive !== f;
  if (others) {
    // A conversion gives up the old lock first, as Linux does.
    if (held.get(f) === key) unlock(f);
    if (op & LOCK.NB) throw new LinuxError("EAGAIN");
    if (!locks.has(key)) locks.set(key, l);
    throw new WouldBlock([l.queue]);
  }
  l.shared.delete(f);
  if (l.exclusive === f) l.exclusive = null;
  if (kind === LOCK.EX) l.exclusive = f;
  else l.shared.add(f);
  held.set(f, key);
}
