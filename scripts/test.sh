#!/usr/bin/env bash
# Builds gitopsd and runs the whole test suite: unit tests and integration tests against a real
# Kafka broker that the suite starts and stops itself.
#   release  RelWithDebInfo build with warnings as errors, every test, on the newest Kafka 4.x
#   asan     Debug build with ASan+UBSan, every test, on Kafka 3.9.2 (so 3.9 stays proven too)
#   fuzz     every libFuzzer target for GITOPSD_FUZZ_SECONDS (60) seconds (scripts/fuzz.sh)
# GITOPSD_TEST_SUITES chooses and orders them (default: "release asan fuzz").
# Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
jobs=$(nproc)
suites=${GITOPSD_TEST_SUITES:-release asan fuzz}

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DGITOPSD_WERROR=ON -DBUILD_TESTING=ON "$@"
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$jobs" "${ctest_args[@]}"
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
    *) echo "test.sh: unknown suite '$suite'" >&2; exit 2 ;;
  esac
  echo "test.sh: suite $suite passed in $(($(date +%s) - start)) s"
done
echo "test.sh: suites passed: $suites"
