/**
 * Every command in the documentation runs, as written, in a test:
 *
 * - the shell blocks (```sh) of README.md and docs/*.md run with bash, one
 *   script per page, as root in a mount namespace of their own whose
 *   /run, /etc/docker, /etc/containerd, /etc/containers and the managers'
 *   stores are private, so `dvisor install`, `systemctl restart docker`
 *   and `docker run` change nothing on the machine: `systemctl` there is
 *   this test's stand-in for the service manager (it starts private
 *   daemons with the configs the page wrote) and the images the pages
 *   name (busybox) are imported offline;
 * - ```sh ci blocks are what CI runs (tests/run.sh, .ci/run), so they must
 *   be found there;
 * - ```sh kubectl blocks need a Kubernetes cluster: they are listed, not run;
 * - TypeScript blocks run with `deno test --doc`;
 * - README.md's system call table is the table's current one.
 */
import { assert, assertEquals } from "@std/assert";
import { withSyscallTable } from "../docs/syscall_table.ts";
import { sandboxTraces } from "./support/bundle.ts";
import { imageTarball, writeOciArchive } from "./support/containerd.ts";
import { DVISOR, run } from "./support/run.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PAGES = [
  "README.md",
  ...[...Deno.readDirSync(`${ROOT}docs`)].filter((e) => e.name.endsWith(".md")).map((e) =>
    `docs/${e.name}`
  ).sort(),
];

/** A fenced block: its info string and its text. */
interface Block {
  info: string;
  text: string;
}

function blocks(page: string): Block[] {
  const text = Deno.readTextFileSync(`${ROOT}${page}`);
  return [...text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```\s*$/gm)].map((m) => ({
    info: m[1]!.trim(),
    text: m[2]!,
  }));
}

/** What each page needs running before its commands (as a host would have it). */
const SERVICES: Record<string, string[]> = {
  "docs/containerd.md": ["containerd"],
  "docs/kubernetes.md": ["containerd"],
};

/** The stand-in for systemctl: restarts the private daemons of the page's namespace. */
const SYSTEMCTL = `#!/bin/bash
# tests/docs_test.ts: what the service manager does on a host, for the
# daemons of this mount namespace (configs from /etc, state under /run).
set -euo pipefail
[ "$1" = restart ] || { echo "systemctl stand-in: only restart" >&2; exit 1; }
stop() { # pidfile
  if [ -f "$1" ]; then
    pid=$(cat "$1"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    rm -f "$1"
  fi
}
case "$2" in
  docker)
    stop /run/docker-test.pid
    dockerd --bridge none --iptables=false --ip-masq=false --storage-driver vfs >>/run/dockerd.log 2>&1 &
    echo $! > /run/docker-test.pid
    for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
    docker version >/dev/null || { tail /run/dockerd.log >&2; exit 1; }
    docker image inspect busybox >/dev/null 2>&1 || docker import "$DOCS_ROOTFS_TAR" busybox:latest >/dev/null
    ;;
  containerd)
    stop /run/containerd-test.pid
    containerd >>/run/containerd.log 2>&1 &
    echo $! > /run/containerd-test.pid
    for _ in $(seq 150); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
    ctr version >/dev/null || { tail /run/containerd.log >&2; exit 1; }
    ctr image ls -q | grep -qx docker.io/library/busybox:latest ||
      ctr image import --base-name docker.io/library/busybox "$DOCS_OCI_ARCHIVE" >/dev/null
    ;;
  *) echo "systemctl stand-in: unknown service $2" >&2; exit 1 ;;
esac
`;

/** Before a page's commands: private config and stores, images, services. */
function prelude(page: string): string {
  return `set -euo pipefail
for d in /run /etc/docker /etc/containerd /var/lib/docker /var/lib/containerd /var/lib/containers; do
  mkdir -p "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d"
done
# podman's configuration, plus what a host without systemd and with low
# hard limits needs (as tests/clients_test.ts gives on the command line).
mkdir -p "$WORK/etc-containers" && cp -a /etc/containers/. "$WORK/etc-containers/"
mount --bind "$WORK/etc-containers" /etc/containers
printf '[containers]\\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\\n[engine]\\ncgroup_manager = "cgroupfs"\\nevents_logger = "file"\\n' \\
  > /etc/containers/containers.conf
cleanup() {
  set +e
  if docker version >/dev/null 2>&1; then docker rm -f $(docker ps -aq) >/dev/null 2>&1; fi
  if ctr version >/dev/null 2>&1; then
    for c in $(ctr containers ls -q); do
      ctr tasks kill -s SIGKILL "$c" >/dev/null 2>&1; sleep 0.2
      ctr tasks rm -f "$c" >/dev/null 2>&1; ctr containers rm "$c" >/dev/null 2>&1
    done
  fi
  podman rm -a -f -t 0 >/dev/null 2>&1
  for id in $(dvisor list -q 2>/dev/null); do dvisor delete --force "$id"; done
  for f in /run/docker-test.pid /run/containerd-test.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && while [ -e "/proc/$(cat "$f")" ]; do sleep 0.1; done
  done
  podman system reset -f >/dev/null 2>&1
  grep -o ' /var/lib/containers[^ ]*' /proc/mounts | sort -r | xargs -r umount -l 2>/dev/null
  for g in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker /sys/fs/cgroup/*/default /sys/fs/cgroup/default \\
    /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent; do
    [ -d "$g" ] && find "$g" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  true
}
trap cleanup EXIT
${
    page === "docs/podman.md"
      ? 'podman import "$DOCS_ROOTFS_TAR" docker.io/library/busybox:latest >/dev/null\n'
      : ""
  }${(SERVICES[page] ?? []).map((s) => `systemctl restart ${s}\n`).join("")}cd "$WORK"
set -x
`;
}

Deno.test("README.md's system call table is the Sentry's current one (deno task docs)", () => {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  assert(withSyscallTable(readme) === readme, "README.md is out of date: run deno task docs");
});

Deno.test("every code block in the docs has a kind the docs test knows", () => {
  const known = /^(sh|sh ci|sh kubectl|ts|toml|yaml|json|text)$/;
  for (const page of PAGES) {
    for (const b of blocks(page)) {
      assert(known.test(b.info), `${page}: a block marked "${b.info}": use one of ${known}`);
    }
  }
});

Deno.test("the docs' ```sh ci blocks are what CI runs", () => {
  const ci = Deno.readTextFileSync(`${ROOT}tests/run.sh`) +
    Deno.readTextFileSync(`${ROOT}.ci/run`);
  for (const page of PAGES) {
    for (const b of blocks(page).filter((b) => b.info === "sh ci")) {
      for (const line of b.text.split("\n").map((l) => l.trim()).filter(Boolean)) {
        assert(ci.includes(line), `${page}: "${line}" is not in tests/run.sh or .ci/run`);
      }
    }
  }
  const kubectl = PAGES.flatMap((p) => blocks(p).filter((b) => b.info === "sh kubectl"));
  console.log(`not run (they need a Kubernetes cluster): ${kubectl.length} kubectl block(s)`);
});

Deno.test("the docs' TypeScript examples run", async () => {
  const pages = PAGES.filter((p) => blocks(p).some((b) => b.info === "ts"));
  const r = await run(Deno.execPath(), ["test", "-A", "--doc", ...pages], { cwd: ROOT });
  assertEquals(r.code, 0, r.stdout + r.stderr);
});

for (const page of PAGES) {
  const shell = blocks(page).filter((b) => b.info === "sh");
  if (shell.length === 0) continue;
  Deno.test(`every shell command in ${page} runs as written`, async () => {
    const work = await Deno.makeTempDir({ prefix: "dvisor-bundle-docs-" });
    const bin = `${work}/bin`;
    await Deno.mkdir(bin);
    await Deno.symlink(DVISOR, `${bin}/dvisor`);
    await Deno.symlink(DVISOR, `${work}/dvisor`);
    await Deno.writeTextFile(`${bin}/systemctl`, SYSTEMCTL, { mode: 0o755 });
    const before = sandboxTraces();
    try {
      const tar = await imageTarball(work);
      await writeOciArchive(tar, `${work}/image`);
      const script = prelude(page) + shell.map((b) => b.text).join("\n");
      await Deno.writeTextFile(`${work}/page.sh`, script);
      const r = await run("unshare", [
        "--mount",
        "--propagation",
        "private",
        "bash",
        `${work}/page.sh`,
      ], {
        env: {
          PATH: `${bin}:/usr/bin:/usr/sbin:/bin:/sbin`,
          WORK: work,
          DOCS_ROOTFS_TAR: tar,
          DOCS_OCI_ARCHIVE: `${work}/image.tar`,
          HOME: "/root",
        },
      });
      assertEquals(r.code, 0, `${page}:\n${r.stdout}\n${r.stderr}`);
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
    for (let i = 0; i < 100 && sandboxTraces().processes.length > before.processes.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(sandboxTraces(), before, `${page} left something of dvisor's`);
  });
}
