/**
 * A private containerd for tests: its config, state, root and sockets
 * under a temporary directory, and images made offline from a busybox
 * rootfs (one uncompressed layer in an OCI archive, `ctr image import`).
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import { locateCgroup } from "../../platform/cgroup.ts";
import { makeBusyboxRootfs } from "./rootfs.ts";
import { type Ran, run } from "./run.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A busybox rootfs as a tarball.
 *
 * @param dir Where to write `rootfs.tar`.
 * @param files More files to put in it (path in the rootfs -> content).
 * @returns The tarball's path.
 *
 * @example
 * ```ts ignore
 * import { imageTarball } from "./containerd.ts";
 * const tar = await imageTarball(await Deno.makeTempDir());
 * ```
 */
export async function imageTarball(
  dir: string,
  files: Record<string, string> = {},
): Promise<string> {
  const rootfs = await makeBusyboxRootfs();
  try {
    for (const [path, content] of Object.entries(files)) {
      await Deno.writeTextFile(`${rootfs}/${path}`, content);
    }
    const tar = `${dir}/rootfs.tar`;
    const r = await run("tar", ["-C", rootfs, "-cf", tar, "."]);
    assertEquals(r.code, 0, r.stderr);
    return tar;
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
}

/**
 * Writes an OCI image archive (`LAYOUT.tar`) with one uncompressed layer.
 *
 * @param layer The layer's tarball.
 * @param layout The image layout directory to make; the archive is `LAYOUT.tar`.
 * @param cmd The image's default command.
 *
 * @example
 * ```ts ignore
 * import { imageTarball, writeOciArchive } from "./containerd.ts";
 * const dir = await Deno.makeTempDir();
 * await writeOciArchive(await imageTarball(dir), `${dir}/image`);
 * ```
 */
export async function writeOciArchive(
  layer: string,
  layout: string,
  cmd: string[] = ["sh"],
): Promise<void> {
  const blobs = `${layout}/blobs/sha256`;
  await Deno.mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array<ArrayBuffer>) => {
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeFile(`${blobs}/${digest}`, bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  };
  const json = (v: unknown): Uint8Array<ArrayBuffer> => new TextEncoder().encode(JSON.stringify(v));
  const layerBlob = await put(await Deno.readFile(layer));
  const config = await put(json({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"], Cmd: cmd },
    rootfs: { type: "layers", diff_ids: [layerBlob.digest] },
  }));
  const manifest = await put(json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layerBlob }],
  }));
  await Deno.writeFile(`${layout}/oci-layout`, json({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeFile(
    `${layout}/index.json`,
    json({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": "latest" },
      }],
    }),
  );
  const r = await run("tar", ["-C", layout, "-cf", `${layout}.tar`, "."]);
  assertEquals(r.code, 0, r.stderr);
}

/** A running private containerd. */
export interface Containerd {
  /** Its gRPC socket. */
  socket: string;
  /** Its config file. */
  config: string;
  /** The `ctr` command line for ARGS in namespace `ns`. */
  ctrArgs(ns: string, ...args: string[]): string[];
  /** Runs `ctr` in namespace `ns`. */
  ctr(ns: string, ...args: string[]): Promise<Ran>;
  /** Stops it and unmounts what it left under its directory. */
  stop(): Promise<void>;
}

/**
 * Starts containerd with its state under `dir` (config `dir/config.toml`,
 * CRI cgroups off), once `ctr version` answers.
 *
 * @param dir A directory for it.
 * @param options `cri`: more settings of the CRI plugin's table; `beforeStart`:
 *   what to do to the config file before containerd reads it.
 * @returns The daemon.
 *
 * @example
 * ```ts ignore
 * import { startContainerd } from "./containerd.ts";
 * const c = await startContainerd(await Deno.makeTempDir());
 * await c.stop();
 * ```
 */
export async function startContainerd(
  dir: string,
  options: { cri?: string; beforeStart?: (config: string) => Promise<void> } = {},
): Promise<Containerd> {
  const socket = `${dir}/containerd.sock`;
  const config = `${dir}/config.toml`;
  await Deno.writeTextFile(
    config,
    [
      "version = 2",
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      "[grpc]",
      `  address = "${socket}"`,
      "[ttrpc]",
      `  address = "${socket}.ttrpc"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      "  disable_cgroup = true",
      options.cri ?? "",
    ].join("\n"),
  );
  await options.beforeStart?.(config);
  const daemon = new Deno.Command("containerd", {
    args: ["--config", config],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const ctrArgs = (ns: string, ...args: string[]) => {
    namespaces.add(ns);
    return ["ctr", "-a", socket, "-n", ns, ...args];
  };
  const ctr = (ns: string, ...args: string[]) => run("ctr", ctrArgs(ns, ...args).slice(1));
  const namespaces = new Set<string>();
  const stop = async () => {
    daemon.kill("SIGTERM");
    await daemon.status;
    await run("sh", ["-c", `grep -o '${dir}[^ ]*' /proc/mounts | sort -r | xargs -r umount`]);
    // The runc shim puts containers in /NAMESPACE/ID: the runtimes remove the
    // leaf, the namespace's directory stays (empty) as under runc.
    for (const ns of namespaces) {
      for (const d of locateCgroup(`/${ns}`).dirs) await Deno.remove(d.dir).catch(() => {});
    }
  };
  for (let i = 0; (await ctr("default", "version")).code !== 0; i++) {
    if (i > 100) {
      await stop();
      throw new Error("containerd did not start");
    }
    await sleep(100);
  }
  return { socket, config, ctrArgs, ctr, stop };
}
