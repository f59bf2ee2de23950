/**
 * A user namespace a spec names by path (`linux.namespaces`), as runc
 * joins one: the container gets that namespace's mappings, read from a
 * process in it. The Sentry keeps them, as it keeps a new namespace's.
 *
 * @module
 */
import type { IdMappings, IdRange } from "../core/vfs/id_map.ts";
import { UsageError } from "./flags.ts";

/**
 * The ranges of `/proc/PID/uid_map` or `gid_map` text, as written.
 *
 * @param text The file's text.
 * @returns The ranges.
 *
 * @example
 * ```ts
 * import { parseIdMap } from "./user_namespace.ts";
 * const r = parseIdMap("         0     100000      65536\n");
 * if (r[0]?.hostId !== 100000 || r[0].size !== 65536) throw new Error();
 * ```
 */
export function parseIdMap(text: string): IdRange[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [containerId, hostId, size] = l.split(/\s+/).map(Number) as [number, number, number];
    return { containerId, hostId, size };
  });
}

/**
 * Whether a map is the host's own namespace's: every id to itself.
 *
 * @param ranges A parsed map.
 * @returns True for the host's.
 *
 * @example
 * ```ts
 * import { isHostIdMap, parseIdMap } from "./user_namespace.ts";
 * if (!isHostIdMap(parseIdMap("         0          0 4294967295\n"))) throw new Error();
 * if (isHostIdMap(parseIdMap(""))) throw new Error("an empty map is no one's");
 * ```
 */
export function isHostIdMap(ranges: IdRange[]): boolean {
  return ranges.length === 1 && ranges[0]!.containerId === 0 && ranges[0]!.hostId === 0 &&
    ranges[0]!.size === 4294967295;
}

/** A user namespace's identity: its nsfs inode, as `dev:ino` (null: none there). */
function namespaceOf(path: string): string | null {
  try {
    const st = Deno.statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/** A process in the namespace: the one a /proc path names, else any found in /proc. */
function processIn(path: string, ns: string): number | null {
  const named = /^\/proc\/(\d+)\/ns\/user$/.exec(path);
  if (named) return Number(named[1]);
  for (const e of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(e.name) && namespaceOf(`/proc/${e.name}/ns/user`) === ns) {
      return Number(e.name);
    }
  }
  return null;
}

function sameMappings(a: IdMappings, b: IdMappings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The mappings a container gets that joins the user namespace at `path`.
 *
 * @param path The spec's namespace path.
 * @param given The spec's own uidMappings and gidMappings, if any: they must be the namespace's.
 * @param pod The sandbox process and mappings of the pod this container
 *   joins, if any: its namespace path (what CRI gives) means the pod's mappings.
 * @returns The mappings, or null for the host's namespace.
 * @throws {UsageError} For a path that is no user namespace, one no process
 *   is in, or given mappings that are not its own.
 */
export function joinedUserNamespace(
  path: string,
  given: IdMappings | null,
  pod?: { pid: number; idMappings: IdMappings | null },
): IdMappings | null {
  const ns = namespaceOf(path);
  if (!ns) {
    throw new UsageError(
      `Cannot open the user namespace ${path}: give the path of an existing one in linux.namespaces`,
    );
  }
  let found: IdMappings | null;
  if (pod && namespaceOf(`/proc/${pod.pid}/ns/user`) === ns) {
    found = pod.idMappings;
  } else {
    const pid = processIn(path, ns);
    let uid: IdRange[], gid: IdRange[];
    try {
      if (pid === null) throw new Error();
      // The host's own map means no mapping.
      const read = (file: string) => {
        const ranges = parseIdMap(Deno.readTextFileSync(`/proc/${pid}/${file}`));
        return isHostIdMap(ranges) ? [] : ranges;
      };
      uid = read("uid_map");
      gid = read("gid_map");
    } catch {
      throw new UsageError(
        `Cannot read the mappings of the user namespace ${path}: no process is in it; give linux.uidMappings and gidMappings with a new one instead`,
      );
    }
    found = uid.length || gid.length ? { uid, gid } : null;
  }
  if (given && (!found || !sameMappings(given, found))) {
    throw new UsageError(
      `config.json: linux.uidMappings and gidMappings are not those of the user namespace ${path}: leave them out`,
    );
  }
  return found;
}
