/**
 * A minimal busybox root filesystem for tests that pivot into a rootfs.
 *
 * @module
 */

/** Where Debian's busybox-static lives. */
export const BUSYBOX = "/bin/busybox";

/**
 * Builds a rootfs holding a static busybox with its applets linked in /bin,
 * and empty /proc, /dev, /tmp, /etc, /sys, world-readable so that an
 * unprivileged user namespace can use it too.
 *
 * @returns The rootfs path; remove it with `Deno.remove(path, { recursive: true })`.
 *
 * @example
 * ```ts
 * import { makeBusyboxRootfs } from "./rootfs.ts";
 * const root = await makeBusyboxRootfs();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function makeBusyboxRootfs(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dvisor-rootfs-" });
  await Deno.chmod(root, 0o755);
  for (const dir of ["bin", "proc", "dev", "tmp", "etc", "sys", "root"]) {
    await Deno.mkdir(`${root}/${dir}`, { mode: 0o755 });
  }
  await Deno.chmod(`${root}/tmp`, 0o1777);
  await Deno.copyFile(BUSYBOX, `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  const { stdout } = await new Deno.Command(BUSYBOX, { args: ["--list"] }).output();
  for (const applet of new TextDecoder().decode(stdout).trim().split("\n")) {
    if (applet && applet !== "busybox") await Deno.symlink("busybox", `${root}/bin/${applet}`);
  }
  await Deno.writeTextFile(
    `${root}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
  );
  await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\nnogroup:x:65534:\n");
  return root;
}
