/**
 * Bad input to platform/ never reaches the kernel: every wrapper throws a
 * TypeError or RangeError first, and nothing is opened or started.
 */
import { assert, assertThrows } from "@std/assert";
import { leavesNothing } from "../tests/support/leaks.ts";
import { Arena } from "./arena_unsafe.ts";
import { runFilter } from "./bpf_run.ts";
import {
  dupFd,
  dupTo,
  ioctl,
  openFile,
  pipe,
  readFd,
  setCloexec,
  writeAll,
  writeFd,
} from "./fd.ts";
import { memfdCreate, sealedMemfd } from "./memfd.ts";
import { addressOf } from "./native_unsafe.ts";
import { pidfdOpen, pidfdSignal } from "./pidfd.ts";
import { ProcessMemory } from "./process_vm.ts";
import { type RegisterName, Tracer } from "./ptrace.ts";
import { SeccompNotifier } from "./seccomp_notify.ts";
import { connectUnix, listenUnix, receiveFds, sendFds, socketPair } from "./socket.ts";

type Thunk = () => unknown;
// deno-lint-ignore no-explicit-any
const any = (v: unknown) => v as any;

Deno.test("platform wrappers reject bad arguments before any system call", async () => {
  await leavesNothing(() => {
    using memory = new ProcessMemory();
    using tracer = new Tracer();
    const cases: Array<[string, Thunk]> = [
      ["open flags", () => openFile("/dev/null", -1)],
      ["open mode", () => openFile("/dev/null", 0, 0o10000)],
      ["open path", () => openFile(any(undefined), 0)],
      ["read buffer", () => readFd(0, any([1, 2]))],
      ["read fd", () => readFd(-3, new Uint8Array(1))],
      ["write buffer", () => writeFd(1, any("text"))],
      ["writeAll buffer", () => writeAll(1, any(null))],
      ["pipe flags", () => pipe(NaN)],
      ["dup min", () => dupFd(0, -1)],
      ["dup3 target", () => dupTo(0, 2 ** 31, false)],
      ["cloexec fd", () => setCloexec(1.5, true)],
      ["ioctl request", () => ioctl(0, NaN, 0n)],
      ["ioctl argument", () => ioctl(0, 0x5401, any("x"))],
      ["socket type", () => socketPair(99)],
      ["listen type", () => listenUnix("/tmp/x.sock", 0)],
      ["connect type", () => connectUnix("/tmp/x.sock", -1)],
      ["send data", () => sendFds(0, any("x"), [])],
      ["send fds", () => sendFds(0, new Uint8Array(1), any(5))],
      ["receive buffer", () => receiveFds(0, any({}))],
      ["pidfd pid", () => pidfdOpen(0)],
      ["pidfd signal", () => pidfdSignal(0, 65)],
      ["memfd name", () => memfdCreate("a\0b")],
      ["memfd contents", () => sealedMemfd("x", any([1]))],
      ["memory buffer", () => memory.read(1, 0n, any([]))],
      ["memory address", () => memory.write(1, any(5), new Uint8Array(1))],
      ["memory address range", () => memory.read(1, 1n << 64n, new Uint8Array(1))],
      ["memory pid", () => memory.read(0, 0n, new Uint8Array(1))],
      ["register name", () => tracer.regs.get(any("eax") as RegisterName)],
      ["register value", () => tracer.regs.set("rax", any(1))],
      ["syscall argument", () => tracer.regs.arg(6)],
      ["resume mode", () => tracer.resume(1, any("run"))],
      ["ptrace options", () => tracer.setOptions(1, -1)],
      ["notifier fd", () => new SeccompNotifier(-1)],
      ["arena size", () => new Arena(-5)],
      ["address of", () => addressOf(any([1]))],
      ["BPF program", () => runFilter(new Uint8Array(3), { nr: 0 })],
      ["BPF opcode", () => runFilter(new Uint8Array([0xff, 0, 0, 0, 0, 0, 0, 0]), { nr: 0 })],
    ];
    for (const [name, fn] of cases) {
      const e = assertThrows(fn, Error, undefined);
      assert(e instanceof TypeError || e instanceof RangeError, `${name}: ${e.name}: ${e.message}`);
      assert(
        /^[A-Z]/.test(e.message) && !e.message.endsWith("."),
        `${name}: message style: ${e.message}`,
      );
    }
  });
});
