import { assert, assertEquals, assertLess, assertStringIncludes, assertThrows } from "@std/assert";
import { leavesNothing } from "../tests/support/leaks.ts";
import { runFilter } from "./bpf_run.ts";
import { closeFd, pipe, readAll } from "./fd.ts";
import { spawn } from "./spawn.ts";
import {
  action,
  type ArgCondition,
  AUDIT_ARCH_X86_64,
  compileFilter,
  type Rule,
  SECCOMP_RET,
} from "./seccomp_bpf.ts";
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SeccompNotifier } from "./seccomp_notify.ts";
import { receiveFds, socketPair } from "./socket.ts";
import { SYS } from "./sysno.ts";
import { capture } from "./testdata/capture.ts";
import { probeFd } from "./testdata/programs.ts";

/** What a condition means, computed directly, to check the compiled code against. */
function holds(c: ArgCondition, args: bigint[]): boolean {
  const full = (c.width ?? 64) === 64;
  const cut = (v: bigint) => full ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v);
  const a = cut(c.arg === "ip" ? 0n : args[c.arg] ?? 0n);
  const v = cut(BigInt(c.value));
  switch (c.op) {
    case "eq":
      return a === v;
    case "ne":
      return a !== v;
    case "lt":
      return a < v;
    case "le":
      return a <= v;
    case "gt":
      return a > v;
    case "ge":
      return a >= v;
    case "masked-eq": {
      const m = cut(BigInt(c.mask!));
      return (a & m) === (v & m);
    }
  }
}

function expected(rules: Rule[], deflt: number, nr: number, args: bigint[]): number {
  for (const r of rules) {
    if (r.syscall === nr && (r.args ?? []).every((c) => holds(c, args))) return r.action;
  }
  return deflt;
}

/** A small deterministic generator so failures reproduce. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const INTERESTING = [
  0n,
  1n,
  2n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  0x1_0000_0005n,
  -1n,
  -2n,
  5n,
];

Deno.test("compileFilter() argument comparisons agree with their definition", () => {
  const rand = random(7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const ops = ["eq", "ne", "lt", "le", "gt", "ge", "masked-eq"] as const;
  for (let round = 0; round < 60; round++) {
    const rules: Rule[] = [];
    for (let i = 0; i < 12; i++) {
      const args: ArgCondition[] = [];
      for (let j = Math.floor(rand() * 3); j > 0; j--) {
        const op = pick(ops);
        args.push({
          arg: Math.floor(rand() * 6),
          op,
          value: pick(INTERESTING),
          ...(op === "masked-eq"
            ? { mask: pick([0xffn, 0xffff0000n, 0xffffffff00000000n, 1n]) }
            : {}),
          width: pick([32, 64] as const),
        });
      }
      rules.push({ syscall: pick([0, 1, 2, 39, 257]), args, action: action.errno(i + 1) });
    }
    const program = compileFilter({ rules, defaultAction: action.allow() });
    for (let k = 0; k < 200; k++) {
      const nr = pick([0, 1, 2, 39, 257, 3]);
      const args = Array.from({ length: 6 }, () => pick(INTERESTING));
      assertEquals(runFilter(program, { nr, args }), expected(rules, action.allow(), nr, args));
    }
  }
});

Deno.test("compileFilter() matches the caller's instruction pointer", () => {
  const program = compileFilter({
    rules: [{
      syscall: 32,
      args: [{ arg: "ip", op: "eq", value: 0x7ffe00001012n }],
      action: action.userNotif(),
    }],
    defaultAction: action.trace(),
  });
  assertEquals(runFilter(program, { nr: 32, ip: 0x7ffe00001012n }), action.userNotif());
  assertEquals(runFilter(program, { nr: 32, ip: 0x401000n }), action.trace());
  assertEquals(runFilter(program, { nr: 32, ip: 0x1_7ffe00001012n }), action.trace());
  assertEquals(runFilter(program, { nr: 33, ip: 0x7ffe00001012n }), action.trace());
});

Deno.test("compileFilter() checks the architecture and x32 numbers", () => {
  const program = compileFilter({
    rules: [],
    defaultAction: action.allow(),
    badArchAction: action.errno(38),
  });
  assertEquals(runFilter(program, { nr: 1 }), action.allow());
  assertEquals(runFilter(program, { nr: 1, arch: 0x40000003 }), action.errno(38));
  assertEquals(runFilter(program, { nr: 0x40000001 }), action.errno(38));
  const kill = compileFilter({ rules: [], defaultAction: action.allow() });
  assertEquals(runFilter(kill, { nr: 1, arch: AUDIT_ARCH_X86_64 + 1 }), SECCOMP_RET.KILL_PROCESS);
});

/** 300 rules over 300 different system calls, with conditions on some. */
function bigRuleSet(): Rule[] {
  const rules: Rule[] = [];
  const skip = new Set<number>([SYS.execve, SYS.write, SYS.exit_group, SYS.rt_sigprocmask]);
  for (let nr = 0; rules.length < 300; nr++) {
    if (skip.has(nr)) continue;
    if (nr % 3 === 0) {
      rules.push({
        syscall: nr,
        args: [{ arg: 0, op: "eq", value: 12345 }],
        action: action.errno(7),
      });
    }
    rules.push({ syscall: nr, action: action.errno(1 + (nr % 100)) });
  }
  return rules;
}

Deno.test("compileFilter() handles 300 rules with a binary search", () => {
  const rules = bigRuleSet();
  const program = compileFilter({ rules, defaultAction: action.allow() });
  const length = program.length / 8;
  assertLess(length, 4096);
  for (let nr = 0; nr < 500; nr++) {
    for (const a0 of [0n, 12345n]) {
      assertEquals(
        runFilter(program, { nr, args: [a0] }),
        expected(rules, action.allow(), nr, [a0]),
        `nr ${nr}`,
      );
    }
  }
  // Far conditional jumps went through trampolines: the program is valid
  // for the kernel too (checked below), and some `ja` exist.
  const view = new DataView(program.buffer);
  let ja = 0;
  for (let i = 0; i < length; i++) if (view.getUint16(8 * i, true) === 0x05) ja++;
  assert(ja > 0);
});

Deno.test("compileFilter() rejects bad rules and oversize programs", () => {
  const bad: Array<[() => unknown, string]> = [
    [
      () => compileFilter({ rules: [{ syscall: -1, action: action.allow() }], defaultAction: 0 }),
      "system call number",
    ],
    [
      () =>
        compileFilter({
          rules: [{ syscall: 1, args: [{ arg: 6, op: "eq", value: 1 }], action: 0 }],
          defaultAction: 0,
        }),
      "argument index",
    ],
    [
      () =>
        compileFilter({
          rules: [{ syscall: 1, args: [{ arg: 0, op: "masked-eq", value: 1 }], action: 0 }],
          defaultAction: 0,
        }),
      "mask",
    ],
    [() => compileFilter({ rules: [], defaultAction: -5 }), "default action"],
    [() => action.errno(5000), "errno"],
    [
      () =>
        compileFilter({
          rules: Array.from(
            { length: 2000 },
            (_, i) => ({ syscall: i, args: [{ arg: 0, op: "eq" as const, value: 1 }], action: 0 }),
          ),
          defaultAction: 0,
        }),
      "4096",
    ],
  ];
  for (const [fn, text] of bad) {
    const e = assertThrows(fn);
    assert(e instanceof RangeError || e instanceof TypeError, String(e));
    assertStringIncludes(e.message, text);
  }
});

function runProbe(rules: Rule[], nr: number, extra: Partial<Parameters<typeof capture>[0]> = {}) {
  const exe = probeFd();
  try {
    return capture({
      executableFd: exe,
      args: ["probe", String(nr)],
      noNewPrivileges: true,
      seccomp: { program: compileFilter({ rules, defaultAction: action.allow() }) },
      ...extra,
    });
  } finally {
    closeFd(exe);
  }
}

Deno.test("a seccomp filter in the kernel denies a system call with EPERM", async () => {
  await leavesNothing(() => {
    const r = runProbe([{ syscall: SYS.getpid, action: action.errno(1) }], SYS.getpid);
    assertEquals(r.stdout, "-1\n");
    assertEquals(r.status.code, 0);
  });
});

Deno.test("a seccomp filter in the kernel kills the process", async () => {
  await leavesNothing(() => {
    const r = runProbe([{ syscall: SYS.getpid, action: action.killProcess() }], SYS.getpid);
    assertEquals(r.stdout, "");
    assertEquals(r.status, { code: null, signal: 31, coreDumped: false });
  });
});

Deno.test("a seccomp filter in the kernel applies argument conditions", () => {
  // getuid ignores its arguments, which the probe passes as 0: a rule for
  // arg0 == 1 must not fire, one for arg0 == 0 must.
  const cond = (value: number): Rule => ({
    syscall: SYS.getuid,
    args: [{ arg: 0, op: "eq", value }],
    action: action.errno(13),
  });
  assertEquals(runProbe([cond(1)], SYS.getuid).stdout, `${Deno.uid()}\n`);
  assertEquals(runProbe([cond(0)], SYS.getuid).stdout, "-13\n");
});

Deno.test("the kernel runs a 300-rule filter the way the interpreter does", async () => {
  const rules = bigRuleSet();
  await leavesNothing(() => {
    for (const nr of [SYS.getpid, SYS.getuid, SYS.getppid, SYS.sched_yield, SYS.getpgrp]) {
      const r = runProbe(rules, nr);
      const verdict = runFilter(compileFilter({ rules, defaultAction: action.allow() }), { nr });
      assertEquals(verdict & 0xffff0000, SECCOMP_RET.ERRNO, `nr ${nr}`);
      assertEquals(r.stdout, `-${verdict & 0xffff}\n`, `nr ${nr}`);
    }
  });
});

Deno.test("USER_NOTIF: the parent answers a system call of the child", async () => {
  await leavesNothing(() => {
    const exe = probeFd();
    const [mine, theirs] = socketPair();
    try {
      const program = compileFilter({
        rules: [{ syscall: SYS.getpid, action: action.userNotif() }],
        defaultAction: action.allow(),
      });
      const r = answerOnce(exe, theirs, mine, program);
      assertEquals(r.stdout, "4242\n");
      assertEquals(r.notified, SYS.getpid);
    } finally {
      [exe, mine].forEach(closeFd);
    }
  });
});

/** Starts the probe with a USER_NOTIF filter, receives its listener, answers getpid with 4242. */
function answerOnce(exe: number, theirs: number, mine: number, program: Uint8Array) {
  const [r, w] = pipe();
  let child;
  try {
    child = spawn({
      executableFd: exe,
      args: ["probe", String(SYS.getpid)],
      fds: [[1, w], [2, 2], [3, theirs]],
      noNewPrivileges: true,
      seccomp: { program, flags: SECCOMP_FILTER_FLAG_NEW_LISTENER, sendListenerOn: 3 },
    });
  } finally {
    closeFd(w);
    closeFd(theirs);
  }
  using c = child;
  const got = receiveFds(mine, new Uint8Array(1));
  assertEquals(got.fds.length, 1);
  using notifier = new SeccompNotifier(got.fds[0]!);
  const n = notifier.receive();
  assertEquals(n.pid, c.pid);
  assert(notifier.isValid(n.id));
  notifier.respond(n.id, 4242n);
  const stdout = new TextDecoder().decode(readAll(r));
  closeFd(r);
  assertEquals(c.waitSync().code, 0);
  return { stdout, notified: n.nr };
}
