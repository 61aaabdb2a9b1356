#!/usr/bin/env bash
# Start a real PostgreSQL for the tests of internal/meta/postgres: a throwaway
# cluster under DIR, listening only on 127.0.0.1:PORT (default 5432), with a
# superuser role wharf (password wharf). It installs PostgreSQL from Debian
# packages when missing, creates the cluster on first use, starts it unless it
# is running already, waits until it accepts connections, and prints the
# environment the tests read:
#
#   eval "$(scripts/start-postgres.sh /tmp/wharf-postgres)"
#   go test ./internal/meta/postgres/
#   runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D /tmp/wharf-postgres/data stop
#
# Durability is switched off (fsync, synchronous_commit, full_page_writes):
# the cluster is for tests only and a crash just means starting it again.
# Progress goes to stderr; stdout carries only the export line.
set -euo pipefail

dir=${1:?usage: $0 DIR [PORT]}
port=${2:-5432}
role=wharf
password=wharf

log() { echo "start-postgres: $*" >&2; }

# The newest installed server's binaries; Debian keeps them off PATH.
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

bin=$(pgbin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  [ "$(id -u)" -eq 0 ] || { log "PostgreSQL is not installed and only root can install it"; exit 1; }
  log "installing PostgreSQL from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # Without this the package creates and starts a "main" cluster on 5432,
  # which would take the port this script is about to use.
  apt-get install -y -qq postgresql-common >&2
  sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
  apt-get install -y -qq postgresql >&2
  bin=$(pgbin)
fi

# PostgreSQL refuses to run as root; as root, run it as the postgres OS user.
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
  owner=postgres
else
  as_pg() { "$@"; }
  owner=$(id -un)
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data=$dir/data
chown "$owner" "$dir"
if ! as_pg test -x "$dir"; then
  log "$owner cannot reach $dir; choose a directory it can traverse (under /tmp, say)"
  exit 1
fi

if [ ! -f "$data/PG_VERSION" ]; then
  log "creating a cluster in $data"
  pwfile=$(mktemp)
  echo postgres >"$pwfile"
  chown "$owner" "$pwfile"
  # Local socket connections are trusted (this script uses them to create the
  # role); TCP connections must give a password.
  as_pg "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log"
  rm -f "$pwfile"
fi

if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "already running from $data"
else
  log "starting on 127.0.0.1:$port"
  if ! as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-k /tmp -h 127.0.0.1 -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2; then
    log "PostgreSQL did not start; its log:"
    tail -n 30 "$dir/postgres.log" >&2
    exit 1
  fi
fi

# A running cluster may have been started with another port; its pid file
# says which (line 4).
port=$(sed -n 4p "$data/postmaster.pid")

for _ in $(seq 1 100); do
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    break
  fi
  sleep 0.1
done
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { log "not ready on 127.0.0.1:$port after 10s"; exit 1; }

as_pg "$bin/psql" -h /tmp -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >/dev/null <<SQL
SELECT format('CREATE ROLE %I', '$role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role')
\gexec
ALTER ROLE $role WITH LOGIN SUPERUSER PASSWORD '$password';
SQL

log "ready on 127.0.0.1:$port (data $data, log $dir/postgres.log)"
echo "export WHARF_TEST_POSTGRES_URL='postgres://$role:$password@127.0.0.1:$port/postgres?sslmode=disable'"
