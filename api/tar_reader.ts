/**
 * Reading tar archives as a stream (image layers): ustar headers, pax
 * extended headers (long names, sizes, link names) and GNU long names,
 * each entry's data handed over in chunks so a large file never sits in
 * memory whole.
 *
 * @module
 */

/** One entry of a tar archive. */
export interface TarEntry {
  /** Its path, as written (no leading "./" removed). */
  name: string;
  /** "file", "hardlink", "symlink", "char", "block", "directory", "fifo". */
  type: "file" | "hardlink" | "symlink" | "char" | "block" | "directory" | "fifo";
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Data size in bytes (files only). */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** A link's target. */
  linkName: string;
  /** A device's numbers. */
  devMajor: number;
  devMinor: number;
}

const BLOCK = 512;
const TYPES: Record<string, TarEntry["type"]> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

/** The bytes of a stream, taken exactly as asked. */
class Bytes {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Up to `max` bytes (at least one), or null at the end. */
  async some(max: number): Promise<Uint8Array | null> {
    while (this.#buf.length === 0 && !this.#done) {
      const r = await this.#reader.read();
      if (r.done) this.#done = true;
      else this.#buf = r.value;
    }
    if (this.#buf.length === 0) return null;
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Exactly `n` bytes, or null when the stream ends first (at its very start: a clean end). */
  async exact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    for (let at = 0; at < n;) {
      const chunk = await this.some(n - at);
      if (!chunk) {
        if (at === 0) return null;
        throw new Error("The tar archive ends in the middle of an entry: the layer is truncated");
      }
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  release(): void {
    this.#reader.releaseLock();
  }
}

function text(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

/** A numeric header field: octal text, or GNU base-256 for large values. */
function num(b: Uint8Array): number {
  if (b[0]! & 0x80) {
    let v = 0;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    return v;
  }
  const t = text(b).trim();
  return t ? parseInt(t, 8) : 0;
}

function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const s = new TextDecoder().decode(data);
  let at = 0;
  while (at < s.length) {
    const space = s.indexOf(" ", at);
    if (space < 0) break;
    const len = Number(s.slice(at, space));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = s.slice(space + 1, at + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/**
 * Reads a tar archive, calling `onEntry` for each entry with a function
 * that yields its data (call it at most once, for files; data not read is
 * skipped).
 *
 * @param stream The archive (uncompressed).
 * @param onEntry What to do with each entry.
 * @throws {Error} For a damaged archive (bad checksum, truncated).
 *
 * @example
 * ```ts
 * import { readTar } from "./tar_reader.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/a.txt`, "hello");
 * const tar = new Deno.Command("tar", { args: ["-C", dir, "-c", "a.txt"] }).outputSync().stdout;
 * const seen: string[] = [];
 * await readTar(new Blob([tar]).stream(), async (e, data) => {
 *   seen.push(`${e.name} ${e.type} ${new TextDecoder().decode(await data())}`);
 * });
 * if (seen.join() !== "a.txt file hello") throw new Error(seen.join());
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (
    entry: TarEntry,
    data: () => Promise<Uint8Array>,
    chunks: () => AsyncIterable<Uint8Array>,
  ) => Promise<void>,
): Promise<void> {
  const bytes = new Bytes(stream);
  let pax: Record<string, string> = {};
  let global: Record<string, string> = {};
  let longName: string | null = null;
  let longLink: string | null = null;
  try {
    for (;;) {
      const h = await bytes.exact(BLOCK);
      if (!h || h.every((b) => b === 0)) return;
      const sum = num(h.subarray(148, 156));
      let check = 0;
      for (let i = 0; i < BLOCK; i++) check += i >= 148 && i < 156 ? 32 : h[i]!;
      if (check !== sum) throw new Error("A tar header has a bad checksum: the layer is damaged");
      const flag = String.fromCharCode(h[156]!);
      const size = pax.size !== undefined ? Number(pax.size) : num(h.subarray(124, 136));
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      let left = padded;
      const readData = async (): Promise<Uint8Array> => {
        const d = (await bytes.exact(padded)) ?? new Uint8Array(0);
        left = 0;
        return d.subarray(0, size);
      };
      const dataChunks = async function* (): AsyncIterable<Uint8Array> {
        let want = size;
        while (want > 0) {
          const c = await bytes.some(Math.min(want, 1 << 20));
          if (!c) {
            throw new Error("The tar archive ends in the middle of a file: the layer is truncated");
          }
          want -= c.length;
          left -= c.length;
          yield c;
        }
      };
      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        const data = await readData();
        if (flag === "x") pax = { ...pax, ...parsePax(data) };
        else if (flag === "g") global = { ...global, ...parsePax(data) };
        else if (flag === "L") longName = text(data);
        else longLink = text(data);
        continue;
      }
      const type = TYPES[flag];
      const attrs = { ...global, ...pax };
      const prefix = text(h.subarray(345, 500));
      const ustar = text(h.subarray(257, 262)) === "ustar";
      const name = attrs.path ?? longName ??
        (ustar && prefix ? `${prefix}/${text(h.subarray(0, 100))}` : text(h.subarray(0, 100)));
      const entry: TarEntry = {
        name,
        type: type ?? "file",
        mode: num(h.subarray(100, 108)) & 0o7777,
        uid: attrs.uid !== undefined ? Number(attrs.uid) : num(h.subarray(108, 116)),
        gid: attrs.gid !== undefined ? Number(attrs.gid) : num(h.subarray(116, 124)),
        size: type === "file" || type === undefined ? size : 0,
        mtime: attrs.mtime !== undefined
          ? Math.floor(Number(attrs.mtime))
          : num(h.subarray(136, 148)),
        linkName: attrs.linkpath ?? longLink ?? text(h.subarray(157, 257)),
        devMajor: num(h.subarray(329, 337)),
        devMinor: num(h.subarray(337, 345)),
      };
      pax = {};
      longName = null;
      longLink = null;
      // Unknown kinds (GNU sparse files, volume labels) are skipped, not guessed at.
      if (type !== undefined) await onEntry(entry, readData, dataChunks);
      // Whatever of the data the caller did not read.
      while (left > 0) {
        const c = await bytes.some(left);
        if (!c) {
          throw new Error("The tar archive ends in the middle of an entry: the layer is truncated");
        }
        left -= c.length;
      }
    }
  } finally {
    bytes.release();
  }
}
