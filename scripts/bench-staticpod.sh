#!/usr/bin/env bash
# bench-staticpod.sh: expired to healthy on a kubeadm node whose control plane
# runs as static pods under a real kubelet v1.37.2 (containerd v2, runc;
# test/staticpod, testbed.StartStaticPodNode). Each round expires every leaf
# for real (re-signed into the past; kubectl fails with an x509 expiry
# error), then runs `certrescue rescue --restart static-pod` on the node. The
# figure is the rescue's wall time, restarts (crictl, systemctl restart
# kubelet) and health gates included, to "result: ok". ROUNDS rounds (default
# 3) on one node; prints each round, the median, min and max.
# Needs root and the testbed (scripts/testbed.sh; runc: test-deps.d/50-runc.sh).
# Usage: scripts/bench-staticpod.sh [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
"$top/scripts/testbed.sh" >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() { cp "$log" "$log.failed"; tail -80 "$log" >&2; echo "bench-staticpod: whole log in $log.failed" >&2; exit 1; }
cd "$top"
CERTRESCUE_REQUIRE_TESTBED=1 CERTRESCUE_BENCH_ROUNDS=$rounds \
  go test -count=1 -timeout 30m -run '^TestRescueStaticPodsExpired$' -v ./test/staticpod/ >"$log" 2>&1 \
  || fail
samples=$(sed -n 's/^ROUND scenario=expired round=[0-9]* seconds=//p' "$log")
[ -n "$samples" ] || { echo "bench-staticpod: no rounds" >&2; fail; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-40s %6s %8s %8s %8s   %s\n' scenario rounds median min max samples
printf '%-40s %6d %8s %8s %8s   %s\n' "rescue --restart static-pod, expired" "$(echo "$samples" | wc -l)" \
  "$(echo "$samples" | median)" "$(echo "$samples" | sort -n | head -1)" "$(echo "$samples" | sort -n | tail -1)" "$(echo $samples)"
grep -o 'static pods running and /readyz ok [0-9.]*s after the start' "$log" | sed 's/^/node start: /'
