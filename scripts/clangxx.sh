#!/usr/bin/env bash
# Prints the clang++ to build with: the newest Debian ships (Debian 13 clang 19, Debian 12
# clang 14, Ubuntu 24.04 clang 18, each with libclang-rt-<N>-dev for libFuzzer). Fails when there is none.
for c in clang++-19 clang++-18 clang++-14 clang++; do
  if command -v "$c" >/dev/null; then echo "$c"; exit 0; fi
done
echo "clangxx.sh: no clang++ found (scripts/setup.sh installs it)" >&2
exit 1
