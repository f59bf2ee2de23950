/**
 * Unix permission checks, as Linux's `generic_permission`.
 *
 * @module
 */
import type { FsCreds, Stat } from "./inode.ts";
import { S_IFDIR, S_IFMT } from "./inode.ts";

/** Capability numbers the VFS checks. */
export const CAP = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  MKNOD: 27,
  SYS_ADMIN: 21,
} as const;

/** Access bits: read 4, write 2, execute/search 1. */
export const MAY = { READ: 4, WRITE: 2, EXEC: 1 } as const;

/**
 * Whether `creds` may access a file with these attributes.
 *
 * @param st The file's attributes.
 * @param mask MAY bits wanted.
 * @param creds Who asks.
 * @returns True when allowed.
 *
 * @example
 * ```ts
 * import { mayAccess } from "./perm.ts";
 * const st = { mode: 0o100600, uid: 1, gid: 1 } as Parameters<typeof mayAccess>[0];
 * const other = { fsuid: 2, fsgid: 2, groups: [], capable: () => false };
 * if (mayAccess(st, 4, other)) throw new Error();
 * ```
 */
export function mayAccess(st: Stat, mask: number, creds: FsCreds): boolean {
  const mode = st.mode;
  let bits: number;
  if (creds.fsuid === st.uid) bits = (mode >> 6) & 7;
  else if (creds.fsgid === st.gid || creds.groups.includes(st.gid)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  if ((bits & mask) === mask) return true;
  const isDir = (mode & S_IFMT) === S_IFDIR;
  // CAP_DAC_OVERRIDE: read and write anything; execute if anyone may, search any directory.
  if (creds.capable(1)) {
    if (!(mask & 1) || isDir || (mode & 0o111)) return true;
  }
  // CAP_DAC_READ_SEARCH: read anything, search directories.
  if (creds.capable(2)) {
    if (mask === 4 || (isDir && (mask & 2) === 0)) return true;
  }
  return false;
}

/**
 * Whether `creds` owns the file or may act as its owner (CAP_FOWNER).
 *
 * @param st The file's attributes.
 * @param creds Who asks.
 * @returns True if so.
 */
export function isOwner(st: Stat, creds: FsCreds): boolean {
  return creds.fsuid === st.uid || creds.capable(CAP.FOWNER);
}
