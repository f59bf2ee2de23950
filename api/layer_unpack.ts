/**
 * Applying an image layer (a tar stream) onto a root directory, as
 * containerd applies one: entries replace what lower layers left, `.wh.`
 * files delete, `.wh..wh..opq` empties a directory of the lower layers'
 * contents. Every path is resolved inside the root (`openat2`
 * RESOLVE_IN_ROOT for parents, no symlink followed for the entry itself),
 * so an image's symlinks never lead a write out of it. Owners and modes
 * are kept (setuid bits included); times are not.
 *
 * @module
 */
import { closeQuietly, O, openFile, writeAll } from "../platform/fd.ts";
import {
  AT,
  FileCalls,
  listDirectory,
  makedev,
  RESOLVE,
  RESOLVE_STRICT,
  S,
} from "../platform/files.ts";
import { Errno } from "../platform/errno.ts";
import { readTar, type TarEntry } from "./tar_reader.ts";

const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;
const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/**
 * The components of an entry's path, or null for the root itself.
 *
 * @throws {Error} For a path with "..".
 */
function components(name: string): string[] {
  const parts = name.split("/").filter((c) => c && c !== ".");
  if (parts.includes("..")) {
    throw new Error(
      `The layer has an entry ${JSON.stringify(name)} with "..": the image is not usable`,
    );
  }
  return parts;
}

/** Removes a directory entry, a directory with everything in it. */
function removeAt(calls: FileCalls, dir: number, name: string): void {
  let st;
  try {
    st = calls.statAt(dir, name, AT.SYMLINK_NOFOLLOW);
  } catch (e) {
    if (e instanceof Errno && e.code === "ENOENT") return;
    throw e;
  }
  if ((st.mode & S.IFMT) === S.IFDIR) {
    const fd = calls.openBeneath(dir, name, O.RDONLY | O.DIRECTORY, 0, RESOLVE_STRICT);
    try {
      for (const e of listDirectory(fd)) removeAt(calls, fd, e.name);
    } finally {
      closeQuietly(fd);
    }
    calls.unlinkAt(dir, name, AT.REMOVEDIR);
  } else {
    calls.unlinkAt(dir, name, 0);
  }
}

/** Gives a directory the entry's owner and mode. */
function ownDirectory(calls: FileCalls, parent: number, name: string, e: TarEntry): void {
  const fd = calls.openBeneath(parent, name, O.RDONLY | O.DIRECTORY, 0, RESOLVE_STRICT);
  try {
    calls.fchown(fd, e.uid, e.gid);
    calls.fchmod(fd, e.mode);
  } finally {
    closeQuietly(fd);
  }
}

/** Opens (making what is missing) a directory inside the root. */
function directory(calls: FileCalls, root: number, parts: string[]): number {
  let fd = calls.openBeneath(root, ".", O.PATH | O.DIRECTORY, 0, IN_ROOT);
  for (const [i, c] of parts.entries()) {
    let next: number;
    try {
      next = calls.openBeneath(
        root,
        parts.slice(0, i + 1).join("/"),
        O.PATH | O.DIRECTORY,
        0,
        IN_ROOT,
      );
    } catch (e) {
      if (!(e instanceof Errno) || e.code !== "ENOENT") {
        closeQuietly(fd);
        throw e;
      }
      try {
        calls.mkdirAt(fd, c, 0o755);
      } catch (made) {
        closeQuietly(fd);
        throw made;
      }
      next = calls.openBeneath(fd, c, O.PATH | O.DIRECTORY, 0, RESOLVE_STRICT);
    }
    closeQuietly(fd);
    fd = next;
  }
  return fd;
}

/**
 * Applies one layer onto a root directory.
 *
 * @param root The root directory (on the host).
 * @param layer The layer, uncompressed.
 * @param onBytes Called with the bytes of file data written so far (progress).
 * @throws {Error} For a damaged layer or an entry that cannot be made.
 *
 * @example
 * ```ts
 * import { applyLayer } from "./layer_unpack.ts";
 * const src = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${src}/etc`);
 * Deno.writeTextFileSync(`${src}/etc/motd`, "hi");
 * Deno.writeTextFileSync(`${src}/.wh.gone`, "");
 * const tar = new Deno.Command("tar", { args: ["-C", src, "-c", "."] }).outputSync().stdout;
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/gone`, "lower layer");
 * await applyLayer(root, new Blob([tar]).stream());
 * if (Deno.readTextFileSync(`${root}/etc/motd`) !== "hi") throw new Error();
 * if ([...Deno.readDirSync(root)].some((e) => e.name === "gone" || e.name.startsWith(".wh."))) {
 *   throw new Error("whiteout not applied");
 * }
 * Deno.removeSync(src, { recursive: true });
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function applyLayer(
  root: string,
  layer: ReadableStream<Uint8Array>,
  onBytes: (n: number) => void = () => {},
): Promise<void> {
  using calls = new FileCalls();
  const rootFd = openFile(root, O.PATH | O.DIRECTORY);
  // What this layer made: an opaque whiteout hides only the lower layers'.
  const made = new Set<string>();
  let written = 0;
  try {
    await readTar(layer, async (e: TarEntry, _data, chunks) => {
      const parts = components(e.name);
      if (parts.length === 0) return; // the root itself
      const base = parts.at(-1)!;
      const parentParts = parts.slice(0, -1);
      const parent = directory(calls, rootFd, parentParts);
      try {
        if (base === OPAQUE) {
          const dirPath = parentParts.join("/");
          const list = calls.openBeneath(parent, ".", O.RDONLY | O.DIRECTORY, 0, RESOLVE_STRICT);
          try {
            for (const d of listDirectory(list)) {
              const path = dirPath ? `${dirPath}/${d.name}` : d.name;
              if (!made.has(path)) removeAt(calls, parent, d.name);
            }
          } finally {
            closeQuietly(list);
          }
          return;
        }
        if (base.startsWith(WHITEOUT)) {
          removeAt(calls, parent, base.slice(WHITEOUT.length));
          return;
        }
        made.add(parts.join("/"));
        let existing: number | null = null;
        try {
          existing = calls.statAt(parent, base, AT.SYMLINK_NOFOLLOW).mode & S.IFMT;
        } catch (err) {
          if (!(err instanceof Errno) || err.code !== "ENOENT") throw err;
        }
        if (e.type === "directory" && existing === S.IFDIR) {
          ownDirectory(calls, parent, base, e);
          return;
        }
        if (existing !== null) removeAt(calls, parent, base);
        switch (e.type) {
          case "directory": {
            calls.mkdirAt(parent, base, 0o700);
            ownDirectory(calls, parent, base, e);
            return;
          }
          case "file": {
            const fd = calls.openBeneath(
              parent,
              base,
              O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW,
              0o600,
              RESOLVE_STRICT,
            );
            try {
              for await (const c of chunks()) {
                writeAll(fd, c);
                written += c.length;
                onBytes(written);
              }
              // chown first: it clears setuid and setgid bits.
              calls.fchown(fd, e.uid, e.gid);
              calls.fchmod(fd, e.mode);
            } finally {
              closeQuietly(fd);
            }
            return;
          }
          case "symlink":
            calls.symlinkAt(e.linkName, parent, base);
            return;
          case "hardlink": {
            const target = components(e.linkName).join("/");
            const fd = calls.openBeneath(rootFd, target, O.PATH, 0, RESOLVE_STRICT);
            try {
              calls.linkFd(fd, parent, base);
            } finally {
              closeQuietly(fd);
            }
            return;
          }
          case "char":
          case "block":
          case "fifo": {
            const kind = e.type === "char" ? S.IFCHR : e.type === "block" ? S.IFBLK : S.IFIFO;
            calls.mknodAt(parent, base, kind | e.mode, makedev(e.devMajor, e.devMinor));
            return;
          }
        }
      } finally {
        closeQuietly(parent);
      }
    });
  } finally {
    closeQuietly(rootFd);
  }
}
