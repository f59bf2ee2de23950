/**
 * `dvisor run` on OCI bundles, compared with `runc run` on the same
 * bundle: a Debian rootfs with its dynamically linked tools and Python,
 * isolation of the container's root, writes to the root, exit statuses,
 * and bad input. Every dvisor case runs on both platforms.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  type BundleOptions,
  DEBIAN_ROOTFS,
  makeBundle,
  runBundle,
  sandboxTraces,
} from "./support/bundle.ts";
import { makeBusyboxRootfs } from "./support/rootfs.ts";
import { compileCPrograms, type Ran } from "./support/run.ts";

const PLATFORMS = ["seccomp", "ptrace"];

function debianRootfs(): string {
  try {
    Deno.statSync(`${DEBIAN_ROOTFS}/usr/bin/python3`);
  } catch {
    throw new Error(`No Debian rootfs at ${DEBIAN_ROOTFS}: run tests/run.sh, which makes it`);
  }
  return DEBIAN_ROOTFS;
}

/**
 * Runs a script in a bundle under runc and under dvisor on each platform,
 * and checks that output and exit code are the same.
 */
async function sameAsRunc(
  t: Deno.TestContext,
  name: string,
  bundle: Omit<BundleOptions, "args">,
  script: string,
  normalize: (s: string) => string = (s) => s,
): Promise<Ran> {
  const dir = await makeBundle({ ...bundle, args: ["/bin/sh", "-c", script] });
  try {
    const norm = (r: Ran) => ({
      code: r.code,
      stdout: normalize(r.stdout),
      stderr: normalize(r.stderr),
    });
    const runc = await runBundle("runc", dir);
    for (const platform of PLATFORMS) {
      await t.step(`${name} (${platform})`, async () => {
        const dvisor = await runBundle("dvisor", dir, [`--platform=${platform}`]);
        assertEquals(norm(dvisor), norm(runc));
      });
    }
    return runc;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs a bundle under runc, then under dvisor on each platform (with more
 * global flags), and checks that output and exit code are the same.
 */
async function bundleAsRunc(t: Deno.TestContext, bundle: string, flags: string[]): Promise<Ran> {
  const runc = await runBundle("runc", bundle);
  for (const platform of PLATFORMS) {
    await t.step(platform, async () => {
      const r = await runBundle("dvisor", bundle, [`--platform=${platform}`, ...flags]);
      assertEquals({ code: r.code, stdout: r.stdout }, { code: runc.code, stdout: runc.stdout });
    });
  }
  return runc;
}

Deno.test("dvisor run matches runc on a Debian rootfs", async (t) => {
  const rootfs = { rootfs: debianRootfs() };
  // Mount points made at start show their creation time, which may fall
  // in another minute for the second runtime; /proc's link count counts
  // the host's processes under runc (Linux's nr_processes is global).
  const startTimes = (s: string) =>
    s.replace(/ +/g, " ").replace(
      /^(d\S+ )(\d+)( \S+ \S+ \d+) \w{3} \d+ \d\d:\d\d (dev|proc|tmp)$/gm,
      (_m, mode, nlink, rest, name) => `${mode}${name === "proc" ? "N" : nlink}${rest} T ${name}`,
    );
  const ls = await sameAsRunc(t, "ls -la /", rootfs, "ls -la /", startTimes);
  assertStringIncludes(ls.stdout, "usr");
  await sameAsRunc(t, "cat", rootfs, "cat /etc/os-release /etc/debian_version");
  await sameAsRunc(t, "sort | uniq -c", rootfs, "cut -d: -f7 /etc/passwd | sort | uniq -c");
  await sameAsRunc(t, "find", rootfs, "find /etc/apt /usr/share/doc/dash; find / -xdev | wc -l");
  const tar = await sameAsRunc(
    t,
    "tar round trip",
    rootfs,
    [
      "cd /tmp && tar czf etc.tgz -C / etc; echo tar c $?",
      "mkdir x && tar xzf etc.tgz --no-same-owner -C x; echo tar x $?",
      "diff -r --no-dereference /etc x/etc && echo same",
      "tar tzf etc.tgz | sort | md5sum",
      "ls -lAR x/etc | md5sum", // not -a: .. is x, made now (the minute may differ)
    ].join("; "),
  );
  assertStringIncludes(tar.stdout, "same");
  const py = await sameAsRunc(
    t,
    "python3",
    rootfs,
    `python3 - <<'EOF'
import os, subprocess, threading, hashlib, json, tempfile, sys
r = subprocess.run(["sh", "-c", "echo from-child; echo err >&2; exit 3"], capture_output=True, text=True)
print("subprocess", r.returncode, r.stdout.strip(), r.stderr.strip())
print("check_output", subprocess.check_output(["ls", "/etc/apt"]).decode().split())
results, lock = [], threading.Lock()
def work(n):
    h = hashlib.sha256(str(n).encode()).hexdigest()[:8]
    with lock:
        results.append((n, h))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", sorted(results))
rd, wr = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(rd); os.write(wr, b"hello from fork"); os._exit(7)
os.close(wr)
data = os.read(rd, 100)
_, st = os.waitpid(pid, 0)
print("fork", data.decode(), os.WEXITSTATUS(st))
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "f.json")
    with open(p, "w") as f: json.dump({"a": [1, 2, 3]}, f)
    with open(p) as f: print("file", json.load(f), os.stat(p).st_size)
    os.rename(p, p + ".2")
    print(sorted(os.listdir(d)))
print("uid", os.getuid(), "not init", os.getpid() > 1)
sys.exit(5)
EOF`,
  );
  assertEquals(py.code, 5);
  assertStringIncludes(py.stdout, "fork hello from fork 7"); // SysV IPC through util-linux, limits from linux.sysctl, and what
  // multiprocessing builds on (named POSIX semaphores and shared memory in /dev/shm).
  const ipc = await sameAsRunc(
    t,
    "IPC: ipcmk, ipcs, multiprocessing",
    {
      ...rootfs,
      sysctl: { "kernel.msgmnb": "32768", "kernel.sem": "250 32000 32 128", "kernel.shmmni": "77" },
    },
    [
      "ipcs -l",
      "ipcmk -M 8192 -p 0640 >/dev/null && ipcmk -S 4 >/dev/null && ipcmk -Q >/dev/null",
      "ipcs -u",
      "ipcs -m | awk 'NR > 3 && NF { print $3, $4, $5, $6 }'",
      "ipcs -s | awk 'NR > 3 && NF { print $3, $4, $5 }'",
      "ipcs -q | awk 'NR > 3 && NF { print $3, $4, $5, $6 }'",
      "for id in $(ipcs -m | awk 'NR > 3 && NF { print $2 }'); do ipcrm -m $id; done",
      "ipcs -m | awk 'NR > 3 && NF' | wc -l",
      `python3 -c '
import multiprocessing as mp
def square(n): return n * n
if __name__ == "__main__":
    with mp.Pool(2) as pool: print("pool", pool.map(square, range(6)))
    v = mp.Value("i", 0); lock = mp.Lock()
    def add(v, lock):
        for _ in range(100):
            with lock: v.value += 1
    ps = [mp.Process(target=add, args=(v, lock)) for _ in range(3)]
    [p.start() for p in ps]; [p.join() for p in ps]
    print("shared value", v.value)
'`,
    ].join("; "),
  );
  // tar and gzip of a 100 MiB tree in the container's tmpfs: made, packed, unpacked, compared.
  const big = await sameAsRunc(
    t,
    "tar and gzip of 100 MiB",
    rootfs,
    [
      "cd /tmp && mkdir -p tree/a tree/b",
      `python3 -c 'import random; r = random.Random(7)
for i in range(100):
    open("tree/%s/f%02d" % ("ab"[i % 2], i), "wb").write(r.randbytes(1 << 20)[: (1 << 20) - i * 97])
open("tree/a/text", "w").write("dvisor " * 200000)'`,
      "du -sb tree | cut -f1",
      "tar cf - tree | gzip -1 > tree.tgz; echo pack $?",
      "mkdir x && gzip -dc tree.tgz | tar xf - -C x; echo unpack $?",
      "diff -r tree x/tree && echo same",
      "find x/tree -type f | sort | xargs md5sum | md5sum",
      "gzip -dc tree.tgz | tar tvf - | awk '{print $3, $6}' | sort | md5sum",
    ].join("; "),
  );
  assertStringIncludes(big.stdout, "same");
  // An interactive session on a pty made in the container (devpts, the line discipline).
  const session = await sameAsRunc(
    t,
    "pty session: bash and the Python REPL",
    rootfs,
    `python3 - <<'EOF'\n${await Deno.readTextFile(
      new URL("fixtures/py/pty_session.py", import.meta.url),
    )}\nEOF`,
  );
  assertStringIncludes(session.stdout, "[1]+  Stopped                 sleep 30");
  assertStringIncludes(session.stdout, "KeyboardInterrupt");
  assertStringIncludes(ipc.stdout, "max number of segments = 77");
  assertStringIncludes(ipc.stdout, "shared value 300");
});

Deno.test("dvisor run: procps (ps, top, free, pmap, pgrep, vmstat) as under runc", async (t) => {
  // A sleeping shell job and a Python process holding 64 MiB; the tools'
  // numbers differ between runs, so the output states facts about them.
  const script = `sleep 30 &
SLEEP=$!
python3 -c 'import time
b = bytearray(64 << 20)
for i in range(0, len(b), 4096): b[i] = 1
open("/tmp/ready", "w").close()
time.sleep(30)' &
PY=$!
while [ ! -e /tmp/ready ]; do sleep 0.1; done
ps -eo stat,comm --sort pid
echo init $(ps -o pid= -C sh) parents $(ps -o ppid= -C sleep,python3 | sort -u)
echo rss $(ps -o rss= -p $PY | awk '{print ($1 > 60000)}') vsz $(ps -o vsz= -p $PY | awk '{print ($1 > 65536)}')
echo threads $(ps -o nlwp= -p $PY) tty $(ps -o tty= -p $PY) user $(ps -o user= -p $PY)
free -k | awk 'NR == 2 { print "free:", ($2 > 0), ($3 > 60000), ($2 >= $3 + $4) }'
top -bn1 | awk '/^Tasks:/ { print "top tasks", $2 } /^MiB Mem/ { print "top mem", ($4 > 0) }'
top -bn1 -p $PY | awk '$1 == "'$PY'" { print "top python", $12, ($6 > 60000) }'
echo pgrep $(pgrep -c sleep) $(pgrep -f 'python3 -c' | wc -l)
pmap -x $PY | awk '/^total/ { print "pmap total rss", ($4 > 60000) }'
uptime | awk '{ print "uptime", ($0 ~ /load average/) }'
vmstat 1 1 | awk 'NR == 3 { print "vmstat fields", NF }'
kill $PY $SLEEP; wait
echo done`;
  const ran = await sameAsRunc(t, "procps", { rootfs: debianRootfs() }, script);
  assertStringIncludes(ran.stdout, "rss 1 vsz 1");
  assertStringIncludes(ran.stdout, "pmap total rss 1");
});

Deno.test("dvisor run: the container cannot reach host files", async (t) => {
  const secretDir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "dvisor-secret-" });
  const secret = `${secretDir}/secret`;
  await Deno.writeTextFile(secret, "host secret\n");
  const rootfs = await makeBusyboxRootfs();
  try {
    await Deno.symlink(secret, `${rootfs}/escape-abs`);
    await Deno.symlink(`../../../../../../../../..${secret}`, `${rootfs}/tmp-escape-rel`);
    await Deno.symlink("/proc/1/root/..", `${rootfs}/escape-proc`);
    const script = [
      "/escape-abs",
      "/tmp-escape-rel",
      `/../../../..${secret}`,
      `/proc/self/root${secret}`,
      `/proc/1/root${secret}`,
      `/proc/self/cwd/../../..${secret}`,
      `/escape-proc${secret}`,
    ].map((p) => `cat ${p} 2>&1 || echo "failed: ${p}"`).join("; ") +
      "; ls /proc/1/root/ /proc/self/root/.. | head -3";
    const r = await sameAsRunc(t, "escapes", { rootfs }, script);
    assertEquals(r.stdout.includes("host secret"), false);
    assertEquals(r.stdout.split("\n").filter((l) => l.startsWith("failed")).length, 7);
  } finally {
    await Deno.remove(rootfs, { recursive: true });
    await Deno.remove(secretDir, { recursive: true });
  }
});

Deno.test("dvisor run: writes to the root as runc, or kept in the sandbox with --overlay", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  try {
    await t.step("root.readonly refuses writes", async (t) => {
      const r = await sameAsRunc(
        t,
        "read-only root",
        { rootfs, readonly: true },
        "echo x > /newfile; echo $?; mkdir /newdir; echo $?; echo tmp > /tmp/ok && cat /tmp/ok",
      );
      assertStringIncludes(r.stderr, "Read-only file system");
    });
    const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);
    /** Writes and deletes in the root of a writable-root bundle. */
    const writeRoot = async (flags: string[]) => {
      await Deno.writeTextFile(`${rootfs}/etc/group`, "root:x:0:\n");
      const dir = await makeBundle({
        rootfs,
        readonly: false,
        args: [
          "/bin/sh",
          "-c",
          "echo new > /etc/written; rm /etc/group; cat /etc/written; ls /etc",
        ],
      });
      const r = await runBundle("dvisor", dir, flags);
      await Deno.remove(dir, { recursive: true });
      assertEquals(r, { code: 0, stdout: "new\npasswd\nwritten\n", stderr: "" });
    };
    for (const platform of PLATFORMS) {
      await t.step(`a writable root is written to (${platform})`, async () => {
        await writeRoot([`--platform=${platform}`]);
        assertEquals(await Deno.readTextFile(`${rootfs}/etc/written`), "new\n");
        assertEquals(await exists(`${rootfs}/etc/group`), false);
        await Deno.remove(`${rootfs}/etc/written`);
      });
      await t.step(`--overlay keeps the rootfs untouched (${platform})`, async () => {
        await writeRoot(["--overlay", `--platform=${platform}`]);
        assertEquals(await exists(`${rootfs}/etc/written`), false);
        assertEquals(await Deno.readTextFile(`${rootfs}/etc/group`), "root:x:0:\n");
      });
    }
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("dvisor run: masked and read-only paths as runc makes them", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  try {
    await Deno.mkdir(`${rootfs}/etc/secret`);
    await Deno.writeTextFile(`${rootfs}/etc/secret/key`, "hidden\n");
    await Deno.mkdir(`${rootfs}/etc/rodir`);
    await Deno.writeTextFile(`${rootfs}/etc/rodir/keep`, "kept\n");
    const r = await sameAsRunc(
      t,
      "masked and read-only",
      {
        rootfs,
        readonly: false,
        maskedPaths: ["/etc/passwd", "/etc/secret", "/not/there"],
        readonlyPaths: ["/etc/rodir"],
      },
      [
        "wc -c < /etc/passwd",
        "ls /etc/secret | wc -l",
        "echo x > /etc/secret/y; echo masked dir write $?",
        "echo w > /etc/rodir/f; echo read-only write $?",
        "cat /etc/rodir/keep",
        "echo ok > /etc/other && echo elsewhere writable && rm /etc/other",
      ].join("; "),
    );
    assertStringIncludes(r.stdout, "kept");
    assertStringIncludes(r.stderr, "Read-only file system");
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("dvisor run: hostname and domainname as runc sets them", async (t) => {
  const rootfs = debianRootfs();
  const args = [
    "/bin/sh",
    "-c",
    "hostname; domainname; uname -n; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname",
  ];
  // runc 1.1 predates the domainname field (runc 1.2 calls setdomainname(2)
  // for it): runc gets the same name through linux.sysctl kernel.domainname,
  // which it writes into the container's UTS namespace.
  const field = await makeBundle({ rootfs, args, hostname: "box", domainname: "example.org" });
  const sysctl = await makeBundle({
    rootfs,
    args,
    hostname: "box",
    sysctl: { "kernel.domainname": "example.org" },
  });
  try {
    const runc = await runBundle("runc", sysctl);
    assertEquals(runc.stdout, "box\nexample.org\nbox\nbox\nexample.org\n");
    for (const platform of PLATFORMS) {
      await t.step(`given (${platform})`, async () => {
        assertEquals(await runBundle("dvisor", field, [`--platform=${platform}`]), runc);
      });
    }
  } finally {
    await Deno.remove(field, { recursive: true });
    await Deno.remove(sysctl, { recursive: true });
  }
  const unnamed = await sameAsRunc(t, "not given", { rootfs }, args[2]!);
  assertEquals(unnamed.stdout, "test\n(none)\ntest\ntest\n(none)\n");
});

Deno.test("dvisor run: exit statuses as runc gives them", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  try {
    const cases: Array<[string, string]> = [
      ["exit code", "exit 6"],
      ["killed by a signal", "kill -9 $$"],
      ["terminated", "kill -TERM $$; sleep 1"],
      ["orphans do not hold it", "sleep 30 & exit 2"],
    ];
    for (const [name, script] of cases) await sameAsRunc(t, name, { rootfs }, script);
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("dvisor run: bad input gives one line, runc's status, and leaves nothing", async (t) => {
  const rootfs = await makeBusyboxRootfs();
  await Deno.writeTextFile(`${rootfs}/noexec`, "#!/bin/sh\necho no\n");
  await Deno.writeTextFile(`${rootfs}/corrupt`, "\x7fELF\x02\x01\x01\0garbage garbage garbage");
  await Deno.chmod(`${rootfs}/corrupt`, 0o755);
  const cases: Array<[string, string, string[]]> = [
    ["missing binary", rootfs, ["/nope"]],
    ["not in PATH", rootfs, ["nope"]],
    ["not executable", rootfs, ["/noexec"]],
    ["corrupt ELF", rootfs, ["/corrupt"]],
    ["a directory", rootfs, ["/tmp"]],
    ["missing rootfs", `${rootfs}/does-not-exist`, ["true"]],
    ["rootfs is a file", `${rootfs}/noexec`, ["true"]],
  ];
  try {
    for (const [name, root, args] of cases) {
      const dir = await makeBundle({ rootfs: root, args });
      try {
        const runc = await runBundle("runc", dir);
        for (const platform of PLATFORMS) {
          await t.step(`${name} (${platform})`, async () => {
            const before = sandboxTraces();
            const r = await runBundle("dvisor", dir, [`--platform=${platform}`]);
            assertEquals(r.code, runc.code, "runc's exit status");
            assertEquals(r.stdout, "");
            const lines = r.stderr.trimEnd().split("\n");
            assertEquals(lines.length, 1, r.stderr);
            assertEquals(lines[0]!.startsWith("dvisor: "), true, r.stderr);
            assertEquals(sandboxTraces(), before, "nothing left behind");
          });
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  } finally {
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("dvisor run --network host: the host's loopback, as runc without a network namespace", async (t) => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => new Response(`served ${new URL(req.url).pathname} to ${req.method}\n`),
  );
  const port = server.addr.port;
  const script = `python3 - <<'EOF'
import urllib.request, http.client, socket, errno
print(urllib.request.urlopen("http://127.0.0.1:${port}/index.txt").read().decode().strip())
c = http.client.HTTPConnection("127.0.0.1", ${port}); c.request("HEAD", "/x"); r = c.getresponse()
print("HEAD", r.status)
free = socket.socket(); free.bind(("127.0.0.1", 0)); closed = free.getsockname()[1]; free.close()
try:
    socket.create_connection(("127.0.0.1", closed))
except OSError as e:
    print("closed port:", errno.errorcode[e.errno])
EOF`;
  const bundle = await makeBundle({
    rootfs: debianRootfs(),
    hostNetwork: true,
    args: ["/bin/sh", "-c", script],
  });
  try {
    const runc = await bundleAsRunc(t, bundle, ["--network=host"]);
    assertStringIncludes(runc.stdout, "served /index.txt to GET");
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await server.shutdown();
  }
});

Deno.test("dvisor run: rtnetlink and interface ioctls show the loopback, as in runc's network namespace", async (t) => {
  const bin = await compileCPrograms();
  const rootfs = await makeBusyboxRootfs();
  const bundle = await makeBundle({
    rootfs,
    args: ["/c/netlink"],
    mounts: [{ destination: "/c", type: "bind", source: bin, options: ["rbind", "ro"] }],
  });
  try {
    const runc = await bundleAsRunc(t, bundle, []);
    assertStringIncludes(runc.stdout, "if_nameindex: 1 lo");
  } finally {
    await Deno.remove(bundle, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("dvisor run: ICMP, ping and /proc/net as in runc's network namespace", async (t) => {
  const bin = await compileCPrograms();
  const rootfs = await makeBusyboxRootfs();
  const fixtures = { destination: "/c", type: "bind", source: bin, options: ["rbind", "ro"] };
  // Raw sockets need CAP_NET_RAW, setegid and setgroups CAP_SETGID; the fixture writes
  // net.ipv4.ping_group_range, the container's own (/proc/sys not read-only).
  const icmp = await makeBundle({
    rootfs,
    args: ["/c/icmp"],
    mounts: [fixtures],
    capabilities: ["CAP_NET_RAW", "CAP_SETGID"],
    readonlyPaths: [],
  });
  const procnet = await makeBundle({ rootfs, args: ["/c/procnet"], mounts: [fixtures] });
  // busybox ping: a raw socket with CAP_NET_RAW; without it, a refusal.
  const script =
    "ping -c 2 -i 0.2 127.0.0.1; ping -6 -c 2 -i 0.2 ::1; ping -c 1 10.1.2.3; echo status $?; grep -c : /proc/net/raw";
  const ping = await makeBundle({
    rootfs,
    args: ["/bin/sh", "-c", script],
    capabilities: ["CAP_NET_RAW"],
  });
  const refused = await makeBundle({ rootfs, args: ["/bin/sh", "-c", script] });
  try {
    await t.step("icmp.c", async (t) => {
      const runc = await bundleAsRunc(t, icmp, []);
      assertStringIncludes(
        runc.stdout,
        "icmp: type 0 code 0 id ident seq 1 checksum ok payload same",
      );
    });
    await t.step("procnet.c", async (t) => {
      const runc = await bundleAsRunc(t, procnet, []);
      assertStringIncludes(runc.stdout, "st 0A tx 0 rx 1");
    });
    await t.step("busybox ping", async () => {
      const times = (s: string) =>
        s.replace(/time=[\d.]+ ms/g, "time=T ms").replace(/= [\d./]+ ms/g, "= T ms");
      for (const bundle of [ping, refused]) {
        const runc = await runBundle("runc", bundle);
        for (const platform of PLATFORMS) {
          const r = await runBundle("dvisor", bundle, [`--platform=${platform}`]);
          assertEquals([r.code, times(r.stdout), r.stderr], [
            runc.code,
            times(runc.stdout),
            runc.stderr,
          ]);
        }
        if (bundle === ping) {
          assertStringIncludes(runc.stdout, "2 packets transmitted, 2 packets received");
        }
      }
    });
  } finally {
    for (const b of [icmp, procnet, ping, refused]) await Deno.remove(b, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});

Deno.test("dvisor run: a network namespace given by path is the sandbox's network, as under runc", async (t) => {
  // A server in a network namespace of its own (lo up), which the container joins by path.
  const port = 18090 + (Deno.pid % 1000);
  const server = new Deno.Command("unshare", {
    args: [
      "--net",
      "/bin/busybox",
      "sh",
      "-c",
      `/bin/busybox ifconfig lo up && exec python3 -m http.server ${port} --bind 127.0.0.1`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const path = `/proc/${server.pid}/ns/net`;
  const script = `python3 - <<'EOF'
import urllib.request, socket, errno
for i in range(50):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:${port}/").status); break
    except OSError:
        import time; time.sleep(0.1)
print(sorted(n for _, n in socket.if_nameindex()))
EOF`;
  const bundle = await makeBundle({
    rootfs: debianRootfs(),
    networkPath: path,
    args: ["/bin/sh", "-c", script],
  });
  try {
    const runc = await bundleAsRunc(t, bundle, []);
    assertStringIncludes(runc.stdout, "200");
  } finally {
    await Deno.remove(bundle, { recursive: true });
    server.kill("SIGKILL");
    await server.status;
  }
});
