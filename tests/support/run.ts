/**
 * Running commands the way a user does, for integration tests: `./dvisor`
 * as a subprocess, the same command natively, and the C test programs
 * compiled with `gcc -static`.
 *
 * @module
 */

/** What a finished command printed and returned. */
export interface Ran {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

const ROOT = new URL("../..", import.meta.url).pathname;
/** The launcher. */
export const DVISOR = `${ROOT}dvisor`;

/**
 * Runs a command to the end.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @param options Working directory, stdin text, and a time limit (default 3 minutes:
 *   the command is killed, and its test fails instead of hanging the suite).
 * @returns Its output and exit code.
 *
 * @example
 * ```ts
 * import { run } from "./run.ts";
 * const r = await run("/bin/echo", ["hi"]);
 * if (r.stdout !== "hi\n") throw new Error();
 * ```
 */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Ran> {
  const child = new Deno.Command(cmd, {
    args,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  // A hung command fails its test instead of hanging the suite (CI has a time limit).
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
  }, options.timeoutMs ?? 180_000);
  try {
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: timedOut ? `${stderr}\n(killed: ${cmd} ran over its time limit)` : stderr,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs a command whose output may stay open after it exits (a runtime's
 * `create`: the container keeps its stdio): stdout and stderr go to files,
 * read once the command itself has exited.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @returns Its output and exit code.
 */
export async function runDetaching(cmd: string, args: string[]): Promise<Ran> {
  const dir = await Deno.makeTempDir({ prefix: "dvisor-out-" });
  try {
    const r = await run("/bin/sh", [
      "-c",
      `exec "$0" "$@" </dev/null >'${dir}/out' 2>'${dir}/err'`,
      cmd,
      ...args,
    ]);
    return {
      code: r.code,
      stdout: await Deno.readTextFile(`${dir}/out`),
      stderr: await Deno.readTextFile(`${dir}/err`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs a command sandboxed with `dvisor do`.
 *
 * @param platform seccomp or ptrace.
 * @param cmd The command and its arguments.
 * @param options Working directory, stdin text, and more global flags (`--network=host`).
 * @returns Its output and exit code.
 */
export function runDo(
  platform: string,
  cmd: string[],
  options: { cwd?: string; stdin?: string; globals?: string[] } = {},
): Promise<Ran> {
  const { globals = [], ...rest } = options;
  return run(
    DVISOR,
    [`--platform=${platform}`, `--debug-log=${SYSCALL_LOG}`, ...globals, "do", "--", ...cmd],
    rest,
  );
}

/**
 * The debug log every {@linkcode runDo} of this test process writes to,
 * where the Sentry names each system call it does not serve (see
 * {@linkcode unservedSyscalls}).
 */
export const SYSCALL_LOG = `${Deno.env.get("TMPDIR") ?? "/tmp"}/sentry-debug-${Deno.pid}.log`;
// Gone with the test process, also when the test that prints it was filtered out.
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(SYSCALL_LOG);
  } catch { /* never written */ }
});

/**
 * The system calls the Sentry refused (ENOSYS or a deliberate errno) in the
 * runs of this test process so far, from {@linkcode SYSCALL_LOG}.
 *
 * @returns Lines like `socket (41): EAFNOSUPPORT`, sorted, each once.
 *
 * @example
 * ```ts
 * import { unservedSyscalls } from "./run.ts";
 * if (!Array.isArray(unservedSyscalls())) throw new Error();
 * ```
 */
export function unservedSyscalls(): string[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(SYSCALL_LOG);
  } catch {
    return [];
  }
  const seen = new Set<string>();
  for (const m of text.matchAll(/unsupported system call (\S+ \(\d+\): \S+)/g)) seen.add(m[1]!);
  return [...seen].sort();
}

/** The C programs in tests/fixtures/c. */
export const C_PROGRAMS = [
  "hello",
  "sockets",
  "inet",
  "tcp_close",
  "icmp",
  "procnet",
  "epoll",
  "timerfd",
  "flock",
  "reclocks",
  "signalfd",
  "posix_timers",
  "inotify",
  "getdents",
  "sysv_ipc",
  "mqueue",
  "splice",
  "exec_wait",
  "exec_threads",
  "vfork",
  "itimers",
  "mmap_files",
  "signals",
  "procs",
  "threads",
  "files",
  "identity",
  "procfs",
  "mem",
  "time",
  "isolation",
  "fork_limit",
  "netlink",
  "restart",
  "init_fault",
];

let compiled: Promise<string> | null = null;

/**
 * Compiles the C test programs once per test process (`gcc -static`).
 *
 * @returns The directory holding the binaries.
 * @throws {Error} If gcc or the static C library is missing (tests/run.sh installs them).
 */
export function compileCPrograms(): Promise<string> {
  compiled ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "dvisor-c-" });
    // Gone with the test process (each test file's process compiles its own).
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    await Deno.chmod(dir, 0o755);
    for (const name of C_PROGRAMS) {
      const src = `${ROOT}tests/fixtures/c/${name}.c`;
      const out = await run("gcc", ["-static", "-O1", "-pthread", "-o", `${dir}/${name}`, src]);
      if (out.code !== 0) {
        throw new Error(
          `gcc -static failed for ${name} (install gcc and libc6-dev): ${out.stderr}`,
        );
      }
    }
    return dir;
  })();
  return compiled;
}

/**
 * Polls until a function returns something other than undefined.
 *
 * @param fn What to ask (sync or async).
 * @param ms How long to keep asking.
 * @returns What it returned.
 * @throws {Error} When the time is up.
 *
 * @example
 * ```ts
 * import { until } from "./run.ts";
 * if ((await until(() => 7)) !== 7) throw new Error();
 * ```
 */
export async function until<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
