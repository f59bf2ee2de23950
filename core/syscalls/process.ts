/**
 * Process system calls: ids, fork and clone, execve, wait, kill, sessions,
 * credentials, limits and system information.
 *
 * @module
 */
import { onlineCpus } from "../vfs/sysfs.ts";
import { SYS } from "../../platform/sysno.ts";
import { LinuxError, WouldBlock } from "../errors.ts";
import { type Handler, NO_RETURN, PASSTHROUGH, type SyscallContext } from "../kernel/kernel.ts";
import { CLD, type PendingSignal, SI, SIG, sigbit, SIGRTMAX } from "../kernel/signals.ts";
import { type Process, RLIMIT } from "../kernel/task.ts";
import { loadProgram, planExec } from "../loader/exec.ts";
import { enforceOnHost, nprocExceeded } from "../kernel/rlimits.ts";
import { sandboxMemory } from "../kernel/meminfo.ts";
import {
  addUsage,
  encodeRusage,
  hostRusage,
  noUsage,
  type Rusage,
  US_PER_TICK,
} from "../kernel/rusage.ts";
import { AT, startOf } from "../vfs/ops.ts";
import { i32, size, u32 } from "./args.ts";

/** The kernel version the Sentry reports. */
export const KERNEL_RELEASE = "6.1.0-dvisor";
/** The kernel build string the Sentry reports. */
export const KERNEL_VERSION = "#1 SMP PREEMPT_DYNAMIC dvisor";

const CLONE_VM = 0x100n;
const CLONE_SIGHAND = 0x800n;
const CLONE_PIDFD = 0x1000n;
const CLONE_VFORK = 0x4000n;
const CLONE_THREAD = 0x10000n;
const CLONE_NEW_ANY = 0x7e020000n | 0x80n; // NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET, NEWTIME

/**
 * RLIMIT_NPROC at clone: one more task for the caller's user, unless it is
 * root or holds CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
 */
function checkNproc(c: SyscallContext): void {
  const cr = c.p.creds;
  if (cr.uid === 0 || cr.capable(24) || cr.capable(21)) return;
  if (nprocExceeded(c.p, c.k.tasksOfUser(cr.uid) + 1)) throw new LinuxError("EAGAIN");
}

function clone(c: SyscallContext, flags: bigint): typeof PASSTHROUGH {
  if (flags & CLONE_NEW_ANY) throw new LinuxError("EPERM", "namespaces inside the sandbox");
  if (flags & CLONE_PIDFD) throw new LinuxError("EINVAL", "CLONE_PIDFD");
  if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM)) throw new LinuxError("EINVAL");
  if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND)) throw new LinuxError("EINVAL");
  if ((flags & CLONE_VM) && !(flags & (CLONE_THREAD | CLONE_VFORK))) {
    // A process sharing memory with its parent: each process has its own stub here.
    throw new LinuxError("EINVAL", "CLONE_VM without CLONE_THREAD or CLONE_VFORK");
  }
  checkNproc(c);
  const host = c.k.hostTid(c.t);
  const regs = c.k.machine.getRegs(host);
  let run = flags;
  if (flags & CLONE_VFORK) {
    // vfork runs as fork (the child gets its own copy of memory); the
    // parent waits until the child execs or exits, as with vfork.
    run &= ~(CLONE_VFORK | CLONE_VM);
    c.t.vforkWaiting = true;
  }
  c.t.pendingCloneFlags = flags;
  regs.set("rdi", run);
  c.k.machine.setRegs(host);
  return PASSTHROUGH;
}

function vforkAsFork(c: SyscallContext): typeof PASSTHROUGH {
  checkNproc(c);
  const host = c.k.hostTid(c.t);
  const regs = c.k.machine.getRegs(host);
  regs.set("orig_rax", BigInt(SYS.fork));
  c.k.machine.setRegs(host);
  c.t.vforkWaiting = true;
  c.t.pendingCloneFlags = CLONE_VFORK | CLONE_VM;
  return PASSTHROUGH;
}

function execve(
  c: SyscallContext,
  dirfd: number,
  pathAddr: bigint,
  argvAddr: bigint,
  envAddr: bigint,
  flags: number,
): typeof NO_RETURN {
  const path = c.mem.readCString(pathAddr, 4095);
  const argv = c.mem.readStringArray(argvAddr);
  const envp = c.mem.readStringArray(envAddr);
  if (flags & ~(AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW)) throw new LinuxError("EINVAL");
  if (c.p.nprocExceeded && nprocExceeded(c.p, c.k.tasksOfUser(c.p.creds.uid))) {
    throw new LinuxError("EAGAIN");
  }
  c.p.nprocExceeded = false;
  const plan = planExec(c.t, startOf(c.p, dirfd, path), path, argv, envp);
  // The point of no return: the other threads end and this one takes the pid.
  if (c.p.threads.size > 1) c.k.keepOnlyThread(c.t);
  c.k.vforkCopyBack(c.p);
  try {
    loadProgram(c.k, c.t, plan);
  } catch (e) {
    // Past the point of no return: the old program is gone.
    c.k.log.warn(
      `execve of ${path} failed while loading: ${e instanceof Error ? e.message : String(e)}`,
    );
    c.k.killProcess(c.p, SIG.SEGV);
    return NO_RETURN;
  }
  const regs = c.k.machine.getRegs(c.k.hostTid(c.t));
  c.k.resumeWithSignals(c.t, regs);
  return NO_RETURN;
}

/** Whether a child matches wait's pid selector. */
function matches(caller: Process, child: Process, pid: number): boolean {
  if (pid > 0) return child.pid === pid;
  if (pid === -1) return true;
  if (pid === 0) return child.pgid === caller.pgid;
  return child.pgid === -pid;
}

const WNOHANG = 1;
const WUNTRACED = 2;
const WEXITED = 4;
const WCONTINUED = 8;
const WNOWAIT = 0x01000000;

function wait4(c: SyscallContext): number {
  const pid = i32(c.args[0]);
  const statusAddr = c.args[1] ?? 0n;
  const options = i32(c.args[2]);
  const rusage = c.args[3] ?? 0n;
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | 0x20000000 | 0x40000000 | 0x80000000)) {
    throw new LinuxError("EINVAL");
  }
  const p = c.p;
  const kids = [...p.children].filter((k) => matches(p, k, pid));
  if (kids.length === 0) throw new LinuxError("ECHILD");
  for (const k of kids) {
    if (k.exitStatus !== null) {
      if (statusAddr) c.mem.writeI32(statusAddr, k.exitStatus);
      const used = waitedFor(c, k);
      if (rusage) c.mem.write(rusage, encodeRusage(used));
      c.k.reap(k);
      return k.pid;
    }
    const report = p.childReports.get(k);
    if (
      report &&
      ((report.code === CLD.STOPPED && options & WUNTRACED) ||
        (report.code === CLD.CONTINUED && options & WCONTINUED))
    ) {
      p.childReports.delete(k);
      if (statusAddr) {
        c.mem.writeI32(
          statusAddr,
          report.code === CLD.STOPPED ? (report.status << 8) | 0x7f : 0xffff,
        );
      }
      return k.pid;
    }
  }
  if (options & WNOHANG) return 0;
  throw new WouldBlock([p.childEvents]);
}

/** A zombie's usage with its waited-for children's, as wait4 reports it. */
function childTotal(k: Process): Rusage {
  const total = noUsage();
  addUsage(total, k.exitUsage ?? noUsage());
  addUsage(total, k.childUsage);
  return total;
}

/** A zombie is being reaped: its usage joins the waiter's children totals. */
function waitedFor(c: SyscallContext, k: Process): Rusage {
  const total = childTotal(k);
  addUsage(c.p.childUsage, total);
  return total;
}

function waitid(c: SyscallContext): number {
  const idtype = i32(c.args[0]);
  const id = i32(c.args[1]);
  const infop = c.args[2] ?? 0n;
  const options = i32(c.args[3]);
  const rusage = c.args[4] ?? 0n;
  if (!(options & (WEXITED | WUNTRACED | WCONTINUED))) throw new LinuxError("EINVAL");
  let pid: number;
  if (idtype === 0) pid = -1;
  else if (idtype === 1) pid = id;
  else if (idtype === 2) pid = id === 0 ? 0 : -id;
  else throw new LinuxError("EINVAL");
  const p = c.p;
  const kids = [...p.children].filter((k) => matches(p, k, pid));
  if (kids.length === 0) throw new LinuxError("ECHILD");
  const fill = (k: Process, code: number, status: number) => {
    if (!infop) return;
    const info = new Uint8Array(128);
    const v = new DataView(info.buffer);
    v.setInt32(0, SIG.CHLD, true);
    v.setInt32(8, code, true);
    v.setInt32(16, k.pid, true);
    v.setInt32(20, k.creds.uid, true);
    v.setInt32(24, status, true);
    c.mem.write(infop, info);
  };
  for (const k of kids) {
    if (k.exitStatus !== null && options & WEXITED) {
      const st = k.exitStatus;
      const killed = (st & 0x7f) !== 0;
      fill(k, killed ? CLD.KILLED : CLD.EXITED, killed ? st & 0x7f : (st >> 8) & 0xff);
      const used = options & WNOWAIT ? childTotal(k) : waitedFor(c, k);
      if (rusage) c.mem.write(rusage, encodeRusage(used));
      if (!(options & WNOWAIT)) c.k.reap(k);
      return 0;
    }
    const report = p.childReports.get(k);
    if (
      report &&
      ((report.code === CLD.STOPPED && options & WUNTRACED) ||
        (report.code === CLD.CONTINUED && options & WCONTINUED))
    ) {
      if (!(options & WNOWAIT)) p.childReports.delete(k);
      fill(k, report.code, report.status);
      return 0;
    }
  }
  if (options & WNOHANG) {
    if (infop) c.mem.write(infop, new Uint8Array(128));
    return 0;
  }
  throw new WouldBlock([p.childEvents]);
}

/** Whether `from` may signal `to` (kill_ok_by_cred). */
function maySignal(from: Process, to: Process, sig: number): boolean {
  const a = from.creds;
  const b = to.creds;
  if (a.capable(5)) return true; // CAP_KILL
  if (a.euid === b.suid || a.euid === b.uid || a.uid === b.suid || a.uid === b.uid) return true;
  return sig === SIG.CONT && from.sid === to.sid;
}

function checkSig(sig: number): void {
  if (sig < 0 || sig > SIGRTMAX) throw new LinuxError("EINVAL");
}

function kill(c: SyscallContext): number {
  const pid = i32(c.args[0]);
  const sig = i32(c.args[1]);
  checkSig(sig);
  const info: PendingSignal = { sig, code: SI.USER, pid: c.p.pid, uid: c.p.creds.uid };
  let targets: Process[];
  if (pid > 0) {
    const p = c.k.visibleProcess(c.p, pid);
    targets = p && p.exitStatus === null ? [p] : [];
  } else if (pid === 0) {
    targets = [...c.k.processes.values()].filter((p) =>
      p.pgid === c.p.pgid && p.exitStatus === null && c.k.sees(c.p, p)
    );
  } else if (pid === -1) {
    targets = [...c.k.processes.values()].filter((p) =>
      !c.k.isInit(p) && p !== c.p && p.exitStatus === null && c.k.sees(c.p, p)
    );
  } else {
    targets = [...c.k.processes.values()].filter((p) =>
      p.pgid === -pid && p.exitStatus === null && c.k.sees(c.p, p)
    );
  }
  if (targets.length === 0) throw new LinuxError("ESRCH");
  let sent = 0;
  for (const p of targets) {
    if (!maySignal(c.p, p, sig)) continue;
    sent++;
    // Like the init of a pid namespace, the container's init only gets
    // signals it installed a handler for (SIGKILL and SIGSTOP included).
    // (A signal it blocks stays pending, for sigwait or signalfd, as Linux.)
    if (
      c.k.isInit(p) && sig !== 0 && p.sigactions[sig]!.handler === 0n && !c.k.blockedByAll(p, sig)
    ) continue;
    if (sig !== 0) c.k.signalProcess(p, info);
  }
  if (sent === 0) throw new LinuxError("EPERM");
  return 0;
}

function tkill(c: SyscallContext, tgid: number, tid: number, sig: number): number {
  checkSig(sig);
  if (tid <= 0 || (tgid !== -1 && tgid <= 0)) throw new LinuxError("EINVAL");
  const t = c.k.tasks.get(tid);
  if (
    !t || (tgid !== -1 && t.process.pid !== tgid) || t.state === "exiting" ||
    !c.k.sees(c.p, t.process)
  ) {
    throw new LinuxError("ESRCH");
  }
  if (!maySignal(c.p, t.process, sig)) throw new LinuxError("EPERM");
  if (sig === 0) return 0;
  if (
    c.k.isInit(t.process) && t.process.sigactions[sig]!.handler === 0n && t.process !== c.p &&
    (t.sigmask & sigbit(sig)) === 0n
  ) {
    return 0;
  }
  if (sig === SIG.KILL) {
    c.k.killProcess(t.process, SIG.KILL);
    return 0;
  }
  c.k.signalThread(t, { sig, code: SI.TKILL, pid: c.p.pid, uid: c.p.creds.uid });
  return 0;
}

function ids(c: SyscallContext, a: number, b: number, cc: number, which: "uid" | "gid"): number {
  const cr = c.p.creds;
  const mem = c.mem;
  const [r, e, s] = which === "uid" ? [cr.uid, cr.euid, cr.suid] : [cr.gid, cr.egid, cr.sgid];
  if (a) mem.writeI32(c.args[0]!, r);
  if (b) mem.writeI32(c.args[1]!, e);
  if (cc) mem.writeI32(c.args[2]!, s);
  return 0;
}

/** setresuid and friends, with -1 meaning unchanged and Linux's permission rule. */
function setUids(c: SyscallContext, r: number, e: number, s: number): number {
  const cr = c.p.creds;
  const old = { uid: cr.uid, euid: cr.euid, suid: cr.suid };
  const allowed = [cr.uid, cr.euid, cr.suid];
  const privileged = cr.capable(7); // CAP_SETUID
  for (const v of [r, e, s]) {
    if (v !== -1 && !privileged && !allowed.includes(v)) throw new LinuxError("EPERM");
  }
  if (r !== -1) cr.uid = r;
  if (e !== -1) cr.euid = e;
  if (s !== -1) cr.suid = s;
  cr.afterUidChange(old);
  // A new real user over RLIMIT_NPROC: the next execve fails (Linux's PF_NPROC_EXCEEDED).
  if (cr.uid !== old.uid) {
    c.p.nprocExceeded = cr.uid !== 0 && nprocExceeded(c.p, c.k.tasksOfUser(cr.uid));
  }
  return 0;
}

function setGids(c: SyscallContext, r: number, e: number, s: number): number {
  const cr = c.p.creds;
  const allowed = [cr.gid, cr.egid, cr.sgid];
  const privileged = cr.capable(6); // CAP_SETGID
  for (const v of [r, e, s]) {
    if (v !== -1 && !privileged && !allowed.includes(v)) throw new LinuxError("EPERM");
  }
  if (r !== -1) cr.gid = r;
  if (e !== -1) cr.egid = e;
  if (s !== -1) cr.sgid = s;
  cr.fsgid = cr.egid;
  return 0;
}

function rlimit(
  c: SyscallContext,
  pid: number,
  resource: number,
  newAddr: bigint,
  oldAddr: bigint,
): number {
  if (resource < 0 || resource >= 16) throw new LinuxError("EINVAL");
  const p = pid === 0 ? c.p : c.k.visibleProcess(c.p, pid);
  if (!p) throw new LinuxError("ESRCH");
  const cur = p.rlimits[resource]!;
  if (newAddr) {
    const raw = c.mem.read(newAddr, 16);
    const v = new DataView(raw.buffer);
    const soft = v.getBigUint64(0, true);
    const hard = v.getBigUint64(8, true);
    if (soft > hard) throw new LinuxError("EINVAL");
    if (hard > cur.max && !c.p.creds.capable(24)) throw new LinuxError("EPERM"); // CAP_SYS_RESOURCE
    if (resource === RLIMIT.NOFILE && hard > 1048576n) throw new LinuxError("EPERM");
    if (oldAddr) writeLimit(c, oldAddr, cur.cur, cur.max);
    p.rlimits[resource] = { cur: soft, max: hard };
    if (resource === RLIMIT.NOFILE) p.fds.limit = Number(soft > 1048576n ? 1048576n : soft);
    enforceOnHost(p, [resource]);
    return 0;
  }
  if (oldAddr) writeLimit(c, oldAddr, cur.cur, cur.max);
  return 0;
}

function writeLimit(c: SyscallContext, addr: bigint, cur: bigint, max: bigint): void {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, cur, true);
  v.setBigUint64(8, max, true);
  c.mem.write(addr, b);
}

function uname(c: SyscallContext): number {
  const b = new Uint8Array(65 * 6);
  const enc = new TextEncoder();
  const fields = [
    "Linux",
    c.k.uts.hostname,
    KERNEL_RELEASE,
    KERNEL_VERSION,
    "x86_64",
    c.k.uts.domainname,
  ];
  fields.forEach((f, i) => b.set(enc.encode(f).subarray(0, 64), 65 * i));
  c.mem.write(c.args[0]!, b);
  return 0;
}

function prctl(c: SyscallContext): number {
  const option = i32(c.args[0]);
  const arg2 = c.args[1] ?? 0n;
  const cr = c.p.creds;
  switch (option) {
    case 1: // PR_SET_PDEATHSIG
      if (Number(arg2) < 0 || Number(arg2) > SIGRTMAX) throw new LinuxError("EINVAL");
      c.t.pdeathsig = Number(arg2);
      return 0;
    case 2: // PR_GET_PDEATHSIG
      c.mem.writeI32(arg2, c.t.pdeathsig);
      return 0;
    case 3: // PR_GET_DUMPABLE
      return 1;
    case 4: // PR_SET_DUMPABLE
      if (arg2 > 1n) throw new LinuxError("EINVAL");
      return 0;
    case 7: // PR_GET_KEEPCAPS
      return cr.keepCaps ? 1 : 0;
    case 8: // PR_SET_KEEPCAPS
      if (arg2 > 1n) throw new LinuxError("EINVAL");
      cr.keepCaps = arg2 === 1n;
      return 0;
    case 15: { // PR_SET_NAME
      const raw = c.mem.read(arg2, 16);
      const nul = raw.indexOf(0);
      c.t.comm = new TextDecoder().decode(raw.subarray(0, nul < 0 ? 15 : Math.min(nul, 15)));
      return 0;
    }
    case 16: { // PR_GET_NAME
      const b = new Uint8Array(16);
      b.set(new TextEncoder().encode(c.t.comm).subarray(0, 15));
      c.mem.write(arg2, b);
      return 0;
    }
    case 23: // PR_CAPBSET_READ
      if (arg2 > 40n) throw new LinuxError("EINVAL");
      return Number((cr.bounding >> arg2) & 1n);
    case 24: // PR_CAPBSET_DROP
      if (arg2 > 40n) throw new LinuxError("EINVAL");
      if (!cr.capable(8)) throw new LinuxError("EPERM"); // CAP_SETPCAP
      cr.bounding &= ~(1n << arg2);
      return 0;
    case 36: // PR_SET_CHILD_SUBREAPER
      c.p.subreaper = arg2 !== 0n;
      return 0;
    case 37: // PR_GET_CHILD_SUBREAPER
      c.mem.writeI32(arg2, c.p.subreaper ? 1 : 0);
      return 0;
    case 38: // PR_SET_NO_NEW_PRIVS
      if (arg2 !== 1n) throw new LinuxError("EINVAL");
      c.p.noNewPrivs = true;
      return 0;
    case 39: // PR_GET_NO_NEW_PRIVS
      return c.p.noNewPrivs ? 1 : 0;
    case 47: { // PR_CAP_AMBIENT
      const op = Number(arg2);
      const cap = c.args[2] ?? 0n;
      if (op === 4) { // CLEAR_ALL
        cr.ambient = 0n;
        return 0;
      }
      if (cap > 40n) throw new LinuxError("EINVAL");
      const bit = 1n << cap;
      if (op === 1) return (cr.ambient & bit) ? 1 : 0; // IS_SET
      if (op === 2) { // RAISE
        if (!(cr.permitted & bit) || !(cr.inheritable & bit)) throw new LinuxError("EPERM");
        cr.ambient |= bit;
        return 0;
      }
      if (op === 3) { // LOWER
        cr.ambient &= ~bit;
        return 0;
      }
      throw new LinuxError("EINVAL");
    }
  }
  throw new LinuxError("EINVAL");
}

function capget(c: SyscallContext): number {
  const hdr = c.mem.read(c.args[0]!, 8);
  const hv = new DataView(hdr.buffer);
  const version = hv.getUint32(0, true);
  if (version !== 0x20080522 && version !== 0x20071026 && version !== 0x19980330) {
    hv.setUint32(0, 0x20080522, true);
    c.mem.write(c.args[0]!, hdr);
    if (c.args[1]) throw new LinuxError("EINVAL");
    return 0;
  }
  const pid = hv.getInt32(4, true);
  const p = pid === 0 ? c.p : c.k.visibleProcess(c.p, pid);
  if (!p) throw new LinuxError("ESRCH");
  if (!c.args[1]) return 0;
  const words = version === 0x19980330 ? 1 : 2;
  const out = new Uint8Array(12 * words);
  const v = new DataView(out.buffer);
  const sets = [p.creds.effective, p.creds.permitted, p.creds.inheritable];
  for (let w = 0; w < words; w++) {
    sets.forEach((s, i) =>
      v.setUint32(12 * w + 4 * i, Number((s >> BigInt(32 * w)) & 0xffffffffn), true)
    );
  }
  c.mem.write(c.args[1]!, out);
  return 0;
}

function capset(c: SyscallContext): number {
  const hdr = c.mem.read(c.args[0]!, 8);
  const hv = new DataView(hdr.buffer);
  const version = hv.getUint32(0, true);
  const pid = hv.getInt32(4, true);
  if (pid !== 0 && pid !== c.p.pid) throw new LinuxError("EPERM");
  const words = version === 0x19980330 ? 1 : 2;
  const raw = c.mem.read(c.args[1]!, 12 * words);
  const v = new DataView(raw.buffer);
  const set = (i: number) => {
    let m = 0n;
    for (let w = 0; w < words; w++) {
      m |= BigInt(v.getUint32(12 * w + 4 * i, true)) << BigInt(32 * w);
    }
    return m;
  };
  const [e, pm, ih] = [set(0), set(1), set(2)];
  const cr = c.p.creds;
  if (pm & ~cr.permitted) throw new LinuxError("EPERM");
  if (e & ~pm) throw new LinuxError("EPERM");
  if (ih & ~(cr.inheritable | cr.permitted) && !cr.capable(8)) throw new LinuxError("EPERM");
  if (ih & ~(cr.inheritable | cr.bounding)) throw new LinuxError("EPERM");
  cr.effective = e;
  cr.permitted = pm;
  cr.inheritable = ih;
  cr.ambient &= pm & ih;
  return 0;
}

function sysinfo(c: SyscallContext): number {
  const b = new Uint8Array(112);
  const v = new DataView(b.buffer);
  const mem = sandboxMemory(c.k.processes.values(), c.k.memoryLimit);
  v.setBigInt64(0, BigInt(Math.floor(c.k.uptimeMs / 1000)), true);
  const load = Deno.loadavg().map((l) => BigInt(Math.round(l * 65536)));
  load.forEach((l, i) => v.setBigUint64(8 + 8 * i, l, true));
  v.setBigUint64(32, mem.total, true);
  v.setBigUint64(40, mem.free, true);
  v.setBigUint64(48, mem.shmem, true);
  v.setUint16(80, Math.min(c.k.processes.size, 0xffff), true);
  v.setUint32(104, 1, true); // mem_unit
  c.mem.write(c.args[0]!, b);
  return 0;
}

function setpgid(c: SyscallContext): number {
  const pid = i32(c.args[0]) || c.p.pid;
  const pgid = i32(c.args[1]) || pid;
  if (pgid < 0) throw new LinuxError("EINVAL");
  const target = c.k.visibleProcess(c.p, pid);
  if (!target || (target !== c.p && target.parent !== c.p)) throw new LinuxError("ESRCH");
  if (target.sid === target.pid) throw new LinuxError("EPERM");
  if (target.sid !== c.p.sid) throw new LinuxError("EPERM");
  if (
    pgid !== target.pid &&
    ![...c.k.processes.values()].some((p) => p.pgid === pgid && p.sid === c.p.sid)
  ) {
    throw new LinuxError("EPERM");
  }
  target.pgid = pgid;
  return 0;
}

/** The handlers, by system call name. */
export const PROCESS_HANDLERS: Record<string, Handler> = {
  getpid: (c) => c.p.pid,
  gettid: (c) => c.t.tid,
  getppid: (c) => c.p.parent?.pid ?? 0,
  getuid: (c) => c.p.creds.uid,
  geteuid: (c) => c.p.creds.euid,
  getgid: (c) => c.p.creds.gid,
  getegid: (c) => c.p.creds.egid,
  getresuid: (c) => ids(c, 1, 1, 1, "uid"),
  getresgid: (c) => ids(c, 1, 1, 1, "gid"),
  setuid: (c) => {
    const u = i32(c.args[0]);
    return c.p.creds.capable(7) ? setUids(c, u, u, u) : setUids(c, -1, u, -1);
  },
  setgid: (c) => {
    const g = i32(c.args[0]);
    return c.p.creds.capable(6) ? setGids(c, g, g, g) : setGids(c, -1, g, -1);
  },
  setreuid: (c) => setUids(c, i32(c.args[0]), i32(c.args[1]), -1),
  setregid: (c) => setGids(c, i32(c.args[0]), i32(c.args[1]), -1),
  setresuid: (c) => setUids(c, i32(c.args[0]), i32(c.args[1]), i32(c.args[2])),
  setresgid: (c) => setGids(c, i32(c.args[0]), i32(c.args[1]), i32(c.args[2])),
  setfsuid: (c) => {
    const old = c.p.creds.fsuid;
    const u = i32(c.args[0]);
    const cr = c.p.creds;
    if (u !== -1 && (cr.capable(7) || [cr.uid, cr.euid, cr.suid, cr.fsuid].includes(u))) {
      cr.fsuid = u;
    }
    return old;
  },
  setfsgid: (c) => {
    const old = c.p.creds.fsgid;
    const g = i32(c.args[0]);
    const cr = c.p.creds;
    if (g !== -1 && (cr.capable(6) || [cr.gid, cr.egid, cr.sgid, cr.fsgid].includes(g))) {
      cr.fsgid = g;
    }
    return old;
  },
  getgroups: (c) => {
    const n = i32(c.args[0]);
    const groups = c.p.creds.groups;
    if (n === 0) return groups.length;
    if (n < groups.length) throw new LinuxError("EINVAL");
    const b = new Uint8Array(4 * groups.length);
    groups.forEach((g, i) => new DataView(b.buffer).setUint32(4 * i, g, true));
    c.mem.write(c.args[1]!, b);
    return groups.length;
  },
  setgroups: (c) => {
    const n = i32(c.args[0]);
    if (n < 0 || n > 65536) throw new LinuxError("EINVAL");
    if (!c.p.creds.capable(6)) throw new LinuxError("EPERM");
    const raw = c.mem.read(c.args[1] ?? 0n, 4 * n);
    c.p.creds.groups = Array.from(
      { length: n },
      (_, i) => new DataView(raw.buffer).getUint32(4 * i, true),
    );
    return 0;
  },
  capget,
  capset,
  fork: (c) => {
    checkNproc(c);
    return PASSTHROUGH;
  },
  vfork: vforkAsFork,
  clone: (c) => clone(c, c.args[0] ?? 0n),
  execve: (c) => execve(c, -100, c.args[0]!, c.args[1] ?? 0n, c.args[2] ?? 0n, 0),
  execveat: (c) => {
    const flags = i32(c.args[4]);
    const path = c.mem.readCString(c.args[1]!, 4095);
    if (path === "" && flags & AT.EMPTY_PATH) {
      const f = c.p.fds.get(i32(c.args[0]));
      if (!f.path) throw new LinuxError("ENOENT");
      return execve(c, -100, c.args[1]!, c.args[2] ?? 0n, c.args[3] ?? 0n, flags);
    }
    return execve(c, i32(c.args[0]), c.args[1]!, c.args[2] ?? 0n, c.args[3] ?? 0n, flags);
  },
  wait4,
  waitid,
  kill,
  tkill: (c) => tkill(c, -1, i32(c.args[0]), i32(c.args[1])),
  tgkill: (c) => tkill(c, i32(c.args[0]), i32(c.args[1]), i32(c.args[2])),
  getpgid: (c) => {
    const pid = i32(c.args[0]);
    const p = pid === 0 ? c.p : c.k.visibleProcess(c.p, pid);
    if (!p) throw new LinuxError("ESRCH");
    return p.pgid;
  },
  getpgrp: (c) => c.p.pgid,
  setpgid,
  getsid: (c) => {
    const pid = i32(c.args[0]);
    const p = pid === 0 ? c.p : c.k.visibleProcess(c.p, pid);
    if (!p) throw new LinuxError("ESRCH");
    return p.sid;
  },
  setsid: (c) => {
    if ([...c.k.processes.values()].some((p) => p.pgid === c.p.pid)) throw new LinuxError("EPERM");
    c.p.sid = c.p.pid;
    c.p.pgid = c.p.pid;
    c.p.ctty = null;
    return c.p.pid;
  },
  uname,
  sethostname: (c) => {
    if (!c.p.creds.capable(21)) throw new LinuxError("EPERM");
    const len = size(c.args[1]);
    if (len > 64) throw new LinuxError("EINVAL");
    c.k.uts.hostname = new TextDecoder().decode(c.mem.read(c.args[0]!, len));
    return 0;
  },
  setdomainname: (c) => {
    if (!c.p.creds.capable(21)) throw new LinuxError("EPERM");
    const len = size(c.args[1]);
    if (len > 64) throw new LinuxError("EINVAL");
    c.k.uts.domainname = new TextDecoder().decode(c.mem.read(c.args[0]!, len));
    return 0;
  },
  prctl,
  getrlimit: (c) => rlimit(c, 0, i32(c.args[0]), 0n, c.args[1] ?? 0n),
  setrlimit: (c) => rlimit(c, 0, i32(c.args[0]), c.args[1] ?? 0n, 0n),
  prlimit64: (c) => rlimit(c, i32(c.args[0]), i32(c.args[1]), c.args[2] ?? 0n, c.args[3] ?? 0n),
  getrusage: (c) => {
    const who = i32(c.args[0]);
    if (![0, -1, 1].includes(who)) throw new LinuxError("EINVAL");
    let used: Rusage;
    if (who === -1) used = c.p.childUsage;
    else if (who === 1) used = hostRusage(c.p.hostTgid, [c.k.hostTid(c.t)], true);
    else used = c.k.selfUsage(c.p);
    c.mem.write(c.args[1]!, encodeRusage(used));
    return 0;
  },
  times: (c) => {
    if (c.args[0]) {
      const self = c.k.selfUsage(c.p);
      const kids = c.p.childUsage;
      const b = new Uint8Array(32);
      const v = new DataView(b.buffer);
      [self.userUs, self.systemUs, kids.userUs, kids.systemUs].forEach((us, i) =>
        v.setBigInt64(8 * i, us / US_PER_TICK, true)
      );
      c.mem.write(c.args[0]!, b);
    }
    return BigInt(Math.floor(c.k.uptimeMs / 10));
  },
  sysinfo,
  getrandom: (c) => {
    const flags = u32(c.args[2]);
    if (flags & ~7) throw new LinuxError("EINVAL");
    const n = size(c.args[1], 1 << 25);
    const b = new Uint8Array(n);
    for (let at = 0; at < n; at += 65536) crypto.getRandomValues(b.subarray(at, at + 65536));
    c.mem.write(c.args[0]!, b);
    return n;
  },
  getcpu: (c) => {
    if (c.args[0]) c.mem.writeI32(c.args[0], 0);
    if (c.args[1]) c.mem.writeI32(c.args[1], 0);
    return 0;
  },
  sched_getaffinity: (c) => {
    const len = size(c.args[1], 1024);
    if (len < 8 || len % 8) throw new LinuxError("EINVAL");
    const b = new Uint8Array(8);
    for (const i of onlineCpus()) if (i < 64) b[i >> 3]! |= 1 << (i & 7);
    c.mem.write(c.args[2]!, b);
    return 8;
  },
  sched_setaffinity: () => 0,
  sched_getscheduler: () => 0,
  sched_setscheduler: (c) => {
    if (i32(c.args[1]) !== 0) throw new LinuxError("EPERM");
    return 0;
  },
  sched_getparam: (c) => {
    c.mem.writeI32(c.args[1]!, 0);
    return 0;
  },
  sched_setparam: () => 0,
  sched_get_priority_max: (c) => (i32(c.args[0]) === 1 || i32(c.args[0]) === 2 ? 99 : 0),
  sched_get_priority_min: (c) => (i32(c.args[0]) === 1 || i32(c.args[0]) === 2 ? 1 : 0),
  sched_rr_get_interval: (c) => {
    c.mem.write(c.args[1]!, new Uint8Array(16));
    return 0;
  },
  getpriority: () => 20,
  setpriority: (c) => {
    if (i32(c.args[2]) < 0 && !c.p.creds.capable(23)) throw new LinuxError("EACCES");
    return 0;
  },
  personality: (c) => {
    const v = u32(c.args[0]);
    if (v !== 0xffffffff && v !== 0) throw new LinuxError("EINVAL");
    return 0;
  },
  clone3: () => {
    throw new LinuxError("ENOSYS", "clone3: C libraries fall back to clone");
  },
};
