/**
 * fcntl record locks: read and write locks on byte ranges of a file.
 * POSIX locks (F_SETLK, F_SETLKW, F_GETLK) belong to a descriptor table
 * (a process, or the threads sharing its table) and go when it closes any
 * descriptor of the file; open file description locks (F_OFD_*) belong to
 * the description and go with its last descriptor. Ranges split and
 * merge as Linux's do; a conflicting F_SETLKW waits.
 *
 * @module
 */
import { LinuxError, WaitQueue, WouldBlock } from "../errors.ts";
import { FdTable } from "./fd_table.ts";
import { fileIdentity, OpenFile } from "./inode.ts";

/** Lock types (`l_type`). */
export const LOCK_TYPE = { RDLCK: 0, WRLCK: 1, UNLCK: 2 } as const;
/** The end of a range that runs to the end of the file (and beyond). */
export const TO_END = 2n ** 63n - 1n;

/** A held lock. */
export interface RecordLock {
  /** The descriptor table (POSIX) or open file (OFD) that holds it. */
  owner: object;
  /** The holder's pid for F_GETLK (-1 for OFD locks). */
  pid: number;
  type: number;
  start: bigint;
  /** Inclusive. */
  end: bigint;
}

interface FileLocks {
  locks: RecordLock[];
  queue: WaitQueue;
}

const files = new Map<string, FileLocks>();

function table(key: string): FileLocks {
  let t = files.get(key);
  if (!t) files.set(key, t = { locks: [], queue: new WaitQueue() });
  return t;
}

/** Removes an owner's locks on [start, end], splitting the ones that overlap it partly. */
function cut(t: FileLocks, owner: object, start: bigint, end: bigint): boolean {
  let changed = false;
  const out: RecordLock[] = [];
  for (const l of t.locks) {
    if (l.owner !== owner || l.end < start || l.start > end) {
      out.push(l);
      continue;
    }
    changed = true;
    if (l.start < start) out.push({ ...l, end: start - 1n });
    if (l.end > end) out.push({ ...l, start: end + 1n });
  }
  t.locks = out;
  return changed;
}

/**
 * The first lock another owner holds that conflicts with one asked for.
 *
 * @param f The file.
 * @param owner Who asks.
 * @param type RDLCK or WRLCK.
 * @param start First byte.
 * @param end Last byte.
 * @returns The lock, or null.
 */
export function conflicting(
  f: OpenFile,
  owner: object,
  type: number,
  start: bigint,
  end: bigint,
): RecordLock | null {
  const t = files.get(fileIdentity(f));
  return t?.locks.find((l) =>
    l.owner !== owner && l.start <= end && l.end >= start &&
    (type === LOCK_TYPE.WRLCK || l.type === LOCK_TYPE.WRLCK)
  ) ?? null;
}

/**
 * Takes, changes or drops a lock on a range.
 *
 * @param f The file.
 * @param owner Its owner (a descriptor table, or the open file).
 * @param pid What F_GETLK shows for it.
 * @param type RDLCK, WRLCK or UNLCK.
 * @param start First byte.
 * @param end Last byte (inclusive).
 * @param wait F_SETLKW: wait for a conflicting lock to go.
 * @throws {LinuxError} EAGAIN when another owner's lock conflicts (without wait).
 * @throws {WouldBlock} Until it can be taken.
 *
 * @example
 * ```ts
 * import { LOCK_TYPE, setLock, conflicting } from "./record_locks.ts";
 * import { makePipe } from "./pipe.ts";
 * const [f] = makePipe(0, { uid: 0, gid: 0 });
 * const a = {}, b = {};
 * setLock(f, a, 1, LOCK_TYPE.WRLCK, 0n, 9n, false);
 * setLock(f, a, 1, LOCK_TYPE.UNLCK, 3n, 4n, false);
 * if (conflicting(f, b, LOCK_TYPE.RDLCK, 3n, 4n) !== null) throw new Error("split");
 * if (conflicting(f, b, LOCK_TYPE.RDLCK, 5n, 5n)?.start !== 5n) throw new Error();
 * ```
 */
export function setLock(
  f: OpenFile,
  owner: object,
  pid: number,
  type: number,
  start: bigint,
  end: bigint,
  wait: boolean,
): void {
  const key = fileIdentity(f);
  const t = table(key);
  if (type === LOCK_TYPE.UNLCK) {
    if (cut(t, owner, start, end)) t.queue.notify();
    if (!t.locks.length && !t.queue.waiting) files.delete(key);
    return;
  }
  if (type !== LOCK_TYPE.RDLCK && type !== LOCK_TYPE.WRLCK) throw new LinuxError("EINVAL");
  if (conflicting(f, owner, type, start, end)) {
    if (!wait) throw new LinuxError("EAGAIN");
    throw new WouldBlock([t.queue]);
  }
  cut(t, owner, start, end);
  // Merge with the owner's adjacent or overlapping locks of the same type.
  let lo = start;
  let hi = end;
  t.locks = t.locks.filter((l) => {
    const touches = l.owner === owner && l.type === type &&
      l.start <= (hi === TO_END ? hi : hi + 1n) && (l.end === TO_END || l.end + 1n >= lo);
    if (touches) {
      if (l.start < lo) lo = l.start;
      if (l.end > hi) hi = l.end;
    }
    return !touches;
  });
  t.locks.push({ owner, pid, type, start: lo, end: hi });
  // A downgrade may let readers in.
  t.queue.notify();
}

/** Drops every lock an owner holds on a file. */
function dropAll(owner: object, f: OpenFile): void {
  const key = fileIdentity(f);
  const t = files.get(key);
  if (!t) return;
  if (cut(t, owner, 0n, TO_END)) t.queue.notify();
  if (!t.locks.length && !t.queue.waiting) files.delete(key);
}

// POSIX locks go when their table closes any descriptor of the file; OFD
// locks with the description.
FdTable.closeHooks.push((tbl, f) => {
  if (files.size) dropAll(tbl, f);
});
OpenFile.closeHooks.push((f) => {
  if (files.size) dropAll(f, f);
});
