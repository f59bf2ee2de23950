/**
 * Loads dvisor's machine code (native.S) into this isolate.
 *
 * The shared object's bytes are embedded in native_bin.ts. They are written
 * to a memfd and opened with `Deno.dlopen("/proc/self/fd/N")`, so nothing is
 * unpacked on disk (this works the same in a `deno compile`d binary) and the
 * symbols get V8's fast FFI path. Every isolate (the main thread and each
 * Worker) loads its own handle on first use.
 *
 * Only files in platform/ may import this module.
 *
 * @module
 */
import { nativeLibraryBytes } from "./asm/native_bin.ts";

const SYSCALL_PARAMS = [
  "i32",
  "i64",
  "i64",
  "i64",
  "i64",
  "i64",
  "i64",
] as const;

const NATIVE_SYMBOLS = {
  /** Raw system call; arguments are BigInt (the fast path), returns -errno. */
  syscall: { name: "dv_syscall", parameters: SYSCALL_PARAMS, result: "i64" },
  /** The same, with a typed array as a1 (read, write, openat, ...). */
  syscallBuffer1: {
    name: "dv_syscall",
    parameters: ["i32", "i64", "buffer", "i64", "i64", "i64", "i64"],
    result: "i64",
  },
  /** The same on Deno's blocking thread pool: returns a Promise. */
  syscallAsync: {
    name: "dv_syscall",
    parameters: SYSCALL_PARAMS,
    result: "i64",
    nonblocking: true,
  },
  /** The clone runner: takes the table's address, returns pid or -errno. */
  run: { name: "dv_run", parameters: ["u64"], result: "i64" },
  /** Starts the doorbell child: takes its table's address, returns pid or -errno. */
  doorbell: { name: "dv_doorbell", parameters: ["u64"], result: "i64" },
} as const;

const LIBC_SYMBOLS = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The loaded native symbols. */
export type NativeSymbols = Deno.DynamicLibrary<
  typeof NATIVE_SYMBOLS
>["symbols"];

let loaded: NativeSymbols | undefined;

/**
 * Returns the native symbols, loading the shared object on first use.
 *
 * @returns The symbols of native.S.
 * @throws {Error} If the memfd cannot be made or dlopen fails.
 *
 * @example
 * ```ts
 * import { native } from "./native_unsafe.ts";
 * const pid = native().syscall(39, 0n, 0n, 0n, 0n, 0n, 0n);
 * if (Number(pid) !== Deno.pid) throw new Error();
 * ```
 */
export function native(): NativeSymbols {
  if (loaded) return loaded;
  const libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  try {
    const name = new TextEncoder().encode("dvisor-native\0");
    const MFD_CLOEXEC = 1;
    const fd = libc.symbols.memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
      throw new Error(
        `Cannot create a memfd for dvisor's machine code (errno ${
          libcErrno(libc.symbols.__errno_location())
        })`,
      );
    }
    try {
      const bytes = nativeLibraryBytes();
      let done = 0;
      while (done < bytes.length) {
        const n = Number(
          libc.symbols.write(
            fd,
            bytes.subarray(done),
            BigInt(bytes.length - done),
          ),
        );
        if (n <= 0) {
          throw new Error("Cannot write dvisor's machine code to its memfd");
        }
        done += n;
      }
      loaded = Deno.dlopen(`/proc/self/fd/${fd}`, NATIVE_SYMBOLS).symbols;
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
  return loaded;
}

function libcErrno(location: Deno.PointerValue): number {
  return location ? new Deno.UnsafePointerView(location).getInt32() : 0;
}

/**
 * Returns the address of a typed array's bytes, for a system call argument.
 *
 * Costs about 0.7 us; hot paths keep their buffers in an arena instead.
 * The caller keeps `buf` alive for as long as the kernel uses the address.
 *
 * @param buf The array.
 * @returns Its address, 0n for an empty array.
 *
 * @example
 * ```ts
 * import { addressOf } from "./native_unsafe.ts";
 * if (addressOf(new Uint8Array(8)) === 0n) throw new Error();
 * ```
 */
export function addressOf(buf: ArrayBufferView): bigint {
  if (!ArrayBuffer.isView(buf)) {
    throw new TypeError("Invalid buffer: expected a typed array or DataView");
  }
  if (buf.byteLength === 0) return 0n;
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array));
}

/**
 * Returns a pointer object for an address.
 *
 * @param address The address.
 * @returns The pointer (null for 0n).
 *
 * @example
 * ```ts
 * import { pointerAt } from "./native_unsafe.ts";
 * if (pointerAt(0n) !== null) throw new Error();
 * ```
 */
export function pointerAt(address: bigint): Deno.PointerValue {
  return Deno.UnsafePointer.create(address);
}
