#!/usr/bin/env bash
# Installs and builds everything `make test` needs on a fresh machine, then runs
# every scripts/test-deps.d/*.sh (each area of the project adds its own: database
# servers, promtool, ...). Safe to rerun: each step skips what is already there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v unshare >/dev/null || need_apt+=(util-linux)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v strace >/dev/null || need_apt+=(strace)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test-deps: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

"$top/scripts/testbed.sh" >/dev/null

for f in "$top"/scripts/test-deps.d/*.sh; do
  [ -e "$f" ] || continue
  echo "test-deps: $(basename "$f")" >&2
  bash "$f"
done
