import { assertEquals } from "@std/assert";
import { elfDynamicSymbols, elfSections } from "../elf_sections.ts";
import { assemble, haveBinutils, MACHINE_CODE } from "./build.ts";

const binutils = await haveBinutils();

for (const entry of MACHINE_CODE) {
  const name = entry.source.pathname.split("/").slice(-2).join("/");
  Deno.test({
    name: `embedded machine code matches ${name} reassembled`,
    ignore: !binutils,
    async fn() {
      const embedded: Uint8Array = (await import(entry.module.href))[entry.exportName]();
      const fresh = await assemble(entry.source, entry.kind, entry.textAddress);
      const text = (file: Uint8Array) => elfSections(file).find((s) => s.name === ".text")!.data;
      assertEquals(text(embedded), text(fresh), `${name}: run deno run -A platform/asm/build.ts`);
      assertEquals(elfDynamicSymbols(embedded), elfDynamicSymbols(fresh));
    },
  });
}

Deno.test("the native library exports dv_syscall, dv_run and dv_doorbell", async () => {
  const { nativeLibraryBytes } = await import("./native_bin.ts");
  const symbols = elfDynamicSymbols(nativeLibraryBytes());
  assertEquals([...symbols.keys()].filter((s) => s.startsWith("dv_")).sort(), [
    "dv_doorbell",
    "dv_run",
    "dv_syscall",
  ]);
});
