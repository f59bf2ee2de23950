/**
 * What the Sentry asks of a file server: the gofer's operations, by handle.
 *
 * A handle names a file the server has walked to; walks go one component
 * at a time and never follow symlinks (the Sentry resolves those), so the
 * server can refuse to leave its root. Opening a file donates a host
 * descriptor to the Sentry, which then reads, writes and maps it itself.
 * Implemented in-process by {@linkcode HostBackend} (gofer/host_backend.ts)
 * and across the gofer socket by the gofer client.
 *
 * @module
 */
import type { DirEntry, SetAttr, Stat } from "./inode.ts";

/** A walked-to file: its handle and attributes. */
export interface BackendNode {
  /** The server's handle. */
  handle: number;
  /** Its attributes. */
  stat: Stat;
}

/** Creation owner. */
export interface Owner {
  /** uid. */
  uid: number;
  /** gid. */
  gid: number;
}

/** A file server. Every method throws an Errno (with a Linux errno) on failure. */
export interface FsBackend {
  /** Whether the server refuses every change (EROFS). */
  readonly readOnly: boolean;
  /** The root. */
  root(): BackendNode;
  /** One component below a directory; symlinks are not followed. */
  walk(dir: number, name: string): BackendNode;
  /** Current attributes. */
  stat(handle: number): Stat;
  /** A symlink's target. */
  readlink(handle: number): string;
  /** Opens the file: a host descriptor the caller owns. */
  open(handle: number, flags: number): number;
  /** A directory's entries. */
  readdir(handle: number): DirEntry[];
  /** Creates and opens a regular file. */
  create(
    dir: number,
    name: string,
    flags: number,
    mode: number,
    owner: Owner,
  ): { node: BackendNode; fd: number };
  /** Creates a directory. */
  mkdir(dir: number, name: string, mode: number, owner: Owner): BackendNode;
  /** Creates a FIFO, socket or device node. */
  mknod(dir: number, name: string, mode: number, dev: bigint, owner: Owner): BackendNode;
  /** Creates a symlink. */
  symlink(dir: number, name: string, target: string, owner: Owner): BackendNode;
  /** Adds a hard link. */
  link(dir: number, name: string, target: number): BackendNode;
  /** Removes a name (a directory when `rmdir`). */
  unlink(dir: number, name: string, rmdir: boolean): void;
  /** Renames. */
  rename(oldDir: number, oldName: string, newDir: number, newName: string, flags: number): void;
  /** Changes attributes. */
  setattr(handle: number, attrs: SetAttr): void;
  /** statfs of the file system. */
  statfs(handle: number): Uint8Array;
  /** Forgets a handle. */
  release(handle: number): void;
}
