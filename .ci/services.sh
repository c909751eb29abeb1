#!/usr/bin/env bash
# Services for the integration tests: a PostgreSQL server on 127.0.0.1 (checkpoints and blobs
# at scale). Tests that need it read CHUNKWISE_TEST_POSTGRES and skip when it is unset.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DATA=${PG_DATA:-/tmp/chunkwise-pg}
if [ ! -f "$PG_DATA/PG_VERSION" ]; then
  rm -rf "$PG_DATA"
  mkdir -p "$PG_DATA"
  chown postgres:postgres "$PG_DATA"
  su postgres -c "$PG_BIN/initdb -D $PG_DATA -A trust -U postgres" >/dev/null
fi
if ! su postgres -c "$PG_BIN/pg_ctl -D $PG_DATA status" >/dev/null 2>&1; then
  su postgres -c "$PG_BIN/pg_ctl -D $PG_DATA -o '-p 54329 -k /tmp -c listen_addresses=127.0.0.1' -l $PG_DATA/log -w start" >/dev/null
fi
echo "postgresql://postgres@127.0.0.1:54329/postgres" > /tmp/chunkwise-pg.url
