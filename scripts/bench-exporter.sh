#!/usr/bin/env bash
# Exporter figures (run by scripts/bench.sh; not part of make test):
#  1. 10,000 certificate files: scrape latency p50/p99 over 300 scrapes and the
#     exporter process's peak RSS (VmHWM), three runs and their medians; then
#     the cost of a refresh when nothing changed (a listing and a stat per
#     file) and of a first refresh (every file read), wall and CPU time per
#     refresh, three runs of Go benchmarks;
#  2. in-cluster, against the testbed's real kube-apiserver: 5,000 TLS Secrets,
#     then the same beside 50,000 Secrets of other types (created once, which
#     takes a few minutes on 2 cores): scrape p50/p99 and VmHWM of the exporter
#     process each time, three runs each.
# Latencies on a shared machine move with its load: compare medians, and CPU
# time (cpu-ms/op) rather than wall time for refreshes.
# Usage: scripts/bench-exporter.sh [files|secrets|all]   (default all)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/certrescue" ./cmd/certrescue)
export CERTRESCUE_BENCH_EXPORTER="$work/certrescue"
cd "$top"

# median FIELD: the median of FIELD=<number><unit> over the lines on stdin.
median() {
  grep -o "$1=[0-9.]*" | cut -d= -f2 | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'
}

if [ "$what" = files ] || [ "$what" = all ]; then
  go test -count=1 -timeout 30m -run '^TestBenchExporterProcess10000Files$' ./internal/exporter -v |
    grep -E '^files run|^(ok|FAIL|---)' | tee "$work/files.txt"
  runs=$(grep '^files run' "$work/files.txt" || true)
  if [ -n "$runs" ]; then
    echo "files median of $(echo "$runs" | wc -l) runs: scrape_p50=$(echo "$runs" | median scrape_p50)ms" \
      "scrape_p99=$(echo "$runs" | median scrape_p99)ms VmHWM=$(echo "$runs" | median VmHWM)MB"
  fi
  go test -count=3 -timeout 30m -run '^$' -bench '^Benchmark(RefreshUnchanged|FirstRefresh)10000Files$' -benchtime 10x ./internal/exporter |
    grep -E '^Benchmark|^(ok|FAIL)' | tee "$work/refresh.txt"
  for b in RefreshUnchanged FirstRefresh; do
    lines=$(grep "^Benchmark${b}10000Files" "$work/refresh.txt" | awk '{print "wall=" $3/1e6 " cpu=" $5}')
    [ -n "$lines" ] && echo "refresh median of $(echo "$lines" | wc -l) runs: $b wall=$(echo "$lines" | median wall)ms cpu=$(echo "$lines" | median cpu)ms"
  done
fi
if [ "$what" = secrets ] || [ "$what" = all ]; then
  CERTRESCUE_REQUIRE_TESTBED=1 go test -count=1 -timeout 60m -run '^TestBenchSecretsProcess$' ./internal/secrets -v | grep -E '^secrets|^(ok|FAIL|---)'
fi
