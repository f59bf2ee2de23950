/**
 * Measurements of dvisor's platform layer: spawning, FFI calls, and the
 * round trip of a system call answered by TypeScript through each catching
 * mechanism.
 *
 * @module
 */
import { closeFd, pipe, readAll } from "../../platform/fd.ts";
import { receiveFds, socketPair } from "../../platform/socket.ts";
import { action, compileFilter } from "../../platform/seccomp_bpf.ts";
import {
  SECCOMP_FILTER_FLAG_NEW_LISTENER,
  SeccompNotifier,
} from "../../platform/seccomp_notify.ts";
import { type Namespace, spawn } from "../../platform/spawn.ts";
import { syscall } from "../../platform/syscall.ts";
import { SYS } from "../../platform/sysno.ts";
import { probeFd } from "../../platform/testdata/programs.ts";
import type { TraceProbeOptions, TraceProbeResult } from "../../platform/testdata/trace_probe.ts";

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Microseconds to spawn, exec and reap `/bin/busybox true` with the clone
 * runner, median of `n`.
 */
export function spawnMicros(
  namespaces: Namespace[],
  n: number,
  mode: "vfork" | "fork" = "vfork",
): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    using child = spawn({ path: "/bin/busybox", args: ["true"], namespaces, mode });
    child.waitSync();
    times.push((performance.now() - t0) * 1000);
  }
  return median(times);
}

/** Microseconds for the same with `Deno.Command(...).outputSync()`. */
export function denoCommandMicros(n: number): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    new Deno.Command("/bin/busybox", { args: ["true"], stdout: "null", stderr: "null" })
      .outputSync();
    times.push((performance.now() - t0) * 1000);
  }
  return median(times);
}

/** Nanoseconds per getpid: the raw stub (BigInt fast path) and libc's. */
export function getpidNanos(n: number): { raw: number; libc: number } {
  const libc = Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } });
  try {
    const raw = timeLoop(n, () => syscall(SYS.getpid));
    const viaLibc = timeLoop(n, () => libc.symbols.getpid());
    return { raw, libc: viaLibc };
  } finally {
    libc.close();
  }
}

function timeLoop(n: number, fn: () => unknown): number {
  for (let i = 0; i < 10000; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t0) * 1e6) / n;
}

/** Microseconds per getpid answered by a tracer Worker (sysemu or seccomp). */
export async function tracedMicros(platform: "sysemu" | "seccomp", count: number): Promise<number> {
  const worker = new Worker(new URL("../../platform/testdata/trace_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const options: TraceProbeOptions = { platform, nr: SYS.getpid, count, answer: 1n };
    const reply = await new Promise<{ ok: boolean; result?: TraceProbeResult; error?: string }>(
      (resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.postMessage(options);
      },
    );
    if (!reply.ok) throw new Error(reply.error);
    return (reply.result!.elapsedMs * 1000) / count;
  } finally {
    worker.terminate();
  }
}

/** Microseconds per getpid answered through SECCOMP_RET_USER_NOTIF by this thread. */
export function userNotifMicros(count: number): number {
  const exe = probeFd();
  const [mine, theirs] = socketPair();
  const [r, w] = pipe();
  const program = compileFilter({
    rules: [{ syscall: SYS.getpid, action: action.userNotif() }],
    defaultAction: action.allow(),
  });
  let child;
  try {
    child = spawn({
      executableFd: exe,
      args: ["probe", String(SYS.getpid), String(count)],
      fds: [[1, w], [2, 2], [3, theirs]],
      noNewPrivileges: true,
      seccomp: { program, flags: SECCOMP_FILTER_FLAG_NEW_LISTENER, sendListenerOn: 3 },
    });
  } finally {
    [exe, theirs, w].forEach(closeFd);
  }
  using c = child;
  const got = receiveFds(mine, new Uint8Array(1));
  closeFd(mine);
  using notifier = new SeccompNotifier(got.fds[0]!);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) notifier.respond(notifier.receive().id, 1n);
  const elapsed = performance.now() - t0;
  readAll(r);
  closeFd(r);
  c.waitSync();
  return (elapsed * 1000) / count;
}

/** Microseconds per native getpid of the probe (no catching at all), by difference. */
export function nativeProbeMicros(count: number): number {
  const run = (n: number) => {
    const exe = probeFd();
    try {
      const t0 = performance.now();
      using child = spawn({
        executableFd: exe,
        args: ["probe", String(SYS.getpid), String(n)],
        fds: [[2, 2]],
      });
      child.waitSync();
      return performance.now() - t0;
    } finally {
      closeFd(exe);
    }
  };
  run(0);
  const empty = median([run(0), run(0), run(0)]);
  const full = median([run(count), run(count), run(count)]);
  return Math.max(0, ((full - empty) * 1000) / count);
}
