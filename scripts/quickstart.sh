#!/usr/bin/env bash
# Builds gitopsd and runs `gitopsctl dev` on deploy/examples/dev.yaml: an embedded Kafka broker,
# the receiver and a worker in one process, applying a local demo repository to a directory.
# Creates what that config points at under /tmp/gitopsd-dev when missing: the "Git host" (a bare
# repository), a work tree that pushes to it, and the webhook secret. Ctrl-C stops it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
work=/tmp/gitopsd-dev   # the paths in deploy/examples/dev.yaml

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target gitopsctl gitopsctl-dev

mkdir -p "$work"
if [ ! -d "$work/demo.git" ]; then
  git init -q --bare -b main "$work/demo.git"
  rm -rf "$work/demo"
  git init -q -b main "$work/demo"
  # The demo's own identity, only where the user has none, so the first commit works anywhere.
  git -C "$work/demo" config user.email >/dev/null || git -C "$work/demo" config user.email demo@example.com
  git -C "$work/demo" config user.name >/dev/null || git -C "$work/demo" config user.name "gitopsd demo"
  mkdir -p "$work/demo/site"
  echo '<h1>hello from gitopsd</h1>' > "$work/demo/site/index.html"
  git -C "$work/demo" add -A
  git -C "$work/demo" commit -qm "First page"
  git -C "$work/demo" remote add origin "$work/demo.git"
  git -C "$work/demo" push -q -u origin main
fi
[ -s "$work/secret" ] || (umask 077 && head -c 24 /dev/urandom | base64 > "$work/secret")

exec build/ctl/gitopsctl dev --config deploy/examples/dev.yaml
