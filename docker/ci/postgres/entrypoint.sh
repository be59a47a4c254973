#!/bin/bash
# The official postgres image's start-up, for the stand-in image (Dockerfile beside this file):
# on an empty PGDATA, initdb with the superuser POSTGRES_USER (default postgres) and the password
# from POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD (required: no trust auth over the network),
# scram-sha-256 for every host connection, listen on every address, then POSTGRES_DB (default
# POSTGRES_USER) created; then `postgres` in the foreground as uid 999. The password is written
# only to a 0600 file that initdb reads and that is removed at once; it is never printed.
set -euo pipefail
if [ "${1:-}" != postgres ]; then exec "$@"; fi

: "${PGDATA:=/var/lib/postgresql/data}"
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    password=$(cat "$POSTGRES_PASSWORD_FILE")
  else
    password=${POSTGRES_PASSWORD:-}
  fi
  if [ -z "$password" ]; then
    echo "postgres stand-in: set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD); refusing to start without a password" >&2
    exit 1
  fi
  pwfile=$(mktemp /run/postgresql/pwfile.XXXXXX)
  chown postgres:postgres "$pwfile"
  printf '%s\n' "$password" > "$pwfile"
  as_postgres initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 > /dev/null
  rm -f "$pwfile"
  unset password
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    as_postgres pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
    as_postgres psql --quiet --no-psqlrc --set=ON_ERROR_STOP=1 --username="$user" --dbname=postgres \
      --set=db="$db" <<< 'CREATE DATABASE :"db";'
    as_postgres pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  fi
  echo "postgres stand-in: initialised $PGDATA (superuser $user, database $db)"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
