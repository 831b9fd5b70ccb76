#!/usr/bin/env bash
# `make bench`: user-space pipeline microbenchmarks (medians of 5 runs). Overhead benchmarks of traced
# processes join here as they land.
set -euo pipefail
build=${1:-build}
"$build/benchmarks/pipeline_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_filter='.*' 2>&1 | grep -E '^(Benchmark|-|BM_.*_median)'
# Symbolizing a large (> 20 MB) Go binary: built on first use (about a minute), then cached.
if cmake --build "$build" --target go_fixture_big >/dev/null 2>&1; then
  "$build/benchmarks/go_symbolize_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    2>&1 | grep -E '^(Benchmark|-|BM_.*_median)'
else
  echo "go_symbolize_bench: skipped (no Go toolchain to build the large Go binary; run make deps)"
fi
