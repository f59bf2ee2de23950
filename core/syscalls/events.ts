/**
 * Event interfaces: epoll (epoll_create, epoll_create1, epoll_ctl,
 * epoll_wait, epoll_pwait, epoll_pwait2), eventfd (eventfd, eventfd2),
 * timerfd (timerfd_create, timerfd_settime, timerfd_gettime), signalfd
 * (signalfd, signalfd4) and memfd_create.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { UNBLOCKABLE } from "../kernel/signals.ts";
import { EpollFile } from "../vfs/epoll.ts";
import { EFD, EventFd } from "../vfs/eventfd.ts";
import { O, S_IFREG } from "../vfs/inode.ts";
import { TimerFd } from "../vfs/timerfd.ts";
import { SignalFd } from "../vfs/signalfd.ts";
import { SEAL, TmpFs, TmpNode } from "../vfs/tmpfs.ts";
import { decodeItimerspec, decodeTimespec, encodeItimerspec, i32, msUntil, u32 } from "./args.ts";
import { waitUnlessTimedOut, withMask } from "./poll.ts";

const CLOCKS = new Set([0, 1, 7, 8, 9]); // REALTIME, MONOTONIC, BOOTTIME, and the _ALARM ones
const TFD_TIMER_ABSTIME = 1;
const TFD_TIMER_CANCEL_ON_SET = 2;
const clocksOf = new WeakMap<TimerFd, number>();

/** Where memfd_create's files live (no mount shows them). */
const MEMFD_FS = new TmpFs({ type: "tmpfs" });
const MFD = { CLOEXEC: 1, ALLOW_SEALING: 2, NOEXEC_SEAL: 8, EXEC: 0x10 } as const;

function timerOf(c: SyscallContext, fd: bigint | undefined): TimerFd {
  const f = c.p.fds.get(i32(fd));
  if (!(f instanceof TimerFd)) throw new LinuxError("EINVAL");
  return f;
}

/** The most events one epoll_wait returns (as Linux: INT_MAX / sizeof(struct epoll_event)). */
const MAX_EVENTS = Math.floor(0x7fffffff / 12);

function epollOf(c: SyscallContext, fd: bigint | undefined): EpollFile {
  const f = c.p.fds.get(i32(fd));
  if (!(f instanceof EpollFile)) throw new LinuxError("EINVAL");
  return f;
}

function create(c: SyscallContext, flags: number): number {
  if (flags & ~O.CLOEXEC) throw new LinuxError("EINVAL");
  return c.p.fds.add(new EpollFile(), (flags & O.CLOEXEC) !== 0);
}

/** epoll_wait: `timeoutMs` null waits forever, 0 not at all. */
function wait(
  c: SyscallContext,
  ep: EpollFile,
  out: bigint,
  max: number,
  timeoutMs: number | null,
): number {
  if (max <= 0 || max > MAX_EVENTS) throw new LinuxError("EINVAL");
  const fds = c.p.fds;
  const events = ep.collect(max, (fd, file) => {
    try {
      return fds.get(fd) === file;
    } catch {
      return false;
    }
  });
  if (events.length === 0) {
    waitUnlessTimedOut(c, timeoutMs, [ep.queue]);
    return 0;
  }
  const buf = new Uint8Array(12 * events.length);
  const v = new DataView(buf.buffer);
  events.forEach((e, i) => {
    v.setUint32(12 * i, e.events, true);
    v.setBigUint64(12 * i + 4, e.data, true);
  });
  c.mem.write(out, buf);
  return events.length;
}

function msTimeout(t: number): number | null {
  return t < 0 ? null : t;
}

/** signalfd and signalfd4: a new one (fd -1) or a new mask for an existing one. */
function signalfdCall(c: SyscallContext, flags: number): number {
  if (flags & ~(O.NONBLOCK | O.CLOEXEC)) throw new LinuxError("EINVAL");
  if (u32(c.args[2]) !== 8) throw new LinuxError("EINVAL");
  const mask = c.mem.readU64(c.args[1]!);
  const fd = i32(c.args[0]);
  if (fd !== -1) {
    const f = c.p.fds.get(fd);
    if (!(f instanceof SignalFd)) throw new LinuxError("EINVAL");
    f.mask = mask & ~UNBLOCKABLE;
    return fd;
  }
  const k = c.k;
  return c.p.fds.add(new SignalFd(() => k.current, mask, flags), (flags & O.CLOEXEC) !== 0);
}

/** The handlers, by system call name. */
export const EVENT_HANDLERS: Record<string, Handler> = {
  epoll_create: (c) => {
    if (i32(c.args[0]) <= 0) throw new LinuxError("EINVAL");
    return create(c, 0);
  },
  epoll_create1: (c) => create(c, i32(c.args[0])),
  epoll_ctl: (c) => {
    const ep = epollOf(c, c.args[0]);
    const fd = i32(c.args[2]);
    const file = c.p.fds.get(fd);
    const op = i32(c.args[1]);
    let events = 0;
    let data = 0n;
    if (op !== 2) {
      const raw = new DataView(c.mem.read(c.args[3]!, 12).buffer);
      events = raw.getUint32(0, true);
      data = raw.getBigUint64(4, true);
    }
    ep.control(op, fd, file, events, data);
    return 0;
  },
  epoll_wait: (c) =>
    wait(c, epollOf(c, c.args[0]), c.args[1]!, i32(c.args[2]), msTimeout(i32(c.args[3]))),
  epoll_pwait: (c) => {
    withMask(c, c.args[4] ?? 0n, c.args[5] ?? 0n);
    return wait(c, epollOf(c, c.args[0]), c.args[1]!, i32(c.args[2]), msTimeout(i32(c.args[3])));
  },
  epoll_pwait2: (c) => {
    withMask(c, c.args[4] ?? 0n, c.args[5] ?? 0n);
    let timeout: number | null = null;
    if (c.args[3]) {
      const ns = decodeTimespec(c.mem.read(c.args[3], 16));
      if (ns === null) throw new LinuxError("EINVAL");
      timeout = Number(ns) / 1e6;
    }
    return wait(c, epollOf(c, c.args[0]), c.args[1]!, i32(c.args[2]), timeout);
  },
  timerfd_create: (c) => {
    const clock = i32(c.args[0]);
    const flags = i32(c.args[1]);
    if (!CLOCKS.has(clock)) throw new LinuxError("EINVAL");
    if (flags & ~(O.NONBLOCK | O.CLOEXEC)) throw new LinuxError("EINVAL");
    const t = new TimerFd((ms, fn) => c.k.setTimer(ms, fn), flags);
    clocksOf.set(t, clock);
    return c.p.fds.add(t, (flags & O.CLOEXEC) !== 0);
  },
  timerfd_settime: (c) => {
    const t = timerOf(c, c.args[0]);
    const flags = i32(c.args[1]);
    if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) throw new LinuxError("EINVAL");
    const { interval, value } = decodeItimerspec(c.mem.read(c.args[2]!, 32));
    const absolute = (flags & TFD_TIMER_ABSTIME) !== 0;
    // An absolute time in the past expires at once.
    const dueMs = Math.max(msUntil(clocksOf.get(t)!, value, absolute), absolute ? 0.000001 : 0);
    const old = t.arm(value > 0n ? dueMs : 0, Number(interval) / 1e6);
    if (c.args[3]) c.mem.write(c.args[3], encodeItimerspec(old));
    return 0;
  },
  timerfd_gettime: (c) => {
    c.mem.write(c.args[1]!, encodeItimerspec(timerOf(c, c.args[0]).remaining()));
    return 0;
  },
  memfd_create: (c) => {
    const flags = u32(c.args[1]);
    if (flags & ~(MFD.CLOEXEC | MFD.ALLOW_SEALING | MFD.NOEXEC_SEAL | MFD.EXEC)) {
      throw new LinuxError("EINVAL");
    }
    const raw = c.mem.read(c.args[0]!, 250);
    const end = raw.indexOf(0);
    if (end < 0) throw new LinuxError("EINVAL");
    const name = new TextDecoder().decode(raw.subarray(0, end));
    // MFD_NOEXEC_SEAL: never executable, and sealing allowed.
    const noexec = (flags & MFD.NOEXEC_SEAL) !== 0;
    const node = new TmpNode(
      MEMFD_FS,
      S_IFREG | (noexec ? 0o666 : 0o777),
      c.p.creds.euid,
      c.p.creds.egid,
    );
    if (flags & (MFD.ALLOW_SEALING | MFD.NOEXEC_SEAL)) node.seals = noexec ? SEAL.EXEC : 0;
    node.nlink = 0;
    const f = node.open(O.RDWR);
    f.path = `/memfd:${name} (deleted)`;
    return c.p.fds.add(f, (flags & MFD.CLOEXEC) !== 0);
  },
  signalfd: (c) => signalfdCall(c, 0),
  signalfd4: (c) => signalfdCall(c, i32(c.args[3])),
  eventfd: (c) => c.p.fds.add(new EventFd(BigInt(u32(c.args[0])), 0), false),
  eventfd2: (c) => {
    const flags = i32(c.args[1]);
    if (flags & ~(EFD.SEMAPHORE | EFD.NONBLOCK | EFD.CLOEXEC)) throw new LinuxError("EINVAL");
    return c.p.fds.add(new EventFd(BigInt(u32(c.args[0])), flags), (flags & EFD.CLOEXEC) !== 0);
  },
};
