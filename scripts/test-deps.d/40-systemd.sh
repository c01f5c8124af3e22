#!/usr/bin/env bash
# systemd-analyze for the timer's tests (test/timer runs `systemd-analyze
# verify` on the units `certrescue timer install` writes, and `systemd-analyze
# calendar` on their OnCalendar). systemd-analyze works without systemd as
# PID 1 for both. Installs Debian's systemd package when it is missing, without
# recommends and without systemd-sysv: /sbin/init stays what it is, no service
# is started, the machine keeps running as before.
set -euo pipefail
if command -v systemd-analyze >/dev/null; then
  exit 0
fi
echo "40-systemd: installing systemd (systemd-analyze)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d keeps any service the package ships from starting.
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && created=1
fi
apt-get install -y -qq --no-install-recommends systemd >/dev/null
[ -n "$created" ] && rm -f "$policy"
command -v systemd-analyze >/dev/null
