/**
 * Anonymous memory files (`memfd_create`): the embedded machine code, test
 * programs executed without touching the disk, and later tmpfs file data
 * that can be mmapped into a stub.
 *
 * @module
 */
import { bytesArg, cString, intArg } from "./checks.ts";
import { closeQuietly, writeAll } from "./fd.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { addressOf } from "./native_unsafe.ts";

const MFD_CLOEXEC = 1n;
const MFD_ALLOW_SEALING = 2n;
const F_ADD_SEALS = 1033n;
const F_SEAL_SEAL = 1n;
const F_SEAL_SHRINK = 2n;
const F_SEAL_GROW = 4n;
const F_SEAL_WRITE = 8n;

/**
 * Creates an empty memfd (close-on-exec).
 *
 * @param name Its name, shown in /proc/PID/fd (at most 249 bytes).
 * @returns The descriptor.
 * @throws {Errno} If memfd_create fails.
 *
 * @example
 * ```ts
 * import { memfdCreate } from "./memfd.ts";
 * import { closeFd } from "./fd.ts";
 * closeFd(memfdCreate("scratch"));
 * ```
 */
export function memfdCreate(name: string): number {
  const n = cString(name, "memfd name", 249);
  return checked(
    syscall(SYS.memfd_create, addressOf(n), MFD_CLOEXEC | MFD_ALLOW_SEALING),
    "memfd_create",
  );
}

/**
 * Creates a sealed, read-only memfd holding some bytes: a program that can
 * be executed with execveat, or data that can be mapped but never changed.
 *
 * @param name Its name.
 * @param bytes Its contents.
 * @param mode Permission bits (0o755 for a program).
 * @returns The descriptor.
 * @throws {Errno} If a step fails.
 *
 * @example
 * ```ts
 * import { sealedMemfd } from "./memfd.ts";
 * import { closeFd } from "./fd.ts";
 * closeFd(sealedMemfd("data", new Uint8Array([1, 2, 3])));
 * ```
 */
export function sealedMemfd(
  name: string,
  bytes: Uint8Array,
  mode = 0o644,
): number {
  bytesArg(bytes, "memfd contents");
  intArg(mode, 0, 0o7777, "file mode");
  const fd = memfdCreate(name);
  try {
    writeAll(fd, bytes);
    // Readers start at the beginning.
    checked(syscall(SYS.lseek, BigInt(fd), 0n, 0n), "lseek memfd");
    checked(syscall(SYS.fchmod, BigInt(fd), BigInt(mode)), "fchmod memfd");
    checked(
      syscall(
        SYS.fcntl,
        BigInt(fd),
        F_ADD_SEALS,
        F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE,
      ),
      "seal memfd",
    );
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}
