#!/usr/bin/env bash
# The HA testbed's Debian packages (internal/testbed/ha, test/ha): haproxy in
# front of the three API servers, openssh-server for an sshd per node, and
# ansible (ansible-playbook runs the collection in deploy/ansible). The tests
# start their own haproxy and sshd processes inside network namespaces they
# make; the packages' own services are never started or enabled.
# Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/bin/ansible-playbook ] || need+=(ansible)
command -v socat >/dev/null || need+=(socat)
[ ${#need[@]} -eq 0 ] && exit 0
echo "40-ha: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d keeps the packages' services from starting where an init system runs them.
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && created=1
fi
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}" >/dev/null
[ -n "$created" ] && rm -f "$policy"
[ -x /usr/sbin/haproxy ] && [ -x /usr/sbin/sshd ] && [ -x /usr/bin/ansible-playbook ]
