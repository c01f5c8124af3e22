#!/usr/bin/env bash
# `certrescue check` against its peers, on this machine, same files:
#  1. a kubeadm node made by the real kubeadm v1.37.2 (certs, kubeconfigs, static
#     pod manifests): `certrescue --root ROOT check` against
#     `kubeadm certs check-expiration --rootfs ROOT --config /kubeadm-chroot.yaml`
#     (offline: with --config kubeadm does not try to reach a cluster), one
#     invocation each, many times; also `certrescue version`, the start-up floor;
#  2. a directory of 10,000 PEM certificates: `certrescue check --scan-node=false
#     --dir DIR` against a loop of `openssl x509 -noout -enddate` over the files.
# Prints medians, ratios and the targets (0.25x kubeadm; under 1 s and 0.1x the
# openssl loop). Uses hyperfine when installed (apt-get install hyperfine), a
# shell loop otherwise. Needs root (kubeadm's --rootfs chroots; unshare -n).
# Usage: scripts/bench-check.sh [RUNS]   (default 200 for the node, 10 for the directory)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200}
eval "$("$top/scripts/testbed.sh" k8s | sed 's/^/tb_/')"
kubeadm="$tb_k8s/kubeadm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$top" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/certrescue" ./cmd/certrescue)
cr="$work/certrescue"
# check's packages alone, without the rest of the CLI (a measuring stick, see its doc)
(cd "$top" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/checkonly" ./test/check/checkonly)

# --- the kubeadm node -------------------------------------------------------
root="$work/node"
mkdir -p "$root/etc/kubernetes/pki"
cfg() { cat <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: 10.0.0.1, bindPort: 6443}
nodeRegistration: {name: node1}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: $1
controlPlaneEndpoint: k8s-api.example.com:6443
YAML
}
cfg "$root/etc/kubernetes/pki" > "$work/kubeadm.yaml"
cfg /etc/kubernetes/pki > "$root/kubeadm-chroot.yaml"
netns='ip link set lo up; ip link add veth0 type veth peer name veth1; ip addr add 10.0.0.1/24 dev veth0;
  ip link set veth0 up; ip link set veth1 up; ip route add default dev veth0'
unshare -n sh -ec "$netns
  '$kubeadm' init phase certs all --config '$work/kubeadm.yaml'
  '$kubeadm' init phase kubeconfig all --config '$work/kubeadm.yaml' --kubeconfig-dir '$root/etc/kubernetes'
  '$kubeadm' init phase control-plane all --rootfs '$root' --config /kubeadm-chroot.yaml
  '$kubeadm' init phase etcd local --rootfs '$root' --config /kubeadm-chroot.yaml" >/dev/null

median_ms() { sort -n | awk '{a[NR]=$1} END {printf "%.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# measure NAME RUNS WARMUP CMD... : prints the median wall time in ms.
measure() {
  local name=$1 n=$2 warm=$3; shift 3
  if command -v hyperfine >/dev/null; then
    hyperfine -N -i --warmup "$warm" --runs "$n" --export-json "$work/$name.json" "$*" >/dev/null 2>&1 ||
      hyperfine -i --warmup "$warm" --runs "$n" --export-json "$work/$name.json" "$*" >/dev/null 2>&1
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/$name.json"
  else
    for _ in $(seq "$n"); do
      local t0; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; echo $(( ($(date +%s%N) - t0) / 1000 ))
    done | awk '{print $1/1000}' | median_ms
  fi
}

"$cr" --root "$root" check --no-endpoints >"$work/check.txt" || true
n_files=$(grep -c ' OK ' "$work/check.txt" || true)
ka=$(measure kubeadm "$runs" 5 "$kubeadm" certs check-expiration --rootfs "$root" --config /kubeadm-chroot.yaml)
ck=$(measure check "$runs" 5 "$cr" --root "$root" check --no-endpoints)
ver=$(measure version "$runs" 5 "$cr" version)
co=$(measure checkonly "$runs" 5 "$work/checkonly" "$root")
echo "kubeadm node ($n_files credentials healthy), median of $runs single runs:"
echo "  kubeadm certs check-expiration --config: ${ka} ms"
echo "  certrescue check:                        ${ck} ms  ($(awk -v a="$ck" -v b="$ka" 'BEGIN{printf "%.2f", a/b}')x kubeadm; target <= 0.25x)"
echo "  certrescue version (start-up floor):     ${ver} ms  (binary of $(( $(stat -c %s "$cr") / 1048576 )) MiB)"
echo "  check's packages alone (checkonly):      ${co} ms  ($(awk -v a="$co" -v b="$ka" 'BEGIN{printf "%.2f", a/b}')x kubeadm; binary of $(( $(stat -c %s "$work/checkonly") / 1048576 )) MiB)"
inits=$(GODEBUG=inittrace=1 "$cr" version 2>&1 >/dev/null | awk '/^init/ {ms+=$5; n++} END {printf "%d package inits, %.2f ms", n, ms}')
echo "  start-up: $inits (GODEBUG=inittrace=1); heaviest:"
GODEBUG=inittrace=1 "$cr" version 2>&1 >/dev/null | awk '/^init/ {printf "    %5.2f ms  %s\n", $5, $2}' | sort -rn | head -5

# --- 10,000 PEM files -------------------------------------------------------
dir="$work/pems"
(cd "$top" && go run ./test/check/benchfixture -dir "$dir" -n 10000)
druns=$(( runs < 10 ? runs : 10 ))
cd_ms=$(measure dir "$druns" 1 "$cr" check --scan-node=false --dir "$dir" -q)
cat > "$work/openssl-loop.sh" <<SH
for f in "$dir"/*.pem; do openssl x509 -noout -enddate -in "\$f"; done >/dev/null
SH
ol_ms=$(measure openssl 3 0 bash "$work/openssl-loop.sh")
echo "directory of $(ls "$dir" | wc -l) PEM files, on $(nproc) cores:"
echo "  loop of openssl x509 -noout -enddate (median of 3): ${ol_ms} ms ($(awk -v a="$ol_ms" 'BEGIN{printf "%.1f", a/10000}') ms a file)"
echo "  certrescue check --dir (median of $druns):          ${cd_ms} ms  ($(awk -v a="$cd_ms" -v b="$ol_ms" 'BEGIN{printf "%.3f", a/b}')x the openssl loop; targets: < 1000 ms and <= 0.1x)"
