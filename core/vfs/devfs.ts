/**
 * /dev as runc makes it: a small tmpfs holding the standard device nodes,
 * the /dev/fd and stdio links, and directories for pts and shm (other
 * mount points are made by the mounts that need them).
 *
 * @module
 */
import { DEVICES, joinDev } from "./devices.ts";
import { type FsCreds, S_IFCHR } from "./inode.ts";
import { TmpFs } from "./tmpfs.ts";

const ROOT: FsCreds = { fsuid: 0, fsgid: 0, groups: [], capable: () => true };

/**
 * Makes a devfs.
 *
 * @returns The file system (mount it at /dev).
 *
 * @example
 * ```ts
 * import { makeDevfs } from "./devfs.ts";
 * const dev = makeDevfs();
 * if (!dev.root().entries.has("null")) throw new Error();
 * ```
 */
export function makeDevfs(): TmpFs {
  const fs = new TmpFs({ mode: 0o755, type: "tmpfs", limits: { maxBytes: 65536 } });
  const root = fs.root();
  for (const name of ["null", "zero", "full", "random", "urandom", "tty"] as const) {
    const [major, minor] = DEVICES[name];
    root.mknod(name, S_IFCHR | 0o666, ROOT, joinDev(major, minor));
  }
  root.mkdir("pts", 0o755, ROOT);
  root.mkdir("shm", 0o1777, ROOT);
  root.symlink("fd", "/proc/self/fd", ROOT);
  root.symlink("stdin", "/proc/self/fd/0", ROOT);
  root.symlink("stdout", "/proc/self/fd/1", ROOT);
  root.symlink("stderr", "/proc/self/fd/2", ROOT);
  root.symlink("ptmx", "pts/ptmx", ROOT);
  return fs;
}
