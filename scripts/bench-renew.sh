#!/usr/bin/env bash
# bench-renew.sh: certrescue renew against the real `kubeadm certs renew all`
# on copies of one PKI laid out by real kubeadm v1.37.2, on this machine.
#
#   kubeadm certs renew all                       (kubeadm always makes new keys)
#   certrescue renew all --rotate-keys --no-backup  (the like-for-like figure)
#   certrescue renew all --rotate-keys            (with certrescue's backup)
#   certrescue renew all                          (keys kept, with the backup)
#
# Each is run RUNS times (default 7) on a fresh copy; the median wall time is
# printed, and the ratio to kubeadm. certrescue renews 12 credentials here
# (kubeadm's 11 plus kubelet.conf), kubeadm 11.
# Needs root (kubeadm init phase certs needs a network namespace with a default
# route) and the testbed (scripts/testbed.sh k8s).
# Usage: scripts/bench-renew.sh [RUNS]
set -euo pipefail
for p in bc unshare ip /usr/bin/time; do command -v "$p" >/dev/null || { echo "bench-renew: $p is needed" >&2; exit 3; }; done
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-7}
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

pristine=$work/pristine
mkdir -p "$pristine/etc/kubernetes/pki"
config "$pristine/etc/kubernetes/pki" > "$work/kubeadm.yaml"
config /etc/kubernetes/pki > "$pristine/kubeadm-chroot.yaml"
unshare -n sh -ec '
  ip link set lo up
  ip link add veth0 type veth peer name veth1
  ip addr add 10.0.0.1/24 dev veth0
  ip link set veth0 up; ip link set veth1 up
  ip route add default via 10.0.0.254 dev veth0
  "$1" init phase certs all --config "$2" >/dev/null
  "$1" init phase kubeconfig all --config "$2" --kubeconfig-dir "$3/etc/kubernetes" >/dev/null
' sh "$kubeadm" "$work/kubeadm.yaml" "$pristine"

# time_one COMMAND...: run on a fresh copy of the PKI ($node); print the wall
# seconds and, after a colon, the CPU seconds (user+sys) it used.
time_one() {
  local node=$work/node
  rm -rf "$node"; cp -a "$pristine" "$node"
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/cpu" "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l):$(awk '{print $1 + $2}' "$work/cpu")"
}

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

names=("kubeadm certs renew all (new keys)" "certrescue renew all --rotate-keys --no-backup" "certrescue renew all --rotate-keys" "certrescue renew all (keys kept)")
cmd_of() { # index -> command line, NODE replaced by the copy's path
  local node=$work/node
  case $1 in
    0) echo "$kubeadm certs renew all --rootfs $node --config /kubeadm-chroot.yaml" ;;
    1) echo "$work/certrescue --root $node renew all --rotate-keys --no-backup" ;;
    2) echo "$work/certrescue --root $node renew all --rotate-keys" ;;
    3) echo "$work/certrescue --root $node renew all" ;;
  esac
}

echo "bench-renew: $runs rounds, each round runs every command once in turn (so load from other work hits them alike);"
echo "  $(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall cpu
for r in $(seq "$runs"); do
  for i in 0 1 2 3; do
    # shellcheck disable=SC2046 # word splitting of the command line is intended
    s=$(time_one $(cmd_of "$i"))
    wall[$i]+="${s%%:*} "; cpu[$i]+="${s##*:} "
  done
done
declare -A med
for i in 0 1 2 3; do
  med[$i]=$(printf '%s\n' ${wall[$i]} | median)
  printf '%-48s median %6.3fs wall, %6.3fs CPU  (wall: %s)\n' "${names[$i]}" "${med[$i]}" "$(printf '%s\n' ${cpu[$i]} | median)" \
    "$(printf '%.3f ' ${wall[$i]})"
done
for i in 1 2 3; do
  # the median of the per-round ratios, and the ratio of the medians
  read -ra a <<<"${wall[0]}"; read -ra b <<<"${wall[$i]}"
  ratios=$(for j in "${!a[@]}"; do echo "${b[$j]} / ${a[$j]}" | bc -l; done | median)
  printf '%-48s %.2fx kubeadm'"'"'s wall time (median of per-round ratios; ratio of medians %.2fx)\n' "${names[$i]}" "$ratios" "$(echo "${med[$i]} / ${med[0]}" | bc -l)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "target: --rotate-keys at most 0.5x kubeadm"
