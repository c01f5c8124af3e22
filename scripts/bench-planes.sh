#!/usr/bin/env bash
# bench-planes.sh: expired to healthy on two real control planes, in one run:
#
#   binary-install  the field guide's node: cfssl certificates in
#                   /etc/kubernetes/ssl, etcd, kube-apiserver, controller-manager
#                   and scheduler v1.37.2 started from systemd units under the
#                   testbed's supervisor (test/binaryinstall)
#   kubeadm         a plane laid out by real kubeadm v1.37.2 (test/e2e)
#
# On each plane every leaf is expired for real (re-signed into the past, so
# kubectl fails with an x509 expiry error), then `certrescue rescue --restart
# command` renews, restarts each component and waits for its health gate. The
# figure is the rescue's wall time, restarts and gates included, from the
# first byte read to "result: ok". Each plane runs ROUNDS times (default 5) on
# one plane; medians are printed side by side. The planes run one after the
# other (go test -p 1), never together, so they do not share the CPUs.
#
# Then issue 15's figures on the kubeadm plane of test/reload (TestMustShow),
# ROUNDS rounds of three rescues each: a planned `rescue --all` under a
# /readyz probe every 50ms (wall seconds, failed probes, longest gap, the
# leader leases' times), expired to healthy, and a failed gate rolled back.
# BENCH_PLANES=reload runs only those, BENCH_PLANES=expired only the first.
# Needs root (network and mount namespaces) and the testbed (scripts/testbed.sh).
# Usage: scripts/bench-planes.sh [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
"$top/scripts/testbed.sh" >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$top"
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
row() { # row LABEL SAMPLES...
  local label=$1; shift
  local sorted; sorted=$(printf '%s\n' "$@" | sort -n)
  printf '%-34s %6d %10s %10s %10s   %s\n' "$label" "$#" "$(printf '%s\n' "$@" | median)" "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)" "$*"
}
if [ "${BENCH_PLANES:-all}" != reload ]; then
CERTRESCUE_REQUIRE_TESTBED=1 CERTRESCUE_BENCH_PLANES=$rounds \
  go test -count=1 -p 1 -timeout 60m -run '^TestFigureExpiredToHealthy$' -v \
  ./test/binaryinstall/ ./test/e2e/ >"$log" 2>&1 || { tail -50 "$log" >&2; exit 1; }
samples() { sed -n "s/^ROUND plane=$1 round=[0-9]* seconds=//p" "$log"; }
printf '%-16s %6s %10s %10s %10s   %s\n' plane rounds median min max "expired to healthy, wall seconds (rescue with restarts and gates)"
for p in binary-install kubeadm; do
  n=$(samples "$p" | wc -l)
  [ "$n" -gt 0 ] || { echo "bench-planes: no rounds for $p" >&2; tail -50 "$log" >&2; exit 1; }
  printf '%-16s %6d %10s %10s %10s   %s\n' "$p" "$n" "$(samples "$p" | median)" \
    "$(samples "$p" | sort -n | head -1)" "$(samples "$p" | sort -n | tail -1)" "$(samples "$p" | tr '\n' ' ')"
done
fi
[ "${BENCH_PLANES:-all}" != expired ] || exit 0

CERTRESCUE_REQUIRE_TESTBED=1 CERTRESCUE_BENCH_ROUNDS=$rounds \
  go test -count=1 -p 1 -timeout 60m -run '^TestMustShow$' -v ./test/reload/ >"$log" 2>&1 || { tail -80 "$log" >&2; exit 1; }
field() { sed -n "s/^ROUND scenario=$1 .* $2=\([^ ]*\).*/\1/p" "$log"; }
echo
printf '%-34s %6s %10s %10s %10s   %s\n' "kubeadm plane, test/reload" rounds median min max samples
row "planned rescue --all, wall s" $(field planned seconds)
row "  /readyz probes (every 50ms)" $(field planned probes)
row "  /readyz probes failed" $(field planned failed)
row "  longest /readyz gap, s" $(field planned longest_gap)
row "expired to healthy, wall s" $(field expired seconds)
row "failed gate with rollback, wall s" $(field rollback seconds)
echo "leader lease held by the new process, seconds after its restart returned:"
sed -n 's/^ROUND scenario=\([a-z]*\) round=\([0-9]*\) .*leases="\([^"]*\)".*/  \1 round \2: \3/p' "$log"
