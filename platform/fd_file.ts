/**
 * A raw descriptor (a pipe end) as a `Deno.FsFile`, so that Deno's own
 * asynchronous reads and writes and its web streams serve it: the
 * descriptor is opened anew through `/proc/self/fd` and the raw one closed.
 *
 * @module
 */
import { closeQuietly } from "./fd.ts";

/**
 * Turns a pipe end this process owns into a `Deno.FsFile`. The pipe's
 * other end must still be open (in this process or another), or opening
 * a pipe end waits for one.
 *
 * @param fd The descriptor (owned: closed, also on failure).
 * @param access Whether it is a read end or a write end.
 * @returns The file; its `readable` or `writable` streams the pipe.
 * @throws {Deno.errors.NotFound} When `fd` is not open.
 *
 * @example
 * ```ts
 * import { pipe } from "./fd.ts";
 * import { fdFile } from "./fd_file.ts";
 * const [r, w] = pipe();
 * const reader = await fdFile(r, "read");
 * const writer = await fdFile(w, "write");
 * await writer.write(new TextEncoder().encode("hi"));
 * writer.close();
 * const text = await new Response(reader.readable).text();
 * if (text !== "hi") throw new Error(text);
 * ```
 */
export async function fdFile(fd: number, access: "read" | "write"): Promise<Deno.FsFile> {
  try {
    return await Deno.open(
      `/proc/self/fd/${fd}`,
      access === "read" ? { read: true } : {
        write: true,
      },
    );
  } finally {
    closeQuietly(fd);
  }
}
