/**
 * SysV shared memory segments. A segment's pages are a host memfd, which
 * `shmat` maps into the caller's stub (as a MAP_SHARED file), so every
 * process that attaches it shares the same memory, as on Linux.
 *
 * The Sentry counts attachments itself: `shmat` adds one, `shmdt`, exit
 * and execve take the process's away, fork gives the child a copy of the
 * parent's. A segment marked by IPC_RMID goes with its last attachment.
 *
 * @module
 */
import { closeQuietly } from "../../platform/fd.ts";
import { ftruncateFd, hostStat } from "../../platform/files.ts";
import { memfdCreate } from "../../platform/memfd.ts";
import { LinuxError } from "../errors.ts";
import { type IpcCreds, IpcObject, IpcRegistry, nowSeconds } from "./registry.ts";

/** shmctl commands and mode flags beyond the common ones. */
export const SHM = {
  LOCK: 11,
  UNLOCK: 12,
  STAT: 13,
  INFO: 14,
  STAT_ANY: 15,
  /** Mode flag: marked for removal. */
  DEST: 0o1000,
  /** Mode flag: SHM_LOCK'ed. */
  LOCKED: 0o2000,
  /** shmat flags. */
  RDONLY: 0o10000,
  RND: 0o20000,
  REMAP: 0o40000,
  EXEC: 0o100000,
} as const;

/** Limits: Linux's defaults of /proc/sys/kernel/shm*, which the namespace's sysctls change. */
export const SHM_LIMITS = {
  /** Largest segment (ULONG_MAX - 2^24). */
  max: 0xfffffffffeffffffn,
  min: 1n,
  /** Most segments. */
  mni: 4096,
  /** Pages in all segments (ULONG_MAX - 2^24). */
  all: 0xfffffffffeffffffn,
} as const;

const PAGE = 4096n;

/** A shared memory segment. */
export class ShmSegment extends IpcObject {
  /** Size asked for at creation. */
  readonly size: bigint;
  /** The pages. */
  readonly memfd: number;
  /** Processes' attachments. */
  nattch = 0;
  /** The processes with attachments of it. */
  readonly holders = new Set<object>();
  atime = 0;
  dtime = 0;
  /** Creator's and last attacher's pid. */
  readonly cpid: number;
  lpid = 0;

  /**
   * Makes a segment with zeroed pages.
   *
   * @param key Its key.
   * @param mode Its permission bits.
   * @param size Its size in bytes.
   * @param creds The creator.
   * @param pid The creator's pid.
   */
  constructor(key: number, mode: number, size: bigint, creds: IpcCreds, pid: number) {
    super(key, mode, creds);
    this.size = size;
    this.cpid = pid;
    this.memfd = memfdCreate(`SYSV${(key >>> 0).toString(16).padStart(8, "0")}`);
    try {
      ftruncateFd(this.memfd, pages(size) * PAGE);
    } catch {
      closeQuietly(this.memfd);
      throw new LinuxError("ENOMEM");
    }
  }

  /** @returns `struct shmid64_ds` (112 bytes). */
  encode(): Uint8Array {
    const b = new Uint8Array(112);
    b.set(this.encodePerm());
    const v = new DataView(b.buffer);
    v.setBigUint64(48, this.size, true);
    v.setBigInt64(56, BigInt(this.atime), true);
    v.setBigInt64(64, BigInt(this.dtime), true);
    v.setBigInt64(72, BigInt(this.ctime), true);
    v.setInt32(80, this.cpid, true);
    v.setInt32(84, this.lpid, true);
    v.setBigUint64(88, BigInt(this.nattch), true);
    return b;
  }
}

function pages(size: bigint): bigint {
  return (size + PAGE - 1n) / PAGE;
}

/** One attachment in a process's address space. */
export interface ShmAttachment {
  segment: ShmSegment;
  /** Bytes mapped (the size in whole pages). */
  length: bigint;
}

/**
 * A namespace's segments, and what each process has attached.
 *
 * @example
 * ```ts
 * import { ShmTable } from "./shm.ts";
 * const root = { euid: 0, egid: 0, groups: [], capable: () => true };
 * const shm = new ShmTable();
 * const seg = shm.get(0, 10000n, 0o600, root, 1);
 * const p = {};
 * shm.attached(p, 0x1000n, seg, 1);
 * shm.remove(seg, root);
 * if (seg.removed) throw new Error("still attached");
 * shm.detach(p, 0x1000n, 1);
 * if (!seg.removed) throw new Error("gone with its last attachment");
 * ```
 */
export class ShmTable {
  /** shmmax, shmall (pages), shmmni. */
  readonly limits: { max: bigint; all: bigint; mni: number } = {
    max: SHM_LIMITS.max,
    all: SHM_LIMITS.all,
    mni: SHM_LIMITS.mni,
  };
  readonly segments = new IpcRegistry<ShmSegment>(() => this.limits.mni);
  /** Attachments by process (any object standing for one), by address. */
  readonly #attached = new WeakMap<object, Map<bigint, ShmAttachment>>();

  /**
   * shmget.
   *
   * @param key The key.
   * @param size The size asked for.
   * @param flags IPC_CREAT, IPC_EXCL, permission bits.
   * @param creds Who asks.
   * @param pid Their pid.
   * @returns The segment.
   * @throws {LinuxError} EINVAL for a size out of range (or larger than an existing segment's).
   */
  get(key: number, size: bigint, flags: number, creds: IpcCreds, pid: number): ShmSegment {
    return this.segments.get(key, flags, creds, (k, mode) => {
      if (size < SHM_LIMITS.min || size > this.limits.max) throw new LinuxError("EINVAL");
      if (pages(size) + this.totalPages() > this.limits.all) throw new LinuxError("ENOSPC");
      return new ShmSegment(k, mode, size, creds, pid);
    }, (seg) => {
      if (seg.size < size) throw new LinuxError("EINVAL");
    });
  }

  /** Pages in every segment. */
  totalPages(): bigint {
    return this.segments.all().reduce((n, s) => n + pages(s.size), 0n);
  }

  /** Pages of every segment that hold data (SHM_INFO's shm_rss). */
  residentPages(): bigint {
    return this.segments.all().reduce((n, s) => n + hostStat(s.memfd).blocks / 8n, 0n);
  }

  /**
   * Records an attachment shmat made.
   *
   * @param proc The process.
   * @param addr Where it is mapped.
   * @param segment The segment.
   * @param pid The process's pid.
   */
  attached(proc: object, addr: bigint, segment: ShmSegment, pid: number): void {
    let map = this.#attached.get(proc);
    if (!map) this.#attached.set(proc, map = new Map());
    map.set(addr, { segment, length: pages(segment.size) * PAGE });
    segment.nattch++;
    segment.holders.add(proc);
    segment.atime = nowSeconds();
    segment.lpid = pid;
  }

  /**
   * shmdt's bookkeeping (the caller unmaps).
   *
   * @param proc The process.
   * @param addr The address shmat returned.
   * @param pid The process's pid.
   * @returns The attachment that was there.
   * @throws {LinuxError} EINVAL when no segment is attached there.
   */
  detach(proc: object, addr: bigint, pid: number): ShmAttachment {
    const a = this.#attached.get(proc)?.get(addr);
    if (!a) throw new LinuxError("EINVAL");
    const map = this.#attached.get(proc)!;
    map.delete(addr);
    if (![...map.values()].some((o) => o.segment === a.segment)) a.segment.holders.delete(proc);
    a.segment.dtime = nowSeconds();
    a.segment.lpid = pid;
    this.#release(a.segment);
    return a;
  }

  /**
   * Drops the attachments a new mapping replaced (shmat with SHM_REMAP).
   *
   * @param proc The process.
   * @param start Start of the new mapping.
   * @param length Its length.
   * @param pid The process's pid.
   */
  detachRange(proc: object, start: bigint, length: bigint, pid: number): void {
    for (const [addr, a] of this.#attached.get(proc) ?? []) {
      if (addr < start + length && addr + a.length > start) this.detach(proc, addr, pid);
    }
  }

  /**
   * Drops every attachment of a process (exit, execve).
   *
   * @param proc The process.
   * @param pid Its pid.
   */
  detachAll(proc: object, pid: number): void {
    const map = this.#attached.get(proc);
    if (!map) return;
    this.#attached.delete(proc);
    for (const a of map.values()) {
      a.segment.holders.delete(proc);
      a.segment.dtime = nowSeconds();
      a.segment.lpid = pid;
      this.#release(a.segment);
    }
  }

  /**
   * A fork: the child has the parent's attachments too.
   *
   * @param parent The parent.
   * @param child The child.
   */
  forked(parent: object, child: object): void {
    const map = this.#attached.get(parent);
    if (!map?.size) return;
    this.#attached.set(child, new Map(map));
    for (const a of map.values()) {
      a.segment.nattch++;
      a.segment.holders.add(child);
    }
  }

  /**
   * Drops the attachments their processes no longer map: munmap and mremap
   * run natively in a stub, so the Sentry learns of them only by looking.
   * (A segment marked by IPC_RMID goes with its last one, as at shmdt.)
   *
   * @param mapped Whether a process still maps an attachment at its address.
   * @param pidOf A process's pid.
   */
  reconcile(
    mapped: (proc: object, addr: bigint, a: ShmAttachment) => boolean,
    pidOf: (proc: object) => number,
  ): void {
    for (const seg of this.segments.all()) {
      for (const proc of [...seg.holders]) {
        for (const [addr, a] of [...(this.#attached.get(proc) ?? [])]) {
          if (a.segment === seg && !mapped(proc, addr, a)) this.detach(proc, addr, pidOf(proc));
        }
      }
    }
  }

  /**
   * IPC_RMID: the key is free at once, the segment goes with its last attachment.
   *
   * @param seg The segment.
   * @param creds Who asks.
   * @throws {LinuxError} EPERM.
   */
  remove(seg: ShmSegment, creds: IpcCreds): void {
    seg.checkOwner(creds);
    seg.mode |= SHM.DEST;
    this.segments.forgetKey(seg);
    if (seg.nattch === 0) this.#destroy(seg);
  }

  #release(seg: ShmSegment): void {
    seg.nattch--;
    if (seg.nattch === 0 && (seg.mode & SHM.DEST)) this.#destroy(seg);
  }

  #destroy(seg: ShmSegment): void {
    this.segments.remove(seg);
    closeQuietly(seg.memfd);
  }
}
