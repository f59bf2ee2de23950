/**
 * A container's mount namespace as its spec lays it out: the root (from a
 * file server, maybe under an in-sandbox writable layer), then tmpfs,
 * proc, /dev, devpts and bind mounts in order, then masked and read-only
 * paths, as runc makes them. Used for the root container at boot and for
 * every container created in the sandbox later.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";
import { LinuxError } from "../errors.ts";
import type { FsBackend } from "../vfs/backend.ts";
import { makeDevfs } from "../vfs/devfs.ts";
import { GoferFs } from "../vfs/gofer_fs.ts";
import { type FileSystem, S_IFCHR, S_IFDIR, S_IFMT, S_IFREG } from "../vfs/inode.ts";
import { DEVICES, joinDev } from "../vfs/devices.ts";
import { Dentry, Mount, type MountFlags, type MountNamespace, type VPath } from "../vfs/mount.ts";
import { TmpFs } from "../vfs/tmpfs.ts";
import { walk } from "../vfs/walk.ts";
import { makeProcfs } from "../vfs/procfs.ts";
import { OverlayFs } from "../vfs/overlay.ts";
import { makeSysfs } from "../vfs/sysfs.ts";
import { makeCgroupfs } from "../vfs/cgroupfs.ts";
import type { Resources } from "../../platform/cgroup_resources.ts";
import { StartError } from "./start_process.ts";

/** A mount of the container. */
export interface MountConfig {
  /** Where, inside the container. */
  target: string;
  /** What: a tmpfs, procfs, devfs, sysfs, the container's cgroup, or a file server (a bind mount). */
  type: "tmpfs" | "proc" | "devfs" | "devpts" | "sysfs" | "cgroup" | "mqueue" | "bind";
  /** For "bind": the server. */
  backend?: FsBackend;
  /** Flags. */
  flags?: Partial<MountFlags>;
  /** tmpfs size limit in bytes. */
  sizeBytes?: number;
  /** tmpfs root mode. */
  mode?: number;
}

/** What goes on a container's root, in order. */
export interface MountsConfig {
  /** Other mounts, in order. */
  mounts: MountConfig[];
  /** Paths to hide: an empty read-only directory, or a read-only /dev/null for a file. */
  maskedPaths?: string[];
  /** Paths to make read-only. */
  readonlyPaths?: string[];
  /** The container ("" for the root container), whose processes its cgroup file system lists. */
  container?: string;
  /** Its limits, shown in its cgroup file system. */
  resources?: Resources;
}

/**
 * A container's root mount.
 *
 * @param backend The root's file server.
 * @param readOnly Mount it read-only.
 * @param overlay Put an in-sandbox writable layer over it (host files stay untouched).
 * @returns The mount.
 */
export function rootMount(backend: FsBackend, readOnly: boolean, overlay: boolean): Mount {
  let rootFs: FileSystem = new GoferFs(backend);
  if (overlay) rootFs = new OverlayFs(rootFs, new TmpFs({ mode: 0o755 }));
  return new Mount(
    rootFs,
    new Dentry("/", null, rootFs.root()),
    { readOnly: readOnly && !overlay },
    overlay ? "overlay" : "rootfs",
  );
}

/**
 * Makes a container's mounts in its namespace.
 *
 * @param k The kernel (procfs and devpts belong to it).
 * @param ns The container's mount namespace (its root mounted).
 * @param config The mounts, masked and read-only paths.
 * @throws {StartError} When a mount cannot be made.
 */
export function populateMounts(k: Kernel, ns: MountNamespace, config: MountsConfig): void {
  for (const m of config.mounts) {
    let fs: FileSystem;
    switch (m.type) {
      case "tmpfs":
        fs = new TmpFs({ mode: m.mode ?? 0o1777, limits: { maxBytes: m.sizeBytes ?? Infinity } });
        break;
      case "devfs":
        fs = makeDevfs();
        break;
      case "proc":
        fs = makeProcfs(k);
        break;
      case "devpts":
        // The sandbox's terminals appear here as N (see Kernel.terminalNode);
        // nothing else can be made in it. One instance for the sandbox: a
        // pod's containers all see their terminals under /dev/pts.
        if (!k.devpts) {
          k.devpts = new TmpFs({ mode: 0o755 }).root();
          // ptmx in the devpts instance, as ptmxmode=0666 makes it.
          k.devpts.mknod("ptmx", S_IFCHR | 0o666, ROOT_CREDS, joinDev(5, 2));
        }
        fs = k.devpts.fs;
        break;
      case "sysfs":
        fs = makeSysfs();
        break;
      case "mqueue":
        // The sandbox's one IPC namespace: every mqueue mount shows its queues.
        fs = k.ipc.mqueue;
        break;
      case "cgroup":
        fs = makeCgroupfs(k, config.container ?? "", config.resources ?? {});
        break;
      case "bind":
        fs = new GoferFs(m.backend!);
        break;
    }
    mountAt(
      ns,
      m.target,
      fs,
      m.flags ?? {},
      m.type === "devfs" ? "tmpfs" : m.type === "bind" ? "none" : m.type,
      m.type === "devpts",
    );
  }

  maskPaths(ns, config.maskedPaths ?? []);
  makeReadOnly(ns, config.readonlyPaths ?? []);
}

const ROOT_CREDS = { fsuid: 0, fsgid: 0, groups: [], capable: () => true };

/**
 * Finds a mount's target, making missing directories as runc does: on a
 * writable mount, and on the Sentry's own in-memory file systems even when
 * mounted read-only (a mount point under a read-only /sys stand-in).
 */
function mountPoint(ns: MountNamespace, target: string, isDir: boolean): VPath {
  const root = ns.root;
  const ctx = { ns, root, cwd: root, creds: ROOT_CREDS };
  let at = root;
  const names = target.split("/").filter((n) => n !== "" && n !== ".");
  names.forEach((name, i) => {
    try {
      at = walk(ctx, at, name, { follow: true });
    } catch (e) {
      const canMake = !at.mount.flags.readOnly || at.mount.fs instanceof TmpFs;
      if (!(e instanceof LinuxError) || e.errno !== 2 || !canMake) throw e;
      if (isDir || i < names.length - 1) {
        at.dentry.inode.mkdir(name, 0o755, ROOT_CREDS);
      } else {
        // A file mounted on a missing path gets an empty file to cover (0755, as runc makes it).
        at.dentry.inode.mknod(name, S_IFREG | 0o755, ROOT_CREDS);
      }
      at = walk(ctx, at, name, { follow: true });
    }
  });
  return at;
}

/** The place a path names, or null when there is nothing there. */
function existing(ns: MountNamespace, path: string): VPath | null {
  const root = ns.root;
  try {
    return walk({ ns, root, cwd: root, creds: ROOT_CREDS }, root, path, { follow: false });
  } catch {
    return null;
  }
}

/** Hides paths as runc does: directories under an empty read-only tmpfs, files under /dev/null. */
function maskPaths(ns: MountNamespace, paths: string[]): void {
  for (const path of paths) {
    const at = existing(ns, path);
    if (!at) continue;
    if ((at.dentry.inode.stat().mode & S_IFMT) === S_IFDIR) {
      const fs = new TmpFs({ mode: 0o755, limits: { maxBytes: 0 } });
      ns.mount(at, new Mount(fs, new Dentry("/", null, fs.root()), { readOnly: true }, "tmpfs"));
      continue;
    }
    const fs = new TmpFs({ mode: 0o755 });
    fs.root().mknod("null", S_IFCHR | 0o666, ROOT_CREDS, joinDev(...DEVICES.null));
    const node = new Dentry("null", null, fs.root().lookup("null"));
    ns.mount(at, new Mount(fs, node, { readOnly: true }, "devtmpfs"));
  }
}

/** Makes paths read-only: each is mounted again over itself, read-only. */
function makeReadOnly(ns: MountNamespace, paths: string[]): void {
  for (const path of paths) {
    const at = existing(ns, path);
    if (!at) continue;
    const top = ns.crossMounts(at);
    ns.mount(
      top,
      new Mount(top.mount.fs, top.dentry, { ...top.mount.flags, readOnly: true }, top.mount.source),
    );
  }
}

function mountAt(
  ns: MountNamespace,
  target: string,
  fs: FileSystem,
  flags: Partial<MountFlags>,
  source: string,
  readOnly = false,
): void {
  const isDir = (fs.root().stat().mode & S_IFMT) === S_IFDIR;
  let at: VPath;
  try {
    at = mountPoint(ns, target, isDir);
  } catch (e) {
    throw new StartError(
      `Cannot mount ${source} on ${target}: ${e instanceof Error ? e.message : String(e)}`,
      1,
    );
  }
  // As mount(2): a directory covers a directory, anything else a non-directory.
  if (((at.dentry.inode.stat().mode & S_IFMT) === S_IFDIR) !== isDir) {
    const what = isDir ? "not a directory" : "a directory (the source is a file)";
    throw new StartError(`Cannot mount ${source} on ${target}: the target is ${what}`, 1);
  }
  const f = readOnly ? { ...flags, readOnly: true } : flags;
  ns.mount(at, new Mount(fs, new Dentry("/", null, fs.root()), f, source));
}
