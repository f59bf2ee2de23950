/**
 * poll, ppoll, select and pselect6: readiness of several descriptors, with
 * a timeout, parking the task until one of them is ready.
 *
 * @module
 */
import { LinuxError, type WaitQueue, WouldBlock } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { UNBLOCKABLE } from "../kernel/signals.ts";
import { POLL } from "../vfs/inode.ts";
import { decodeTimespec, i32 } from "./args.ts";

const MAX_FDS = 1048576;

interface Want {
  fd: number;
  events: number;
}

/** The deadline of a parked poll, kept across retries. */
interface PollState {
  deadline: number | null;
}

/** Readiness of each wanted descriptor, and the queues to wait on. */
function check(
  c: SyscallContext,
  wants: Want[],
): { revents: number[]; ready: number; queues: WaitQueue[] } {
  const revents: number[] = [];
  const queues = new Set<WaitQueue>();
  let ready = 0;
  for (const w of wants) {
    if (w.fd < 0) {
      revents.push(0);
      continue;
    }
    let f;
    try {
      f = c.p.fds.get(w.fd);
    } catch {
      revents.push(POLL.NVAL);
      ready++;
      continue;
    }
    const { events, queue } = f.poll();
    const got = events & (w.events | POLL.ERR | POLL.HUP);
    revents.push(got);
    if (got) ready++;
    else if (queue) queues.add(queue);
  }
  return { revents, ready, queues: [...queues] };
}

/**
 * Nothing is ready yet: parks the call until one of `queues` is notified
 * or its timeout passes (the deadline is kept across the call's retries).
 * Returns, for the caller to report nothing ready, when the timeout is 0
 * or has passed.
 *
 * @param c The call.
 * @param timeoutMs null: forever; 0: do not wait.
 * @param queues What may make something ready.
 * @throws {WouldBlock} Otherwise.
 */
export function waitUnlessTimedOut(
  c: SyscallContext,
  timeoutMs: number | null,
  queues: WaitQueue[],
): void {
  let state = c.t.syscallState as PollState | null;
  if (!state) {
    state = { deadline: timeoutMs === null ? null : performance.now() + timeoutMs };
    c.t.syscallState = state;
  }
  if (timeoutMs === 0) return;
  if (state.deadline !== null && performance.now() >= state.deadline) return;
  throw new WouldBlock(queues, state.deadline);
}

/** Waits as poll does: `timeoutMs` < 0 forever, 0 not at all. */
function waitFor(
  c: SyscallContext,
  wants: Want[],
  timeoutMs: number | null,
): { revents: number[]; ready: number } {
  const r = check(c, wants);
  if (r.ready === 0) waitUnlessTimedOut(c, timeoutMs, r.queues);
  return r;
}

function pollCall(c: SyscallContext, addr: bigint, nfds: number, timeoutMs: number | null): number {
  if (nfds < 0 || nfds > MAX_FDS) throw new LinuxError("EINVAL");
  const raw = nfds ? c.mem.read(addr, 8 * nfds) : new Uint8Array(0);
  const v = new DataView(raw.buffer);
  const wants: Want[] = [];
  for (let i = 0; i < nfds; i++) {
    wants.push({ fd: v.getInt32(8 * i, true), events: v.getInt16(8 * i + 4, true) & 0xffff });
  }
  const { revents, ready } = waitFor(c, wants, timeoutMs);
  revents.forEach((r, i) => v.setInt16(8 * i + 6, r, true));
  if (nfds) c.mem.write(addr, raw);
  return ready;
}

/**
 * Applies ppoll's, pselect's or epoll_pwait's temporary signal mask
 * (restored after the call or a handler).
 *
 * @param c The call.
 * @param maskAddr The sigset's address (0: none).
 * @param size Its size (8).
 */
export function withMask(c: SyscallContext, maskAddr: bigint, size: bigint): void {
  if (maskAddr === 0n || c.t.savedMask !== null) return;
  if (size !== 8n) throw new LinuxError("EINVAL");
  const mask = c.mem.readU64(maskAddr) & ~UNBLOCKABLE;
  c.t.savedMask = c.t.sigmask;
  c.t.sigmask = mask;
}

function timespecMs(c: SyscallContext, addr: bigint): number | null {
  if (addr === 0n) return null;
  const ns = decodeTimespec(c.mem.read(addr, 16));
  if (ns === null) throw new LinuxError("EINVAL");
  return Number(ns) / 1e6;
}

function selectCall(
  c: SyscallContext,
  nfds: number,
  sets: [bigint, bigint, bigint],
  timeoutMs: number | null,
): number {
  if (nfds < 0 || nfds > c.p.fds.limit) throw new LinuxError("EINVAL");
  const bytes = Math.ceil(nfds / 64) * 8;
  const read = sets.map((a) => (a && bytes ? c.mem.read(a, bytes) : null));
  const wants: Want[] = [];
  const origin: Array<[number, number]> = [];
  for (let fd = 0; fd < nfds; fd++) {
    let events = 0;
    const bit = (s: Uint8Array | null) => s !== null && (s[fd >> 3]! & (1 << (fd & 7))) !== 0;
    if (bit(read[0]!)) events |= POLL.IN;
    if (bit(read[1]!)) events |= POLL.OUT;
    if (bit(read[2]!)) events |= POLL.PRI;
    if (events) {
      c.p.fds.get(fd); // EBADF, as select reports it
      wants.push({ fd, events });
      origin.push([fd, events]);
    }
  }
  const { revents } = waitFor(c, wants, timeoutMs);
  const out = read.map((s) => (s ? new Uint8Array(s.length) : null));
  let count = 0;
  revents.forEach((r, i) => {
    const [fd, events] = origin[i]!;
    const set = (k: number) => {
      out[k]![fd >> 3]! |= 1 << (fd & 7);
      count++;
    };
    if (events & POLL.IN && r & (POLL.IN | POLL.HUP | POLL.ERR)) set(0);
    if (events & POLL.OUT && r & (POLL.OUT | POLL.ERR)) set(1);
    if (events & POLL.PRI && r & POLL.PRI) set(2);
  });
  sets.forEach((a, k) => {
    if (a && out[k]) c.mem.write(a, out[k]!);
  });
  return count;
}

/** The handlers, by system call name. */
export const POLL_HANDLERS: Record<string, Handler> = {
  poll: (c) => {
    const t = i32(c.args[2]);
    return pollCall(c, c.args[0] ?? 0n, i32(c.args[1]), t < 0 ? null : t);
  },
  ppoll: (c) => {
    withMask(c, c.args[3] ?? 0n, c.args[4] ?? 0n);
    return pollCall(c, c.args[0] ?? 0n, i32(c.args[1]), timespecMs(c, c.args[2] ?? 0n));
  },
  select: (c) => {
    let timeout: number | null = null;
    if (c.args[4]) {
      const raw = c.mem.read(c.args[4], 16);
      const v = new DataView(raw.buffer);
      const sec = v.getBigInt64(0, true);
      const usec = v.getBigInt64(8, true);
      if (sec < 0n || usec < 0n) throw new LinuxError("EINVAL");
      timeout = Number(sec) * 1000 + Number(usec) / 1000;
    }
    return selectCall(
      c,
      i32(c.args[0]),
      [c.args[1] ?? 0n, c.args[2] ?? 0n, c.args[3] ?? 0n],
      timeout,
    );
  },
  pselect6: (c) => {
    if (c.args[5]) {
      const raw = c.mem.read(c.args[5], 16);
      const v = new DataView(raw.buffer);
      withMask(c, v.getBigUint64(0, true), v.getBigUint64(8, true));
    }
    return selectCall(
      c,
      i32(c.args[0]),
      [c.args[1] ?? 0n, c.args[2] ?? 0n, c.args[3] ?? 0n],
      timespecMs(c, c.args[4] ?? 0n),
    );
  },
};
