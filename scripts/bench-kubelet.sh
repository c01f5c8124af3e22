#!/usr/bin/env bash
# bench-kubelet.sh: a worker's expired kubelet certificate, NotReady to Ready.
#
# Each round (test/kubelet TestAnExpiredWorkerIsRescuedWithTheCAOnlyOnTheControlPlane)
# starts the testbed's binary-install control plane (etcd, kube-apiserver with
# Node,RBAC and NodeRestriction, controller-manager, scheduler v1.37.2) and one
# worker running kubemark's hollow kubelet under its own system:node
# certificate, then prints three figures, in wall seconds:
#
#   ready     the hollow kubelet's start to its Node Ready in the API
#   notready  its certificate re-signed into the past (and the kubelet
#             restarted) to the Node NotReady (the controller-manager's
#             node-monitor grace period, 50 s by default, is most of it)
#   rescue    kubelet status, kubelet csr on the worker, sign on the control
#             plane, kubelet install on the worker: the store switched, the
#             kubelet restarted, its /healthz and the Node-Ready gate passed
#
# ROUNDS rounds (default 3), one after the other; medians are printed.
# Needs root (network and mount namespaces) and the testbed (scripts/testbed.sh).
# Usage: scripts/bench-kubelet.sh [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
"$top/scripts/testbed.sh" k8s etcd kubelet cfssl >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$top"
CERTRESCUE_REQUIRE_TESTBED=1 go test -count="$rounds" -p 1 -timeout 60m \
  -run '^TestAnExpiredWorkerIsRescuedWithTheCAOnlyOnTheControlPlane$' -v ./test/kubelet/ >"$log" 2>&1 ||
  { tail -50 "$log" >&2; exit 1; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
samples() { sed -n "s/^FIGURE $1 node=[^ ]* seconds=\([0-9.]*\).*/\1/p" "$log"; }
printf '%-10s %6s %8s %8s %8s   %s\n' figure rounds median min max "wall seconds"
for f in hollow-kubelet-ready:ready expired-to-notready:notready worker-rescue:rescue; do
  key=${f%%:*} name=${f##*:}
  n=$(samples "$key" | wc -l)
  [ "$n" -gt 0 ] || { echo "bench-kubelet: no $key figures" >&2; tail -50 "$log" >&2; exit 1; }
  printf '%-10s %6d %8s %8s %8s   %s\n' "$name" "$n" "$(samples "$key" | median)" \
    "$(samples "$key" | sort -n | head -1)" "$(samples "$key" | sort -n | tail -1)" "$(samples "$key" | tr '\n' ' ')"
done
