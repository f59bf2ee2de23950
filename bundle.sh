#!/usr/bin/env bash
# Builds dist/js: the sources as a few JavaScript files (`deno bundle`, which
# fetches esbuild from the npm registry once), one entry and a chunk per
# command loaded on demand. The ./dvisor launcher and dvisor's own sandbox and
# gofer processes run it instead of the 190 TypeScript modules when it is
# newer than every source file: each process starts about 50 ms sooner and
# keeps about 10 MiB less. The code is the same; a source edited since makes
# the launcher run the sources again until this is run again.
#
#   ./bundle.sh          # or: deno task bundle
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
cd "$here"
deno="$here/node_modules/.bin/deno"
[ -x "$deno" ] || deno=$(command -v deno) || {
  echo "bundle.sh: Deno is not installed: run 'npm ci' first" >&2
  exit 1
}
new="dist/js.new.$$"
trap 'rm -rf "$here/$new"' EXIT
mkdir -p "$new"
# The bundle counts as built when this started: a source saved during the
# build is newer than it, so the launcher runs the sources.
touch "$new/.started"
log=$(mktemp)
if ! "$deno" bundle --quiet --platform deno --code-splitting --outdir "$new" cli/main.ts >"$log" 2>&1; then
  echo "bundle.sh: deno bundle failed: $(grep -m1 -iE 'error' "$log" || head -1 "$log")" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
# Deno reads and parses every module a literal dynamic import names before
# it starts (all the commands); named through an expression, a command's
# chunk is read when that command runs.
sed -i 's/import(\("\.\/[^"]*\.js"\))/import([\1][0])/g' "$new"/*.js
if ! "$deno" run -A --quiet --no-lock --no-config "$new/main.js" --version 2>/dev/null | grep -q '^dvisor '; then
  echo "bundle.sh: the bundle built does not run dvisor: run the sources (./dvisor) to see why" >&2
  exit 1
fi
touch -r "$new/.started" "$new/main.js"
rm -f "$new/.started"
rm -rf dist/js.old
[ ! -e dist/js ] || mv dist/js dist/js.old
mv "$new" dist/js
rm -rf dist/js.old
echo "bundle.sh: built dist/js ($(du -sh dist/js | cut -f1), $(ls dist/js | wc -l) files)"
