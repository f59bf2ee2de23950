/**
 * `dvisor exec [flags] ID [COMMAND ARGS...]`: runs another process in a
 * running container, with this process's stdio. The process is an OCI
 * `Process` (`--process FILE`, as containerd's shim passes it) or the
 * command line with the container's environment, cwd and user by default.
 * Without --detach it waits and exits with the process's status; with
 * --detach it leaves a waiter process whose pid goes to --pid-file and
 * whose exit status is the process's, as runc's shim expects of `exec -d`.
 *
 * @module
 */
import { sendPidfd } from "./fd_socket.ts";
import { hostPids } from "./ps.ts";
import type { ProcessInfo } from "../core/control/handlers.ts";
import { parseProcess, parseSpec, processObject } from "../core/boot/oci_spec.ts";
import { METHOD } from "../core/control/protocol.ts";
import { closeQuietly } from "../platform/fd.ts";
import { checkConsoleFlags, openConsole, proxyConsole, sendConsole } from "./console.ts";
import { type ContainerState, StateStore } from "./container_state.ts";
import { callSandbox, callSandboxAsync, forContainer } from "./control_client.ts";
import { writeAtomically } from "./create.ts";
import { exitCodeOf } from "../core/kernel/exit_code.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { FORWARDED } from "./forwarded_signals.ts";
import type { Command } from "./main.ts";
import type { Logger } from "./log.ts";
import { CommandError } from "./command_error.ts";
import { preservedFds } from "./sandbox_process.ts";
import { startWaiter } from "./waiter.ts";
import { stateRoot } from "./state_root.ts";

const FLAGS: FlagSpec[] = [
  { name: "process", aliases: ["p"], type: "string", help: "an OCI process.json to run" },
  { name: "detach", aliases: ["d"], type: "bool", help: "do not wait for the process" },
  { name: "pid-file", type: "string", help: "with --detach: write the waiter's pid here" },
  { name: "cwd", type: "string", help: "working directory in the container" },
  { name: "env", aliases: ["e"], type: "list", help: "KEY=VALUE to add to the environment" },
  { name: "user", aliases: ["u"], type: "string", help: "UID[:GID] to run as" },
  { name: "additional-gids", aliases: ["g"], type: "list", help: "supplementary groups" },
  { name: "tty", aliases: ["t"], type: "bool", help: "give the process a terminal" },
  { name: "console-socket", type: "string", help: "with --tty: where to send the pty master" },
  {
    name: "pidfd-socket",
    type: "string",
    help: "send a pidfd of the process (with --detach: of its waiter) to this socket",
  },
  { name: "no-new-privs", type: "bool", help: "set no_new_privs" },
  { name: "cap", aliases: ["c"], type: "list", help: "(runc) extra capabilities", ignored: true },
  { name: "apparmor", type: "string", help: "(runc) ignored", ignored: true },
  { name: "process-label", type: "string", help: "(runc) ignored", ignored: true },
  { name: "preserve-fds", type: "int", help: "pass descriptors 3 to 3+N-1 to the process" },
  { name: "cgroup", type: "string", help: "(runc) ignored", ignored: true },
  { name: "ignore-paused", type: "bool", help: "(runc) ignored", ignored: true },
];

/** The `exec` command. */
export const execCommand: Command = {
  flags: FLAGS,
  async run(args, context) {
    try {
      return await exec(args, context);
    } catch (e) {
      // As runc: a process that could not be started is exit status 255.
      if (e instanceof UsageError || e instanceof CommandError) throw e;
      throw new CommandError(e instanceof Error ? e.message : String(e), 255);
    }
  },
};

async function exec(
  args: string[],
  { globals, logger }: { globals: Record<string, unknown>; logger: Logger },
): Promise<number> {
  const parsed = parseFlags(args, FLAGS, { stopAtArgument: true });
  const [id, ...cmd] = parsed.args;
  if (!id) throw new UsageError("dvisor exec needs a container id: dvisor exec ID COMMAND");
  const preserved = preservedFds((parsed.flags["preserve-fds"] as number | undefined) ?? 0);
  const store = new StateStore(stateRoot(globals));
  const s = store.read(id);
  // As runc: a created container takes exec too (its init exists, waiting for start).
  if (s.status !== "running" && s.status !== "created") {
    throw new Error(`Cannot exec in container ${id}: it is ${s.status}`);
  }
  let proc;
  const file = parsed.flags.process as string | undefined;
  if (file) {
    let raw: unknown;
    try {
      raw = JSON.parse(await Deno.readTextFile(file));
    } catch (e) {
      throw new UsageError(
        `Cannot read --process ${file}: ${e instanceof Error ? e.message : e}`,
      );
    }
    proc = parseProcess(raw);
  } else {
    if (cmd.length === 0) throw new UsageError("dvisor exec needs a command or --process FILE");
    // The container's own process, with this command.
    const spec = parseSpec(await Deno.readTextFile(`${s.bundle}/config.json`), s.bundle);
    proc = { ...spec.process, args: cmd };
  }
  const env = parsed.flags.env as string[] | undefined;
  if (env?.length) proc = { ...proc, env: [...proc.env, ...env] };
  if (parsed.flags.cwd) proc = { ...proc, cwd: parsed.flags.cwd as string };
  const user = parsed.flags.user as string | undefined;
  if (user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(user);
    if (!m) throw new UsageError(`Invalid --user ${user}: use UID or UID:GID`);
    proc = { ...proc, uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  }
  const gids = parsed.flags["additional-gids"] as string[] | undefined;
  if (gids?.length) proc = { ...proc, groups: gids.map(Number) };
  if (parsed.flags["no-new-privs"]) proc = { ...proc, noNewPrivileges: true };
  // As runc: --tty asks for a terminal whatever the process says.
  if (parsed.flags.tty) proc = { ...proc, terminal: true };
  const detach = parsed.flags.detach === true;
  const consoleSocket = parsed.flags["console-socket"] as string | undefined;
  checkConsoleFlags(proc.terminal, consoleSocket, detach);
  const pty = proc.terminal ? openConsole(proc.consoleSize) : null;
  try {
    const stdio = [...(pty ? [pty.slave, pty.slave, pty.slave] : [0, 1, 2]), ...preserved];
    const { pid } = callSandbox(
      store.controlSocket(s),
      METHOD.executeAsync,
      forContainer(s, processObject(proc)),
      stdio,
    ) as { pid: number };
    logger.debug(`exec ${id}: pid ${pid} in the container`);
    if (pty && consoleSocket) sendConsole(consoleSocket, pty.master);
    const pidfdSocket = parsed.flags["pidfd-socket"] as string | undefined;
    if (detach) {
      const waiter = startWaiter(store.controlSocket(s), s, {
        pid,
        ...(pty ? { terminal: pty.slave } : {}),
      });
      if (pidfdSocket) sendPidfd(pidfdSocket, waiter);
      const pidFile = parsed.flags["pid-file"] as string | undefined;
      if (pidFile) writeAtomically(pidFile, String(waiter));
      return 0;
    }
    if (pidfdSocket) sendProcessPidfd(pidfdSocket, store.controlSocket(s), s, pid, logger);
    if (pty && !consoleSocket) {
      // This command is the terminal: copy until the process is done with it
      // (the master hangs up once the sandbox's copies of the slave are closed).
      closeQuietly(pty.slave);
      pty.slave = -1;
      const master = pty.master;
      pty.master = -1;
      const [status] = await Promise.all([
        waitAttached(store.controlSocket(s), s, pid),
        proxyConsole(master),
      ]);
      return status;
    }
    return await waitAttached(store.controlSocket(s), s, pid);
  } finally {
    if (pty) [pty.master, pty.slave].filter((fd) => fd >= 0).forEach(closeQuietly);
  }
}

/**
 * Sends a pidfd of an exec'd process's host process (its stub), found
 * through the sandbox's process list; one that already ended gets none
 * (a warning says so).
 */
function sendProcessPidfd(
  socketPath: string,
  control: string,
  s: ContainerState,
  pid: number,
  logger: Logger,
): void {
  const procs = callSandbox(control, METHOD.processes, forContainer(s)) as ProcessInfo[];
  const inner = procs.find((p) => p.pid === pid)?.hostPid;
  const host = inner === undefined ? undefined : hostPids(s.pid).get(inner);
  if (host === undefined) {
    logger.warn(`exec ${s.id}: process ${pid} ended before its pidfd could be sent`);
    return;
  }
  sendPidfd(socketPath, host);
}

/** Waits for the process; signals to this command go to it; its status is ours. */
async function waitAttached(socket: string, s: ContainerState, pid: number): Promise<number> {
  const unlisten = FORWARDED.map(([name, signo]) => {
    const fn = () => {
      try {
        callSandbox(socket, METHOD.signal, forContainer(s, { signo, mode: "process", pid }));
      } catch { /* it ended */ }
    };
    Deno.addSignalListener(name, fn);
    return () => Deno.removeSignalListener(name, fn);
  });
  try {
    const { status } = await callSandboxAsync(
      socket,
      METHOD.waitPid,
      forContainer(s, { pid }),
    ) as { status: number };
    return exitCodeOf(status);
  } finally {
    unlisten.forEach((u) => u());
  }
}
