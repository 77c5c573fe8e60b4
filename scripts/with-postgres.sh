#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster:
#   scripts/with-postgres.sh .venv/bin/python -m pytest -q
# Installs Debian's postgresql package if it is missing, initdb's a cluster into a temporary
# directory, starts it on a free port of 127.0.0.1 (its unix socket in that directory),
# exports TEST_DATABASE_URL, runs the command, then stops the cluster and removes it.
set -euo pipefail

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

PGBIN="$(find_bin)"
if [ -z "$PGBIN" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends postgresql
    PGBIN="$(find_bin)"
fi

# initdb and postgres refuse to run as root: as root, the cluster belongs to 'postgres'
# (created by the package) and runs as that user.
AS=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    AS=(runuser -u postgres --)
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/pg-test.XXXXXX")"
chmod 755 "$DIR"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$DIR"; fi

stop_cluster() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap stop_cluster EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log"; exit 1; }
# A throwaway cluster: durability off (fsync, full pages) makes the suite's many
# CREATE DATABASE ... TEMPLATE calls fast.
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start -o \
    "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR -c fsync=off -c full_page_writes=off \
     -c synchronous_commit=off -c max_connections=300" >/dev/null \
    || { cat "$DIR/server.log"; exit 1; }

export TEST_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:$PORT/postgres"
echo "with-postgres: $("$PGBIN/postgres" --version) on 127.0.0.1:$PORT (data in $DIR)"
status=0
"$@" || status=$?
exit "$status"
