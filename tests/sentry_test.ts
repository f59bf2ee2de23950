/**
 * The Sentry runs real programs: static C programs, busybox scripts and
 * the host's dynamically linked tools and Python, on both platforms, with
 * the same output and exit code as running them natively.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  C_PROGRAMS,
  compileCPrograms,
  DVISOR,
  type Ran,
  run,
  runDo,
  SYSCALL_LOG,
  unservedSyscalls,
} from "./support/run.ts";

const PLATFORMS = ["seccomp", "ptrace"];

/** Every process's pid and executable, as the host sees them. */
function processExes(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      out.push([e.name, Deno.readLinkSync(`/proc/${e.name}/exe`)]);
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

/** Whether a process is `ancestor` or below it. */
function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === ancestor) return true;
    try {
      p = Number(Deno.readTextFileSync(`/proc/${p}/stat`).replace(/^.*\) /s, "").split(" ")[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/** Descriptors held by stub processes, as `pid:fd` (there should be none). */
function stubDescriptors(): string[] {
  return processExes().filter(([, exe]) => exe.includes("dvisor-stub")).flatMap(([pid]) => {
    try {
      return [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => `${pid}:${e.name}`);
    } catch {
      return [];
    }
  });
}

/** Stubs with any capability (effective, permitted or bounding), as `pid`. */
function stubCapabilities(): string[] {
  return processExes().filter(([, exe]) => exe.includes("dvisor-stub")).flatMap(([pid]) => {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const caps = ["CapEff", "CapPrm", "CapBnd"].map((k) =>
        new RegExp(`${k}:\\t([0-9a-f]+)`).exec(status)?.[1]
      );
      return caps.every((c) => c === "0000000000000000") ? [] : [pid];
    } catch {
      return [];
    }
  });
}

function same(native: Ran, sandboxed: Ran, what: string): void {
  assertEquals(
    { code: sandboxed.code, stdout: sandboxed.stdout, stderr: sandboxed.stderr },
    { code: native.code, stdout: native.stdout, stderr: native.stderr },
    what,
  );
}

/**
 * A TCP server on the host's loopback for the --network host test: it
 * answers each line, and "CONNECT port" makes it connect to that port and
 * say "hello back".
 */
function hostLineServer(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = async (conn: Deno.Conn) => {
    try {
      const buf = new Uint8Array(256);
      const n = await conn.read(buf);
      const line = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
      const m = /^CONNECT (\d+)$/.exec(line);
      if (m) {
        const back = await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
        await back.write(new TextEncoder().encode("hello back\n"));
        back.close();
      }
      await conn.write(new TextEncoder().encode(`host saw ${line}\n`));
    } catch {
      /* a client that only connected */
    } finally {
      conn.close();
    }
  };
  (async () => {
    try {
      for await (const conn of listener) serve(conn);
    } catch { /* closed */ }
  })();
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

for (const platform of PLATFORMS) {
  Deno.test(`Sentry (${platform}): static C programs behave as natively`, async (t) => {
    const bin = await compileCPrograms();
    // isolation, fork_limit, netlink and init_fault are for containers (run_test.ts,
    // resources_test.ts, compat_runc_test.ts).
    const forContainers = ["isolation", "fork_limit", "netlink", "init_fault"];
    for (const name of C_PROGRAMS.filter((n) => !forContainers.includes(n))) {
      await t.step(name, async () => {
        const args = [];
        let dirs: string[] = [];
        if (
          [
            "files",
            "splice",
            "exec_wait",
            "mmap_files",
            "sockets",
            "flock",
            "reclocks",
            "getdents",
            "inotify",
          ]
            .includes(
              name,
            )
        ) {
          dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
          args.push(dirs[0]!);
        }
        const native = await run(`${bin}/${name}`, args);
        if (dirs.length) args[0] = dirs[1]!;
        const sandboxed = await runDo(platform, [`${bin}/${name}`, ...args]);
        for (const d of dirs) await Deno.remove(d, { recursive: true });
        same(native, sandboxed, name);
      });
    }
  });

  Deno.test(`Sentry (${platform}): busybox shell scripts`, async () => {
    const script = [
      "echo one two three | tr a-z A-Z",
      "echo to-file > /tmp/sentry-redirect && cat < /tmp/sentry-redirect",
      "(cd /; echo subshell $(pwd)); echo still $(basename $PWD)",
      "sleep 0.1 & job=$!; wait $job; echo waited $?",
      "trap 'echo trapped USR1' USR1; kill -USR1 $$; echo after trap",
      "(exit 7); echo status $?",
      "sleep 5 & kill -TERM $!; wait $!; echo killed $?",
      "for i in 3 1 2; do echo $i; done | sort | head -2",
      "echo ${#PATH} > /dev/null; echo done; exit 3",
    ].join("\n");
    const native = await run("/bin/busybox", ["sh", "-c", script], { cwd: "/tmp" });
    const sandboxed = await runDo(platform, ["/bin/busybox", "sh", "-c", script], { cwd: "/tmp" });
    same(native, sandboxed, "busybox sh");
    assertEquals(sandboxed.code, 3);
  });

  Deno.test(`Sentry (${platform}): dynamically linked tools`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "dvisor-tools-" });
    try {
      await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
      for (
        const [name, text] of [["a.txt", "b\na\nb\nc\nb\n"], ["sub/x.log", "x\n"], [
          "sub/y.txt",
          "y\n",
        ]]
      ) {
        await Deno.writeTextFile(`${dir}/tree/${name}`, text!);
      }
      const cases: Array<[string, string[]]> = [
        ["ls", ["/bin/ls", "-la", "--time-style=+", `${dir}/tree`]],
        ["cat", ["/bin/cat", `${dir}/tree/a.txt`, `${dir}/tree/sub/x.log`]],
        ["sort | uniq -c", ["/bin/sh", "-c", `sort ${dir}/tree/a.txt | uniq -c`]],
        ["find", ["/usr/bin/find", `${dir}/tree`, "-name", "*.txt", "-type", "f"]],
        [
          "tar round trip",
          [
            "/bin/sh",
            "-c",
            `cd ${dir} && tar czf /tmp/t.tgz tree && mkdir -p /tmp/x && tar xzf /tmp/t.tgz -C /tmp/x && cmp /tmp/x/tree/a.txt tree/a.txt && find /tmp/x | sort | sed 's|/tmp/x||'; rm -rf /tmp/x /tmp/t.tgz`,
          ],
        ],
      ];
      for (const [name, cmd] of cases) {
        await t.step(name, async () => {
          const native = await run(cmd[0]!, cmd.slice(1));
          const sandboxed = await runDo(platform, cmd);
          same(native, sandboxed, name);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`Sentry (${platform}): Python with subprocess, threads, fork and files`, async () => {
    const script = `
import os, subprocess, threading, tempfile
out = subprocess.run(["echo", "from subprocess"], capture_output=True, text=True)
print(out.stdout.strip(), out.returncode)
results = []
ts = [threading.Thread(target=lambda i=i: results.append(i * i)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("threads", sorted(results))
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, b"child says hi"); os._exit(5)
os.close(w)
print(os.read(r, 100).decode(), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "f")
    with open(p, "w") as f: f.write("x" * 10000)
    print("file", os.path.getsize(p), len(open(p).read()))
print(subprocess.run("exit 3", shell=True).returncode)
`;
    const native = await run("/usr/bin/python3", ["-c", script]);
    const sandboxed = await runDo(platform, ["/usr/bin/python3", "-c", script]);
    same(native, sandboxed, "python3");
  });

  Deno.test(`Sentry (${platform}): Python's unix sockets: pairs, a listener, descriptor passing`, async () => {
    const dir = await Deno.makeTempDir();
    const script = `
import os, socket, sys, threading
got = bytearray()
a, b = socket.socketpair()
def reader():
    while len(got) < 300000:
        got.extend(b.recv(65536))
t = threading.Thread(target=reader); t.start()
a.sendall(b"x" * 300000)  # more than the buffer: the thread reads meanwhile
t.join(); print("big transfer", len(got))
path = os.path.join(sys.argv[1], "py.sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen()
def client():
    c = socket.socket(socket.AF_UNIX); c.connect(path); c.sendall(b"ping")
    print("client got", c.recv(10)); c.close()
t = threading.Thread(target=client); t.start()
conn, _ = srv.accept(); print("server got", conn.recv(10)); conn.sendall(b"pong"); t.join()
r, w = os.pipe(); os.write(w, b"fd!")
socket.send_fds(a, [b"m"], [r]); msg, fds, _, _ = socket.recv_fds(b, 10, 1)
print("fd passing", msg, os.read(fds[0], 10))
`;
    try {
      const native = await run("/usr/bin/python3", ["-c", script, dir]);
      await Deno.remove(`${dir}/py.sock`);
      const sandboxed = await runDo(platform, ["/usr/bin/python3", "-c", script, dir]);
      same(native, sandboxed, "python3 sockets");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`Sentry (${platform}): an HTTP server and client on the sandbox's loopback`, async () => {
    const dir = await Deno.makeTempDir();
    const script = `
import http.server, threading, urllib.request, os, sys
os.chdir(sys.argv[1])
open("index.txt", "w").write("served from the sandbox\\n")
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/index.txt").read().decode(), end="")
with urllib.request.urlopen(f"http://localhost:{port}/index.txt") as r: print(r.status, r.read())
srv.shutdown(); srv.server_close()
`;
    try {
      const native = await run("/usr/bin/python3", ["-c", script, dir]);
      const sandboxed = await runDo(platform, ["/usr/bin/python3", "-c", script, dir]);
      same(native, sandboxed, "http.server and urllib");
      assertEquals(native.stdout, "served from the sandbox\n200 b'served from the sandbox\\n'\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    // Nothing outside the sandbox is reachable with --network none; rtnetlink only.
    const outside = await runDo(platform, [
      "/usr/bin/python3",
      "-c",
      "import socket\nprint(socket.socket().connect_ex(('10.1.2.3', 80)))\n" +
      "s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW); s.bind((0, 0)); print(s.getsockname()[0] > 0)\n" +
      "try:\n  socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)\nexcept OSError as e:\n  print(e.errno)",
    ]);
    assertEquals(outside.stdout, "101\nTrue\n93\n", outside.stderr);
  });

  Deno.test(`Sentry (${platform}): asyncio (epoll): a TCP echo server, clients, a subprocess`, async () => {
    const script = `
import asyncio
async def handle(r, w):
    data = await r.readline()
    w.write(b"echo " + data); await w.drain(); w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    outs = []
    for i in range(3):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"line {i}\\n".encode()); await w.drain()
        outs.append((await r.readline()).decode().strip()); w.close()
    print(outs)
    srv.close(); await srv.wait_closed()
    proc = await asyncio.create_subprocess_exec("echo", "from a subprocess", stdout=asyncio.subprocess.PIPE)
    print((await proc.communicate())[0].decode().strip(), proc.returncode)
asyncio.run(main())
`;
    const native = await run("/usr/bin/python3", ["-c", script]);
    const sandboxed = await runDo(platform, ["/usr/bin/python3", "-c", script]);
    same(native, sandboxed, "asyncio");
    assertEquals(native.stdout.split("\n")[0], "['echo line 0', 'echo line 1', 'echo line 2']");
  });

  Deno.test(`Sentry (${platform}): ping (busybox and iputils) on the sandbox's loopback, as in a namespace with only lo`, async () => {
    const script = [
      "busybox ping -c 2 -i 0.2 127.0.0.1",
      "busybox ping -6 -c 2 -i 0.2 ::1",
      "/usr/bin/ping -c 2 -i 0.2 127.0.0.1",
      "/usr/bin/ping -6 -c 2 -i 0.2 ::1",
      "busybox ping -c 1 10.1.2.3; echo status $?",
      "/usr/bin/ping -c 1 -W 1 10.1.2.3; echo status $?",
      "grep -A1 '^Icmp:' /proc/net/snmp",
      "grep lo: /proc/net/dev",
    ].join("\n");
    // Times vary.
    const times = (r: Ran) => ({
      ...r,
      stdout: r.stdout.replace(/time[=<][\d.]+ ms/g, "time=T ms").replace(
        /, time \d+ms/g,
        ", time T",
      )
        .replace(/= [\d./]+ ms/g, "= T ms"),
    });
    const native = await run("unshare", [
      "-n",
      "/bin/busybox",
      "sh",
      "-c",
      `/bin/busybox ip link set lo up\n${script}`,
    ]);
    const sandboxed = await runDo(platform, ["/bin/busybox", "sh", "-c", script]);
    same(times(native), times(sandboxed), "ping");
    assertStringIncludes(
      sandboxed.stdout,
      "2 packets transmitted, 2 packets received, 0% packet loss",
    );
    assertStringIncludes(times(sandboxed).stdout, "64 bytes from ::1: icmp_seq=2 ttl=64 time=T ms");
  });

  Deno.test(`Sentry (${platform}): busybox netstat reads the sandbox's sockets from /proc/net`, async () => {
    const dir = await Deno.makeTempDir();
    const script = `${dir}/netstat.py`;
    // Ports vary (named after their sockets), rows come in hash order (sorted), and unix
    // sockets' reference counts and inodes are the kernel's own (left out).
    await Deno.writeTextFile(
      script,
      `
import socket, subprocess
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname()); a, _ = l.accept(); c.send(b"abc")
w = socket.create_connection(l.getsockname())
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1", 0))
x = socket.socket(socket.AF_UNIX); x.bind("\\0netstat-test"); x.listen(1)
names = {l.getsockname()[1]: "L", c.getsockname()[1]: "C", w.getsockname()[1]: "W", u.getsockname()[1]: "U"}
for args in (["-tan"], ["-uan"], ["-xan"]):
    out = subprocess.run(["/bin/busybox", "netstat", *args], capture_output=True, text=True).stdout
    for port, name in names.items(): out = out.replace(f":{port} ", f":{name} ")
    lines = out.splitlines()
    rows = [" ".join(f for f in l.split() if not f.isdigit()) if l.startswith("unix") else l for l in lines[2:]]
    print("\\n".join(lines[:2] + sorted(rows)))
`,
    );
    try {
      const native = await run("unshare", [
        "-n",
        "/bin/busybox",
        "sh",
        "-c",
        `/bin/busybox ip link set lo up && exec /usr/bin/python3 ${script}`,
      ]);
      const sandboxed = await runDo(platform, ["/usr/bin/python3", script]);
      same(native, sandboxed, "netstat");
      assert(/127\.0\.0\.1:L +0\.0\.0\.0:\* +LISTEN/.test(sandboxed.stdout), sandboxed.stdout);
      assertStringIncludes(sandboxed.stdout, "unix [ ACC ] STREAM LISTENING @netstat-test");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`Sentry (${platform}): --network host: TCP and UDP on the host's loopback`, async () => {
    const server = hostLineServer();
    try {
      const script = new URL("fixtures/py/host_network.py", import.meta.url).pathname;
      const args = [script, String(server.port)];
      const native = await run("/usr/bin/python3", args);
      const sandboxed = await runDo(platform, ["/usr/bin/python3", ...args], {
        globals: ["--network=host"],
      });
      same(native, sandboxed, "host network");
      assertEquals(native.code, 0, native.stderr);
      assertStringIncludes(sandboxed.stdout, "from the host: hello back");
      // rtnetlink reads the host's network but never changes it: a change is
      // answered with EPERM, as Linux answers a sender without CAP_NET_ADMIN
      // (natively: the same request from a user without it).
      const change = [
        "-c",
        "import os, socket, struct\nif os.getuid() == 0 and os.environ.get('AS_NOBODY'): os.setuid(65534)\n" +
        "s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n" +
        "msg = struct.pack('=LHHLL', 24, 20, 0x405, 7, 0) + struct.pack('=BBBBL', 2, 8, 0, 0, 1)\n" +
        "print('sent', s.send(msg))\nr = s.recv(4096)\n" +
        "n, t, f, seq, pid, err = struct.unpack('=LHHLLi', r[:20])\n" +
        "print('answer', n, t, f, seq, err, 'echoed type', struct.unpack('=H', r[24:26])[0])\n" +
        "print('port id is the socket', pid == s.getsockname()[0])",
      ];
      const nobody = await run("/usr/bin/python3", change, { env: { AS_NOBODY: "1" } });
      const refused = await runDo(platform, ["/usr/bin/python3", ...change], {
        globals: ["--network=host"],
      });
      same(nobody, refused, "a refused rtnetlink change");
      assertStringIncludes(refused.stdout, "answer 44 2 0 7 -1 echoed type 20");
    } finally {
      server.close();
    }
  });

  Deno.test(`Sentry (${platform}): --network host: /proc/net and /proc/sys/net are the host's`, async () => {
    const script = `
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
ino = os.readlink(f"/proc/self/fd/{s.fileno()}")
port = "%04X" % s.getsockname()[1]
rows = [l.split() for l in open("/proc/net/tcp").readlines()[1:]]
print(ino.startswith("socket:["), [(r[3], f"socket:[{r[9]}]" == ino) for r in rows if r[1].endswith(":" + port)])
print(open("/proc/sys/net/core/somaxconn").read().strip(), open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
# Only in the sandbox: natively, as root, this would change the host's setting.
if sys.argv[1:] == ["write"]:
    try:
        open("/proc/sys/net/core/somaxconn", "w").write("7")
    except OSError as e:
        print("write:", e.strerror)
`;
    const native = await run("/usr/bin/python3", ["-c", script]);
    const sandboxed = await runDo(platform, ["/usr/bin/python3", "-c", script, "write"], {
      globals: ["--network=host"],
    });
    assertEquals(sandboxed.stdout, native.stdout + "write: Permission denied\n");
    assertStringIncludes(sandboxed.stdout, "True [('0A', True)]");
  });

  for (
    const [name, fixture] of [["line discipline", "pty_ldisc"], [
      "flow control and packet mode",
      "pty_flow",
    ]]
  ) {
    Deno.test(`Sentry (${platform}): a pty's ${name}, as Linux's`, async () => {
      const script = new URL(`fixtures/py/${fixture}.py`, import.meta.url).pathname;
      const native = await run("/usr/bin/python3", [script]);
      const sandboxed = await runDo(platform, ["/usr/bin/python3", script]);
      same(native, sandboxed, `pty ${name}`);
      assertEquals(native.code, 0, native.stderr);
    });
  }

  Deno.test(`Sentry (${platform}): SQLite in WAL mode: snapshots, another process writing`, async () => {
    const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const script = `
import sqlite3, os, sys, multiprocessing
path = os.path.join(sys.argv[1], "t.db")
a = sqlite3.connect(path)
print(a.execute("pragma journal_mode=wal").fetchone())
a.execute("create table t(x)")
a.executemany("insert into t values (?)", [(i,) for i in range(1000)])
a.commit()
b = sqlite3.connect(path)
b.execute("begin")
print("reader sees", b.execute("select count(*) from t").fetchone())
a.execute("insert into t values (1000)"); a.commit()
print("reader's snapshot still", b.execute("select count(*) from t").fetchone())
b.execute("commit")
print("after its transaction", b.execute("select count(*) from t").fetchone())
def child(p):
    c = sqlite3.connect(p); c.execute("insert into t values (-1)"); c.commit()
if __name__ == "__main__":
    pr = multiprocessing.Process(target=child, args=(path,)); pr.start(); pr.join()
    print("another process wrote", a.execute("select count(*), min(x) from t").fetchone(), pr.exitcode)
    print(sorted(os.listdir(sys.argv[1])))
`;
    try {
      const native = await run("/usr/bin/python3", ["-c", script, dirs[0]!]);
      const sandboxed = await runDo(platform, ["/usr/bin/python3", "-c", script, dirs[1]!]);
      same(native, sandboxed, "sqlite3 WAL");
      assert(native.stdout.includes("another process wrote (1002, -1) 0"), native.stdout);
    } finally {
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  });

  Deno.test(`Sentry (${platform}): isolation from inside`, async () => {
    const bin = await compileCPrograms();
    const r = await runDo(platform, [`${bin}/isolation`, String(Deno.pid)]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout.trim().split("\n"), [
      "mount: EPERM",
      "ptrace attach: EPERM",
      "kill host pid: ESRCH",
      "bpf: EPERM",
      "perf_event_open: EACCES",
      "keyctl: ENOSYS",
      "userfaultfd: ENOSYS",
      "io_uring_setup: ENOSYS",
      "setns: EPERM",
      "unshare: EPERM",
      "open_by_handle_at: EPERM",
      "open descriptors: 3",
    ]);
  });
}

Deno.test("Sentry: uname reports the Sentry's kernel, pid 1 is the command", async () => {
  const r = await runDo("seccomp", [
    "/bin/busybox",
    "sh",
    "-c",
    "uname -sr; echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
  ]);
  assertEquals(
    r.stdout,
    "Linux 6.1.0-dvisor\n1\n/bin/busybox sh -c uname -sr; echo $$; cat /proc/1/cmdline | tr '\\0' ' ' ",
  );
});

Deno.test("Sentry: a container blocked on stdin wakes when data comes later", async () => {
  const child = new Deno.Command(DVISOR, {
    args: ["do", "--", "/bin/sh", "-c", "read a; echo first $a; read b; echo second $b"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  for (const line of ["one\n", "two\n"]) {
    await new Promise((r) => setTimeout(r, 300));
    await w.write(new TextEncoder().encode(line));
  }
  await w.close();
  const out = await child.output();
  assertEquals(new TextDecoder().decode(out.stdout), "first one\nsecond two\n");
  assertEquals(out.code, 0);
});

Deno.test("Sentry: the host's files stay untouched by writes in the sandbox", async () => {
  const path = `/tmp/dvisor-overlay-${Deno.pid}`;
  const r = await runDo("seccomp", ["/bin/sh", "-c", `echo inside > ${path} && cat ${path}`]);
  assertEquals(r.stdout, "inside\n");
  let exists = true;
  try {
    await Deno.stat(path);
  } catch {
    exists = false;
  }
  assertEquals(exists, false);
});

Deno.test("Sentry: bad programs fail like a shell says", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/corrupt`,
      new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]),
      { mode: 0o755 },
    );
    await Deno.writeTextFile(`${dir}/noexec`, "#!/bin/sh\necho no\n", { mode: 0o644 });
    const cases: Array<[string, string, number, string]> = [
      ["missing", "/nonexistent/program", 127, "no such file or directory"],
      ["not in PATH", "no-such-command-anywhere", 127, "executable file not found in $PATH"],
      ["not executable", `${dir}/noexec`, 126, "permission denied"],
      ["corrupt ELF", `${dir}/corrupt`, 126, "exec format error"],
    ];
    for (const [name, prog, code, text] of cases) {
      await t.step(name, async () => {
        const r = await runDo("seccomp", [prog]);
        assertEquals(r.code, code);
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertStringIncludes(r.stderr, text);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Sentry: from the host, no process runs the container's binary", async () => {
  const child = new Deno.Command("./dvisor", {
    args: ["do", "--", "/bin/sleep", "3"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let stubs = 0;
    let sleepers: string[] = [];
    for (let i = 0; i < 50 && stubs === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const exes = processExes();
      stubs = exes.filter(([, exe]) => exe.includes("dvisor-stub")).length;
      // Only this sandbox's descendants count (other containers may run sleep).
      sleepers = exes.filter(([, exe]) => exe === "/usr/bin/sleep" || exe === "/bin/sleep")
        .map(([pid]) => pid).filter((pid) => descendsFrom(Number(pid), child.pid));
    }
    assertEquals(stubs > 0, true, "the sandboxed sleep runs in a stub");
    assertEquals(sleepers, [], "no host process executes /bin/sleep");
    // sleep and its libraries are mapped from gofer descriptors by now: none stays in the stub.
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(stubDescriptors(), [], "stubs hold no descriptors");
    assertEquals(stubCapabilities(), [], "stubs have no capabilities");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("the system calls the compatibility programs met that the Sentry does not serve", async () => {
  // Printed for the record (issue 5 asks for the list); the programs above
  // passed with them refused.
  const list = unservedSyscalls();
  console.log(
    list.length
      ? `not served, seen in this suite:\n  ${list.join("\n  ")}`
      : "every system call seen in this suite was served",
  );
  await Deno.remove(SYSCALL_LOG).catch(() => {});
});
