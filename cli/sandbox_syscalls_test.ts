import { assertEquals } from "@std/assert";
import { action, compileFilter } from "../platform/seccomp_bpf.ts";
import { runFilter } from "../platform/bpf_run.ts";
import { SYS } from "../platform/sysno.ts";
import { sandboxRules } from "./sandbox_syscalls.ts";

Deno.test("the sandbox process's allow-list: its own calls pass, the rest is EPERM", () => {
  const program = compileFilter({ rules: sandboxRules(), defaultAction: action.errno(1) });
  const verdict = (nr: number, args: bigint[] = []) => runFilter(program, { nr, args });
  for (const ok of [SYS.read, SYS.ptrace, SYS.wait4, SYS.process_vm_readv, SYS.futex]) {
    assertEquals(verdict(ok), action.allow(), `nr ${ok}`);
  }
  for (
    const no of [SYS.execve, SYS.execveat, SYS.mount, SYS.pivot_root, SYS.setns, SYS.unshare]
  ) {
    assertEquals(verdict(no), action.errno(1), `nr ${no}`);
  }
  assertEquals(verdict(SYS.clone, [0x3d0f00n]), action.allow(), "a thread");
  assertEquals(verdict(SYS.clone, [0x11n]), action.errno(1), "a process (fork)");
  assertEquals(verdict(SYS.clone3), action.errno(38), "clone3 falls back to clone");
});
