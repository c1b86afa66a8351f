#!/bin/bash
# postgres-entrypoint.sh: the entry point of certline/postgres:15 (postgres.Dockerfile), the
# official image's first-start behaviour for what deploy/docker-compose.yml uses: on an empty
# data folder, initdb with the superuser POSTGRES_USER and the password in
# POSTGRES_PASSWORD_FILE, then /docker-entrypoint-initdb.d/*.sh against a server on the socket
# only; then the command (postgres ...) listening on every address, passwords (scram) over TCP.
set -euo pipefail

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD_FILE:?}"
    user=${POSTGRES_USER:-postgres}
    initdb -D "$PGDATA" --username="$user" --pwfile="$POSTGRES_PASSWORD_FILE" -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    for f in /docker-entrypoint-initdb.d/*.sh; do
        [ -f "$f" ] || continue
        echo "postgres-entrypoint: running $f"
        POSTGRES_USER=$user bash "$f"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: database initialised"
fi
if [ "${1:-}" = postgres ]; then
    shift
    exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
