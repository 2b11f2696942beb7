#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan into build-fuzz and runs each
# for a bounded time, starting from a scratch copy of its seed corpus fuzz/corpus/<target>/ (so
# the committed corpus stays small). Fails when any target crashes, leaks, times out or runs out
# of memory; the input that did it is kept in build-fuzz/fuzz-artifacts/<target>/.
# Prints per target executions per second and libFuzzer's final coverage (cov: edges, ft:
# features). Usage: scripts/fuzz.sh [seconds-per-target, default 60]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
seconds=${1:-60}

cxx=${GITOPSD_FUZZ_CXX:-$("$here/scripts/clangxx.sh")}

start=$(date +%s)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGITOPSD_FUZZ=ON -DBUILD_TESTING=OFF -DGITOPSD_WERROR=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target gitopsd_fuzz
echo "fuzz.sh: build-fuzz built with $cxx in $(($(date +%s) - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
summary=() failed=()
for seeds in fuzz/corpus/*/; do
  target=$(basename "$seeds")
  binary=build-fuzz/fuzz/fuzz_$target
  [ -x "$binary" ] || { echo "fuzz.sh: $seeds has no target $binary" >&2; exit 1; }
  artifacts=build-fuzz/fuzz-artifacts/$target
  mkdir -p "$scratch/$target" "$artifacts"
  cp "$seeds"* "$scratch/$target/"
  log=build-fuzz/fuzz-$target.log
  echo "fuzz.sh: $target for $seconds s"
  if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$scratch/$target" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$target")
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $target failed; input in $artifacts/, reproduce with $binary <input>" >&2
  fi
  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: ... exec/s: E ...").
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  summary+=("$(printf '%-12s %-7s %10s %10s %6s %6s' "$target" "$result" "${runs:--}" "${rate:--}" \
    "${cov:--}" "${ft:--}")")
done

printf '%-12s %-7s %10s %10s %6s %6s\n' target result execs exec/s cov ft
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then echo "fuzz.sh: crashes in ${failed[*]}" >&2; exit 1; fi
echo "fuzz.sh: all targets ran ${seconds} s without a crash"
