/**
 * The supervisor side of `SECCOMP_RET_USER_NOTIF`: receive a trapped system
 * call from a seccomp listener, answer it with a value or an errno, let the
 * kernel run it (`continue`), or install a descriptor in the caller.
 *
 * The listener reaches the parent through spawn's
 * `seccomp.sendListenerOn` and {@linkcode receiveFds}.
 *
 * @module
 */
import { Arena } from "./arena_unsafe.ts";
import { fdArg, intArg, u64Arg } from "./checks.ts";
import { checked, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const NOTIF_RECV = 0xc0502100n;
const NOTIF_SEND = 0xc0182101n;
const NOTIF_ID_VALID = 0x40082102n;
const NOTIF_ADDFD = 0x40182103n;
const NOTIF_SIZE = 80;
const FLAG_CONTINUE = 1;
const ADDFD_FLAG_SEND = 2;

/** `seccomp(2)` flag that makes the filter return a listener descriptor. */
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;

/** A trapped system call waiting for an answer. */
export interface Notification {
  /** Cookie identifying it (pass to respond/addFd). */
  id: bigint;
  /** Thread id of the caller (in the listener's pid namespace). */
  pid: number;
  /** System call number. */
  nr: number;
  /** `AUDIT_ARCH_*`. */
  arch: number;
  /** Instruction pointer. */
  ip: bigint;
  /** The six arguments. */
  args: bigint[];
}

/**
 * A seccomp listener and the buffers its ioctls use.
 *
 * @example
 * ```ts ignore
 * using notifier = new SeccompNotifier(listenerFd);
 * const n = notifier.receive();
 * notifier.respond(n.id, 4242n);
 * ```
 */
export class SeccompNotifier {
  /** The listener descriptor (owned: closed on dispose). */
  readonly fd: number;
  #arena = new Arena(4096);
  #notif: number;
  #resp: number;
  #addfd: number;
  #id: number;

  /**
   * Takes ownership of a listener descriptor.
   *
   * @param listener The listener from SECCOMP_FILTER_FLAG_NEW_LISTENER.
   */
  constructor(listener: number) {
    fdArg(listener, "seccomp listener");
    this.fd = listener;
    this.#notif = this.#arena.alloc(NOTIF_SIZE);
    this.#resp = this.#arena.alloc(24);
    this.#addfd = this.#arena.alloc(24);
    this.#id = this.#arena.alloc(8);
  }

  /**
   * Blocks until a filtered system call arrives.
   *
   * @returns The call.
   * @throws {Errno} ENOENT when every filtered task has exited.
   */
  receive(): Notification {
    const v = this.#arena.view;
    const at = this.#notif;
    for (;;) {
      // The kernel insists on a zeroed buffer.
      this.#arena.bytes.fill(0, at, at + NOTIF_SIZE);
      const r = syscall(
        SYS.ioctl,
        BigInt(this.fd),
        NOTIF_RECV,
        this.#arena.addr(at),
      );
      if (r === -4n) continue;
      checked(r, "SECCOMP_IOCTL_NOTIF_RECV");
      return {
        id: v.getBigUint64(at, true),
        pid: v.getUint32(at + 8, true),
        nr: v.getInt32(at + 16, true),
        arch: v.getUint32(at + 20, true),
        ip: v.getBigUint64(at + 24, true),
        args: [0, 1, 2, 3, 4, 5].map((i) => v.getBigUint64(at + 32 + 8 * i, true)),
      };
    }
  }

  /**
   * Completes a call with a return value, or fails it with an errno.
   *
   * @param id The notification's id.
   * @param value The return value (when `errno` is 0).
   * @param errno A positive errno to fail the call with.
   * @throws {Errno} ENOENT if the caller is gone (was killed).
   */
  respond(id: bigint, value: bigint, errno = 0): void {
    u64Arg(id, "notification id");
    u64Arg(value, "return value");
    intArg(errno, 0, 4095, "errno");
    this.#send(id, BigInt.asIntN(64, value), -errno, 0);
  }

  /**
   * Lets the kernel execute the call as if it had not been filtered.
   *
   * @param id The notification's id.
   */
  continue(id: bigint): void {
    u64Arg(id, "notification id");
    this.#send(id, 0n, 0, FLAG_CONTINUE);
  }

  /**
   * Installs one of our descriptors in the caller and completes the call
   * with the new descriptor's number (SECCOMP_ADDFD_FLAG_SEND).
   *
   * @param id The notification's id.
   * @param fd Our descriptor.
   * @param cloexec Whether the caller's copy is close-on-exec.
   * @returns The caller's descriptor number.
   */
  addFdAndRespond(id: bigint, fd: number, cloexec = false): number {
    u64Arg(id, "notification id");
    const v = this.#arena.view;
    const at = this.#addfd;
    v.setBigUint64(at, id, true);
    v.setUint32(at + 8, ADDFD_FLAG_SEND, true);
    v.setUint32(at + 12, Number(fdArg(fd)), true);
    v.setUint32(at + 16, 0, true);
    v.setUint32(at + 20, cloexec ? 0o2000000 : 0, true);
    return checked(
      syscall(SYS.ioctl, BigInt(this.fd), NOTIF_ADDFD, this.#arena.addr(at)),
      "SECCOMP_IOCTL_NOTIF_ADDFD",
    );
  }

  /**
   * Reports whether a notification is still pending (its caller alive).
   *
   * @param id The notification's id.
   * @returns True while it can be answered.
   */
  isValid(id: bigint): boolean {
    u64Arg(id, "notification id");
    this.#arena.view.setBigUint64(this.#id, id, true);
    return syscall(
      SYS.ioctl,
      BigInt(this.fd),
      NOTIF_ID_VALID,
      this.#arena.addr(this.#id),
    ) === 0n;
  }

  #send(id: bigint, value: bigint, error: number, flags: number): void {
    const v = this.#arena.view;
    const at = this.#resp;
    v.setBigUint64(at, id, true);
    v.setBigInt64(at + 8, value, true);
    v.setInt32(at + 16, error, true);
    v.setUint32(at + 20, flags, true);
    for (;;) {
      const r = syscall(
        SYS.ioctl,
        BigInt(this.fd),
        NOTIF_SEND,
        this.#arena.addr(at),
      );
      if (r === -4n) continue;
      checked(r, "SECCOMP_IOCTL_NOTIF_SEND");
      return;
    }
  }

  /** Closes the listener and frees the buffers. */
  [Symbol.dispose](): void {
    syscall(SYS.close, BigInt(this.fd));
    this.#arena.dispose();
  }
}
