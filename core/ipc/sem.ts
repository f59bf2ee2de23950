/**
 * SysV semaphore sets: `semop`'s all-or-nothing operations, waiting for a
 * value to grow or reach zero, SEM_UNDO adjustments applied when a process
 * exits, and the values, pids and counts `semctl` reads and writes.
 *
 * @module
 */
import { LinuxError, WaitQueue } from "../errors.ts";
import { type IpcCreds, IpcObject, IpcRegistry, nowSeconds } from "./registry.ts";

/** semctl commands and semop flags beyond the common ones. */
export const SEM = {
  GETPID: 11,
  GETVAL: 12,
  GETALL: 13,
  GETNCNT: 14,
  GETZCNT: 15,
  SETVAL: 16,
  SETALL: 17,
  STAT: 18,
  INFO: 19,
  STAT_ANY: 20,
  /** sem_flg: undo when the process exits. */
  UNDO: 0x1000,
} as const;

/**
 * Limits: Linux's defaults (/proc/sys/kernel/sem is SEMMSL SEMMNS SEMOPM
 * SEMMNI, which the namespace's sysctl changes; SEMVMX and SEMAEM are fixed).
 */
export const SEM_LIMITS = {
  msl: 32000,
  mns: 1024000000,
  opm: 500,
  mni: 32000,
  vmx: 32767,
  aem: 32767,
} as const;

/** One `struct sembuf`. */
export interface SemOp {
  num: number;
  op: number;
  flg: number;
}

/** A semaphore set. */
export class SemSet extends IpcObject {
  readonly values: number[];
  /** The pid of the last process to change each value. */
  readonly pids: number[];
  /** Last semop. */
  otime = 0;
  /** Notified when values change or the set goes. */
  readonly queue = new WaitQueue();
  /** SEM_UNDO adjustments, by process. */
  readonly undo = new Map<object, number[]>();

  /**
   * Makes a set of zeroed semaphores.
   *
   * @param key Its key.
   * @param mode Its permission bits.
   * @param n How many.
   * @param creds The creator.
   */
  constructor(key: number, mode: number, n: number, creds: IpcCreds) {
    super(key, mode, creds);
    this.values = new Array(n).fill(0);
    this.pids = new Array(n).fill(0);
  }

  /** @returns `struct semid64_ds` (104 bytes). */
  encode(): Uint8Array {
    const b = new Uint8Array(104);
    b.set(this.encodePerm());
    const v = new DataView(b.buffer);
    v.setBigInt64(48, BigInt(this.otime), true);
    v.setBigInt64(64, BigInt(this.ctime), true);
    v.setBigUint64(80, BigInt(this.values.length), true);
    return b;
  }

  /**
   * The first operation of `ops` that cannot go now, or null when all can.
   *
   * @param ops The operations.
   * @returns The blocking operation.
   * @throws {LinuxError} ERANGE when an addition would pass SEMVMX.
   */
  blocker(ops: SemOp[]): SemOp | null {
    const vals = [...this.values];
    for (const o of ops) {
      const v = vals[o.num]!;
      if (o.op > 0) {
        if (v + o.op > SEM_LIMITS.vmx) throw new LinuxError("ERANGE");
        vals[o.num] = v + o.op;
      } else if (o.op < 0) {
        if (v + o.op < 0) return o;
        vals[o.num] = v + o.op;
      } else if (v !== 0) return o;
    }
    return null;
  }
}

/** A semop that waits: what GETNCNT and GETZCNT count. */
export interface SemWaiter {
  set: SemSet;
  /** The operation it waits on. */
  op: SemOp;
}

/**
 * A namespace's semaphore sets and the processes' undo adjustments.
 *
 * @example
 * ```ts
 * import { SemTable, SEM } from "./sem.ts";
 * const root = { euid: 0, egid: 0, groups: [], capable: () => true };
 * const sems = new SemTable();
 * const set = sems.get(0, 1, 0o600, root);
 * const p = {};
 * sems.apply(set, [{ num: 0, op: 2, flg: SEM.UNDO }], p, 7);
 * if (String(set.values) !== "2") throw new Error();
 * sems.exited(p, 7);
 * if (String(set.values) !== "0") throw new Error("undone");
 * ```
 */
export class SemTable {
  /** SEMMSL, SEMMNS, SEMOPM, SEMMNI. */
  readonly limits: { msl: number; mns: number; opm: number; mni: number } = {
    msl: SEM_LIMITS.msl,
    mns: SEM_LIMITS.mns,
    opm: SEM_LIMITS.opm,
    mni: SEM_LIMITS.mni,
  };
  readonly sets = new IpcRegistry<SemSet>(() => this.limits.mni);
  /** The sets holding each process's SEM_UNDO adjustments. */
  readonly #undoSets = new WeakMap<object, Set<SemSet>>();

  /**
   * semget.
   *
   * @param key The key.
   * @param n How many semaphores (0 for an existing set).
   * @param flags IPC_CREAT, IPC_EXCL, permission bits.
   * @param creds Who asks.
   * @returns The set.
   * @throws {LinuxError} EINVAL for a count out of range.
   */
  get(key: number, n: number, flags: number, creds: IpcCreds): SemSet {
    if (n < 0 || n > this.limits.msl) throw new LinuxError("EINVAL");
    return this.sets.get(key, flags, creds, (k, mode) => {
      if (n === 0) throw new LinuxError("EINVAL");
      if (this.totalSems() + n > this.limits.mns) throw new LinuxError("ENOSPC");
      return new SemSet(k, mode, n, creds);
    }, (set) => {
      if (n > set.values.length) throw new LinuxError("EINVAL");
    });
  }

  /** Semaphores in every set. */
  totalSems(): number {
    return this.sets.all().reduce((n, s) => n + s.values.length, 0);
  }

  /**
   * Applies operations that can all go now (see {@link SemSet.blocker}),
   * recording SEM_UNDO adjustments for the process.
   *
   * @param set The set.
   * @param ops The operations.
   * @param proc The process.
   * @param pid Its pid.
   * @throws {LinuxError} ERANGE when an adjustment would pass SEMAEM.
   */
  apply(set: SemSet, ops: SemOp[], proc: object, pid: number): void {
    if (ops.some((o) => o.flg & SEM.UNDO)) {
      const next = [...(set.undo.get(proc) ?? new Array(set.values.length).fill(0))];
      for (const o of ops) {
        if (!(o.flg & SEM.UNDO)) continue;
        next[o.num] = next[o.num]! - o.op;
        if (Math.abs(next[o.num]!) > SEM_LIMITS.aem) throw new LinuxError("ERANGE");
      }
      set.undo.set(proc, next);
      let sets = this.#undoSets.get(proc);
      if (!sets) this.#undoSets.set(proc, sets = new Set());
      sets.add(set);
    }
    for (const o of ops) {
      set.values[o.num] = set.values[o.num]! + o.op;
      set.pids[o.num] = pid;
    }
    set.otime = nowSeconds();
    if (ops.some((o) => o.op !== 0)) set.queue.notify();
  }

  /**
   * SETVAL and SETALL: values change and every process's adjustments for
   * them are cleared, as Linux.
   *
   * @param set The set.
   * @param values New values by index (undefined: unchanged).
   * @param pid The caller's pid.
   * @throws {LinuxError} ERANGE for a value out of 0..SEMVMX.
   */
  setValues(set: SemSet, values: (number | undefined)[], pid: number): void {
    if (values.some((v) => v !== undefined && (v < 0 || v > SEM_LIMITS.vmx))) {
      throw new LinuxError("ERANGE");
    }
    values.forEach((v, i) => {
      if (v === undefined) return;
      set.values[i] = v;
      set.pids[i] = pid;
    });
    for (const adj of set.undo.values()) {
      values.forEach((v, i) => {
        if (v !== undefined) adj[i] = 0;
      });
    }
    set.ctime = nowSeconds();
    set.queue.notify();
  }

  /**
   * IPC_RMID: the set goes at once, its waiters see EIDRM.
   *
   * @param set The set.
   * @param creds Who asks.
   * @throws {LinuxError} EPERM.
   */
  remove(set: SemSet, creds: IpcCreds): void {
    set.checkOwner(creds);
    this.sets.remove(set);
    set.undo.clear();
    set.queue.notify();
  }

  /**
   * A process ended: its adjustments are applied (clamped to 0..SEMVMX)
   * to the sets still there.
   *
   * @param proc The process.
   * @param pid Its pid.
   */
  exited(proc: object, pid: number): void {
    const sets = this.#undoSets.get(proc);
    if (!sets) return;
    this.#undoSets.delete(proc);
    for (const set of sets) {
      const adj = set.undo.get(proc);
      set.undo.delete(proc);
      if (!adj || set.removed) continue;
      let changed = false;
      adj.forEach((a, i) => {
        if (!a) return;
        set.values[i] = Math.min(SEM_LIMITS.vmx, Math.max(0, set.values[i]! + a));
        set.pids[i] = pid;
        changed = true;
      });
      if (changed) set.queue.notify();
    }
  }
}
