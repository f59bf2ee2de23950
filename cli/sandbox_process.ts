/**
 * Starting and watching a sandbox from the CLI: the gofer, then the
 * `dvisor boot` process, with the container's stdio, signals forwarded to
 * it, and the sandbox stopped when its gofer dies.
 *
 * @module
 */
import { closeFd, closeQuietly, O, pipe, readAll, writeFd } from "../platform/fd.ts";
import { sealedMemfd } from "../platform/memfd.ts";
import { capabilityNumber } from "../platform/caps.ts";
import { type Child, spawn } from "../platform/spawn.ts";
import type { BootConfig } from "../core/boot/boot_config.ts";
import { FORWARDED } from "./forwarded_signals.ts";
import { type Served, startGofer } from "./gofer_process.ts";
import type { Logger } from "./log.ts";
import { selfCommand } from "./self.ts";

/**
 * The sandbox process's capabilities: CAP_SYS_ADMIN (its root, the stubs'
 * namespaces and empty roots) and CAP_SETPCAP (to start stubs with none).
 */
const BOOT_CAPS = ["CAP_SYS_ADMIN", "CAP_SETPCAP"].map(capabilityNumber);

/** What to run, minus the descriptors this module wires. */
export type SandboxRequest = Omit<
  BootConfig,
  "stdio" | "rootGoferFd" | "rootPath" | "emptyRootAt"
>;

/**
 * Runs a sandbox to its end: gofer and boot processes, stdio inherited.
 *
 * @param request The sandbox (mount entries of type bind name their host path in `hostPath`).
 * @param served The container's root directory, as the gofer serves it.
 * @param mountPoint An existing directory the gofer and sandbox process
 *   mount their own roots on (in their own mount namespaces).
 * @param globals Global flags to pass on (--log, --log-format, --debug-log).
 * @param logger Where errors are logged.
 * @returns The exit code to leave with.
 */
export async function runSandboxProcesses(
  request: SandboxRequest,
  served: Served,
  mountPoint: string,
  globals: string[],
  logger: Logger,
): Promise<number> {
  const emptyRootAt = mountPoint;
  const binds = request.mounts.filter((m) => m.type === "bind");
  const gofer = startGofer([
    served,
    ...binds.map((m) => ({ path: m.hostPath!, readOnly: m.readOnly ?? false })),
  ], emptyRootAt);
  let boot: Child | null = null;
  let goferDied: string | null = null;
  const unlisten: Array<() => void> = [];
  // Control pipe (signals for the init; its end stops the sandbox) and report pipe (a start error).
  const [controlRead, controlWrite] = pipe(O.CLOEXEC);
  const [reportRead, reportWrite] = pipe(O.CLOEXEC);
  let socketsClosed = false;
  const closeSockets = () => {
    if (socketsClosed) return;
    socketsClosed = true;
    gofer.sentryFds.forEach(closeQuietly);
  };
  try {
    // In the boot process: stdio at 0-2, gofer sockets from 3, then the
    // config, control and report descriptors.
    let next = 3;
    const rootFd = next++;
    const mounts = request.mounts.map((m) => (m.type === "bind" ? { ...m, goferFd: next++ } : m));
    const configAt = next;
    const config: BootConfig = {
      ...request,
      mounts,
      rootGoferFd: rootFd,
      emptyRootAt,
      stdio: [0, 1, 2],
      controlFd: configAt + 1,
      reportFd: configAt + 2,
    };
    const configFd = sealedMemfd("dvisor-config", new TextEncoder().encode(encodeConfig(config)));
    try {
      const { path, argv } = selfCommand([...globals, "boot", "--config-fd", String(configAt)]);
      boot = spawn({
        path,
        args: argv,
        env: ["PATH", "HOME", "DENO_DIR", "NO_COLOR"].flatMap((k) =>
          Deno.env.get(k) !== undefined ? [`${k}=${Deno.env.get(k)}`] : []
        ),
        fds: [
          [0, 0],
          [1, 1],
          [2, 2],
          ...gofer.sentryFds.map((fd, i) => [3 + i, fd] as const),
          [configAt, configFd],
          [configAt + 1, controlRead],
          [configAt + 2, reportWrite],
        ],
        // Its own pid namespace: the only processes it can signal or trace are its stubs.
        namespaces: ["mount", "pid", "ipc", "uts"],
        // The bounding set makes these hold across its execve as root.
        capabilities: { bounding: BOOT_CAPS, effective: BOOT_CAPS, permitted: BOOT_CAPS },
        parentDeathSignal: 9,
      });
    } finally {
      closeFd(configFd);
      closeQuietly(controlRead);
      closeQuietly(reportWrite);
      closeSockets();
    }
    const b = boot;
    for (const [name, num] of FORWARDED) {
      const fn = () => {
        try {
          writeFd(controlWrite, new Uint8Array([num]));
        } catch { /* it ended */ }
      };
      Deno.addSignalListener(name, fn);
      unlisten.push(() => Deno.removeSignalListener(name, fn));
    }
    // A gofer that dies takes the sandbox down (the Sentry also stops by
    // itself at its next file request).
    const goferEnd = gofer.child.wait().then((st) => {
      if (st.code === 0 && st.signal === null) return;
      goferDied = st.signal !== null ? `signal ${st.signal}` : `exit code ${st.code}`;
      try {
        b.kill(9);
      } catch { /* it ended */ }
    });
    const status = await b.wait();
    // With the sandbox gone the gofer ends too; its status says whether it died first.
    closeSockets();
    await goferEnd;
    const fail = async (msg: string, code: number) => {
      logger.error(msg);
      await Deno.stderr.write(new TextEncoder().encode(`dvisor: ${msg}\n`));
      return code;
    };
    if (goferDied) return await fail(`the gofer died (${goferDied}): the sandbox was stopped`, 137);
    const report = new TextDecoder().decode(readAll(reportRead));
    if (report) {
      const r = JSON.parse(report) as { message?: string; status: number };
      return await fail(r.message ?? "the sandbox failed", r.status);
    }
    return status.signal !== null ? 128 + status.signal : status.code ?? 1;
  } catch (e) {
    // Nothing started, or the sandbox could not be watched: leave nothing behind.
    closeSockets();
    try {
      boot?.kill(9);
    } catch { /* gone */ }
    await boot?.wait().catch(() => {});
    throw e;
  } finally {
    unlisten.forEach((u) => u());
    closeQuietly(controlWrite);
    closeQuietly(reportRead);
    boot?.close();
    // The gofer ends when the sandbox's end of its sockets closes.
    closeSockets();
    await gofer.child.wait();
    gofer.child.close();
  }
}

/**
 * Encodes a sandbox configuration as JSON, BigInts included (capability
 * masks, limits); {@linkcode decodeConfig} reverses it.
 *
 * @param config The configuration.
 * @returns The JSON text.
 */
export function encodeConfig(config: BootConfig): string {
  return JSON.stringify(config, (_k, v) => (typeof v === "bigint" ? { $bigint: v.toString() } : v));
}

/**
 * Decodes what {@linkcode encodeConfig} made.
 *
 * @param text The JSON text.
 * @returns The configuration.
 */
export function decodeConfig(text: string): BootConfig {
  return JSON.parse(
    text,
    (_k, v) => v && typeof v === "object" && typeof v.$bigint === "string" ? BigInt(v.$bigint) : v,
  ) as BootConfig;
}

/**
 * The global flags a child dvisor process needs to log where this one does.
 *
 * @param globals Parsed global flags.
 * @returns Command-line arguments.
 */
export function passedGlobals(globals: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of ["log", "log-format", "debug-log", "platform", "network"]) {
    if (typeof globals[k] === "string") out.push(`--${k}=${globals[k]}`);
  }
  for (const k of ["debug", "strace"]) if (globals[k] === true) out.push(`--${k}`);
  return out;
}
