import { assertEquals } from "@std/assert";
import { sealFilesUnder } from "./deno_cache_unsafe.ts";
import { closeFd, O, openFile, writeFd } from "./fd.ts";
import { checkedBig, syscall } from "./syscall.ts";
import { SYS } from "./sysno.ts";

const PROT_READ_WRITE = 3n;
const MAP_SHARED = 0x01n;

Deno.test("sealFilesUnder: descriptors become read-only, shared mappings private copies", () => {
  const dir = Deno.makeTempDirSync({ prefix: "dvisor-seal-" }) + "/";
  const outside = Deno.makeTempDirSync({ prefix: "dvisor-seal-outside-" }) + "/";
  const fd = openFile(`${dir}/db-shm`, O.RDWR | O.CREAT | O.CLOEXEC, 0o600);
  const other = openFile(`${outside}/kept`, O.RDWR | O.CREAT | O.CLOEXEC, 0o600);
  const page = new Uint8Array(4096).fill(7);
  writeFd(fd, page);
  const addr = checkedBig(
    syscall(SYS.mmap, 0n, 4096n, PROT_READ_WRITE, MAP_SHARED, BigInt(fd), 0n),
    "mmap",
  );
  const view = () =>
    new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(addr)!, 4096));
  try {
    view()[0] = 1; // shared: reaches the file
    assertEquals(Deno.readFileSync(`${dir}/db-shm`)[0], 1);

    assertEquals(sealFilesUnder(dir), { descriptors: 1, mappings: 1 });

    assertEquals([view()[0], view()[1]], [1, 7], "the mapping keeps what it held");
    view()[1] = 9; // private now: the file keeps its byte
    assertEquals([...Deno.readFileSync(`${dir}/db-shm`).subarray(0, 2)], [1, 7]);
    const flags = /^flags:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`))![1]!;
    assertEquals(parseInt(flags, 8) & O.ACCMODE, O.RDONLY, "the descriptor is read-only");
    assertEquals(parseInt(flags, 8) & O.CLOEXEC, O.CLOEXEC, "and still close-on-exec");
    const otherFlags = /^flags:\s+(\d+)/m.exec(
      Deno.readTextFileSync(`/proc/self/fdinfo/${other}`),
    )![1]!;
    assertEquals(parseInt(otherFlags, 8) & O.ACCMODE, O.RDWR, "files elsewhere stay as they were");
    assertEquals(sealFilesUnder(dir), { descriptors: 0, mappings: 0 }, "twice: nothing left");
  } finally {
    syscall(SYS.munmap, addr, 4096n);
    closeFd(fd);
    closeFd(other);
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});
