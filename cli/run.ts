/**
 * `dvisor run [--bundle DIR] ID`: creates, starts, waits for and deletes a
 * container from an OCI bundle in one process tree, as `runc run`: the
 * gofer serves the bundle's rootfs and bind mounts, `dvisor boot` runs the
 * Sentry, the container's stdio is the caller's, signals are forwarded, and
 * the exit status is the container's (the code, or 128 + the signal).
 * While it runs the container is registered under --root (`state`,
 * `exec`, `kill` reach it); with --detach it is created and started and
 * left running, as `runc run -d`.
 *
 * @module
 */
import { sendPidfd } from "./fd_socket.ts";
import { podSandbox } from "./pod_annotations.ts";
import { oomExplanation, removeContainer } from "./container_cgroup.ts";
import type { PtyPair } from "../platform/pty.ts";
import { closeQuietly } from "../platform/fd.ts";
import { checkConsoleFlags, openConsole, proxyConsole, sendConsole } from "./console.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";
import { loadBundle, type LoadedBundle } from "./bundle.ts";
import { checkId, shownState, StateStore } from "./container_state.ts";
import { callSandbox } from "./control_client.ts";
import { runHooks } from "./hooks.ts";
import { METHOD } from "../core/control/protocol.ts";
import { createCommand, register, withSandbox, writeAtomically } from "./create.ts";
import { startCommand } from "./start.ts";
import { stateRoot } from "./state_root.ts";
import { runSandboxProcesses, warnOomScoreAdj } from "./sandbox_process.ts";

const FLAGS: FlagSpec[] = [
  {
    name: "bundle",
    type: "string",
    aliases: ["b"],
    help: "the bundle directory (default: the current one)",
  },
  { name: "pid-file", type: "string", help: "write the sandbox's pid here once it runs" },
  { name: "detach", aliases: ["d"], type: "bool", help: "create and start, then return" },
  { name: "preserve-fds", type: "int", help: "pass descriptors 3 to 3+N-1 to the container" },
  {
    name: "console-socket",
    type: "string",
    help: "(with process.terminal) where to send the pty master; without it, run is the terminal",
  },
  {
    name: "pidfd-socket",
    type: "string",
    help: "send a pidfd of the container's process to this socket (as runc 1.2)",
  },
  { name: "no-subreaper", type: "bool", help: "(runc) ignored", ignored: true },
  {
    name: "no-pivot",
    type: "bool",
    help: "(runc) ignored: the Sentry never pivots on the host",
    ignored: true,
  },
  {
    name: "no-new-keyring",
    type: "bool",
    help: "(runc) ignored: there are no keyrings",
    ignored: true,
  },
  { name: "keep", type: "bool", help: "(runc) ignored", ignored: true },
];

function pidFile(parsed: { flags: Record<string, unknown> }): string[] {
  const f = parsed.flags["pid-file"] as string | undefined;
  return f ? ["--pid-file", f] : [];
}

/** The `run` command. */
export const runCommand: Command = {
  flags: FLAGS,
  async run(args, { globals, logger }) {
    const parsed = parseFlags(args, FLAGS);
    for (const name of parsed.ignored) logger.debug(`run: flag --${name} is accepted and ignored`);
    const [id, ...extra] = parsed.args;
    if (!id) throw new UsageError("dvisor run needs a container id: dvisor run [--bundle DIR] ID");
    if (extra.length) {
      throw new UsageError(`Unexpected argument ${extra[0]}: dvisor run takes one container id`);
    }
    try {
      checkId(id);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const store = new StateStore(stateRoot(globals));
    if (parsed.flags.detach) {
      // create, then start, then leave it running.
      const consoleSocket = parsed.flags["console-socket"] as string | undefined;
      const created = await createCommand.run(
        [
          "--bundle",
          (parsed.flags.bundle as string | undefined) ?? Deno.cwd(),
          ...pidFile(parsed),
          ...(consoleSocket !== undefined ? ["--console-socket", consoleSocket] : []),
          ...(parsed.flags["pidfd-socket"] !== undefined
            ? ["--pidfd-socket", String(parsed.flags["pidfd-socket"])]
            : []),
          ...(parsed.flags["preserve-fds"] !== undefined
            ? ["--preserve-fds", String(parsed.flags["preserve-fds"])]
            : []),
          id,
        ],
        { globals, logger },
      );
      if (created !== 0) return created;
      return await startCommand.run([id], { globals, logger });
    }
    await store.locked(id, () => store.claim(id));
    let hooks: LoadedBundle["spec"]["hooks"] | null = null;
    let stopped: Record<string, unknown> = {};
    let pty: PtyPair | null = null;
    let proxied: Promise<void> | null = null;
    try {
      const b = await loadBundle(parsed.flags.bundle as string | undefined, id, globals, logger);
      if (podSandbox(b.spec.annotations) !== null) {
        throw new UsageError(
          "A pod's container joins its sandbox with create and start (or run --detach)",
        );
      }
      hooks = b.spec.hooks;
      const consoleSocket = parsed.flags["console-socket"] as string | undefined;
      checkConsoleFlags(b.spec.process.terminal, consoleSocket, false);
      if (b.spec.process.terminal) pty = openConsole(b.spec.process.consoleSize);
      const reg = register(store, id, b);
      stopped = shownState(reg.base);
      try {
        const status = await runSandboxProcesses(
          b.request,
          b.served,
          b.mountPoint,
          b.globals,
          logger,
          {
            control: reg.control,
            onCreated: async (boot, gofer) => {
              reg.close();
              warnOomScoreAdj(boot.pid, b.request, logger);
              const pidfdSocket = parsed.flags["pidfd-socket"] as string | undefined;
              if (pidfdSocket) sendPidfd(pidfdSocket, boot.pid);
              if (pty) {
                // The sandbox has the slave: ours goes, so the master hangs up when it ends.
                closeQuietly(pty.slave);
                pty.slave = -1;
                if (consoleSocket !== undefined) sendConsole(consoleSocket, pty.master);
                else {
                  proxied = proxyConsole(pty.master);
                  pty.master = -1;
                }
              }
              const created = withSandbox(reg.base, "created", boot.pid, gofer.pid);
              store.write(created);
              await runHooks("prestart", b.spec.hooks, shownState(created), logger);
              await runHooks("createRuntime", b.spec.hooks, shownState(created), logger);
              await runHooks("createContainer", b.spec.hooks, shownState(created), logger);
              await runHooks("startContainer", b.spec.hooks, shownState(created), logger);
              callSandbox(store.socket(id), METHOD.startRoot);
              const running = { ...created, status: "running" as const };
              store.write(running);
              const file = parsed.flags["pid-file"] as string | undefined;
              if (file) writeAtomically(file, String(boot.pid));
              // runc hands poststart hooks the state as it was before start (status created).
              await runHooks("poststart", b.spec.hooks, shownState(created), logger);
            },
          },
          {
            ...(pty ? { terminal: pty.slave } : {}),
            preserveFds: (parsed.flags["preserve-fds"] as number | undefined) ?? 0,
            joinCgroups: reg.joinCgroups,
            whyKilled: () => oomExplanation(b.cgroup),
            tag: store.dir(id),
          },
        );
        // Everything the container wrote to its terminal is shown before we return.
        if (proxied) await proxied;
        return status;
      } finally {
        reg.close();
      }
    } finally {
      if (pty) [pty.master, pty.slave].filter((fd) => fd >= 0).forEach(closeQuietly);
      // As runc run: the container goes when it ends, then poststop.
      await store.locked(id, () => removeContainer(store, id, logger));
      if (hooks) await runHooks("poststop", hooks, { ...stopped, status: "stopped" }, logger);
    }
  },
};
