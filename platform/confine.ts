/**
 * A running process confining itself: into an empty root (in the mount
 * namespace the runner gave it) and under a seccomp filter covering all of
 * its threads. Used by the gofer once it has opened what it serves.
 *
 * @module
 */
import { cString } from "./checks.ts";
import { addressOf } from "./native_unsafe.ts";
import { type Action, action, compileFilter, type Rule } from "./seccomp_bpf.ts";
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
  pivotToTmpfs(at, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555", () => {});
}

/**
 * Mounts a tmpfs on `at`, lets `fill` populate it, and makes it the root
 * of this mount namespace with the old root detached.
 */
function pivotToTmpfs(
  at: string,
  flags: bigint,
  options: string,
  fill: (str: (x: string) => bigint) => void,
): void {
  const keep: Uint8Array[] = [];
  const str = (x: string) => {
    const b = cString(x);
    keep.push(b);
    return addressOf(b);
  };
  checked(syscall(SYS.mount, 0n, str("/"), 0n, MS_REC | MS_PRIVATE, 0n), "make / private");
  checked(
    syscall(SYS.mount, str("tmpfs"), str(at), str("tmpfs"), flags, str(options)),
    `mount a new root on ${at}`,
  );
  fill(str);
  checked(syscall(SYS.chdir, str(at)), `chdir ${at}`);
  checked(syscall(SYS.pivot_root, str("."), str(".")), "pivot_root");
  checked(syscall(SYS.umount2, str("."), MNT_DETACH), "detach the old root");
  checked(syscall(SYS.chdir, str("/")), "chdir /");
}

/**
 * Makes a fresh root for the sandbox process in its mount namespace: a
 * read-only tmpfs holding only `/proc` (a read-only procfs of this
 * process's pid namespace, for the Sentry's views of its stubs) and an empty `/stub`
 * (where stubs mount their own empty root). No other host path stays
 * reachable; descriptors opened before stay usable.
 *
 * Preconditions: the process has a mount namespace of its own and
 * CAP_SYS_ADMIN in it; `at` is an existing directory.
 *
 * @param at An existing directory to build the new root on.
 * @returns Where stubs mount their empty root, in the new root.
 * @throws {Errno} If a step fails.
 *
 * @example
 * ```ts ignore
 * const stubDir = enterSandboxRoot("/run/dvisor/sandbox-root");
 * ```
 */
export function enterSandboxRoot(at: string): string {
  const flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  pivotToTmpfs(at, flags, "size=16k,mode=0755", (str) => {
    checked(syscall(SYS.mkdirat, -100n, str(`${at}/proc`), 0o555n), "mkdir proc");
    checked(syscall(SYS.mkdirat, -100n, str(`${at}/stub`), 0o555n), "mkdir stub");
    checked(
      // Read-only: the Sentry only reads it, and /proc/sys is the host's.
      syscall(SYS.mount, str("proc"), str(`${at}/proc`), str("proc"), flags | MS_RDONLY, 0n),
      "mount proc",
    );
    const MS_REMOUNT = 32n;
    checked(
      syscall(SYS.mount, 0n, str(at), 0n, MS_REMOUNT | MS_RDONLY | flags, 0n),
      "make the sandbox root read-only",
    );
  });
  return "/stub";
}

/**
 * Installs a seccomp filter on every thread of this process that makes the
 * listed system calls fail (EPERM) and allows everything else: what a Deno
 * process that serves files should never do.
 *
 * Preconditions: no_new_privs is set, or the process has CAP_SYS_ADMIN.
 *
 * @param names The system calls to refuse, each with the errno it gets
 *   (EPERM when only a name is given).
 * @throws {Errno} If seccomp fails.
 *
 * @example
 * ```ts ignore
 * denySyscalls(["execve", "execveat", "ptrace", ["keyctl", 38]]);
 * ```
 */
export function denySyscalls(names: ReadonlyArray<SyscallName | [SyscallName, number]>): void {
  installFilter(compileFilter({
    rules: names.map((n) =>
      typeof n === "string"
        ? { syscall: SYS[n], action: action.errno(1) }
        : { syscall: SYS[n[0]], action: action.errno(n[1]) }
    ),
    defaultAction: action.allow(),
  }));
}

/**
 * Installs a seccomp filter on every thread of this process that allows
 * only the given rules and answers every other call with `otherwise`
 * (EPERM by default): the sandbox process's allow-list. Children made
 * afterwards inherit it.
 *
 * Preconditions: no_new_privs is set, or the process has CAP_SYS_ADMIN.
 *
 * @param rules What is allowed (rules with other actions apply too).
 * @param otherwise The verdict for everything else.
 * @throws {Errno} If seccomp fails.
 *
 * @example
 * ```ts ignore
 * allowOnly([{ syscall: SYS.read, action: action.allow() }]);
 * ```
 */
export function allowOnly(rules: Rule[], otherwise: Action = action.errno(1)): void {
  installFilter(compileFilter({ rules, defaultAction: otherwise }));
}

function installFilter(program: Uint8Array): void {
  const fprog = new BigUint64Array(2);
  new DataView(fprog.buffer).setUint16(0, program.length / 8, true);
  fprog[1] = addressOf(program);
  checked(
    syscall(SYS.seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, addressOf(fprog)),
    "seccomp",
  );
}
