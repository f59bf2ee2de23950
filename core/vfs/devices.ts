/**
 * Character devices by number: what opening a device node gives, wherever
 * the node lives (devfs, or one made with mknod in a tmpfs).
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import { type Inode, OpenFile } from "./inode.ts";

/** Device numbers (major, minor) dvisor implements. */
export const DEVICES = {
  null: [1, 3],
  zero: [1, 5],
  full: [1, 7],
  random: [1, 8],
  urandom: [1, 9],
  tty: [5, 0],
  ptmx: [5, 2],
} as const;

/**
 * Splits a Linux `dev_t`.
 *
 * @param dev The encoded number.
 * @returns Major and minor.
 */
export function splitDev(dev: bigint): [number, number] {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
  return [major, minor];
}

/**
 * Encodes a Linux `dev_t`.
 *
 * @param major The major number.
 * @param minor The minor number.
 * @returns The encoded number.
 */
export function joinDev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

/** Hooks the kernel provides for devices that depend on the caller. */
export const deviceHooks: {
  /** Opens the caller's controlling terminal (/dev/tty) through the node opened. */
  openTty: ((node: Inode, flags: number) => OpenFile) | null;
  /** Opens a new pseudo-terminal master (/dev/ptmx). */
  openPtmx: ((node: Inode, flags: number) => OpenFile) | null;
  /** Opens the sandbox's terminal /dev/pts/N again. */
  openPts: ((node: Inode, index: number, flags: number) => OpenFile) | null;
} = { openTty: null, openPtmx: null, openPts: null };

/**
 * Opens a character device.
 *
 * @param inode The device node.
 * @param rdev Its device number.
 * @param flags Open flags.
 * @returns The open device.
 * @throws {LinuxError} ENXIO for a device dvisor does not have.
 */
export function openDevice(inode: Inode, rdev: bigint, flags: number): OpenFile {
  const [major, minor] = splitDev(rdev);
  const key = `${major}:${minor}`;
  switch (key) {
    case "1:3":
      return new NullDevice(inode, flags);
    case "1:5":
      return new ZeroDevice(inode, flags);
    case "1:7":
      return new FullDevice(inode, flags);
    case "1:8":
    case "1:9":
      return new RandomDevice(inode, flags);
    case "5:0":
      if (!deviceHooks.openTty) throw new LinuxError("ENXIO");
      return deviceHooks.openTty(inode, flags);
    case "5:2":
      if (!deviceHooks.openPtmx) throw new LinuxError("ENXIO");
      return deviceHooks.openPtmx(inode, flags);
  }
  // The pty slaves: 136 to 143.
  if (major >= 136 && major <= 143 && deviceHooks.openPts) {
    return deviceHooks.openPts(inode, (major - 136) * 256 + minor, flags);
  }
  throw new LinuxError("ENXIO");
}

class NullDevice extends OpenFile {
  override get seekable(): boolean {
    return true;
  }
  override seek(): bigint {
    return 0n;
  }
  protected override readAt(_buf: Uint8Array, _offset: bigint): number {
    return 0;
  }
  protected override writeAt(data: Uint8Array, _offset: bigint): number {
    return data.length;
  }
}

class ZeroDevice extends NullDevice {
  protected override readAt(buf: Uint8Array): number {
    buf.fill(0);
    return buf.length;
  }
}

class FullDevice extends ZeroDevice {
  protected override writeAt(_data: Uint8Array, _offset: bigint): number {
    throw new LinuxError("ENOSPC");
  }
}

class RandomDevice extends NullDevice {
  protected override readAt(buf: Uint8Array): number {
    for (let at = 0; at < buf.length; at += 65536) {
      crypto.getRandomValues(buf.subarray(at, at + 65536));
    }
    return buf.length;
  }
}
