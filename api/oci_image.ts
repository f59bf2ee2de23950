/**
 * OCI image layouts (a directory with `oci-layout`, `index.json` and
 * `blobs/`, as `skopeo copy ... oci:DIR` or `podman save --format oci-dir`
 * write them) as a sandbox's root: the manifest for linux/amd64 chosen,
 * every blob's digest checked, the layers applied in order into a
 * directory (with progress), and the image's config (environment,
 * command, working directory, user) read as process defaults.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { applyLayer } from "./layer_unpack.ts";
import { SandboxOptionsError, SandboxStartError } from "./errors.ts";

/** What an image says to run, and how. */
export interface ImageConfig {
  /** Entrypoint followed by Cmd. */
  args: string[];
  /** Its environment. */
  env: Record<string, string>;
  /** WorkingDir, if set. */
  cwd?: string;
  /** User, resolved to ids in the image's /etc/passwd and /etc/group, if set. */
  user?: { uid: number; gid: number };
}

/** How far unpacking an image has come. */
export interface ImageProgress {
  /** The layer being applied (1-based). */
  layer: number;
  /** How many layers there are. */
  layers: number;
  /** Bytes of this layer's blob read so far. */
  bytes: number;
  /** The blob's size. */
  totalBytes: number;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string };
}

const INDEX_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];

function bad(dir: string, what: string): never {
  throw new SandboxOptionsError(`The image ${dir} is not a usable OCI image layout: ${what}`);
}

function blobPath(dir: string, digest: string): string {
  const m = /^(sha256|sha512):([0-9a-f]{64,128})$/.exec(digest);
  if (!m) bad(dir, `the digest ${digest} is not sha256 or sha512`);
  return `${dir}/blobs/${m[1]}/${m[2]}`;
}

async function readBlob(dir: string, d: Descriptor): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(blobPath(dir, d.digest));
  } catch {
    bad(dir, `the blob ${d.digest} is missing`);
  }
  const [alg, hex] = d.digest.split(":");
  if (createHash(alg!).update(bytes).digest("hex") !== hex) {
    bad(dir, `the blob ${d.digest} does not match its digest`);
  }
  return bytes;
}

async function readJson(dir: string, d: Descriptor): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(new TextDecoder().decode(await readBlob(dir, d)));
  } catch (e) {
    if (e instanceof SandboxOptionsError) throw e;
    bad(dir, `the blob ${d.digest} is not JSON`);
  }
}

/** The linux/amd64 manifest of an index (or the only one). */
async function pickManifest(dir: string, index: Record<string, unknown>): Promise<Descriptor> {
  const list = (index.manifests ?? []) as Descriptor[];
  const fits = list.filter((m) =>
    !m.platform || (m.platform.os === "linux" && m.platform.architecture === "amd64")
  );
  const chosen = fits.length === 1 ? fits[0] : fits.find((m) => m.platform);
  if (!chosen) {
    bad(
      dir,
      list.length
        ? "it has no single linux/amd64 image: keep one in index.json"
        : "index.json lists no image",
    );
  }
  if (chosen.mediaType && INDEX_TYPES.includes(chosen.mediaType)) {
    return pickManifest(dir, await readJson(dir, chosen));
  }
  return chosen;
}

/** Resolves a config's `User` ("name", "uid", "uid:gid", "name:group") in the rootfs. */
async function resolveUser(rootfs: string, user: string): Promise<{ uid: number; gid: number }> {
  const [u, g] = user.split(":");
  const table = async (file: string) =>
    (await Deno.readTextFile(`${rootfs}/etc/${file}`).catch(() => "")).split("\n").map((l) =>
      l.split(":")
    );
  const passwd = await table("passwd");
  const entry = passwd.find((f) => f[0] === u || f[2] === u);
  const uid = /^\d+$/.test(u!) ? Number(u) : entry ? Number(entry[2]) : NaN;
  if (Number.isNaN(uid)) {
    throw new SandboxStartError(
      `The image's user ${u} is not in its /etc/passwd: give options.user`,
    );
  }
  let gid = entry ? Number(entry[3]) : 0;
  if (g !== undefined) {
    const group = (await table("group")).find((f) => f[0] === g);
    gid = /^\d+$/.test(g) ? Number(g) : group ? Number(group[2]) : NaN;
    if (Number.isNaN(gid)) {
      throw new SandboxStartError(
        `The image's group ${g} is not in its /etc/group: give options.user`,
      );
    }
  }
  return { uid, gid };
}

/** A stream of the blob's bytes that counts them and checks its digest at the end. */
function checkedStream(
  dir: string,
  d: Descriptor,
  file: Deno.FsFile,
  onBytes: (n: number) => void,
): ReadableStream<Uint8Array> {
  const [alg, hex] = d.digest.split(":");
  const hash = createHash(alg!);
  let n = 0;
  return file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        hash.update(chunk);
        n += chunk.length;
        onBytes(n);
        out.enqueue(chunk);
      },
      flush() {
        if (hash.digest("hex") !== hex) bad(dir, `the layer ${d.digest} does not match its digest`);
      },
    }),
  );
}

/**
 * Unpacks an OCI image layout into a directory and reads its config.
 *
 * @param dir The image layout.
 * @param into An empty or missing directory for the root file system (on
 *   failure, whatever was made of it stays for the caller to remove).
 * @param onProgress Called as each layer's blob is read.
 * @returns The image's process defaults.
 * @throws {SandboxOptionsError} For a directory that is not a usable image layout.
 *
 * @example
 * ```ts ignore
 * import { unpackImage } from "./oci_image.ts";
 * const config = await unpackImage("/images/busybox", "/tmp/rootfs", (p) => console.log(p));
 * console.log(config.args);
 * ```
 */
export async function unpackImage(
  dir: string,
  into: string,
  onProgress: (p: ImageProgress) => void = () => {},
): Promise<ImageConfig> {
  let index: Record<string, unknown>;
  try {
    const layout = JSON.parse(await Deno.readTextFile(`${dir}/oci-layout`));
    if (typeof layout.imageLayoutVersion !== "string") throw new Error();
    index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  } catch {
    bad(
      dir,
      "it needs oci-layout and index.json (podman save --format oci-dir, skopeo copy oci:DIR)",
    );
  }
  const manifest = await readJson(dir, await pickManifest(dir, index));
  const configDesc = manifest.config as Descriptor | undefined;
  const layers = (manifest.layers ?? []) as Descriptor[];
  if (!configDesc) bad(dir, "its manifest has no config");
  const config = await readJson(dir, configDesc);
  await Deno.mkdir(into, { recursive: true, mode: 0o755 });
  for (const [i, layer] of layers.entries()) {
    const type = layer.mediaType ?? "";
    const gzip = type.endsWith("gzip");
    if (type.endsWith("zstd")) {
      bad(dir, `the layer ${layer.digest} is zstd-compressed: convert the image to gzip layers`);
    }
    if (!/tar/.test(type)) bad(dir, `the layer ${layer.digest} has the media type ${type}`);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(blobPath(dir, layer.digest));
    } catch {
      bad(dir, `the layer ${layer.digest} is missing`);
    }
    const progress = (bytes: number) =>
      onProgress({
        layer: i + 1,
        layers: layers.length,
        bytes,
        totalBytes: layer.size ?? bytes,
      });
    progress(0);
    const raw = checkedStream(dir, layer, file, progress);
    const tar = gzip
      ? raw.pipeThrough(
        new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      )
      : raw;
    await applyLayer(into, tar);
    // What follows the archive's end still counts for the digest.
    await tar.pipeTo(new WritableStream());
  }
  const c = (config.config ?? {}) as {
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
  };
  const env = Object.fromEntries(
    (c.Env ?? []).map((e) => [e.slice(0, Math.max(0, e.indexOf("="))), e.slice(e.indexOf("=") + 1)])
      .filter(([k]) => k),
  );
  return {
    args: [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])],
    env,
    ...(c.WorkingDir ? { cwd: c.WorkingDir } : {}),
    ...(c.User ? { user: await resolveUser(into, c.User) } : {}),
  };
}
