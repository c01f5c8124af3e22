#!/usr/bin/env bash
# Exporter figures (run by scripts/bench.sh; not part of make test):
#  1. 10,000 certificate files: scrape latency p50/p99 over 300 scrapes and the
#     exporter process's peak RSS (VmHWM), three runs;
#  2. in-cluster, against the testbed's real kube-apiserver: 5,000 TLS Secrets,
#     then the same beside 50,000 Secrets of other types (created once, which
#     takes a few minutes on 2 cores): scrape p50/p99 and VmHWM of the exporter
#     process each time, three runs each.
# Usage: scripts/bench-exporter.sh [files|secrets|all]   (default all)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/certrescue" ./cmd/certrescue)
export CERTRESCUE_BENCH_EXPORTER="$work/certrescue"
cd "$top"
if [ "$what" = files ] || [ "$what" = all ]; then
  go test -count=1 -timeout 30m -run '^TestBenchExporterProcess10000Files$' ./internal/exporter -v | grep -E '^files run|^(ok|FAIL|---)'
fi
if [ "$what" = secrets ] || [ "$what" = all ]; then
  CERTRESCUE_REQUIRE_TESTBED=1 go test -count=1 -timeout 60m -run '^TestBenchSecretsProcess$' ./internal/secrets -v | grep -E '^secrets|^(ok|FAIL|---)'
fi
