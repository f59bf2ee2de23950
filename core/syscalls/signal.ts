/**
 * Signal system calls: dispositions, masks, the alternate stack, waiting
 * for signals, returning from handlers, timers that send signals.
 *
 * @module
 */
import { LinuxError, WouldBlock } from "../errors.ts";
import { type Handler, NO_RETURN, type SyscallContext } from "../kernel/kernel.ts";
import {
  encodeSiginfo,
  SI,
  SIG,
  SIG_DFL,
  SIG_IGN,
  sigbit,
  SIGRTMAX,
  UNBLOCKABLE,
} from "../kernel/signals.ts";
import type { Process } from "../kernel/task.ts";
import { decodeTimespec, i32, size } from "./args.ts";

function sigaction(c: SyscallContext): number {
  const sig = i32(c.args[0]);
  const act = c.args[1] ?? 0n;
  const oact = c.args[2] ?? 0n;
  if (size(c.args[3]) !== 8) throw new LinuxError("EINVAL");
  if (sig < 1 || sig > SIGRTMAX) throw new LinuxError("EINVAL");
  const p = c.p;
  const cur = p.sigactions[sig]!;
  if (act !== 0n && (sig === SIG.KILL || sig === SIG.STOP)) throw new LinuxError("EINVAL");
  let next = null;
  if (act !== 0n) {
    const raw = c.mem.read(act, 32);
    const v = new DataView(raw.buffer);
    next = {
      handler: v.getBigUint64(0, true),
      flags: Number(v.getBigUint64(8, true) & 0xffffffffn),
      restorer: v.getBigUint64(16, true),
      mask: v.getBigUint64(24, true) & ~UNBLOCKABLE,
    };
  }
  if (oact !== 0n) {
    const out = new Uint8Array(32);
    const v = new DataView(out.buffer);
    v.setBigUint64(0, cur.handler, true);
    v.setBigUint64(8, BigInt(cur.flags >>> 0), true);
    v.setBigUint64(16, cur.restorer, true);
    v.setBigUint64(24, cur.mask, true);
    c.mem.write(oact, out);
  }
  if (next) {
    p.sigactions[sig] = next;
    // Setting SIG_IGN (or SIG_DFL of an ignored-by-default signal) drops pending ones.
    if (
      next.handler === SIG_IGN ||
      (next.handler === SIG_DFL && [SIG.CHLD, SIG.URG, SIG.WINCH].includes(sig as 17))
    ) {
      dropPending(p, sig);
    }
  }
  return 0;
}

function dropPending(p: Process, sig: number): void {
  for (const list of [p.pending, ...[...p.threads.values()].map((t) => t.pending)]) {
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.sig === sig) list.splice(i, 1);
  }
}

function sigprocmask(c: SyscallContext): number {
  const how = i32(c.args[0]);
  const set = c.args[1] ?? 0n;
  const oset = c.args[2] ?? 0n;
  if (size(c.args[3]) !== 8) throw new LinuxError("EINVAL");
  const t = c.t;
  const old = t.sigmask;
  if (set !== 0n) {
    const mask = c.mem.readU64(set) & ~UNBLOCKABLE;
    if (how === 0) t.sigmask |= mask;
    else if (how === 1) t.sigmask &= ~mask;
    else if (how === 2) t.sigmask = mask;
    else throw new LinuxError("EINVAL");
  }
  if (oset !== 0n) c.mem.writeU64(oset, old);
  return 0;
}

function sigaltstack(c: SyscallContext): number {
  const ss = c.args[0] ?? 0n;
  const oss = c.args[1] ?? 0n;
  const t = c.t;
  const regs = c.k.machine.getRegs(c.k.hostTid(t));
  const sp = regs.get("rsp");
  const onStack = t.altstack.flags === 0 && sp >= t.altstack.sp &&
    sp < t.altstack.sp + t.altstack.size;
  if (oss !== 0n) {
    const out = new Uint8Array(24);
    const v = new DataView(out.buffer);
    v.setBigUint64(0, t.altstack.sp, true);
    v.setInt32(8, onStack ? 1 : t.altstack.flags, true);
    v.setBigUint64(16, t.altstack.size, true);
    c.mem.write(oss, out);
  }
  if (ss !== 0n) {
    if (onStack) throw new LinuxError("EPERM");
    const raw = c.mem.read(ss, 24);
    const v = new DataView(raw.buffer);
    const flags = v.getInt32(8, true);
    if (flags & ~(2 | 0x80000000)) throw new LinuxError("EINVAL");
    if (flags & 2) t.altstack = { sp: 0n, size: 0n, flags: 2 };
    else {
      const sz = v.getBigUint64(16, true);
      if (sz < 2048n) throw new LinuxError("ENOMEM");
      t.altstack = { sp: v.getBigUint64(0, true), size: sz, flags: 0 };
    }
  }
  return 0;
}

function pendingMask(c: SyscallContext): bigint {
  let m = 0n;
  for (const s of [...c.t.pending, ...c.p.pending]) m |= sigbit(s.sig);
  return m;
}

function sigtimedwait(c: SyscallContext): number {
  const set = c.mem.readU64(c.args[0]!) & ~UNBLOCKABLE;
  const infoAddr = c.args[1] ?? 0n;
  const timeout = c.args[2] ?? 0n;
  if (size(c.args[3]) !== 8) throw new LinuxError("EINVAL");
  const waiting = c.t.syscallState as { deadline: number | null; mask: bigint } | null;
  for (const list of [c.t.pending, c.p.pending]) {
    const i = list.findIndex((s) => (sigbit(s.sig) & set) !== 0n);
    if (i >= 0) {
      const s = list.splice(i, 1)[0]!;
      if (waiting) c.t.sigmask = waiting.mask;
      if (infoAddr) c.mem.write(infoAddr, encodeSiginfo(s));
      return s.sig;
    }
  }
  let state = c.t.syscallState as { deadline: number | null; mask: bigint } | null;
  if (!state) {
    let deadline: number | null = null;
    if (timeout) {
      const ns = decodeTimespec(c.mem.read(timeout, 16));
      if (ns === null) throw new LinuxError("EINVAL");
      deadline = performance.now() + Number(ns) / 1e6;
    }
    state = { deadline, mask: c.t.sigmask };
    c.t.syscallState = state;
    // The awaited signals must not be delivered to a handler meanwhile.
    c.t.sigmask = c.t.sigmask | set;
  }
  if (state.deadline !== null && performance.now() >= state.deadline) {
    c.t.sigmask = state.mask;
    throw new LinuxError("EAGAIN");
  }
  const restore = state.mask;
  c.t.onEintr = () => {
    c.t.sigmask = restore;
  };
  throw new WouldBlock([c.t.signalArrived], state.deadline);
}

/** The handlers, by system call name. */
export const SIGNAL_HANDLERS: Record<string, Handler> = {
  rt_sigaction: sigaction,
  rt_sigprocmask: sigprocmask,
  rt_sigreturn: (c) => {
    c.k.sigreturn(c.t);
    return NO_RETURN;
  },
  sigaltstack,
  rt_sigpending: (c) => {
    if (size(c.args[1]) > 8) throw new LinuxError("EINVAL");
    c.mem.writeU64(c.args[0]!, pendingMask(c) & c.t.sigmask);
    return 0;
  },
  rt_sigsuspend: (c) => {
    if (size(c.args[1]) !== 8) throw new LinuxError("EINVAL");
    if (c.t.savedMask === null) {
      c.t.savedMask = c.t.sigmask;
      c.t.sigmask = c.mem.readU64(c.args[0]!) & ~UNBLOCKABLE;
    }
    throw new WouldBlock([]);
  },
  pause: () => {
    throw new WouldBlock([]);
  },
  rt_sigtimedwait: sigtimedwait,
  rt_sigqueueinfo: (c) => {
    const pid = i32(c.args[0]);
    const sig = i32(c.args[1]);
    const p = c.k.visibleProcess(c.p, pid);
    if (!p) throw new LinuxError("ESRCH");
    if (sig < 0 || sig > SIGRTMAX) throw new LinuxError("EINVAL");
    if (sig) c.k.signalProcess(p, { sig, code: SI.QUEUE, pid: c.p.pid, uid: c.p.creds.uid });
    return 0;
  },
};
