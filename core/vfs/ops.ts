/**
 * File operations as system calls need them: open with all its flags,
 * create, remove, rename, link, with Linux's checks (permissions, read-only
 * mounts, sticky directories) and its errnos.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Process } from "../kernel/task.ts";
import {
  type FsCreds,
  Inode,
  O,
  OpenFile,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
} from "./inode.ts";
import type { MountNamespace, VPath } from "./mount.ts";
import { isOwner, MAY, mayAccess } from "./perm.ts";
import {
  IN,
  notifyChild,
  notifyFile,
  notifyInode,
  notifyOpened,
  notifyPath,
  notifyRemoved,
  notifyRenamed,
} from "./inotify.ts";
import {
  forgetChild,
  lookupChild,
  type Resolved,
  walk,
  type WalkContext,
  type WalkOptions,
  walkParent,
} from "./walk.ts";

/** AT_FDCWD. */
export const AT_FDCWD = -100;
/** AT_* flags. */
export const AT = {
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  SYMLINK_FOLLOW: 0x400,
  NO_AUTOMOUNT: 0x800,
  EMPTY_PATH: 0x1000,
  EACCESS: 0x200,
} as const;

/** A process's view for path walks. */
export function walkContext(ns: MountNamespace, p: Process): WalkContext {
  return { ns, root: p.fs.root, cwd: p.fs.cwd, creds: p.creds };
}

/**
 * Where a path relative to a directory descriptor starts.
 *
 * @param p The process.
 * @param dirfd A descriptor, or AT_FDCWD.
 * @param path The path (absolute paths ignore dirfd).
 * @returns The starting place.
 */
export function startOf(p: Process, dirfd: number, path: string): VPath {
  if (path.startsWith("/") || dirfd === AT_FDCWD) return p.fs.cwd;
  const f = p.fds.get(dirfd);
  const loc = f.location as VPath | null;
  if (!loc) throw new LinuxError("ENOTDIR");
  if ((f.inode.stat().mode & S_IFMT) !== S_IFDIR && path !== "") throw new LinuxError("ENOTDIR");
  return loc;
}

/**
 * Resolves a path for a *at call, with AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW.
 *
 * @param ns The mount namespace.
 * @param p The caller.
 * @param dirfd The directory descriptor.
 * @param path The path.
 * @param flags AT_* flags.
 * @param followDefault Whether a final symlink is followed without AT_SYMLINK_* flags.
 * @returns The place (or, with AT_EMPTY_PATH, the descriptor's).
 */
export function resolveAt(
  ns: MountNamespace,
  p: Process,
  dirfd: number,
  path: string,
  flags: number,
  followDefault = true,
): Resolved {
  if (path === "") {
    if (!(flags & AT.EMPTY_PATH)) throw new LinuxError("ENOENT");
    if (dirfd === AT_FDCWD) return p.fs.cwd;
    const f = p.fds.get(dirfd);
    const loc = f.location as VPath | null;
    if (loc) return loc;
    return { ...p.fs.cwd, file: f };
  }
  const follow = flags & AT.SYMLINK_NOFOLLOW
    ? false
    : flags & AT.SYMLINK_FOLLOW
    ? true
    : followDefault;
  return walk(walkContext(ns, p), startOf(p, dirfd, path), path, { follow });
}

function writableMount(at: VPath): void {
  if (at.mount.flags.readOnly) throw new LinuxError("EROFS");
}

/** Checks write and search permission on a directory, for changing its entries. */
function mayModifyDir(dir: Inode, creds: FsCreds): void {
  if (!mayAccess(dir.stat(), MAY.WRITE | MAY.EXEC, creds)) throw new LinuxError("EACCES");
}

/** The sticky bit: only the owner of the file or of the directory may remove it. */
function stickyCheck(dir: Inode, victim: Inode, creds: FsCreds): void {
  const d = dir.stat();
  if (!(d.mode & 0o1000)) return;
  const v = victim.stat();
  if (creds.fsuid === v.uid || creds.fsuid === d.uid || creds.capable(3)) return;
  throw new LinuxError("EPERM");
}

/**
 * openat/openat2: resolves, creates if asked, checks, opens.
 *
 * @param ns The mount namespace.
 * @param p The caller.
 * @param dirfd The directory descriptor.
 * @param path The path.
 * @param flags O_* flags.
 * @param mode Mode for a new file (before umask).
 * @param resolve openat2 resolve options.
 * @returns The open file (one reference, the caller's).
 */
export function openPath(
  ns: MountNamespace,
  p: Process,
  dirfd: number,
  path: string,
  flags: number,
  mode: number,
  resolve: WalkOptions = {},
): OpenFile {
  const ctx = walkContext(ns, p);
  const start = startOf(p, dirfd, path);
  const follow = !(flags & O.NOFOLLOW) && !(flags & O.CREAT && flags & O.EXCL);
  let at: Resolved;
  let created = false;
  if (flags & O.CREAT) {
    const { parent, name, trailingSlash } = walkParent(ctx, start, path, resolve);
    if (name === null || trailingSlash) throw new LinuxError("EISDIR");
    let existing: Resolved | null = null;
    try {
      existing = lookupChild(ns, parent, name);
    } catch (e) {
      if (
        !(e instanceof LinuxError && e.errno === 2) &&
        !(e instanceof Error && "errno" in e && e.errno === 2)
      ) throw e;
    }
    if (existing) {
      if (flags & O.EXCL) throw new LinuxError("EEXIST");
      at = (existing.dentry.inode.stat().mode & S_IFMT) === S_IFLNK && follow
        ? walk(ctx, start, path, { ...resolve, follow: true })
        : existing;
    } else {
      writableMount(parent);
      mayModifyDir(parent.dentry.inode, p.creds);
      const inode = parent.dentry.inode.mknod(
        name,
        S_IFREG | (mode & 0o7777 & ~p.fs.umask),
        p.creds,
      );
      at = lookupChild(ns, parent, name);
      if (at.dentry.inode !== inode && at.dentry.inode.stat().ino !== inode.stat().ino) {
        throw new LinuxError("ENOENT", "created file vanished");
      }
      created = true;
      notifyChild(parent.dentry.inode, name, IN.CREATE, false);
    }
  } else {
    at = walk(ctx, start, path, { ...resolve, follow });
  }
  if (at.file) {
    at.file.ref();
    return at.file;
  }
  const inode = at.dentry.inode;
  const st = inode.stat();
  const type = st.mode & S_IFMT;
  if ((flags & O.DIRECTORY) && type !== S_IFDIR) throw new LinuxError("ENOTDIR");
  if (flags & O.PATH) {
    const f = new OpenFile(inode, O.PATH | (flags & O.CLOEXEC));
    f.location = at;
    f.path = ns.pathOf(at, p.fs.root);
    notifyOpened(f, st);
    return f;
  }
  if (type === S_IFLNK) throw new LinuxError("ELOOP");
  const acc = flags & O.ACCMODE;
  const wantsWrite = acc === O.WRONLY || acc === O.RDWR || (flags & O.TRUNC) !== 0;
  if (type === S_IFDIR && (acc !== O.RDONLY || (flags & O.TRUNC))) throw new LinuxError("EISDIR");
  if (!created) {
    let need = 0;
    if (acc === O.RDONLY || acc === O.RDWR) need |= MAY.READ;
    if (wantsWrite) need |= MAY.WRITE;
    if (!mayAccess(st, need, p.creds)) throw new LinuxError("EACCES");
  }
  if ((type === S_IFCHR || type === S_IFBLK) && at.mount.flags.nodev) {
    throw new LinuxError("EACCES");
  }
  if (wantsWrite && (type === S_IFREG || type === S_IFDIR)) writableMount(at);
  if ((flags & O.TRUNC) && type === S_IFREG && !created && st.size !== 0n) {
    inode.setattr({ size: 0n });
  }
  const file = inode.open(flags);
  file.location = at;
  file.path = ns.pathOf(at, p.fs.root);
  notifyOpened(file, st);
  // O_TRUNC truncates after the open, as Linux's handle_truncate (even when empty).
  if ((flags & O.TRUNC) && type === S_IFREG && !created) notifyFile(file, IN.MODIFY);
  return file;
}

/**
 * Creates a directory, node or symlink at a path.
 *
 * @param ns The mount namespace.
 * @param p The caller.
 * @param dirfd The directory descriptor.
 * @param path The path.
 * @param make Makes the entry in the parent.
 */
export function createAt(
  ns: MountNamespace,
  p: Process,
  dirfd: number,
  path: string,
  make: (dir: Inode, name: string) => unknown,
  allowTrailingSlash = false,
): void {
  const { parent, name, trailingSlash } = walkParent(
    walkContext(ns, p),
    startOf(p, dirfd, path),
    path,
  );
  if (name === null) throw new LinuxError("EEXIST");
  if (trailingSlash && !allowTrailingSlash) throw new LinuxError("ENOENT");
  let exists = true;
  try {
    lookupChild(ns, parent, name);
  } catch {
    exists = false;
  }
  if (exists) throw new LinuxError("EEXIST");
  writableMount(parent);
  mayModifyDir(parent.dentry.inode, p.creds);
  const made = make(parent.dentry.inode, name);
  notifyChild(parent.dentry.inode, name, IN.CREATE, made instanceof Inode ? made : false);
}

/**
 * unlink/rmdir.
 *
 * @param ns The mount namespace.
 * @param p The caller.
 * @param dirfd The directory descriptor.
 * @param path The path.
 * @param dir Remove a directory (rmdir) rather than anything else.
 */
export function removeAt(
  ns: MountNamespace,
  p: Process,
  dirfd: number,
  path: string,
  dir: boolean,
): void {
  const { parent, name, trailingSlash } = walkParent(
    walkContext(ns, p),
    startOf(p, dirfd, path),
    path,
  );
  if (name === null) {
    throw new LinuxError(dir ? (path.endsWith("..") ? "ENOTEMPTY" : "EINVAL") : "EISDIR");
  }
  const victim = lookupChild(ns, parent, name);
  const victimStat = victim.dentry.inode.stat();
  const type = victimStat.mode & S_IFMT;
  if (!dir && trailingSlash && type !== S_IFDIR) throw new LinuxError("ENOTDIR");
  if (victim.mount !== parent.mount) throw new LinuxError("EBUSY");
  writableMount(parent);
  mayModifyDir(parent.dentry.inode, p.creds);
  stickyCheck(parent.dentry.inode, victim.dentry.inode, p.creds);
  if (dir) {
    if (type !== S_IFDIR) throw new LinuxError("ENOTDIR");
    parent.dentry.inode.rmdir(name);
  } else {
    if (type === S_IFDIR) throw new LinuxError("EISDIR");
    parent.dentry.inode.unlink(name);
  }
  forgetChild(parent, name);
  notifyRemoved(parent.dentry.inode, name, victim.dentry.inode, victimStat);
}

/**
 * rename/renameat2.
 *
 * @param ns The mount namespace.
 * @param p The caller.
 * @param oldDirfd Old directory descriptor.
 * @param oldPath Old path.
 * @param newDirfd New directory descriptor.
 * @param newPath New path.
 * @param flags RENAME_* flags.
 */
export function renamePath(
  ns: MountNamespace,
  p: Process,
  oldDirfd: number,
  oldPath: string,
  newDirfd: number,
  newPath: string,
  flags: number,
): void {
  const ctx = walkContext(ns, p);
  const from = walkParent(ctx, startOf(p, oldDirfd, oldPath), oldPath);
  const to = walkParent(ctx, startOf(p, newDirfd, newPath), newPath);
  if (from.name === null || to.name === null) throw new LinuxError("EBUSY");
  if (from.parent.mount !== to.parent.mount) throw new LinuxError("EXDEV");
  const moving = lookupChild(ns, from.parent, from.name);
  if (moving.mount !== from.parent.mount) throw new LinuxError("EBUSY");
  const movingDir = (moving.dentry.inode.stat().mode & S_IFMT) === S_IFDIR;
  if ((from.trailingSlash || to.trailingSlash) && !movingDir) throw new LinuxError("ENOTDIR");
  // A directory cannot move below itself.
  if (movingDir) {
    for (let d: typeof to.parent.dentry | null = to.parent.dentry; d; d = d.parent) {
      if (d === moving.dentry) throw new LinuxError("EINVAL");
    }
  }
  writableMount(from.parent);
  mayModifyDir(from.parent.dentry.inode, p.creds);
  mayModifyDir(to.parent.dentry.inode, p.creds);
  stickyCheck(from.parent.dentry.inode, moving.dentry.inode, p.creds);
  let there: Resolved | null = null;
  try {
    there = lookupChild(ns, to.parent, to.name);
    stickyCheck(to.parent.dentry.inode, there.dentry.inode, p.creds);
  } catch (e) {
    if (!(e instanceof LinuxError) && !(e instanceof Error && "errno" in e)) throw e;
  }
  const movingStat = moving.dentry.inode.stat();
  const thereStat = there?.dentry.inode.stat();
  from.parent.dentry.inode.rename(from.name, to.parent.dentry.inode, to.name, flags);
  forgetChild(from.parent, from.name);
  forgetChild(to.parent, to.name);
  const exchange = (flags & 2) !== 0;
  const [fromName, toName] = [from.name, to.name];
  notifyRenamed(
    {
      dir: from.parent.dentry.inode,
      name: fromName,
      inode: moving.dentry.inode,
      st: movingStat,
      dentry: moving.dentry,
    },
    {
      dir: to.parent.dentry.inode,
      name: toName,
      inode: there?.dentry.inode,
      st: thereStat,
      dentry: there?.dentry,
    },
    exchange,
    () => ({
      moved: lookupChild(ns, to.parent, toName).dentry,
      other: exchange ? lookupChild(ns, from.parent, fromName).dentry : null,
    }),
  );
}

/**
 * link/linkat.
 *
 * @param ns The mount namespace.
 * @param p The caller.
 * @param target The existing file.
 * @param newDirfd New directory descriptor.
 * @param newPath New path.
 */
export function linkAt(
  ns: MountNamespace,
  p: Process,
  target: Resolved,
  newDirfd: number,
  newPath: string,
): void {
  if ((target.dentry.inode.stat().mode & S_IFMT) === S_IFDIR) throw new LinuxError("EPERM");
  createAt(ns, p, newDirfd, newPath, (dir, name) => {
    if (target.mount.fs !== dir.fs) throw new LinuxError("EXDEV");
    dir.link(name, target.dentry.inode);
    // The link count changed (before the directory hears of the new name).
    notifyInode(target.dentry.inode, IN.ATTRIB);
  });
}

/**
 * chmod on a resolved file.
 *
 * @param at The file.
 * @param mode The new bits.
 * @param creds The caller.
 */
export function chmodAt(at: Resolved, mode: number, creds: FsCreds): void {
  const inode = at.file ? at.file.inode : at.dentry.inode;
  const st = inode.stat();
  if (!isOwner(st, creds)) throw new LinuxError("EPERM");
  if (!at.file) writableMount(at);
  let m = mode & 0o7777;
  // Without CAP_FSETID a non-member of the group loses the set-gid bit.
  if (!creds.capable(4) && st.gid !== creds.fsgid && !creds.groups.includes(st.gid)) m &= ~0o2000;
  inode.setattr({ mode: m });
  notifyPath(at, IN.ATTRIB);
}

/**
 * chown on a resolved file.
 *
 * @param at The file.
 * @param uid New owner or -1.
 * @param gid New group or -1.
 * @param creds The caller.
 */
export function chownAt(at: Resolved, uid: number, gid: number, creds: FsCreds): void {
  const inode = at.file ? at.file.inode : at.dentry.inode;
  const st = inode.stat();
  const newUid = uid === -1 || uid === 0xffffffff ? st.uid : uid;
  const newGid = gid === -1 || gid === 0xffffffff ? st.gid : gid;
  const chownOk = creds.capable(0);
  if (newUid !== st.uid && !chownOk) throw new LinuxError("EPERM");
  if (newGid !== st.gid && !chownOk) {
    if (creds.fsuid !== st.uid || (creds.fsgid !== newGid && !creds.groups.includes(newGid))) {
      throw new LinuxError("EPERM");
    }
  }
  if (!at.file) writableMount(at);
  const attrs: { uid?: number; gid?: number; mode?: number } = {};
  if (newUid !== st.uid) attrs.uid = newUid;
  if (newGid !== st.gid) attrs.gid = newGid;
  // Changing owners of a regular file clears set-id bits.
  if (
    (attrs.uid !== undefined || attrs.gid !== undefined) && (st.mode & S_IFMT) === S_IFREG &&
    (st.mode & 0o6000)
  ) {
    attrs.mode = st.mode & 0o1777;
  }
  if (Object.keys(attrs).length) inode.setattr(attrs);
  // Naming an owner (even the same one) is a change to watchers, as in Linux.
  if ((uid !== -1 && uid !== 0xffffffff) || (gid !== -1 && gid !== 0xffffffff)) {
    notifyPath(at, IN.ATTRIB);
  }
}
