#!/usr/bin/env bash
# Sets up everything the test suite needs on Debian (as root; safe to
# repeat) and runs it: formatting, lint, type check and every test.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$here"

# Debian packages the tests use: busybox-static (the programs run in
# namespaces), binutils (reassembling the machine code), util-linux (setpriv
# for the unprivileged tests), git (the version's commit).
need=()
for pkg in busybox-static binutils util-linux git; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm ci only when package-lock.json changed since the last install.
if ! cmp -s package-lock.json node_modules/.dvisor-installed-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.dvisor-installed-lock
fi

exec node_modules/.bin/deno task ok
