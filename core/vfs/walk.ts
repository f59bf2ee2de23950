/**
 * Path resolution in the Sentry: components, ".", "..", mount points and
 * symlinks are all handled here, never by the host. A process's root
 * directory is a wall: ".." stops there, and an absolute symlink restarts
 * from it.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import { type FsCreds, type OpenFile, S_IFDIR, S_IFLNK, S_IFMT } from "./inode.ts";
import { Dentry, type MountNamespace, samePath, type VPath } from "./mount.ts";
import { MAY, mayAccess } from "./perm.ts";

/** Linux's limit on symlinks followed in one resolution. */
export const MAX_SYMLINKS = 40;
/** Longest path accepted (PATH_MAX, including the NUL). */
export const PATH_MAX = 4096;
/** Longest name accepted (NAME_MAX). */
export const NAME_MAX = 255;

/** What a resolution works in. */
export interface WalkContext {
  /** The mount namespace. */
  ns: MountNamespace;
  /** The process's root directory. */
  root: VPath;
  /** The process's working directory. */
  cwd: VPath;
  /** Who resolves (search permission on every directory). */
  creds: FsCreds;
}

/** How to resolve. */
export interface WalkOptions {
  /** Follow a final symlink (not for O_NOFOLLOW, lstat, unlink...). */
  follow?: boolean;
  /** openat2 RESOLVE_BENEATH: no absolute paths, no ".." or symlink above the start. */
  beneath?: boolean;
  /** openat2 RESOLVE_IN_ROOT: the start is the root. */
  inRoot?: boolean;
  /** openat2 RESOLVE_NO_SYMLINKS. */
  noSymlinks?: boolean;
  /** openat2 RESOLVE_NO_MAGICLINKS. */
  noMagicLinks?: boolean;
  /** openat2 RESOLVE_NO_XDEV: never cross a mount. */
  noXdev?: boolean;
}

/** Where a path leads: a place, or (through a /proc magic link) an open file. */
export interface Resolved extends VPath {
  /** Set when a magic link led to an open file without a place (a pipe). */
  file?: OpenFile;
}

/**
 * Resolves a path to a place.
 *
 * @param ctx The process's view.
 * @param start Where relative paths start (cwd or a dirfd's place).
 * @param path The path.
 * @param options How.
 * @returns The place.
 * @throws {LinuxError} ENOENT, ENOTDIR, ELOOP, EACCES, ENAMETOOLONG, EXDEV.
 */
export function walk(
  ctx: WalkContext,
  start: VPath,
  path: string,
  options: WalkOptions = {},
): Resolved {
  const { parent, name, trailingSlash } = walkParent(ctx, start, path, options);
  if (name === null) return parent;
  const r = step(ctx, parent, name, {
    ...options,
    follow: (options.follow ?? true) || trailingSlash,
    last: true,
    start: options.inRoot || options.beneath ? start : null,
  });
  if (trailingSlash && !r.file && (r.dentry.inode.stat().mode & S_IFMT) !== S_IFDIR) {
    throw new LinuxError("ENOTDIR");
  }
  return r;
}

/** A path split into the directory it names an entry of, and that entry. */
export interface ParentAndName {
  /** The directory. */
  parent: VPath;
  /** The last component, or null when the path names the directory itself ("/", "."). */
  name: string | null;
  /** The path ended in "/" (the entry must be a directory). */
  trailingSlash: boolean;
}

/**
 * Resolves all but the last component (for create, unlink, rename).
 *
 * @param ctx The process's view.
 * @param start Where relative paths start.
 * @param path The path.
 * @param options How.
 * @returns The directory and the last name.
 */
export function walkParent(
  ctx: WalkContext,
  start: VPath,
  path: string,
  options: WalkOptions = {},
): ParentAndName {
  if (path.length === 0) throw new LinuxError("ENOENT");
  if (path.length >= PATH_MAX) throw new LinuxError("ENAMETOOLONG");
  const confine = options.inRoot || options.beneath ? start : null;
  if (path.startsWith("/") && options.beneath) throw new LinuxError("EXDEV");
  let cur: VPath = path.startsWith("/") ? (options.inRoot ? start : ctx.root) : start;
  const parts = path.split("/").filter((p) => p.length > 0);
  const trailingSlash = path.endsWith("/");
  if (parts.length === 0) return { parent: cur, name: null, trailingSlash };
  const last = parts.pop()!;
  const budget = { links: MAX_SYMLINKS };
  for (const part of parts) {
    cur = step(ctx, cur, part, { ...options, follow: true, last: false, start: confine }, budget);
  }
  if (last === "." || last === "..") {
    const dir = step(
      ctx,
      cur,
      last,
      { ...options, follow: true, last: true, start: confine },
      budget,
    );
    return { parent: dir, name: null, trailingSlash };
  }
  if (last.length > NAME_MAX) throw new LinuxError("ENAMETOOLONG");
  if ((cur.dentry.inode.stat().mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
  if (!mayAccess(cur.dentry.inode.stat(), MAY.EXEC, ctx.creds)) throw new LinuxError("EACCES");
  return { parent: cur, name: last, trailingSlash };
}

interface StepOptions extends WalkOptions {
  last: boolean;
  start: VPath | null;
}

/** One component from a directory, following symlinks as asked. */
function step(
  ctx: WalkContext,
  dir: VPath,
  name: string,
  o: StepOptions,
  budget = { links: MAX_SYMLINKS },
): Resolved {
  const st = dir.dentry.inode.stat();
  if ((st.mode & S_IFMT) !== S_IFDIR) throw new LinuxError("ENOTDIR");
  if (!mayAccess(st, MAY.EXEC, ctx.creds)) throw new LinuxError("EACCES");
  if (name === ".") return dir;
  const wall = o.start ?? ctx.root;
  if (name === "..") {
    if (o.start && samePath(dir, o.start)) {
      if (o.beneath) throw new LinuxError("EXDEV");
      return dir;
    }
    const up = ctx.ns.parentOf(dir, wall);
    if (o.noXdev && up.mount !== dir.mount) throw new LinuxError("EXDEV");
    return up;
  }
  if (name.length > NAME_MAX) throw new LinuxError("ENAMETOOLONG");
  const child = lookupChild(ctx.ns, dir, name);
  if (o.noXdev && child.mount !== dir.mount) throw new LinuxError("EXDEV");
  const inode = child.dentry.inode;
  if ((inode.stat().mode & S_IFMT) !== S_IFLNK) return child;
  if (o.last && !o.follow) return child;
  if (o.noSymlinks) throw new LinuxError("ELOOP");
  if (--budget.links < 0) throw new LinuxError("ELOOP");
  const magic = inode.followMagic();
  if (magic) {
    if (o.noMagicLinks || o.beneath || o.inRoot) throw new LinuxError("ELOOP");
    const to = magic.path as VPath | null;
    if (to) return { ...to, ...(magic.file ? { file: magic.file } : {}) };
    if (magic.file) return { ...dir, file: magic.file };
    throw new LinuxError("ENOENT");
  }
  const target = inode.readlink();
  if (target.length === 0) throw new LinuxError("ENOENT");
  if (target.startsWith("/") && o.beneath) throw new LinuxError("EXDEV");
  let cur: VPath = target.startsWith("/") ? (o.start && o.inRoot ? o.start : ctx.root) : dir;
  const parts = target.split("/").filter((p) => p.length > 0);
  if (parts.length === 0) return cur;
  const lastPart = parts.pop()!;
  for (const part of parts) cur = step(ctx, cur, part, { ...o, follow: true, last: false }, budget);
  return step(ctx, cur, lastPart, { ...o, follow: true, last: o.last }, budget);
}

/**
 * Looks a name up in a directory, through the dentry cache, and crosses
 * any mount on it.
 *
 * @param ns The mount namespace.
 * @param dir The directory.
 * @param name The name (not "." or "..").
 * @returns The place.
 */
export function lookupChild(ns: MountNamespace, dir: VPath, name: string): VPath {
  let d = dir.dentry.children.get(name) ?? ns.mountPointIn(dir.dentry, name);
  if (!d || d.dead) {
    const inode = dir.dentry.inode.lookup(name);
    d = new Dentry(name, dir.dentry, inode);
    if (dir.dentry.inode.cacheChildren()) dir.dentry.children.set(name, d);
  }
  return ns.crossMounts({ mount: dir.mount, dentry: d });
}

/**
 * Forgets a cached name (after unlink, rmdir or rename).
 *
 * @param dir The directory.
 * @param name The name.
 */
export function forgetChild(dir: VPath, name: string): void {
  const d = dir.dentry.children.get(name);
  if (d) {
    d.dead = true;
    dir.dentry.children.delete(name);
  }
}
