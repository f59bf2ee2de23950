/**
 * `linux.sysctl`: namespaced settings show in the container's /proc/sys as
 * under runc; a setting outside the container's namespaces fails create.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle, runBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";

Deno.test("linux.sysctl: namespaced settings, as runc sets them", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  const sysctl = {
    "net.ipv4.ping_group_range": "0 0",
    "net.core.somaxconn": "12",
    "net.ipv4.ip_local_port_range": "40000 40100",
    "kernel.shmmax": "123456789",
    "kernel.domainname": "dom.example",
  };
  const files = [
    "net/ipv4/ping_group_range",
    "net/core/somaxconn",
    "net/ipv4/ip_local_port_range",
    "kernel/shmmax",
    "kernel/domainname",
  ];
  try {
    const good = await makeBundle({
      rootfs,
      args: ["/bin/sh", "-c", files.map((f) => `cat /proc/sys/${f}`).join("; ")],
      sysctl,
    });
    const bad = await makeBundle({ rootfs, args: ["true"], sysctl: { "kernel.panic": "1" } });
    // Out of range: Linux refuses the write, so runc fails to start the container.
    const badNet = await makeBundle({
      rootfs,
      args: ["true"],
      sysctl: { "net.ipv4.ip_local_port_range": "2000 1000" },
    });
    try {
      const runc = await runBundle("runc", good);
      assertEquals(runc.stdout, "0\t0\n12\n40000\t40100\n123456789\ndom.example\n");
      await t.step("the container reads them", async () => {
        const r = await runBundle("dvisor", good);
        assertEquals([r.code, r.stdout], [0, runc.stdout]);
      });
      await t.step("a host-wide setting is refused", async () => {
        const r = await runBundle("dvisor", bad);
        assertEquals(r.code, (await runBundle("runc", bad)).code);
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertStringIncludes(r.stderr, "kernel.panic");
      });
      await t.step("a network setting out of its range is refused", async () => {
        const r = await runBundle("dvisor", badNet);
        assertEquals(r.code, (await runBundle("runc", badNet)).code);
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertStringIncludes(r.stderr, "net.ipv4.ip_local_port_range");
      });
    } finally {
      await Deno.remove(good, { recursive: true });
      await Deno.remove(bad, { recursive: true });
      await Deno.remove(badNet, { recursive: true });
    }
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("linux.readonlyPaths: /proc/sys is read-only, as under runc", async () => {
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", "echo x > /proc/sys/kernel/hostname; echo status $?; hostname"],
  });
  try {
    const runc = await runBundle("runc", bundle);
    assertEquals(runc.stdout, "status 1\ntest\n");
    const r = await runBundle("dvisor", bundle);
    assertEquals([r.code, r.stdout], [runc.code, runc.stdout]);
    assertStringIncludes(r.stderr, "Read-only file system");
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
