import { assertEquals, assertThrows } from "@std/assert";
import { parseResources } from "./oci_resources.ts";

Deno.test("parseResources(): blockIO checked and kept; zero weights leave things unchanged", () => {
  const { resources, ignored } = parseResources({
    blockIO: {
      weight: 300,
      leafWeight: 0,
      weightDevice: [{ major: 8, minor: 0, weight: 200 }],
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 4096 }],
    },
  }, "r");
  assertEquals(resources.blockIO, {
    weight: 300,
    weightDevice: [{ major: 8, minor: 0, weight: 200 }],
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 4096 }],
  });
  assertEquals(ignored, []);
  assertThrows(() => parseResources({ blockIO: { weight: 5 } }, "r"), RangeError, "10 to 1000");
  assertThrows(
    () => parseResources({ blockIO: { throttleReadBpsDevice: [{ major: 8, rate: 1 }] } }, "r"),
    RangeError,
    "minor",
  );
  assertThrows(
    () =>
      parseResources(
        { blockIO: { throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: -1 }] } },
        "r",
      ),
    RangeError,
    "rate",
  );
  assertThrows(() => parseResources({ blockIO: { weightDevice: {} } }, "r"), RangeError, "array");
  assertEquals(parseResources({ rdma: { mlx5: {} } }, "r").ignored.map((i) => i.field), ["rdma"]);
  const huge = parseResources({ hugepageLimits: [{ pageSize: "2MB", limit: 1 << 22 }] }, "r");
  assertEquals(huge.resources.hugepageLimits, [{ pageSize: "2MB", limit: 1 << 22 }]);
  assertThrows(
    () => parseResources({ hugepageLimits: [{ pageSize: "2mb", limit: 1 }] }, "r"),
    RangeError,
    "pageSize",
  );
});
