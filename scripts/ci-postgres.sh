#!/usr/bin/env bash
# Starts a throw-away PostgreSQL on 127.0.0.1 for the SQL integration tests and prints
# the one line to `eval`:
#
#     eval "$(bash scripts/ci-postgres.sh)"    # sets DATABASE_URL
#
# Installs Debian's `postgresql` if it is missing (needs root, as CI is), creates a
# cluster in a fresh temporary directory owned by the `postgres` user, starts it on the
# first free port from 54329 (listening on 127.0.0.1 only), and creates the role and the
# database `chunkstream`. Everything but the `export` line goes to stderr.
set -euo pipefail

log() { echo "ci-postgres: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (to install postgresql and run it as the postgres user)"
    exit 1
fi

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
log "using $pgbin"

port=54329
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
done

dir=$(mktemp -d /tmp/ci-postgres.XXXXXX)
chown postgres:postgres "$dir"
chmod 700 "$dir"
as_postgres() { runuser -u postgres -- "$@"; }

as_postgres "$pgbin/initdb" --pgdata="$dir/data" --username=postgres \
    --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
as_postgres "$pgbin/pg_ctl" --pgdata="$dir/data" --log="$dir/postgres.log" --wait \
    --options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
    start >&2

as_postgres psql --host="$dir" --port="$port" --username=postgres --no-psqlrc \
    --quiet --set=ON_ERROR_STOP=1 >&2 <<'SQL'
CREATE ROLE chunkstream LOGIN PASSWORD 'chunkstream';
CREATE DATABASE chunkstream OWNER chunkstream;
SQL

log "PostgreSQL is up on 127.0.0.1:$port (data in $dir/data)"
log "stop it with: runuser -u postgres -- $pgbin/pg_ctl --pgdata=$dir/data stop"
echo "export DATABASE_URL=postgres://chunkstream:chunkstream@127.0.0.1:$port/chunkstream"
