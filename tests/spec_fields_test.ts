/**
 * The OCI spec's fields, one at a time, under runc and dvisor: the same
 * bundle (runc's default config with one field changed) and a command
 * that shows the field's effect; stdout and exit status must match.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { makeBundle, runBundle } from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";

type Config = {
  process: Record<string, unknown> & { user: Record<string, unknown>; env: string[] };
  root: Record<string, unknown>;
  mounts: Array<Record<string, unknown>>;
  [key: string]: unknown;
};

/** A field, the change, and what shows it. */
interface FieldCase {
  field: string;
  edit: (c: Config) => void;
  script: string;
  /** A writable copy of the rootfs (root.readonly false). */
  writableRoot?: boolean;
  /** What runc's run left in that copy (removed before dvisor's). */
  leftovers?: string[];
}

const CASES: FieldCase[] = [
  {
    field: "process.user uid, gid, additionalGids",
    edit: (c) => (c.process.user = { uid: 1000, gid: 1001, additionalGids: [5, 1002] }),
    script: "id -u; id -g; id -G",
  },
  {
    field: "process.user.umask",
    edit: (c) => (c.process.user.umask = 0o027),
    script: "umask; touch /tmp/f; stat -c %a /tmp/f",
  },
  {
    field: "process.cwd",
    edit: (c) => (c.process.cwd = "/etc"),
    script: "pwd",
  },
  {
    field: "process.env",
    edit: (c) => (c.process.env = ["PATH=/bin:/usr/bin", "A=b c", "EMPTY="]),
    script: "env | grep -v '^PWD=\\|^SHLVL=' | sort",
  },
  {
    field: "process.capabilities",
    edit: (c) => {
      const caps = ["CAP_CHOWN", "CAP_KILL"];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    },
    script: "grep ^Cap /proc/self/status",
  },
  {
    field: "process.rlimits",
    edit: (c) => (c.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 100, hard: 200 }]),
    script: "ulimit -n; ulimit -Hn",
  },
  {
    field: "process.noNewPrivileges",
    edit: (c) => (c.process.noNewPrivileges = false),
    script: "grep NoNewPrivs /proc/self/status",
  },
  {
    field: "process.oomScoreAdj",
    edit: (c) => (c.process.oomScoreAdj = 500),
    script: "cat /proc/self/oom_score_adj",
  },
  {
    field: "process.terminal false: /dev/tty is no terminal",
    edit: (c) => (c.process.terminal = false),
    script: "echo x 2>/dev/null > /dev/tty || echo no-tty; test -c /dev/tty && echo node",
  },
  {
    field: "hostname",
    edit: (c) => (c.hostname = "field-test"),
    script: "hostname; cat /proc/sys/kernel/hostname",
  },
  {
    field: "root.readonly",
    edit: (c) => (c.root.readonly = true),
    script: "touch /x 2>/dev/null && echo wrote || echo refused",
  },
  {
    field: "root.readonly false",
    edit: (c) => (c.root.readonly = false),
    script: "touch /x && echo wrote",
    writableRoot: true,
    leftovers: ["x"],
  },
  {
    field: "mounts: a file bound on a path the root lacks",
    edit: (c) => {
      c.root.readonly = false;
      c.mounts.push({
        destination: "/new/dir/bound",
        type: "bind",
        source: "/etc/hostname",
        options: ["rbind", "ro"],
      });
    },
    script: "cat /new/dir/bound; ls /new/dir",
    writableRoot: true,
    leftovers: ["new"],
  },
  {
    field: "mounts: tmpfs mode and size",
    edit: (c) =>
      c.mounts.push({
        destination: "/t",
        type: "tmpfs",
        source: "tmpfs",
        options: ["mode=700", "size=64k"],
      }),
    script: "stat -c %a /t; dd if=/dev/zero of=/t/f bs=1k count=100 2>/dev/null; echo $?; " +
      "stat -c %s /t/f",
  },
  {
    field: "mounts: ro bind",
    edit: (c) =>
      c.mounts.push({ destination: "/m", type: "bind", source: "/etc", options: ["rbind", "ro"] }),
    script:
      "test -f /m/hostname && echo seen; touch /m/x 2>/dev/null && echo wrote || echo refused",
  },
  {
    field: "mounts: noexec tmpfs",
    edit: (c) =>
      c.mounts.push({
        destination: "/nx",
        type: "tmpfs",
        source: "tmpfs",
        options: ["noexec"],
      }),
    script: "cp /bin/busybox /nx/b; /nx/b true 2>/dev/null && echo ran || echo refused",
  },
  {
    field: "mounts: mqueue (POSIX message queues as files)",
    edit: (c) =>
      c.mounts.push({
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      }),
    script: "stat -c %a /dev/mqueue; touch /dev/mqueue/jobs && stat -c '%a %s %F' " +
      "/dev/mqueue/jobs && cat /dev/mqueue/jobs; ls /dev/mqueue; rm /dev/mqueue/jobs; " +
      "ls /dev/mqueue | wc -l; mkdir /dev/mqueue/d 2>/dev/null || echo no directories; " +
      "grep -c ' /dev/mqueue mqueue ' /proc/mounts",
  },
];

Deno.test("spec fields: each as runc honours it", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  try {
    for (const c of CASES) {
      await t.step(c.field, async () => {
        let root = rootfs;
        if (c.writableRoot) {
          root = await makeBusyboxRootfs();
        }
        const bundle = await makeBundle({ rootfs: root, args: ["sh", "-c", c.script] });
        try {
          const path = `${bundle}/config.json`;
          const config = JSON.parse(await Deno.readTextFile(path)) as Config;
          c.edit(config);
          await Deno.writeTextFile(path, JSON.stringify(config));
          const runc = await runBundle("runc", bundle);
          for (const l of c.leftovers ?? []) {
            await Deno.remove(`${root}/${l}`, { recursive: true }).catch(() => {});
          }
          const dvisor = await runBundle("dvisor", bundle);
          assertEquals(
            { code: dvisor.code, stdout: dvisor.stdout },
            { code: runc.code, stdout: runc.stdout },
            `${c.field}: dvisor stderr ${dvisor.stderr}`,
          );
        } finally {
          await Deno.remove(bundle, { recursive: true });
          if (root !== rootfs) await Deno.remove(root, { recursive: true });
        }
      });
    }
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("linux.uidMappings: ids inside the container and on the host, as runc", async () => {
  const rootfs = await makeBusyboxRootfs();
  const shared = await Deno.makeTempDir({ prefix: "dvisor-userns-" });
  await Deno.chmod(shared, 0o777);
  const script = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; " +
    "stat -c '%u %g' /bin/busybox; touch /tmp/t; stat -c '%u %g' /tmp/t; " +
    "touch /root/made; stat -c '%u %g' /root/made; chown 70000 /root/made 2>/dev/null || echo refused";
  const bundle = await makeBundle({
    rootfs,
    args: ["sh", "-c", script],
    mounts: [{ destination: "/root", type: "bind", source: shared, options: ["rbind"] }],
  });
  try {
    const path = `${bundle}/config.json`;
    const config = JSON.parse(await Deno.readTextFile(path)) as Config;
    const linux = config.linux as Record<string, unknown> & { namespaces: unknown[] };
    linux.namespaces.push({ type: "user" });
    linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    await Deno.writeTextFile(path, JSON.stringify(config));
    const results: Record<string, { code: number; stdout: string; host: string }> = {};
    for (const runtime of ["runc", "dvisor"] as const) {
      const r = await runBundle(runtime, bundle);
      const st = await Deno.stat(`${shared}/made`).catch(() => {
        throw new Error(`${runtime} made no file: ${r.stderr}`);
      });
      results[runtime] = { code: r.code, stdout: r.stdout, host: `${st.uid} ${st.gid}` };
      await Deno.remove(`${shared}/made`);
    }
    assertEquals(results.runc!.host, "100000 200000");
    assertEquals(results.dvisor, results.runc);
    // Mappings without a user namespace: one line, as every spec error.
    linux.namespaces.pop();
    await Deno.writeTextFile(path, JSON.stringify(config));
    const bad = await runBundle("dvisor", bundle);
    assertEquals([bad.code, bad.stderr.trim().split("\n").length], [1, 1], bad.stderr);
    assertStringIncludes(bad.stderr, "user namespace");
  } finally {
    for (const d of [bundle, rootfs, shared]) await Deno.remove(d, { recursive: true });
  }
});
