/**
 * Mount points made in a container's root file system before it starts,
 * as runc makes them: each missing directory (or, for a file bind mount,
 * the file) of a mount's destination is created, resolved inside the root
 * (`openat2` with RESOLVE_IN_ROOT: a symlink in the rootfs is followed as
 * the container would see it and never leads out).
 *
 * @module
 */
import { closeQuietly, O, openFile } from "./fd.ts";
import { FileCalls, RESOLVE } from "./files.ts";
import { Errno } from "./errno.ts";

/** A mount point to have: a path from the root, and whether it is a file. */
export interface MountPoint {
  /** Absolute path inside the root. */
  path: string;
  /** A file (a bind mount of a file) rather than a directory. */
  file: boolean;
}

const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;

/**
 * Creates the missing mount points under a root directory.
 *
 * @param root The rootfs on the host.
 * @param points The mount points.
 * @throws {Errno} When one cannot be made (a file in the way: ENOTDIR).
 *
 * @example
 * ```ts
 * import { makeMountPoints } from "./mount_points.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/etc`);
 * Deno.symlinkSync("/etc", `${root}/link`);
 * makeMountPoints(root, [{ path: "/proc", file: false }, { path: "/link/x", file: true }]);
 * if (!Deno.statSync(`${root}/proc`).isDirectory) throw new Error();
 * // The symlink resolved inside the root: the host's /etc was not touched.
 * if (!Deno.statSync(`${root}/etc/x`).isFile) throw new Error();
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function makeMountPoints(root: string, points: MountPoint[]): void {
  using calls = new FileCalls();
  const rootFd = openFile(root, O.PATH | O.DIRECTORY);
  try {
    for (const p of points) {
      const parts = p.path.split("/").filter((c) => c && c !== ".");
      for (let i = 1; i <= parts.length; i++) {
        const sub = parts.slice(0, i).join("/");
        const last = i === parts.length;
        let fd = -1;
        try {
          fd = calls.openBeneath(rootFd, sub, O.PATH, 0, IN_ROOT);
        } catch (e) {
          if (!(e instanceof Errno) || e.code !== "ENOENT") throw e;
          const parent = calls.openBeneath(
            rootFd,
            parts.slice(0, i - 1).join("/") || ".",
            O.PATH | O.DIRECTORY,
            0,
            IN_ROOT,
          );
          try {
            if (last && p.file) calls.mknodAt(parent, parts[i - 1]!, 0o100644);
            else calls.mkdirAt(parent, parts[i - 1]!, 0o755);
          } catch (made) {
            if (!(made instanceof Errno) || made.code !== "EEXIST") throw made;
            // There all along, yet not found: a symlink to nothing.
            throw new Error(
              `The mount point ${p.path} leads through /${sub}, a symlink to nothing in the rootfs: make its target, or mount elsewhere`,
            );
          } finally {
            closeQuietly(parent);
          }
        } finally {
          closeQuietly(fd);
        }
      }
    }
  } finally {
    closeQuietly(rootFd);
  }
}
