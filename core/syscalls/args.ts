/**
 * Decoding system call arguments and encoding the structures handlers
 * write back (stat, statx, timespec).
 *
 * @module
 */
import { clockNs } from "../../platform/clock.ts";
import { LinuxError } from "../errors.ts";
import type { Stat } from "../vfs/inode.ts";

/**
 * An argument as a C `int`.
 *
 * @param a The raw register.
 * @returns Its low 32 bits, signed.
 */
export function i32(a: bigint | undefined): number {
  return Number(BigInt.asIntN(32, a ?? 0n));
}

/**
 * An argument as a C `unsigned int`.
 *
 * @param a The raw register.
 * @returns Its low 32 bits, unsigned.
 */
export function u32(a: bigint | undefined): number {
  return Number(BigInt.asUintN(32, a ?? 0n));
}

/**
 * An argument as a C `long`.
 *
 * @param a The raw register.
 * @returns The signed value.
 */
export function i64(a: bigint | undefined): bigint {
  return BigInt.asIntN(64, a ?? 0n);
}

/**
 * A size argument as a JS number, capped so buffers stay sane.
 *
 * @param a The raw register.
 * @param cap The largest size used at once.
 * @returns The size.
 */
export function size(a: bigint | undefined, cap = 1 << 24): number {
  const v = BigInt.asUintN(64, a ?? 0n);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return cap;
  return Math.min(Number(v), cap);
}

/**
 * Encodes `struct stat` (x86-64, 144 bytes).
 *
 * @param st The attributes.
 * @returns The bytes.
 */
export function encodeStat(st: Stat): Uint8Array {
  const b = new Uint8Array(144);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, st.dev, true);
  v.setBigUint64(8, st.ino, true);
  v.setBigUint64(16, BigInt(st.nlink), true);
  v.setUint32(24, st.mode, true);
  v.setUint32(28, st.uid, true);
  v.setUint32(32, st.gid, true);
  v.setBigUint64(40, st.rdev, true);
  v.setBigInt64(48, st.size, true);
  v.setBigInt64(56, BigInt(st.blksize), true);
  v.setBigInt64(64, st.blocks, true);
  const ts = (o: number, ns: bigint) => {
    v.setBigInt64(o, ns / 1_000_000_000n, true);
    v.setBigInt64(o + 8, ns % 1_000_000_000n, true);
  };
  ts(72, st.atimeNs);
  ts(88, st.mtimeNs);
  ts(104, st.ctimeNs);
  return b;
}

/**
 * Encodes `struct statx` (256 bytes) with every basic field and btime.
 *
 * @param st The attributes.
 * @returns The bytes.
 */
export function encodeStatx(st: Stat): Uint8Array {
  const b = new Uint8Array(256);
  const v = new DataView(b.buffer);
  v.setUint32(0, st.btimeNs ? 0xfff : 0x7ff, true); // mask: basic stats (+ btime)
  v.setUint32(4, st.blksize, true);
  v.setUint32(16, st.nlink, true);
  v.setUint32(20, st.uid, true);
  v.setUint32(24, st.gid, true);
  v.setUint16(28, st.mode, true);
  v.setBigUint64(32, st.ino, true);
  v.setBigUint64(40, st.size, true);
  v.setBigUint64(48, st.blocks, true);
  const ts = (o: number, ns: bigint) => {
    v.setBigInt64(o, ns / 1_000_000_000n, true);
    v.setUint32(o + 8, Number(ns % 1_000_000_000n), true);
  };
  ts(64, st.atimeNs);
  ts(80, st.btimeNs);
  ts(96, st.ctimeNs);
  ts(112, st.mtimeNs);
  const dev = (d: bigint): [number, number] => [
    Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)),
    Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)),
  ];
  const [rma, rmi] = dev(st.rdev);
  const [dma, dmi] = dev(st.dev);
  v.setUint32(128, rma, true);
  v.setUint32(132, rmi, true);
  v.setUint32(136, dma, true);
  v.setUint32(140, dmi, true);
  return b;
}

/**
 * Encodes a `struct timespec`.
 *
 * @param ns Nanoseconds.
 * @returns 16 bytes.
 */
export function encodeTimespec(ns: bigint): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigInt64(0, ns / 1_000_000_000n, true);
  v.setBigInt64(8, ns % 1_000_000_000n, true);
  return b;
}

/**
 * Encodes a `struct itimerspec` (interval, then value) from milliseconds.
 *
 * @param t The time left to the next expiry and the interval, in ms.
 * @returns 32 bytes.
 *
 * @example
 * ```ts
 * import { encodeItimerspec } from "./args.ts";
 * const b = encodeItimerspec({ value: 1500, interval: 0 });
 * if (new DataView(b.buffer).getBigInt64(16, true) !== 1n) throw new Error();
 * ```
 */
export function encodeItimerspec(t: { value: number; interval: number }): Uint8Array {
  const ns = (ms: number) => BigInt(Math.round(ms * 1e6));
  const b = new Uint8Array(32);
  b.set(encodeTimespec(ns(t.interval)), 0);
  b.set(encodeTimespec(ns(t.value)), 16);
  return b;
}

/**
 * Decodes a `struct itimerspec`.
 *
 * @param raw 32 bytes.
 * @returns The interval and value, in ns.
 * @throws {LinuxError} EINVAL for a tv_nsec out of range.
 */
export function decodeItimerspec(raw: Uint8Array): { interval: bigint; value: bigint } {
  const interval = decodeTimespec(raw.subarray(0, 16));
  const value = decodeTimespec(raw.subarray(16, 32));
  if (interval === null || value === null) throw new LinuxError("EINVAL");
  return { interval, value };
}

/**
 * Milliseconds from now to a timer's expiry (timerfd_settime,
 * timer_settime): the value itself, or, with an absolute time, the time
 * until then on the timer's clock (an _ALARM clock reads its base clock);
 * negative when it has passed.
 *
 * @param clock The timer's clock id.
 * @param valueNs The time given.
 * @param absolute TFD_TIMER_ABSTIME or TIMER_ABSTIME was set.
 * @returns Milliseconds.
 *
 * @example
 * ```ts
 * import { msUntil } from "./args.ts";
 * if (msUntil(1, 5_000_000n, false) !== 5) throw new Error();
 * if (msUntil(1, 0n, true) >= 0) throw new Error("the boot time has passed");
 * ```
 */
export function msUntil(clock: number, valueNs: bigint, absolute: boolean): number {
  if (!absolute) return Number(valueNs) / 1e6;
  const base = clock === 8 ? 0 : clock === 9 ? 7 : clock;
  return Number(valueNs - clockNs(base)) / 1e6;
}

/**
 * Decodes a `struct timespec`.
 *
 * @param b 16 bytes.
 * @returns Nanoseconds, or null when tv_nsec is out of range.
 */
export function decodeTimespec(b: Uint8Array): bigint | null {
  const v = new DataView(b.buffer, b.byteOffset, 16);
  const sec = v.getBigInt64(0, true);
  const nsec = v.getBigInt64(8, true);
  if (nsec < 0n || nsec >= 1_000_000_000n || sec < 0n) return null;
  return sec * 1_000_000_000n + nsec;
}
