#!/usr/bin/env bash
# Audit log figures for the notes: durable appends per second on SQLite and the
# central stores (MariaDB, PostgreSQL), and verify of EVENTS events (default
# 1,000,000) against sha256sum over the same bytes (the stored records, which
# are exactly what verify hashes). Prints the median of RUNS runs of each; the
# ratio is the median of verify/sha256sum over runs taken back to back.
#
#   scripts/bench-audit.sh                      # all backends, 1,000,000 events
#   EVENTS=100000 BACKENDS=sqlite scripts/bench-audit.sh
#
# The database servers come from scripts/test-deps.d/20-databases.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-5}
BACKENDS=${BACKENDS:-sqlite,mysql,postgres}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== durable appends, one process, one transaction each (median of $RUNS runs of 3 s)"
go test -run '^$' -bench "^BenchmarkAppend$/^($(echo "$BACKENDS" | tr , '|'))$" -benchtime 3s -count "$RUNS" ./internal/audit >"$out"
awk '/^BenchmarkAppend\// {
  split($1, p, "/"); b = p[2]; sub(/-[0-9]+$/, "", b)
  for (i = 2; i <= NF; i++) if ($(i+1) == "appends/s") v[b] = v[b] " " $i
} END {
  for (b in v) {
    n = split(substr(v[b], 2), a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    printf "  %-9s %8.0f appends/s   (runs: %s)\n", b, a[int((n+1)/2)], substr(v[b], 2)
  }
}' "$out"

echo "== verify of $EVENTS events vs sha256sum over the same bytes (median of $RUNS runs each)"
CERTRESCUE_BENCH_EVENTS=$EVENTS CERTRESCUE_BENCH_RUNS=$RUNS CERTRESCUE_BENCH_BACKENDS=$BACKENDS \
  go test -run '^$' -bench '^BenchmarkVerify$' -benchtime 1x -timeout 60m ./internal/audit >"$out"
awk '/^BenchmarkVerify\// {
  split($1, p, "/"); b = p[2]
  for (i = 2; i <= NF; i++) m[$(i+1)] = $i
  printf "  %-9s verify %6.2f s (%7.0f events/s)   sha256sum %6.2f s over %.0f MB   ratio %.2f\n", b, m["verify-s"], m["events/s"], m["sha256sum-s"], m["MB"], m["ratio"]
}' "$out"
