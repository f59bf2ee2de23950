/**
 * A running process confining itself: into an empty root (in the mount
 * namespace the runner gave it) and under a seccomp filter covering all of
 * its threads. Used by the gofer once it has opened what it serves.
 *
 * @module
 */
import { cString } from "./checks.ts";
import { addressOf } from "./native_unsafe.ts";
import { type Action, action, compileFilter } from "./seccomp_bpf.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS, type SyscallName } from "./sysno.ts";

const MS_RDONLY = 1n;
const MS_NOSUID = 2n;
const MS_NODEV = 4n;
const MS_NOEXEC = 8n;
const MS_REC = 16384n;
const MS_PRIVATE = 1n << 18n;
const MNT_DETACH = 2n;
const SECCOMP_SET_MODE_FILTER = 1n;
const SECCOMP_FILTER_FLAG_TSYNC = 1n;

/**
 * Makes an empty read-only tmpfs the root of this process's mount
 * namespace, so no host path can be reached any more. Descriptors opened
 * before stay usable.
 *
 * Preconditions: the process has a mount namespace of its own (made for it
 * by spawn) and CAP_SYS_ADMIN in it.
 *
 * @param at An existing directory to mount the empty root on.
 * @throws {Errno} If a step fails.
 *
 * @example
 * ```ts ignore
 * enterEmptyRoot("/run/dvisor/empty");
 * ```
 */
export function enterEmptyRoot(at: string): void {
  const keep: Uint8Array[] = [];
  const str = (x: string) => {
    const b = cString(x);
    keep.push(b);
    return addressOf(b);
  };
  checked(syscall(SYS.mount, 0n, str("/"), 0n, MS_REC | MS_PRIVATE, 0n), "make / private");
  checked(
    syscall(
      SYS.mount,
      str("tmpfs"),
      str(at),
      str("tmpfs"),
      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
      str("size=4k,mode=0555"),
    ),
    `mount an empty root on ${at}`,
  );
  checked(syscall(SYS.chdir, str(at)), `chdir ${at}`);
  checked(syscall(SYS.pivot_root, str("."), str(".")), "pivot_root");
  checked(syscall(SYS.umount2, str("."), MNT_DETACH), "detach the old root");
  checked(syscall(SYS.chdir, str("/")), "chdir /");
}

/**
 * Installs a seccomp filter on every thread of this process that makes the
 * listed system calls fail (EPERM) and allows everything else: what a Deno
 * process that serves files should never do.
 *
 * Preconditions: no_new_privs is set, or the process has CAP_SYS_ADMIN.
 *
 * @param names The system calls to refuse.
 * @param verdict What they get (EPERM by default).
 * @throws {Errno} If seccomp fails.
 *
 * @example
 * ```ts ignore
 * denySyscalls(["execve", "execveat", "ptrace", "mount"]);
 * ```
 */
export function denySyscalls(
  names: readonly SyscallName[],
  verdict: Action = action.errno(1),
): void {
  const program = compileFilter({
    rules: names.map((n) => ({ syscall: SYS[n], action: verdict })),
    defaultAction: action.allow(),
  });
  const fprog = new BigUint64Array(2);
  new DataView(fprog.buffer).setUint16(0, program.length / 8, true);
  fprog[1] = addressOf(program);
  checked(
    syscall(SYS.seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, addressOf(fprog)),
    "seccomp",
  );
}
