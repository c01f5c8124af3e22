#!/usr/bin/env bash
# Prometheus and promtool for the exporter's and the alert rules' tests
# (internal/alerts runs promtool check/test rules; internal/exporter starts
# /usr/bin/prometheus itself on 127.0.0.1 with a throwaway config and data
# directory and kills it by PID). Installs Debian's prometheus package when
# missing; never starts or enables its service.
set -euo pipefail
if command -v promtool >/dev/null && [ -x /usr/bin/prometheus ]; then
  exit 0
fi
echo "30-prometheus: installing prometheus (promtool)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d keeps the package's service from starting where an init system runs it.
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && created=1
fi
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
[ -n "$created" ] && rm -f "$policy"
command -v promtool >/dev/null
