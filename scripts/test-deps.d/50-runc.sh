#!/usr/bin/env bash
# runc for the static pod testbed (internal/testbed/staticpods.go,
# test/staticpod): containerd v2 (built by scripts/testbed.sh's containerd
# set) runs the kubelet's pods through Debian's runc. Only the binary is
# used; the package starts no service.
# Idempotent: installs only what is missing.
set -euo pipefail
if command -v runc >/dev/null || [ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ]; then
  exit 0
fi
echo "50-runc: installing runc" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends runc >/dev/null
command -v runc >/dev/null
