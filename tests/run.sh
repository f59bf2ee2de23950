#!/usr/bin/env bash
# Sets up everything the test suite needs on Debian (as root; safe to
# repeat) and runs it: formatting, lint, type check and every test.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$here"

# Debian packages the tests use: busybox-static (the programs run in
# namespaces and sandboxes), binutils (reassembling the machine code),
# util-linux (setpriv for the unprivileged tests), git (the version's
# commit), gcc and libc6-dev (the static C test programs), python3, tar,
# gzip and findutils (programs the Sentry runs), iputils-ping (ping on the
# sandbox's loopback, next to busybox's), runc (the reference the
# containers' output is compared with), debootstrap (a Debian rootfs),
# podman, containerd and docker.io (the real clients tests/clients_test.ts
# drives, each with a private daemon), uidmap (newuidmap and newgidmap, for
# rootless podman).
need=()
for pkg in busybox-static binutils util-linux git gcc libc6-dev python3 tar gzip findutils \
  iputils-ping runc debootstrap podman containerd docker.io uidmap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installed daemons are not started (the tests start private ones).
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

# A Debian rootfs for the tests that compare `dvisor run` with `runc run`
# (tests/support/bundle.ts), made once and kept.
rootfs=/var/cache/dvisor/debian-rootfs
if [ ! -x "$rootfs/usr/bin/python3" ] || [ ! -x "$rootfs/usr/bin/ps" ] || [ ! -x "$rootfs/usr/bin/sqlite3" ]; then
  # The mirror apt uses (sources files that do not exist are skipped).
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p; s/^deb \(http[^ ]*debian\) bookworm .*/\1/p' |
    head -1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "tests/run.sh: making a Debian rootfs in $rootfs from $mirror (about a minute)"
  mkdir -p /var/cache/dvisor
  rm -rf "$rootfs.tmp"
  if ! debootstrap --variant=minbase --include=python3,procps,sqlite3 bookworm "$rootfs.tmp" "$mirror" \
    >/var/cache/dvisor/debootstrap.log 2>&1; then
    tail -5 /var/cache/dvisor/debootstrap.log >&2
    echo "tests/run.sh: debootstrap failed; see /var/cache/dvisor/debootstrap.log" >&2
    exit 1
  fi
  rm -rf "$rootfs"
  mv "$rootfs.tmp" "$rootfs"
fi

# npm ci only when package-lock.json changed since the last install.
if ! cmp -s package-lock.json node_modules/.dvisor-installed-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.dvisor-installed-lock
fi

# dist/js: the tests run dvisor the way it starts fastest from a checkout
# (the launcher runs the sources when there is none).
./bundle.sh || echo "tests/run.sh: no bundle was built (see above): the tests run the sources"

# The same checks as `deno task ok`, but the tests run (and print their
# summary) even when formatting, lint or the type check fail first.
deno=node_modules/.bin/deno
failed=()
"$deno" fmt --check || failed+=(fmt)
"$deno" lint || failed+=(lint)
"$deno" check . || failed+=(check)
"$deno" test -A --doc || failed+=(test)

# The single binary, where one can be built (DENORT_BIN set, or online):
# the CLI tests again through it (./dvisor runs dist/dvisor when it exists).
# A binary built here for the test is removed afterwards.
if [ ! -e dist/dvisor ] && ./compile.sh; then
  "$deno" test -A tests/cli_test.ts tests/lifecycle_test.ts tests/run_test.ts tests/terminal_test.ts ||
    failed+=(compiled)
  rm -f dist/dvisor
else
  echo "tests/run.sh: the CLI tests ran without the single binary (none was built; see above)"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests/run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "tests/run.sh: fmt, lint, check and tests passed"
