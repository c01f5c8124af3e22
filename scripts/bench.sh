#!/usr/bin/env bash
# Runs every scripts/bench-*.sh (each compares certrescue with its real peer on
# this machine and prints medians and ratios). bench-planes.sh is the expired-to-
# healthy figure of the binary-install and kubeadm planes (needs root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
for b in "$top"/scripts/bench-*.sh; do
  echo "== $(basename "$b")"
  "$b"
done
