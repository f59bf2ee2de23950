/**
 * A stand-in for containerd's shim, as a program:
 *
 * ```sh
 * deno run -A tests/support/shim.ts PIDFILE RUNTIME ARGS...
 * ```
 *
 * It becomes a child subreaper, runs the runtime command (`exec --detach
 * --pid-file PIDFILE ...`, or `create` of a pod container), which leaves a
 * process behind with its pid in PIDFILE, and waits for that process as its
 * parent, as the shim does. It prints `ready PID` once the command is done
 * (or `failed CODE STDERR` and exits), does what stdin lines say to that pid
 * (`kill SIG`: kill(2), what the shim does to an exec'd process), and prints
 * `exit CODE` when it ends: the code, or 128 + the signal, as the shim
 * reports it. Use {@linkcode startShim} from a test.
 *
 * @module
 */
import { closeFd } from "../../platform/fd.ts";
import { pidfdOpen, pidfdSignal, waitPidfdAsync } from "../../platform/pidfd.ts";
import { setChildSubreaper } from "../../platform/subreaper.ts";

/** A running shim stand-in. */
export interface Shim {
  /** The pid the runtime left in the pid file. */
  pid: number;
  /** Sends a signal to that pid. */
  kill(signo: number): Promise<void>;
  /** How it ended, as the shim reports it (waits for it). */
  exited(): Promise<number>;
}

/**
 * Starts the stand-in and waits until the runtime command is done.
 *
 * @param pidFile The pid file the command writes.
 * @param cmd The runtime and its arguments.
 * @returns The shim, or the command's failure.
 * @throws {Error} If the runtime command failed (its stderr in the message).
 *
 * @example
 * ```ts ignore
 * const exec = ["exec", "--detach", "--pid-file", pidFile, id, "sleep", "9"];
 * const shim = await startShim(pidFile, [DVISOR, ...exec]);
 * await shim.kill(15);
 * if (await shim.exited() !== 143) throw new Error();
 * ```
 */
export async function startShim(pidFile: string, cmd: string[]): Promise<Shim> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, pidFile, ...cmd],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = linesOf(child.stdout);
  const nextLine = async (): Promise<string> => {
    const { value, done } = await lines.next();
    if (done) throw new Error("The shim stand-in ended early");
    return value;
  };
  const writer = child.stdin.getWriter();
  const first = await nextLine();
  if (!first.startsWith("ready ")) {
    await writer.close();
    await lines.return(undefined);
    await child.status;
    throw new Error(`The runtime command ${first}`);
  }
  return {
    pid: Number(first.slice("ready ".length)),
    async kill(signo) {
      await writer.write(new TextEncoder().encode(`kill ${signo}\n`));
    },
    async exited() {
      const line = await nextLine();
      await writer.close();
      await lines.return(undefined);
      await child.status;
      if (!line.startsWith("exit ")) throw new Error(`Unexpected ${line}`);
      return Number(line.slice("exit ".length));
    },
  };
}

/** The lines of a byte stream, without their newlines. */
async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string, void> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n")) {
      yield text.slice(0, at);
      text = text.slice(at + 1);
    }
  }
}

if (import.meta.main) {
  const [pidFile, cmd, ...args] = Deno.args;
  setChildSubreaper(true);
  // The process left behind keeps the command's stdio: stderr goes to a file, not a pipe.
  const errFile = Deno.makeTempFileSync({ prefix: "dvisor-shim-" });
  const r = await new Deno.Command("/bin/sh", {
    args: ["-c", `exec "$0" "$@" </dev/null >/dev/null 2>'${errFile}'`, cmd!, ...args],
  }).output();
  const stderr = Deno.readTextFileSync(errFile).trim();
  Deno.removeSync(errFile);
  if (!r.success) {
    console.log(`failed ${r.code} ${stderr}`);
    Deno.exit(0);
  }
  const pid = Number(Deno.readTextFileSync(pidFile!).trim());
  const pidfd = pidfdOpen(pid);
  console.log(`ready ${pid}`);
  const ended = waitPidfdAsync(pidfd);
  (async () => {
    for await (const line of linesOf(Deno.stdin.readable)) {
      const [verb, n] = line.split(" ");
      if (verb !== "kill") continue;
      try {
        pidfdSignal(pidfd, Number(n));
      } catch { /* it ended */ }
    }
  })();
  const status = await ended;
  closeFd(pidfd);
  console.log(`exit ${status.signal !== null ? 128 + status.signal : status.code}`);
  Deno.exit(0);
}
