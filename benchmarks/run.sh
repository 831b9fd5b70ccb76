#!/usr/bin/env bash
# `make bench` (QUICK=1 for a short run): what tracing costs, written to benchmarks/results/REPORT.md with a
# PNG plot, plus the user-space microbenchmarks. Needs root (the overhead runs load l7tap's BPF programs).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/results"
mkdir -p "$out"
quick=()
reps=5
if [[ "${QUICK:-0}" == 1 ]]; then
  quick=(--quick)
  reps=3
fi

# Microbenchmarks: HTTP/1 parsing, the user-space pipeline and route labels; HTTP/2 per stream (median, min
# and max over the repetitions); symbolizing a large Go binary (built on first use, about a minute, then cached).
{
  "$build/benchmarks/pipeline_bench" --benchmark_repetitions=$reps --benchmark_report_aggregates_only=true \
    2>&1 | grep -E '^(Benchmark|-|BM_.*_median)'
  "$build/benchmarks/route_bench" --benchmark_repetitions=$reps --benchmark_report_aggregates_only=true \
    2>&1 | grep -E '^BM_.*_median'
  "$build/benchmarks/http2_bench" --benchmark_repetitions=$reps --benchmark_report_aggregates_only=true \
    2>&1 | grep -E '^(Benchmark|-|BM_.*_(median|min|max))'
  if [[ "${QUICK:-0}" != 1 ]] && cmake --build "$build" --target go_fixture_big >/dev/null 2>&1; then
    "$build/benchmarks/go_symbolize_bench" --benchmark_repetitions=$reps --benchmark_report_aggregates_only=true \
      2>&1 | grep -E '^(Benchmark|-|BM_.*_median)'
  fi
} | tee "$out/micro.txt"

python3 "$here/probe_cost.py" "${quick[@]}" --binary "$build/benchmarks/probe_cost_loop" \
  --json "$out/probe_cost.json" | tee "$out/probe_cost.md"
# The kprobe row where this kernel has none: inside the kernel matrix's qemu guests (emulated CPU, relative).
python3 "$here/probe_cost_guest.py" --build "$build" --json "$out/probe_cost_guest.json" | tee "$out/probe_cost_guest.md"
python3 "$here/overhead.py" "${quick[@]}" --build "$build" --json "$out/overhead.json" | tee "$out/overhead.md"
# Exec to attached for fresh builds, and the event thread's lag under an exec storm (BASELINE_AGENT: an older
# l7tap binary to compare the lag with).
python3 "$here/attach_latency.py" "${quick[@]}" --build "$build" ${BASELINE_AGENT:+--baseline-agent "$BASELINE_AGENT"} \
  --json "$out/attach_latency.json" | tee "$out/attach_latency.md"
python3 "$here/report.py" "$out"
{ echo; echo "## Attaching"; echo; cat "$out/attach_latency.md"; } >> "$out/REPORT.md"
