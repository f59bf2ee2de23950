/**
 * OCI image layouts made offline for tests: layers from directories (tar,
 * optionally gzip), a config, a manifest, index.json and oci-layout.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import { run } from "./run.ts";

/** One layer: a directory's contents. */
export interface LayerSource {
  dir: string;
  gzip: boolean;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes an image layout.
 *
 * @param layout The directory to make.
 * @param layers The layers, lowest first.
 * @param config The image config's `config` (Env, Entrypoint, Cmd, WorkingDir, User).
 *
 * @example
 * ```ts ignore
 * import { writeOciLayout } from "./oci_layout.ts";
 * await writeOciLayout("/tmp/img", [{ dir: "/tmp/rootfs", gzip: true }], { Cmd: ["sh"] });
 * ```
 */
export async function writeOciLayout(
  layout: string,
  layers: LayerSource[],
  config: Record<string, unknown>,
): Promise<void> {
  const blobs = `${layout}/blobs/sha256`;
  await Deno.mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array<ArrayBuffer>, mediaType: string) => {
    const digest = await sha256(bytes);
    await Deno.writeFile(`${blobs}/${digest}`, bytes);
    return { mediaType, digest: `sha256:${digest}`, size: bytes.length };
  };
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const descs = [];
  const diffIds = [];
  for (const l of layers) {
    const tar = `${layout}.layer.tar`;
    const r = await run("tar", ["--numeric-owner", "-C", l.dir, "-cf", tar, "."]);
    assertEquals(r.code, 0, r.stderr);
    const plain = await Deno.readFile(tar);
    await Deno.remove(tar);
    diffIds.push(`sha256:${await sha256(plain)}`);
    const bytes = l.gzip
      ? new Uint8Array(
        await new Response(new Blob([plain]).stream().pipeThrough(new CompressionStream("gzip")))
          .arrayBuffer(),
      )
      : plain;
    descs.push(
      await put(bytes, `application/vnd.oci.image.layer.v1.tar${l.gzip ? "+gzip" : ""}`),
    );
  }
  const cfg = await put(
    json({
      architecture: "amd64",
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = await put(
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: cfg,
      layers: descs,
    }),
    "application/vnd.oci.image.manifest.v1+json",
  );
  await Deno.writeTextFile(`${layout}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, platform: { os: "linux", architecture: "amd64" } }],
    }),
  );
}
