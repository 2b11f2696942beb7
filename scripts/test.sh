#!/usr/bin/env bash
# Builds gitopsd and runs the whole test suite: unit tests and integration tests against a real
# Kafka broker that the suite starts and stops itself.
#   release  RelWithDebInfo build with warnings as errors, every test, on the newest Kafka 4.x
#   asan     Debug build with ASan+UBSan, every test, on Kafka 3.9.2 (so 3.9 stays proven too)
#   fuzz     every libFuzzer target for GITOPSD_FUZZ_SECONDS (60) seconds (scripts/fuzz.sh)
#   packager what a distribution does: a Release build with default options (no -Werror, no
#            tests), the .deb from it with lintian (deploy/debian/make_deb.sh), installed and
#            purged again when root (package_test.sh); and a clang Release build of the whole
#            tree with warnings as errors
# GITOPSD_TEST_SUITES chooses and orders them (default: "release asan fuzz packager").
# Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
jobs=$(nproc)
suites=${GITOPSD_TEST_SUITES:-release asan fuzz packager}

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DGITOPSD_WERROR=ON -DBUILD_TESTING=ON "$@"
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$jobs" "${ctest_args[@]}"
}

packager_suite() {
  local start=$SECONDS
  cmake -S . -B build-package -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
  cmake --build build-package -j "$jobs"
  echo "test.sh: packager: Release build with default options in $((SECONDS - start)) s"
  start=$SECONDS
  deploy/debian/make_deb.sh build-package build-package/deb
  echo "test.sh: packager: .deb and lintian in $((SECONDS - start)) s"
  start=$SECONDS
  local rc=0
  deploy/debian/package_test.sh build-package/deb/gitopsd_*.deb || rc=$?
  case $rc in
    0) echo "test.sh: packager: install, check and purge of the .deb in $((SECONDS - start)) s" ;;
    77) echo "test.sh: packager: WARNING: install test of the .deb SKIPPED (reason above)" ;;
    *) return "$rc" ;;
  esac
  start=$SECONDS
  local cxx
  cxx=$("$here/scripts/clangxx.sh")
  cmake -S . -B build-clang -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
    -DGITOPSD_WERROR=ON -DBUILD_TESTING=ON
  cmake --build build-clang -j "$jobs"
  echo "test.sh: packager: $cxx Release build of the whole tree, warnings as errors, in $((SECONDS - start)) s"
}

ctest_args=("$@")
for suite in $suites; do
  start=$(date +%s)
  case "$suite" in
    # -U: the tests' default Kafka version, whatever an earlier configure of build/ chose.
    release) run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -UGITOPSD_TEST_KAFKA_VERSION ;;
    asan)
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        LSAN_OPTIONS=suppressions=$here/tests/lsan.supp \
        run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DGITOPSD_SANITIZE=ON -DGITOPSD_TEST_KAFKA_VERSION=3.9.2 ;;
    fuzz) "$here/scripts/fuzz.sh" "${GITOPSD_FUZZ_SECONDS:-60}" ;;
    packager) packager_suite ;;
    *) echo "test.sh: unknown suite '$suite'" >&2; exit 2 ;;
  esac
  echo "test.sh: suite $suite passed in $(($(date +%s) - start)) s"
done
echo "test.sh: suites passed: $suites"
