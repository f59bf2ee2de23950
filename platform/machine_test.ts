import { assertEquals } from "@std/assert";
import { wake } from "./event_loop.ts";
import { PLATFORMS } from "./machine.ts";
import type { MachineProbeResult } from "./testdata/machine_probe.ts";
import { SYS } from "./sysno.ts";

async function probeInWorker(
  platform: string,
  answer: number,
  dir: string,
): Promise<MachineProbeResult> {
  const worker = new Worker(new URL("./testdata/machine_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const reply = await new Promise<{ ok: boolean; result?: MachineProbeResult; error?: string }>(
      (resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.postMessage({ platform, answer, dir });
      },
    );
    if (!reply.ok) throw new Error(reply.error);
    return reply.result!;
  } finally {
    worker.terminate();
  }
}

for (const platform of PLATFORMS) {
  Deno.test(`Machine (${platform}): a stub runs code the Sentry mapped, traps getpid, runs mmap natively`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const r = await probeInWorker(platform, 42, dir);
      // Only getpid reached the Sentry: mmap and exit_group are self-only.
      assertEquals(r, { seen: [SYS.getpid], code: 42, mapped: "0x400000", nsPid: 1 });
    } finally {
      await Deno.remove(dir);
    }
  });
}

Deno.test("Machine doorbell: the tracer's wait also wakes for a timer and for another thread", async () => {
  const worker = new Worker(new URL("./testdata/machine_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const result = await new Promise((resolve, reject) => {
      worker.onmessage = (e) => {
        if (e.data.waker) {
          setTimeout(() => wake(e.data.waker), 20);
          return;
        }
        if (e.data.ok) resolve(e.data.result);
        else reject(new Error(e.data.error));
      };
      worker.postMessage({ scenario: "doorbell" });
    });
    assertEquals(result, { timer: 7, woken: true });
  } finally {
    worker.terminate();
  }
});
