#!/usr/bin/env bash
# Builds gitopsd twice (release with warnings as errors, and ASan+UBSan) and runs the whole
# test suite in each: unit tests and integration tests against a real Kafka broker that the
# suite starts and stops itself; then runs every fuzz target for GITOPSD_FUZZ_SECONDS (60)
# seconds (scripts/fuzz.sh). Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
jobs=$(nproc)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DGITOPSD_WERROR=ON -DBUILD_TESTING=ON "$@"
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$jobs" "${ctest_args[@]}"
}

ctest_args=("$@")
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$here/tests/lsan.supp \
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DGITOPSD_SANITIZE=ON
"$here/scripts/fuzz.sh" "${GITOPSD_FUZZ_SECONDS:-60}"
echo "test.sh: all suites and fuzz targets passed"
