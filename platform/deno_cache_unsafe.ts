/**
 * Cutting a confined dvisor process (gofer, sandbox process) off Deno's
 * cache. Deno keeps its cache databases open (SQLite, with the write-ahead
 * log's index mapped shared and writable) in every process it runs, and
 * every later Deno process, the CLI run as root among them, trusts what
 * they hold. A confined process that can still write them is a way out of
 * its confinement: its descriptors to them are reopened read-only, and each
 * shared writable mapping of them becomes a private copy at the same
 * address (SQLite in this process goes on reading what it had; nothing it
 * writes reaches the file).
 *
 * @module
 */
import { closeFd, dupTo, O, openFile } from "./fd.ts";
import { checkedBig, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const PROT_READ_WRITE = 3n;
const MAP_PRIVATE_ANONYMOUS_FIXED = 0x22n | 0x10n;

/**
 * Deno's cache folder as Deno finds it: DENO_DIR, else
 * $XDG_CACHE_HOME/deno, else $HOME/.cache/deno.
 *
 * @returns The folder, ending in "/".
 *
 * @example
 * ```ts
 * import { denoCacheDir } from "./deno_cache_unsafe.ts";
 * if (!denoCacheDir().endsWith("/")) throw new Error();
 * ```
 */
export function denoCacheDir(): string {
  const home = Deno.env.get("HOME") ?? "/root";
  const dir = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/deno`;
  return dir.replace(/\/*$/, "/");
}

/**
 * Makes this process unable to change any file under `dir`: descriptors
 * open for writing are reopened read-only onto the same numbers, and
 * shared writable mappings are replaced by private copies.
 *
 * Preconditions: called before the process leaves the host's file system
 * (the files are reopened by path), while no other thread of it uses them.
 *
 * @param dir The folder (Deno's cache: {@linkcode denoCacheDir}), ending in "/".
 * @returns How many descriptors and mappings it changed.
 *
 * @example
 * ```ts
 * import { sealFilesUnder } from "./deno_cache_unsafe.ts";
 * const dir = Deno.makeTempDirSync() + "/";
 * const fd = Deno.openSync(dir + "db", { create: true, write: true });
 * const sealed = sealFilesUnder(dir);
 * if (sealed.descriptors < 1) throw new Error("the descriptor stayed writable");
 * fd.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function sealFilesUnder(dir: string): { descriptors: number; mappings: number } {
  return { descriptors: reopenReadOnly(dir), mappings: privatizeSharedMappings(dir) };
}

/** Reopens the descriptors open for writing on files under `dir` read-only. */
function reopenReadOnly(dir: string): number {
  let changed = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(e.name);
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the descriptor readDir used, now closed
    }
    if (!target.startsWith(dir)) continue;
    const flags = /^flags:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`))?.[1];
    if ((parseInt(flags ?? "0", 8) & O.ACCMODE) === O.RDONLY) continue;
    const ro = openFile(target, O.RDONLY);
    try {
      dupTo(ro, fd, true);
    } finally {
      closeFd(ro);
    }
    changed++;
  }
  return changed;
}

/** Replaces each shared writable mapping of a file under `dir` by a private copy. */
function privatizeSharedMappings(dir: string): number {
  let changed = 0;
  for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
    // start-end perms offset dev inode path
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (!m || !m[4]!.startsWith(dir) || m[3]![1] !== "w" || m[3]![3] !== "s") continue;
    const start = BigInt(`0x${m[1]}`);
    const size = Number(BigInt(`0x${m[2]}`) - start);
    const pointer = Deno.UnsafePointer.create(start)!;
    const copy = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, size).slice(0));
    checkedBig(
      syscall(SYS.mmap, start, BigInt(size), PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS_FIXED, -1n, 0n),
      "mmap over a shared mapping",
    );
    new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, size)).set(copy);
    changed++;
  }
  return changed;
}
