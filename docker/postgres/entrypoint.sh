#!/bin/sh
# Creates the cluster on first start (user POSTGRES_USER, password from POSTGRES_PASSWORD_FILE,
# scram auth from the network), then runs the server in the foreground.
set -eu
bin=/usr/local/lib/postgresql-bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -r "${POSTGRES_PASSWORD_FILE:-}" ] || { echo "postgres: POSTGRES_PASSWORD_FILE must name a readable file" >&2; exit 1; }
  "$bin/initdb" -D "$PGDATA" -U "${POSTGRES_USER:-temporal}" --pwfile="$POSTGRES_PASSWORD_FILE" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-instructions
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
# Temporal's four services keep pools of connections: the default 100 is too few.
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c max_connections=300
