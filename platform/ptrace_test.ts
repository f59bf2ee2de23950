import { assertEquals, assertGreater, assertThrows } from "@std/assert";
import { decodeTraceStatus, Tracer } from "./ptrace.ts";
import type { TraceProbeOptions, TraceProbeResult } from "./testdata/trace_probe.ts";
import { SYS } from "./sysno.ts";
import type { SeizeResult } from "./testdata/seize_probe.ts";

/** Runs traceProbe in a fresh Worker, the tracer thread. */
async function traceInWorker(options: TraceProbeOptions): Promise<TraceProbeResult>;
async function traceInWorker(options: { scenario: "seize" }): Promise<SeizeResult>;
async function traceInWorker(
  options: TraceProbeOptions | { scenario: "seize" },
): Promise<TraceProbeResult | SeizeResult> {
  const worker = new Worker(
    new URL("./testdata/trace_worker.ts", import.meta.url),
    { type: "module" },
  );
  try {
    const reply = await new Promise<
      {
        ok: boolean;
        result?: TraceProbeResult | SeizeResult;
        error?: string;
        leaked?: unknown;
      }
    >((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage(options);
    });
    if (!reply.ok) throw new Error(reply.error);
    assertEquals(
      reply.leaked,
      { fds: [], children: [], mounts: 0 },
      "the tracer left something behind",
    );
    return reply.result!;
  } finally {
    worker.terminate();
  }
}

Deno.test("ptrace SYSEMU: getpid of a static program is answered from TypeScript", async () => {
  {
    const r = await traceInWorker({
      platform: "sysemu",
      nr: SYS.getpid,
      count: 3,
      answer: 4242n,
    });
    assertEquals(r.output, "4242\n");
    assertEquals(r.code, 0);
    assertEquals(r.answered, 3);
    assertEquals(r.written, ["4242\n"]);
  }
});

Deno.test("ptrace SYSEMU: process_vm_writev changes what the tracee writes", async () => {
  {
    const r = await traceInWorker({
      platform: "sysemu",
      nr: SYS.getpid,
      count: 1,
      answer: 7n,
      rewriteOutput: "rewritten\n",
    });
    assertEquals(r.written, ["7\n"]);
    assertEquals(r.output, "rewritten\n");
  }
});

Deno.test("seccomp RET_TRACE: only the filtered call stops, and is answered", async () => {
  {
    const r = await traceInWorker({
      platform: "seccomp",
      nr: SYS.getpid,
      count: 5,
      answer: 4242n,
    });
    assertEquals(r.output, "4242\n");
    assertEquals(r.answered, 5);
    // write ran natively: the tracer never saw it.
    assertEquals(r.written, []);
    assertGreater(r.elapsedMs, 0);
  }
});

Deno.test("PTRACE_SEIZE attaches to a running process, interrupts and detaches", async () => {
  const r = await traceInWorker({ scenario: "seize" });
  assertEquals(r, { stop: "event:stop", hadRip: true, signal: 9 });
});

Deno.test("decodeTraceStatus() decodes every kind of wait status", () => {
  assertEquals(decodeTraceStatus(1, 3 << 8), {
    kind: "exited",
    pid: 1,
    code: 3,
  });
  assertEquals(decodeTraceStatus(1, 9), {
    kind: "killed",
    pid: 1,
    signal: 9,
    coreDumped: false,
  });
  assertEquals(decodeTraceStatus(1, 11 | 0x80), {
    kind: "killed",
    pid: 1,
    signal: 11,
    coreDumped: true,
  });
  assertEquals(decodeTraceStatus(1, (19 << 8) | 0x7f), {
    kind: "signal",
    pid: 1,
    signal: 19,
  });
  assertEquals(decodeTraceStatus(1, ((5 | 0x80) << 8) | 0x7f), {
    kind: "syscall",
    pid: 1,
  });
  assertEquals(decodeTraceStatus(1, ((5 | (7 << 8)) << 8) | 0x7f), {
    kind: "event",
    pid: 1,
    event: "seccomp",
  });
  assertEquals(decodeTraceStatus(1, ((5 | (3 << 8)) << 8) | 0x7f), {
    kind: "event",
    pid: 1,
    event: "clone",
  });
  assertEquals(decodeTraceStatus(1, 0xffff), { kind: "continued", pid: 1 });
});

Deno.test("Tracer rejects bad input before any ptrace call", () => {
  using tracer = new Tracer();
  assertThrows(() => tracer.resume(0, "cont"), RangeError, "tracee pid");
  assertThrows(() => tracer.resume(1, "cont", 99), RangeError, "signal");
  assertThrows(() => tracer.wait(-5), RangeError, "pid");
  assertThrows(() => tracer.peekUser(1, -8), RangeError, "offset");
  // A process we do not trace: ESRCH from the kernel, as an Errno.
  assertThrows(() => tracer.getRegs(Deno.pid), Error, "PTRACE_GETREGS");
});
