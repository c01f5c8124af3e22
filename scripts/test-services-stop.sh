#!/usr/bin/env bash
# Stops the database servers scripts/test-deps.d/20-databases.sh started for the
# tests (by their pid files, nothing else). Their data directories stay, so the
# next `make test` starts in seconds. Safe to run when nothing is running.
set -uo pipefail
state=${CERTRESCUE_TESTDB_DIR:-/var/tmp/certrescue-testdb}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$pg_bin" ] && [ -f "$state/pg/postmaster.pid" ]; then
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$state/pg" -m fast -w stop >/dev/null 2>&1 &&
    echo "test-services-stop: PostgreSQL stopped" >&2
fi

pidf=$state/mariadb-run/mariadb.pid
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  # Only a MariaDB server: after a reboot the pid may be another process's.
  if kill -0 "$pid" 2>/dev/null && grep -Eqs 'mariadbd|mysqld' "/proc/$pid/comm"; then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    # Only a MariaDB server: after a reboot the pid may be another process's.
  if kill -0 "$pid" 2>/dev/null && grep -Eqs 'mariadbd|mysqld' "/proc/$pid/comm"; then kill -KILL "$pid"; fi
    echo "test-services-stop: MariaDB stopped" >&2
  fi
  rm -f "$pidf"
fi
exit 0
