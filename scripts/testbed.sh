#!/usr/bin/env bash
# Builds the real peers certrescue's tests run against (cfssl, cfssljson, kubeadm,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, and the
# kubelet set: kubemark's hollow kubelet and the kubelet) from the Go
# module proxy, each from its own module under test/tools so none of them enters the
# product's go.mod. Binaries are cached per version under
# ${CERTRESCUE_TESTBED_CACHE:-$HOME/.cache/certrescue-testbed}/<tool-version>/ so a
# machine builds them once. Prints the bin directory of each set on stdout:
#   cfssl=DIR k8s=DIR etcd=DIR kubelet=DIR
# Usage: scripts/testbed.sh [cfssl|k8s|etcd|kubelet]...   (default: all)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${CERTRESCUE_TESTBED_CACHE:-$HOME/.cache/certrescue-testbed}
export GOFLAGS=-mod=mod

build() { # name version pkg...   (built in test/tools/${mod:-name})
  local name=$1 version=$2; shift 2
  local dir="$cache/$name-$version/bin"
  local missing=0
  for p in "$@"; do
    bin=$(basename "$p"); [ "$p" = . ] && bin=$name
    [ -f "$dir/$bin" ] || missing=1
  done
  if [ "$missing" = 1 ]; then
    mkdir -p "$dir.tmp"
    echo "testbed: building $name $version (first time on this machine)" >&2
    (cd "$top/test/tools/${mod:-$name}" && CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags=-s "$@") >&2
    mkdir -p "$dir"
    mv "$dir.tmp"/* "$dir"/ && rmdir "$dir.tmp"
  fi
  echo "$name=$dir"
}

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(cfssl etcd k8s kubelet)
for w in "${want[@]}"; do
  case "$w" in
    cfssl) build cfssl v1.6.5 github.com/cloudflare/cfssl/cmd/cfssl github.com/cloudflare/cfssl/cmd/cfssljson ;;
    etcd)  build etcd v3.6.16 . ;;
    k8s)   build k8s v1.37.2 k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-apiserver \
             k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
    # The kubelets, from the k8s module into their own cache directory (adding
    # them to the k8s set would rebuild it on every machine that has it).
    kubelet) mod=k8s build kubelet v1.37.2 k8s.io/kubernetes/cmd/kubemark k8s.io/kubernetes/cmd/kubelet ;;
    *) echo "testbed: unknown set $w" >&2; exit 3 ;;
  esac
done
