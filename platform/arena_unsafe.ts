/**
 * An arena of mmap'd memory for everything a child process or the kernel
 * reads by address: strings, argv arrays, spawn step tables, BPF programs,
 * msghdrs, iovecs, register buffers.
 *
 * V8 never moves or frees this memory, a vfork child shares it, a fork child
 * gets a copy of it, and its addresses are plain BigInts, so passing them to
 * a system call costs nothing extra.
 *
 * @module
 */
import { checkedBig, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";
import { cString } from "./checks.ts";

const PROT_READ_WRITE = 3n;
const MAP_PRIVATE_ANONYMOUS = 0x22n;

/**
 * A bump allocator over one anonymous private mapping.
 *
 * Preconditions: no address taken from the arena is handed to the kernel
 * or a child after {@linkcode Arena.dispose} (the memory is unmapped then;
 * views of it throw).
 *
 * @example
 * ```ts
 * import { Arena } from "./arena_unsafe.ts";
 * using arena = new Arena(4096);
 * const at = arena.alloc(8);
 * arena.view.setBigUint64(at, 42n, true);
 * if (arena.addr(at) !== arena.base + BigInt(at)) throw new Error();
 * ```
 */
export class Arena {
  /** Address of the first byte. */
  readonly base: bigint;
  /** Size of the mapping in bytes. */
  readonly size: number;
  /** The whole arena as bytes. */
  readonly bytes: Uint8Array;
  /** The whole arena as a little-endian view. */
  readonly view: DataView;
  #used = 0;
  #disposed = false;

  /**
   * Maps a new arena.
   *
   * @param size Bytes to map, rounded up to whole pages.
   * @throws {RangeError} If the size is not a positive integer up to 1 GiB.
   * @throws {Errno} If mmap fails.
   */
  constructor(size = 64 * 1024) {
    if (!Number.isInteger(size) || size <= 0 || size > 1 << 30) {
      throw new RangeError(
        `Invalid arena size ${size}: use a positive integer up to 1 GiB`,
      );
    }
    this.size = Math.ceil(size / 4096) * 4096;
    this.base = checkedBig(
      syscall(
        SYS.mmap,
        0n,
        BigInt(this.size),
        PROT_READ_WRITE,
        MAP_PRIVATE_ANONYMOUS,
        -1n,
        0n,
      ),
      "mmap arena",
    );
    const pointer = Deno.UnsafePointer.create(this.base);
    if (!pointer) throw new Error("mmap returned a null arena");
    const buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, this.size);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  /** Bytes handed out so far. */
  get used(): number {
    return this.#used;
  }

  /**
   * Reserves zeroed bytes.
   *
   * @param size How many.
   * @param align Their alignment (a power of two).
   * @returns The offset of the first byte.
   * @throws {RangeError} If the arena is full or disposed.
   */
  alloc(size: number, align = 8): number {
    if (this.#disposed) throw new RangeError("The arena was disposed");
    if (!Number.isInteger(size) || size < 0) {
      throw new RangeError(`Invalid allocation size ${size}`);
    }
    const at = (this.#used + align - 1) & ~(align - 1);
    if (at + size > this.size) {
      throw new RangeError(
        `The arena is full: ${size} bytes do not fit in ${this.size - at}`,
      );
    }
    this.#used = at + size;
    this.bytes.fill(0, at, at + size);
    return at;
  }

  /**
   * Returns the address of an offset.
   *
   * @param offset An offset from {@linkcode Arena.alloc}.
   * @returns The address.
   */
  addr(offset: number): bigint {
    return this.base + BigInt(offset);
  }

  /**
   * Copies bytes into the arena.
   *
   * @param data The bytes.
   * @param align Their alignment.
   * @returns Their address.
   */
  put(data: Uint8Array, align = 8): bigint {
    const at = this.alloc(data.length, align);
    this.bytes.set(data, at);
    return this.addr(at);
  }

  /**
   * Copies a string into the arena as a NUL-terminated C string.
   *
   * @param s The string.
   * @param what What it is, for the error message.
   * @returns Its address.
   * @throws {TypeError} If it contains a NUL byte.
   */
  cString(s: string, what = "string"): bigint {
    return this.put(cString(s, what), 1);
  }

  /**
   * Builds a NULL-terminated array of C strings (argv, envp).
   *
   * @param list The strings.
   * @param what What they are, for the error message.
   * @returns The array's address.
   * @throws {TypeError} If a string contains a NUL byte.
   */
  cStringArray(list: readonly string[], what = "string"): bigint {
    const addrs = list.map((s, i) => this.cString(s, `${what} ${i}`));
    const at = this.alloc(8 * (addrs.length + 1));
    addrs.forEach((a, i) => this.view.setBigUint64(at + 8 * i, a, true));
    return this.addr(at);
  }

  /** Forgets every allocation; the memory stays mapped. */
  reset(): void {
    this.#used = 0;
  }

  /** True once the arena was disposed. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Unmaps the arena. Idempotent. Its ArrayBuffer is detached first, so a
   * view kept past this point throws a TypeError instead of reading
   * unmapped memory.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    (this.bytes.buffer as ArrayBuffer).transfer(0);
    syscall(SYS.munmap, this.base, BigInt(this.size));
  }

  /** Same as {@linkcode Arena.dispose}, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
