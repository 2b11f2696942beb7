#!/usr/bin/env bash
# Makes the .deb from a configured and built tree (cpack -G DEB, no root needed), prints its
# control fields and contents, and runs lintian on it: errors fail, warnings are printed. A
# missing tool is a failure, never a skip. scripts/test.sh's packager suite runs it.
# Usage: make_deb.sh BUILD_DIR OUT_DIR (the .deb is written to OUT_DIR/gitopsd_*.deb)
set -euo pipefail
build=$(cd "$1" && pwd) out=$2
fail() { echo "make_deb.sh: $*" >&2; exit 1; }
for tool in cpack dpkg-shlibdeps lintian; do
  command -v "$tool" >/dev/null || fail "$tool not installed (scripts/setup.sh installs it)"
done

rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "== cpack"
(cd "$out" && cpack --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1) ||
  { cat "$out/cpack.log"; fail "cpack failed"; }
deb=$(ls "$out"/gitopsd_*.deb)
echo "$deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"

echo "== lintian $(lintian --version | awk '{print $2}')"
lintian_out=$(lintian --tag-display-limit 0 --display-info "$deb" 2>&1) || true
echo "${lintian_out:-(no tags)}"
if grep -q '^E: ' <<<"$lintian_out"; then fail "lintian reports errors on $deb"; fi
echo "make_deb.sh: $deb: lintian reports no errors"
