/**
 * Memory system calls the Sentry serves (the self-only class runs
 * natively): brk, and mmap of files and shared memory.
 *
 * A file with host pages (a gofer file's donated descriptor, a tmpfs
 * file's memfd) is mapped from its descriptor, which enters the stub for
 * that one mmap and is closed there right after. Other files (procfs) are
 * mapped as private copies.
 *
 * @module
 */
import { SYS } from "../../platform/sysno.ts";
import { hostInode } from "../../platform/files.ts";
import { LinuxError } from "../errors.ts";
import type { Handler, SyscallContext } from "../kernel/kernel.ts";
import { O, S_IFCHR, S_IFMT, S_IFREG } from "../vfs/inode.ts";
import { quietly } from "../vfs/inotify.ts";
import { SEAL, TmpNode } from "../vfs/tmpfs.ts";
import { i32 } from "./args.ts";

const PAGE = 4096n;
const PROT_READ = 1n;
const PROT_WRITE = 2n;
const MAP_SHARED = 0x01n;
const MAP_PRIVATE = 0x02n;
const MAP_SHARED_VALIDATE = 0x03n;
const MAP_TYPE = 0x0fn;
const MAP_ANONYMOUS = 0x20n;

/**
 * Maps a host descriptor into the caller's stub: the descriptor enters the
 * stub for this one mmap and is closed there right after.
 *
 * @param c The call.
 * @param hostFd The Sentry's descriptor (a memfd, a donated file).
 * @param shown What /proc/PID/maps shows for the mapping.
 * @param mmapArgs addr, length, prot, flags and offset, as mmap takes them.
 * @returns mmap's result in the stub (an address, or -errno).
 */
export function mapHostFd(
  c: SyscallContext,
  hostFd: number,
  shown: { dev: bigint; ino: bigint; path: string },
  [addr, len, prot, flags, off]: bigint[],
): bigint {
  // /proc/PID/maps finds the mapping by the host inode and shows the Sentry's.
  c.k.mappedFiles.set(hostInode(hostFd), shown);
  const fd = c.k.machine.injectFd(c.k.hostTid(c.t), hostFd);
  try {
    return inject(c, SYS.mmap, addr!, len!, prot!, flags!, BigInt(fd), off!);
  } finally {
    inject(c, SYS.close, BigInt(fd));
  }
}

/**
 * Runs a system call in the caller's stub (munmap, mprotect, ...).
 *
 * @param c The call.
 * @param nr The number.
 * @param args Its arguments.
 * @returns Its result (or -errno).
 */
export function inject(c: SyscallContext, nr: number, ...args: bigint[]): bigint {
  return c.k.machine.inject(c.k.hostTid(c.t), nr, args);
}

function brk(c: SyscallContext): bigint {
  const mm = c.p.mm;
  const want = c.args[0] ?? 0n;
  if (want < mm.brkStart) return mm.brk;
  const end = (want + PAGE - 1n) & ~(PAGE - 1n);
  if (end > mm.brkMapped) {
    const r = inject(
      c,
      SYS.mmap,
      mm.brkMapped,
      end - mm.brkMapped,
      PROT_READ | PROT_WRITE,
      0x100000n | 0x22n,
      -1n,
      0n,
    );
    // MAP_FIXED_NOREPLACE: never clobber a mapping the program made there.
    if (r !== mm.brkMapped) {
      if (r > 0n) inject(c, SYS.munmap, r, end - mm.brkMapped);
      return mm.brk;
    }
    mm.brkMapped = end;
  } else if (end < mm.brkMapped) {
    inject(c, SYS.munmap, end, mm.brkMapped - end);
    mm.brkMapped = end;
  }
  mm.brk = want;
  return want;
}

function mmap(c: SyscallContext): bigint {
  const [addr = 0n, len = 0n, protArg = 0n, flagsArg = 0n, fdArg = 0n, off = 0n] = c.args;
  const prot = protArg & 0xffffffffn;
  const flags = flagsArg & 0xffffffffn;
  const type = flags & MAP_TYPE;
  if (len === 0n || (off & (PAGE - 1n))) throw new LinuxError("EINVAL");
  if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_SHARED_VALIDATE) {
    throw new LinuxError("EINVAL");
  }
  if (flags & MAP_ANONYMOUS) {
    // Shared anonymous memory: no file involved, the host can make it.
    return inject(c, SYS.mmap, addr, len, prot, flags, -1n, 0n);
  }
  const f = c.p.fds.get(i32(fdArg));
  if (!f.readable) throw new LinuxError("EACCES");
  const st = f.inode.stat();
  const kind = st.mode & S_IFMT;
  if (kind === S_IFCHR && st.rdev === 0x105n) {
    // /dev/zero: anonymous memory.
    return inject(
      c,
      SYS.mmap,
      addr,
      len,
      prot,
      (flags & ~MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS,
      -1n,
      0n,
    );
  }
  if (kind !== S_IFREG) throw new LinuxError("ENODEV");
  const shared = type !== MAP_PRIVATE;
  if (shared && (prot & PROT_WRITE) && (f.flags & O.ACCMODE) !== O.RDWR) {
    throw new LinuxError("EACCES");
  }
  // A file sealed against writes cannot get a writable shared mapping.
  if (
    shared && (prot & PROT_WRITE) && f.inode instanceof TmpNode &&
    (f.inode.seals & (SEAL.WRITE | SEAL.FUTURE_WRITE))
  ) {
    throw new LinuxError("EPERM");
  }
  const hostFd = f.mappableFd();
  if (hostFd !== null) {
    return mapHostFd(c, hostFd, { dev: st.dev, ino: st.ino, path: f.path ?? "" }, [
      addr,
      len,
      prot,
      flags,
      off,
    ]);
  }
  if (shared && (prot & PROT_WRITE)) {
    throw new LinuxError(
      "ENODEV",
      "writable shared mappings of in-memory files are not supported yet",
    );
  }
  const anonFlags = (flags & ~(MAP_TYPE | 0x80000n /* MAP_SYNC */)) | MAP_PRIVATE | MAP_ANONYMOUS;
  const at = inject(c, SYS.mmap, addr, len, PROT_READ | PROT_WRITE, anonFlags, -1n, 0n);
  if (at < 0n && at >= -4095n) return at;
  // Copy what the file has in range; the rest of the last page stays zero.
  const avail = st.size > off ? st.size - off : 0n;
  const copy = Number(avail < len ? avail : len);
  const CHUNK = 1 << 20;
  for (let done = 0; done < copy; done += CHUNK) {
    const n = Math.min(CHUNK, copy - done);
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = quietly(() => f.read(buf.subarray(got), off + BigInt(done + got)));
      if (r === 0) break;
      got += r;
    }
    c.mem.write(at + BigInt(done), buf.subarray(0, got));
    if (got < n) break;
  }
  if (prot !== (PROT_READ | PROT_WRITE)) inject(c, SYS.mprotect, at, len, prot);
  return at;
}

/** The handlers, by system call name. */
export const MEMORY_HANDLERS: Record<string, Handler> = {
  brk,
  mmap,
  msync: () => 0,
  mlock: () => 0,
  munlock: () => 0,
  mlockall: () => 0,
  munlockall: () => 0,
  mincore: (c) => {
    const len = Number(((c.args[1] ?? 0n) + PAGE - 1n) / PAGE);
    c.mem.write(c.args[2]!, new Uint8Array(len).fill(1));
    return 0;
  },
  membarrier: (c) => {
    const cmd = i32(c.args[0]);
    if (cmd === 0) return 0; // MEMBARRIER_CMD_QUERY: none supported
    throw new LinuxError("EINVAL");
  },
};
