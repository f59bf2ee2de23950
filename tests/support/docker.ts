/**
 * A private Docker daemon for tests: its data, exec root (which holds the
 * runtimes' state) and socket under a temporary directory, its own
 * managed containerd, no network, the vfs storage driver, and the
 * daemon.json the test gives.
 *
 * @module
 */
import { locateCgroup } from "../../platform/cgroup.ts";
import { type Ran, run } from "./run.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Debian's docker client (another may come first on PATH). */
export const DOCKER = "/usr/bin/docker";

/** A running private dockerd. */
export interface Dockerd {
  /** Its socket (`DOCKER_HOST=unix://...`). */
  socket: string;
  /** `docker` with arguments, for this daemon, as a command line. */
  dockerArgs(...args: string[]): string[];
  /** Runs `docker` against this daemon. */
  docker(...args: string[]): Promise<Ran>;
  /** Stops it, its containerd, and removes what it mounted and its cgroups. */
  stop(): Promise<void>;
}

/**
 * Starts dockerd with a daemon.json.
 *
 * @param dir A directory of its own (its exec root is `dir/exec`).
 * @param daemonJson The daemon.json to use.
 * @returns The daemon, once it answers.
 *
 * @example
 * ```ts ignore
 * import { startDockerd } from "./docker.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/daemon.json`, "{}");
 * const d = await startDockerd(dir, `${dir}/daemon.json`);
 * await d.stop();
 * ```
 */
export async function startDockerd(dir: string, daemonJson: string): Promise<Dockerd> {
  const socket = `${dir}/docker.sock`;
  const log = await Deno.open(`${dir}/dockerd.log`, { write: true, create: true });
  const daemon = new Deno.Command("dockerd", {
    args: [
      "--config-file",
      daemonJson,
      "--data-root",
      `${dir}/data`,
      "--exec-root",
      `${dir}/exec`,
      "--host",
      `unix://${socket}`,
      "--pidfile",
      `${dir}/docker.pid`,
      "--bridge",
      "none",
      "--iptables=false",
      "--ip-masq=false",
      "--storage-driver",
      "vfs",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logged = daemon.stderr.pipeTo(log.writable);
  const dockerArgs = (...args: string[]) => [DOCKER, "-H", `unix://${socket}`, ...args];
  const docker = (...args: string[]) => run(DOCKER, dockerArgs(...args).slice(1));
  const stop = async () => {
    try {
      daemon.kill("SIGTERM");
    } catch { /* ended */ }
    await daemon.status;
    await logged.catch(() => {});
    await run("sh", ["-c", `grep -o '${dir}[^ ]*' /proc/mounts | sort -r | xargs -r umount`]);
    // Docker's cgroupfs driver puts containers in /docker/ID: the leaf goes with
    // the container, the parent stays (empty), as under runc.
    for (const d of locateCgroup("/docker").dirs) await Deno.remove(d.dir).catch(() => {});
  };
  for (let i = 0; (await docker("version")).code !== 0; i++) {
    if (i > 150) {
      await stop();
      throw new Error(`dockerd did not start: see ${dir}/dockerd.log`);
    }
    await sleep(100);
  }
  return { socket, dockerArgs, docker, stop };
}
