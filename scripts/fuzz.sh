#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets of tests/fuzz (clang, ASan, UBSan) in BUILD_DIR and runs each in
# turn, one process (one core), for FUZZ_SECONDS (default 60) on a fresh working copy of its seeds
# (tests/fuzz/corpus/<target>, which stays the seeds only). Prints per target the executions, their rate and
# whether it found a crash, leak, timeout or sanitizer report; the input that did is kept in
# BUILD_DIR/artifacts/<target>/ and the log in BUILD_DIR/logs/<target>.log. Exits 1 if any target failed.
# Usage: scripts/fuzz.sh [BUILD_DIR]   (default build-fuzz)
# Environment: FUZZ_SECONDS; FUZZ_RUNS (also stop after this many executions); FUZZ_TARGETS (space-separated
# subset); FUZZ_RSS_MB (memory limit per target, default 2048); JOBS (build parallelism).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:--1}
rss_mb=${FUZZ_RSS_MB:-2048}
jobs=${JOBS:-$(nproc)}

cmake -S "$here" -B "$build" -DL7TAP_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "$jobs" --target l7tap_fuzzers

targets=${FUZZ_TARGETS:-$(ls "$here/tests/fuzz/corpus")}
mkdir -p "$build/logs"
failed=()
summary=()
for target in $targets; do
  binary=$build/tests/fuzz/fuzz_$target
  [ -x "$binary" ] || { echo "fuzz: no target $target (tests/fuzz/${target}_fuzzer.cpp)" >&2; exit 2; }
  work=$build/corpus/$target
  artifacts=$build/artifacts/$target
  log=$build/logs/$target.log
  rm -rf "$work" "$artifacts"
  mkdir -p "$work" "$artifacts"
  cp "$here/tests/fuzz/corpus/$target"/* "$work"/
  echo "fuzz: $target for ${seconds}s${FUZZ_RUNS:+ or $runs runs} (log: $log)"
  status=0
  "$binary" -max_total_time="$seconds" -runs="$runs" -rss_limit_mb="$rss_mb" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1 || status=$?
  # Executions: the final stats, or (when a crash cut the run short) the last progress line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(ls "$artifacts")
  report=$(grep -m1 -E '^SUMMARY: |ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log" || true)
  if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    result="FAILED: ${report:-exit status $status}; input: ${found:-none saved}"
    failed+=("$target")
  else
    result="ok, no crash, leak or sanitizer report"
  fi
  summary+=("$(printf '%-16s %12s execs %8s/s  %s' "$target" "${execs:-?}" "${rate:-?}" "$result")")
done

echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; reproduce with $build/tests/fuzz/fuzz_<target> <input>" >&2
  exit 1
fi
