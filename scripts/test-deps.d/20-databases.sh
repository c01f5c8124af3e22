#!/usr/bin/env bash
# Database servers for the audit store's tests (internal/audit): MariaDB and
# PostgreSQL, each started from a throwaway data directory as a plain process on
# 127.0.0.1 (no systemd needed), on ports of their own so a Debian service on
# 3306/5432 does not matter. Installs the Debian packages when missing.
#
# Writes the DSNs the Go tests read to $cache/db.env:
#   CERTRESCUE_TEST_MYSQL_DSN=mysql://certrescue:certrescue@127.0.0.1:53306/certrescue
#   CERTRESCUE_TEST_PG_DSN=postgres://certrescue:certrescue@127.0.0.1:55432/certrescue
# The test user may create databases (MariaDB) and schemas (PostgreSQL), and
# users or roles with fewer rights; each test makes its own and drops them. scripts/test-services-stop.sh stops both servers.
#
# Idempotent: a server already running (answering on its socket) is reused.
set -euo pipefail

cache=${CERTRESCUE_TESTBED_CACHE:-$HOME/.cache/certrescue-testbed}
# The servers run as the postgres and mysql users, which cannot enter /root, so
# their data lives outside $HOME.
state=${CERTRESCUE_TESTDB_DIR:-/var/tmp/certrescue-testdb}
pg_port=${CERTRESCUE_TESTDB_PG_PORT:-55432}
my_port=${CERTRESCUE_TESTDB_MYSQL_PORT:-53306}
mkdir -p "$cache" "$state"
chmod 0755 "$state"

log() { echo "20-databases: $*" >&2; }

# --- packages ---------------------------------------------------------------
pg_bin=
find_pg() { pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true); }
find_pg
need=()
{ [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ]; } || need+=(postgresql)
{ command -v mariadbd >/dev/null || command -v mysqld >/dev/null || [ -x /usr/sbin/mariadbd ]; } || need+=(mariadb-server)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
  # Where the package's own service got started (no policy-rc.d), stop it: the
  # tests use servers of their own, and nothing should outlive `make test`.
  service mariadb stop >/dev/null 2>&1 || true
  service postgresql stop >/dev/null 2>&1 || true
  find_pg
fi

# --- PostgreSQL ---------------------------------------------------------------
pg_data=$state/pg
pg_sock=$state/pg-sock
as_pg() { runuser -u postgres -- "$@"; }
if [ ! -f "$pg_data/PG_VERSION" ]; then
  log "initdb $pg_data"
  rm -rf "$pg_data"
  mkdir -p "$pg_data"
  chown postgres: "$pg_data"
  pwfile=$(mktemp); echo postgres >"$pwfile"; chown postgres "$pwfile"
  as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
fi
mkdir -p "$pg_sock"; chown postgres: "$pg_sock"
if ! "$pg_bin/pg_isready" -q -h "$pg_sock" -p "$pg_port"; then
  # A pid file left by a server killed with the machine's last session may name
  # a process that is now something else: remove it unless it is a postgres.
  if [ -f "$pg_data/postmaster.pid" ]; then
    pid=$(head -1 "$pg_data/postmaster.pid")
    grep -qs postgres "/proc/$pid/comm" || rm -f "$pg_data/postmaster.pid"
  fi
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_sock" start >/dev/null
fi
psql_pg() { as_pg "$pg_bin/psql" -h "$pg_sock" -p "$pg_port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_pg -tAc "select 1 from pg_roles where rolname='certrescue'")" != 1 ]; then
  psql_pg -c "create role certrescue login password 'certrescue'"
fi
# createrole: the tests make a node role that may only SELECT and INSERT.
psql_pg -c "alter role certrescue createdb createrole"
if [ "$(psql_pg -tAc "select 1 from pg_database where datname='certrescue'")" != 1 ]; then
  psql_pg -c "create database certrescue owner certrescue"
fi

# --- MariaDB -------------------------------------------------------------------
my_bin=$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)
my_data=$state/mariadb
my_run=$state/mariadb-run # socket, pid file and log: written by the mysql user
my_sock=$my_run/mariadb.sock
my_pid=$my_run/mariadb.pid
id mysql >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mysql
mkdir -p "$my_run"; chown mysql: "$my_run"
if [ ! -d "$my_data/mysql" ]; then
  log "mariadb-install-db $my_data"
  rm -rf "$my_data"
  mkdir -p "$my_data"
  chown mysql: "$my_data"
  mariadb-install-db --no-defaults --user=mysql --datadir="$my_data" \
    --auth-root-authentication-method=socket --skip-test-db >/dev/null
fi
my_ping() { mariadb-admin --no-defaults -S "$my_sock" -uroot ping >/dev/null 2>&1; }
if ! my_ping; then
  rm -f "$my_pid" "$my_sock"
  log "starting MariaDB on 127.0.0.1:$my_port"
  setsid "$my_bin" --no-defaults --user=mysql --datadir="$my_data" \
    --bind-address=127.0.0.1 --port="$my_port" --socket="$my_sock" --pid-file="$my_pid" \
    --log-error="$my_run/mariadb.log" --skip-name-resolve --max-connections=500 \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    my_ping && break
    sleep 0.5
  done
fi
my_ping || { log "MariaDB did not start; see $my_run/mariadb.log"; exit 1; }
mariadb --no-defaults -S "$my_sock" -uroot -e "
  CREATE USER IF NOT EXISTS 'certrescue'@'127.0.0.1' IDENTIFIED BY 'certrescue';
  CREATE DATABASE IF NOT EXISTS certrescue;
  GRANT ALL PRIVILEGES ON *.* TO 'certrescue'@'127.0.0.1' WITH GRANT OPTION;"

cat >"$cache/db.env" <<EOF
CERTRESCUE_TEST_MYSQL_DSN=mysql://certrescue:certrescue@127.0.0.1:$my_port/certrescue
CERTRESCUE_TEST_PG_DSN=postgres://certrescue:certrescue@127.0.0.1:$pg_port/certrescue
EOF
log "DSNs in $cache/db.env"
