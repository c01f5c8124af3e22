#!/usr/bin/env bash
# Builds the real peers certrescue's tests run against (cfssl, cfssljson, kubeadm,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, the
# kubelet set: kubemark's hollow kubelet and the kubelet, and the containerd
# set: containerd v2, ctr, its runc shim, crictl, and mkimage with the pause
# program the static pod testbed builds its images with) from the Go
# module proxy, each from its own module under test/tools so none of them enters the
# product's go.mod. Binaries are cached per version under
# ${CERTRESCUE_TESTBED_CACHE:-$HOME/.cache/certrescue-testbed}/<tool-version>/ so a
# machine builds them once. Prints the bin directory of each set on stdout:
#   cfssl=DIR k8s=DIR etcd=DIR kubelet=DIR containerd=DIR crictl=DIR images=DIR
# Usage: scripts/testbed.sh [cfssl|k8s|etcd|kubelet|containerd]...   (default: all)
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
    (cd "$top/test/tools/${mod:-$name}" && CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags=-s ${tags:+-tags "$tags"} "$@") >&2
    mkdir -p "$dir"
    mv "$dir.tmp"/* "$dir"/ && rmdir "$dir.tmp"
  fi
  echo "$name=$dir"
}

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(cfssl etcd k8s kubelet containerd)
for w in "${want[@]}"; do
  case "$w" in
    cfssl) build cfssl v1.6.5 github.com/cloudflare/cfssl/cmd/cfssl github.com/cloudflare/cfssl/cmd/cfssljson ;;
    etcd)  build etcd v3.6.16 . ;;
    k8s)   build k8s v1.37.2 k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-apiserver \
             k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
    # The kubelets, from the k8s module into their own cache directory (adding
    # them to the k8s set would rebuild it on every machine that has it).
    kubelet) mod=k8s build kubelet v1.37.2 k8s.io/kubernetes/cmd/kubemark k8s.io/kubernetes/cmd/kubelet ;;
    # The static pod testbed's runtime (runc is Debian's: test-deps.d/50-runc.sh).
    # crictl and images are parts of it, also accepted on their own.
    containerd|crictl|images)
      if [ "$w" = containerd ]; then
        tags=no_btrfs,no_devmapper,no_zfs build containerd v2.4.2 github.com/containerd/containerd/v2/cmd/containerd \
          github.com/containerd/containerd/v2/cmd/ctr github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
      fi
      if [ "$w" != images ]; then build crictl v1.37.0 sigs.k8s.io/cri-tools/cmd/crictl; fi
      if [ "$w" != crictl ]; then mod=images build images v1 ./mkimage ./pause; fi ;;
    *) echo "testbed: unknown set $w" >&2; exit 3 ;;
  esac
done
