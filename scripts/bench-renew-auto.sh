#!/usr/bin/env bash
# bench-renew-auto.sh: what the certrescue timer costs a node on a day with
# nothing due (every node, every day): `certrescue renew --auto` on a PKI laid
# out by the real kubeadm v1.37.2, fresh (nothing within a third of its
# lifetime), beside `kubeadm certs check-expiration`, which kubespray's
# renewal timer runs first on every run.
#
# Each is run RUNS times (default 9), alternating; the median wall time and CPU
# time are printed. renew --auto here reads the node, finds nothing due, opens
# (and probes) its SQLite audit store, and exits 0 having changed nothing; the
# test checks that nothing changed, this script only times it.
# Needs root (kubeadm init phase certs needs a network namespace with a default
# route) and the testbed (scripts/testbed.sh k8s).
# Usage: scripts/bench-renew-auto.sh [RUNS]
set -euo pipefail
for p in bc unshare ip /usr/bin/time; do command -v "$p" >/dev/null || { echo "bench-renew-auto: $p is needed" >&2; exit 3; }; done
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-9}
k8s=$("$top/scripts/testbed.sh" k8s | sed -n 's/^k8s=//p')
kubeadm=$k8s/kubeadm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/certrescue" ./cmd/certrescue)

config() { # certificatesDir
  cat <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: 10.0.0.1, bindPort: 6443}
nodeRegistration: {name: bench-node}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: $1
networking: {serviceSubnet: 10.96.0.0/12, dnsDomain: cluster.local}
EOF
}

node=$work/node
mkdir -p "$node/etc/kubernetes/pki"
config "$node/etc/kubernetes/pki" > "$work/kubeadm.yaml"
config /etc/kubernetes/pki > "$node/kubeadm-chroot.yaml"
unshare -n sh -ec '
  ip link set lo up
  ip link add veth0 type veth peer name veth1
  ip addr add 10.0.0.1/24 dev veth0
  ip link set veth0 up; ip link set veth1 up
  ip route add default via 10.0.0.254 dev veth0
  "$1" init phase certs all --config "$2" >/dev/null
  "$1" init phase kubeconfig all --config "$2" --kubeconfig-dir "$3/etc/kubernetes" >/dev/null
' sh "$kubeadm" "$work/kubeadm.yaml" "$node"

out=$("$work/certrescue" --root "$node" renew --auto)
case $out in *"nothing due"*) ;; *) echo "bench-renew-auto: expected nothing due, got: $out" >&2; exit 1 ;; esac

time_one() {
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/cpu" "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l):$(awk '{print $1 + $2}' "$work/cpu")"
}
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

names=("certrescue renew --auto (nothing due)" "kubeadm certs check-expiration")
cmd_of() {
  case $1 in
    0) echo "$work/certrescue --root $node renew --auto" ;;
    1) echo "$kubeadm certs check-expiration --rootfs $node --config /kubeadm-chroot.yaml" ;;
  esac
}
echo "bench-renew-auto: $runs rounds, alternating; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall cpu
for r in $(seq "$runs"); do
  for i in 0 1; do
    # shellcheck disable=SC2046 # word splitting of the command line is intended
    s=$(time_one $(cmd_of "$i"))
    wall[$i]+="${s%%:*} "; cpu[$i]+="${s##*:} "
  done
done
for i in 0 1; do
  printf '%-40s median %6.3fs wall, %6.3fs CPU  (wall: %s)\n' "${names[$i]}" "$(printf '%s\n' ${wall[$i]} | median)" \
    "$(printf '%s\n' ${cpu[$i]} | median)" "$(printf '%.3f ' ${wall[$i]})"
done
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 2 --runs "$runs" "$(cmd_of 0)" 2>&1 | sed -n '/Time (mean/,/Range/p'
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
