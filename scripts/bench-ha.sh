#!/usr/bin/env bash
# bench-ha.sh: the HA control plane's figures (test/ha against
# internal/testbed/ha: three kubeadm nodes with a three-member etcd, haproxy
# on a VIP, sshd per node; the collection run with Debian's ansible-playbook):
# wall time of each play and of each ansible-playbook run (the whole control
# plane expired; a planned renewal rolled node by node; a gate failing on the
# second node), the requests through the VIP that failed during the planned
# renewal (one every 100 ms), the etcd members up at every sample, and the
# testbed's peak memory. Runs the test ROUNDS times (default 3, about 14
# minutes each here) and prints every FIGURE line with each number replaced
# by its median over the rounds (min..max after it).
# HA_WORKERS=N sets the number of worker nodes (hollow kubelets, each with
# its sshd; default: the test's 10); HA_ONLY=whole runs only the whole-cluster
# expiry (three control-plane nodes and the workers, one site.yml run), for
# the figure of how that run grows with the workers:
#   for n in 10 50 100 150 200; do HA_WORKERS=$n HA_ONLY=whole scripts/bench-ha.sh 1; done
# Needs root, the testbed (scripts/testbed.sh), scripts/test-deps.d/40-ha.sh
# and PostgreSQL (20-databases.sh) for the audit part.
# Usage: scripts/bench-ha.sh [ROUNDS]
#        scripts/bench-ha.sh --summarize LOG...   (medians of logs of earlier runs)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
if [ "${1:-}" = --summarize ]; then
  shift
  rounds=$#
  i=0; for f in "$@"; do i=$((i+1)); cp "$f" "$logs/$i.log"; done
else
  rounds=${1:-3}
  "$top/scripts/testbed.sh" >/dev/null
  bash "$top/scripts/test-deps.d/40-ha.sh"
  cd "$top"
  run='^TestHAClusterWithAnsible$'
  [ "${HA_ONLY:-}" = whole ] && run='^TestHAClusterWithAnsible$/^the_whole_control_plane_expired'
  [ -n "${HA_WORKERS:-}" ] && export CERTRESCUE_HA_WORKERS="$HA_WORKERS"
  for i in $(seq 1 "$rounds"); do
    CERTRESCUE_REQUIRE_TESTBED=1 go test -count=1 -p 1 -timeout 60m -run "$run" -v ./test/ha/ \
      >"$logs/$i.log" 2>&1 || { tail -80 "$logs/$i.log" >&2; exit 1; }
    echo "bench-ha: round $i of $rounds done" >&2
  done
fi
# Each FIGURE line's text with its numbers taken out is its key; the numbers
# at each position get their median (and range) over the rounds.
cat "$logs"/*.log | sed -n 's/^ *[a-z_]*\.go:[0-9]*: FIGURE //p' | awk -v rounds="$rounds" '
function med(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  lo = a[1]; hi = a[n]
  if (n % 2) return a[(n + 1) / 2]
  return (a[n / 2] == a[n / 2 + 1]) ? a[n / 2] : sprintf("%.1f", (a[n / 2] + a[n / 2 + 1]) / 2)
}
{
  line = $0; gsub(/  +/, " ", line); gsub(/batch /, "batch#", line); key = ""; k = 0
  while (match(line, /(^|[ (\[])[0-9]+(\.[0-9]+)?/)) {
    if (substr(line, RSTART, 1) !~ /[0-9]/) { RSTART++; RLENGTH-- }
    key = key substr(line, 1, RSTART - 1) "\x01"
    num[++k] = substr(line, RSTART, RLENGTH)
    line = substr(line, RSTART + RLENGTH)
  }
  key = key line
  if (!(key in count)) { order[++nkeys] = key }
  count[key]++
  for (i = 1; i <= k; i++) series[key, i] = series[key, i] " " num[i]
  npos[key] = k
}
END {
  for (o = 1; o <= nkeys; o++) {
    key = order[o]; out = ""; n = split(key, parts, "\x01")
    for (i = 1; i < n; i++) {
      m = med(series[key, i])
      out = out parts[i] m (lo != hi ? "[" lo ".." hi "]" : "")
    }
    out = out parts[n]; gsub(/batch#/, "batch ", out)
    printf "%s   (%d of %d rounds)\n", out, count[key], rounds
  }
}'
