#!/usr/bin/env bash
# `make bench`: user-space pipeline microbenchmarks (medians of 5 runs). Overhead benchmarks of traced
# processes join here as they land.
set -euo pipefail
build=${1:-build}
"$build/benchmarks/pipeline_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_filter='.*' 2>&1 | grep -E '^(Benchmark|-|BM_.*_median)'
