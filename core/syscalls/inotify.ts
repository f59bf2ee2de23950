/**
 * inotify: inotify_init, inotify_init1, inotify_add_watch and
 * inotify_rm_watch. The instances and the events are `vfs/inotify.ts`'s.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { ALL_INOTIFY_BITS, IN, InotifyFile, watchKey } from "../vfs/inotify.ts";
import { AT, AT_FDCWD, resolveAt } from "../vfs/ops.ts";
import { MAY, mayAccess } from "../vfs/perm.ts";
import { i32, u32 } from "./args.ts";

function init(c: SyscallContext, flags: number): number {
  if (flags & ~(IN.NONBLOCK | IN.CLOEXEC)) throw new LinuxError("EINVAL");
  const f = new InotifyFile(flags, c.p.creds.euid);
  try {
    return c.p.fds.add(f, (flags & IN.CLOEXEC) !== 0);
  } catch (e) {
    f.unref();
    throw e;
  }
}

function instanceOf(c: SyscallContext, fd: bigint | undefined): InotifyFile {
  const f = c.p.fds.get(i32(fd));
  if (!(f instanceof InotifyFile)) throw new LinuxError("EINVAL");
  return f;
}

/**
 * The handlers, by system call name.
 *
 * @example
 * ```ts
 * import { INOTIFY_HANDLERS } from "./inotify.ts";
 * if (!INOTIFY_HANDLERS.inotify_add_watch) throw new Error();
 * ```
 */
export const INOTIFY_HANDLERS: Record<string, Handler> = {
  inotify_init: (c) => init(c, 0),
  inotify_init1: (c) => init(c, i32(c.args[0])),
  inotify_add_watch: (c) => {
    const mask = u32(c.args[2]);
    if ((mask & IN.MASK_ADD) && (mask & IN.MASK_CREATE)) throw new LinuxError("EINVAL");
    if (!mask || (mask & ~ALL_INOTIFY_BITS)) throw new LinuxError("EINVAL");
    const f = instanceOf(c, c.args[0]);
    const path = c.mem.readCString(c.args[1] ?? 0n, 4095);
    const at = resolveAt(
      c.p.ns,
      c.p,
      AT_FDCWD,
      path,
      mask & IN.DONT_FOLLOW ? AT.SYMLINK_NOFOLLOW : 0,
    );
    const inode = at.file ? at.file.inode : at.dentry.inode;
    const key = watchKey(inode, mask);
    if (!mayAccess(inode.stat(), MAY.READ, c.p.creds)) throw new LinuxError("EACCES");
    return f.addWatch(key, mask);
  },
  inotify_rm_watch: (c) => {
    instanceOf(c, c.args[0]).removeWatch(i32(c.args[1]));
    return 0;
  },
};
