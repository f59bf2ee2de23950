/**
 * A process's file descriptor table: numbers to open files, with the
 * close-on-exec flag per descriptor and RLIMIT_NOFILE.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import type { OpenFile } from "./inode.ts";

interface Slot {
  file: OpenFile;
  cloexec: boolean;
}

/** Descriptor numbers to open files. */
export class FdTable {
  readonly #slots: (Slot | undefined)[] = [];
  /** RLIMIT_NOFILE soft limit. */
  limit = 1024;
  #users = 1;

  /** Another process shares this table (clone with CLONE_FILES). */
  retain(): void {
    this.#users++;
  }

  /** A sharing process is done with it; the last one closes everything. */
  release(): void {
    if (--this.#users === 0) this.closeAll();
  }

  /**
   * The open file behind a descriptor.
   *
   * @param fd The descriptor.
   * @returns The file.
   * @throws {LinuxError} EBADF.
   */
  get(fd: number): OpenFile {
    const s = Number.isInteger(fd) && fd >= 0 ? this.#slots[fd] : undefined;
    if (!s) throw new LinuxError("EBADF");
    return s.file;
  }

  /**
   * The close-on-exec flag.
   *
   * @param fd The descriptor.
   * @returns Whether it is set.
   */
  cloexec(fd: number): boolean {
    this.get(fd);
    return this.#slots[fd]!.cloexec;
  }

  /**
   * Sets the close-on-exec flag.
   *
   * @param fd The descriptor.
   * @param on The flag.
   */
  setCloexec(fd: number, on: boolean): void {
    this.get(fd);
    this.#slots[fd]!.cloexec = on;
  }

  /**
   * Installs a file at the lowest free number >= `min`. The table takes
   * the caller's reference.
   *
   * @param file The file.
   * @param cloexec Close it at execve.
   * @param min The lowest acceptable number.
   * @returns The descriptor.
   * @throws {LinuxError} EMFILE.
   */
  add(file: OpenFile, cloexec: boolean, min = 0): number {
    let fd = min;
    while (this.#slots[fd]) fd++;
    if (fd >= this.limit) throw new LinuxError(min >= this.limit ? "EINVAL" : "EMFILE");
    this.#slots[fd] = { file, cloexec };
    return fd;
  }

  /**
   * Installs a file at a number, closing what was there (dup2). Takes the
   * caller's reference.
   *
   * @param fd The descriptor.
   * @param file The file.
   * @param cloexec Close it at execve.
   */
  set(fd: number, file: OpenFile, cloexec: boolean): void {
    if (!Number.isInteger(fd) || fd < 0 || fd >= this.limit) throw new LinuxError("EBADF");
    const old = this.#slots[fd];
    this.#slots[fd] = { file, cloexec };
    if (old) this.#dropped(old.file);
  }

  /**
   * Closes a descriptor.
   *
   * @param fd The descriptor.
   * @throws {LinuxError} EBADF.
   */
  close(fd: number): void {
    const file = this.get(fd);
    this.#slots[fd] = undefined;
    this.#dropped(file);
  }

  /** A descriptor of `file` was closed: the hooks run (POSIX record locks go), then its reference. */
  #dropped(file: OpenFile): void {
    for (const hook of FdTable.closeHooks) hook(this, file);
    file.unref();
  }

  /**
   * Called whenever a descriptor is closed or replaced, with the table and
   * its file: POSIX record locks, owned by the table, go when any
   * descriptor of the file does.
   */
  static readonly closeHooks: Array<(table: FdTable, file: OpenFile) => void> = [];

  /** Closes every descriptor marked close-on-exec. */
  closeOnExec(): void {
    this.#slots.forEach((s, fd) => {
      if (s?.cloexec) this.close(fd);
    });
  }

  /** Closes everything. */
  closeAll(): void {
    this.#slots.forEach((s, fd) => {
      if (s) this.close(fd);
    });
  }

  /**
   * A copy for fork: the same open files, each referenced once more.
   *
   * @returns The copy.
   */
  fork(): FdTable {
    const t = new FdTable();
    t.limit = this.limit;
    this.#slots.forEach((s, fd) => {
      if (!s) return;
      s.file.ref();
      t.#slots[fd] = { ...s };
    });
    return t;
  }

  /**
   * The open descriptors in order.
   *
   * @returns Their numbers.
   */
  numbers(): number[] {
    const out: number[] = [];
    this.#slots.forEach((s, fd) => {
      if (s) out.push(fd);
    });
    return out;
  }
}
