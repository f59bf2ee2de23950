#!/usr/bin/env bash
# Builds dist/dvisor: one executable with everything embedded (the machine
# code is TypeScript data, so it comes along). `deno compile` needs Deno's
# `denort` runtime for the target: it downloads it from dl.deno.land, or
# takes the file named by DENORT_BIN (from denort-<target>.zip of the same
# Deno release, https://github.com/denoland/deno/releases) when offline.
#
#   ./compile.sh                      # x86_64, downloads denort when online
#   DENORT_BIN=/path/denort ./compile.sh
#   TARGET=aarch64-unknown-linux-gnu ./compile.sh
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
cd "$here"
deno="$here/node_modules/.bin/deno"
[ -x "$deno" ] || deno=$(command -v deno) || {
  echo "compile.sh: Deno is not installed: run 'npm ci' first" >&2
  exit 1
}
target=${TARGET:-x86_64-unknown-linux-gnu}
case "$target" in
  x86_64-unknown-linux-gnu) ;;
  *) echo "compile.sh: target $target is not supported: dvisor's platform code is x86_64 only; use TARGET=x86_64-unknown-linux-gnu" >&2; exit 1 ;;
esac
if [ -n "${DENORT_BIN:-}" ] && [ ! -x "$DENORT_BIN" ]; then
  echo "compile.sh: DENORT_BIN=$DENORT_BIN is not an executable file: point it at the denort binary unpacked from denort-$target.zip of Deno $("$deno" --version | head -1 | cut -d' ' -f2)" >&2
  exit 1
fi

commit=$(git -C "$here" rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$here" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
mkdir -p dist/build
trap 'rm -rf "$here/dist/build"' EXIT
printf '{"commit":"%s","date":"%s","target":"%s"}\n' "$commit" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$target" > dist/build/build_info.json

log=$(mktemp)
if ! "$deno" compile -A --no-lock --quiet --target "$target" \
    --include dist/build/build_info.json \
    --output dist/dvisor.new cli/main.ts >"$log" 2>&1; then
  if grep -qiE 'dns error|download|failed to (lookup|fetch)|connect|denort' "$log"; then
    echo "compile.sh: cannot get Deno's denort runtime for $target (offline and DENORT_BIN not set): download denort-$target.zip for Deno $("$deno" --version | head -1 | cut -d' ' -f2), unpack it and run DENORT_BIN=/path/to/denort ./compile.sh" >&2
  else
    echo "compile.sh: deno compile failed: $(grep -m1 -iE 'error' "$log" || head -1 "$log")" >&2
  fi
  rm -f "$log" dist/dvisor.new
  exit 1
fi
rm -f "$log"
# A DENORT_BIN that is the deno CLI itself (not denort) makes a binary that
# ignores what was embedded and behaves as deno: catch that here.
if ! dist/dvisor.new --version 2>/dev/null | grep -q '^dvisor '; then
  rm -f dist/dvisor.new
  echo "compile.sh: the binary built does not run dvisor: DENORT_BIN must be the denort runtime from denort-$target.zip, not the deno CLI" >&2
  exit 1
fi
mv dist/dvisor.new dist/dvisor
echo "compile.sh: built dist/dvisor ($(du -h dist/dvisor | cut -f1)) from $commit"
