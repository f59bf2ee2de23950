/**
 * Builds the table that `dv_run` (asm/native.S) executes in a new child:
 * one system call per step, run after clone(2) with no JavaScript in the
 * child. The layout here mirrors the comment at the top of native.S.
 *
 * @module
 */
import type { Arena } from "./arena_unsafe.ts";

const HEADER_SIZE = 96;
const STEP_SIZE = 80;

const F_IGNORE_ERROR = 0x100;
const F_STORE_U32 = 0x200;
const F_STORE_U64 = 0x400;
const F_EXPECT = 0x800;

/** Where a step stores its result: an address, or a later step's argument. */
export type StoreTarget = bigint | { step: number; arg: number };

/** Options of one step. */
export interface StepOptions {
  /** Arguments (by index) that take the previous step's result. */
  fromPrevious?: number[];
  /** Arguments (by index) loaded, when the step runs, from the u64 at their address. */
  load?: number[];
  /** Go on when the call fails. */
  ignoreError?: boolean;
  /** Store the result as a u32 here. */
  storeU32?: StoreTarget;
  /** Store the result as a u64 here. */
  storeU64?: StoreTarget;
  /** The call must return exactly this, else it fails with EPROTO. */
  expect?: bigint;
}

interface Step {
  name: string;
  nr: number;
  args: bigint[];
  flags: number;
  store: StoreTarget | undefined;
  expect: bigint;
}

/** Offsets of the header fields the parent reads back. */
export const TABLE = {
  outStep: 32,
  outErrno: 40,
  pidfd: 64,
} as const;

/**
 * A list of steps for the clone runner.
 *
 * @example
 * ```ts
 * import { StepTable } from "./spawn_table.ts";
 * import { SYS } from "./sysno.ts";
 * const t = new StepTable();
 * t.add("getpid", SYS.getpid, []);
 * t.add("kill", SYS.kill, [0n, 19n], { fromPrevious: [0] });
 * if (t.name(1) !== "kill") throw new Error();
 * ```
 */
export class StepTable {
  #steps: Step[] = [];

  /** Number of steps so far. */
  get length(): number {
    return this.#steps.length;
  }

  /**
   * Appends a step.
   *
   * @param name What the step does, reported when it fails (`execve`).
   * @param nr The system call number.
   * @param args Up to six arguments.
   * @param options How the step uses and keeps results.
   * @returns The step's index.
   */
  add(
    name: string,
    nr: number,
    args: bigint[],
    options: StepOptions = {},
  ): number {
    if (args.length > 6) {
      throw new RangeError(`Step ${name} has more than 6 arguments`);
    }
    let flags = 0;
    for (const i of options.fromPrevious ?? []) flags |= 1 << i;
    for (const i of options.load ?? []) flags |= 1 << (16 + i);
    if (options.ignoreError) flags |= F_IGNORE_ERROR;
    if (options.storeU32 !== undefined) flags |= F_STORE_U32;
    if (options.storeU64 !== undefined) flags |= F_STORE_U64;
    if (options.expect !== undefined) flags |= F_EXPECT;
    if (options.storeU32 !== undefined && options.storeU64 !== undefined) {
      throw new RangeError(`Step ${name} can store its result only once`);
    }
    const padded = [...args];
    while (padded.length < 6) padded.push(0n);
    this.#steps.push({
      name,
      nr,
      args: padded,
      flags,
      store: options.storeU32 ?? options.storeU64,
      expect: options.expect ?? 0n,
    });
    return this.#steps.length - 1;
  }

  /**
   * Returns a step's name.
   *
   * @param index The step index.
   * @returns Its name, or `step <index>` if out of range.
   */
  name(index: number): string {
    return this.#steps[index]?.name ?? `step ${index}`;
  }

  /**
   * Writes the table into an arena.
   *
   * @param arena Where to write.
   * @param header The clone flags, child stack top and error descriptor.
   * @returns The table's offset in the arena.
   */
  write(
    arena: Arena,
    header: { cloneFlags: bigint; stack: bigint; errfd: number },
  ): number {
    const at = arena.alloc(HEADER_SIZE + STEP_SIZE * this.#steps.length, 16);
    const v = arena.view;
    const base = arena.addr(at);
    v.setBigUint64(at, header.cloneFlags, true);
    v.setBigUint64(at + 8, header.stack, true);
    v.setBigInt64(at + 16, BigInt(header.errfd), true);
    v.setBigUint64(at + 24, BigInt(this.#steps.length), true);
    v.setBigInt64(at + TABLE.outStep, -1n, true);
    v.setBigInt64(at + TABLE.outErrno, 0n, true);
    v.setBigUint64(at + 48, 0xffffffffffffffffn, true);
    v.setInt32(at + TABLE.pidfd, -1, true);
    const argAddress = (step: number, arg: number) => {
      if (step < 0 || step >= this.#steps.length || arg < 0 || arg > 5) {
        throw new RangeError(
          `No argument ${arg} of step ${step} to store into`,
        );
      }
      return base + BigInt(HEADER_SIZE + STEP_SIZE * step + 8 + 8 * arg);
    };
    this.#steps.forEach((s, i) => {
      const o = at + HEADER_SIZE + STEP_SIZE * i;
      v.setBigInt64(o, BigInt(s.nr), true);
      s.args.forEach((a, j) => v.setBigUint64(o + 8 + 8 * j, BigInt.asUintN(64, a), true));
      v.setBigUint64(o + 56, BigInt(s.flags), true);
      const store = s.store === undefined
        ? 0n
        : typeof s.store === "bigint"
        ? s.store
        : argAddress(s.store.step, s.store.arg);
      v.setBigUint64(o + 64, store, true);
      v.setBigUint64(o + 72, BigInt.asUintN(64, s.expect), true);
    });
    return at;
  }
}
