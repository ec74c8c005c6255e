#!/usr/bin/env bash
# The database's own ceiling for spur-server's per-message work: pgbench
# (C client, prepared statements, no TLS, no HTTP, no LLM) replaying what one
# customer message costs in PostgreSQL (message.sql). Compare with spur-load.
#
#   cargo build --release -p spur-server && bash benches/pgbench/run.sh
set -euo pipefail
cd "$(dirname "$0")"
ADMIN="${SPUR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BASE="${ADMIN%/*}"
DB=spur_pgbench
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
RUST_LOG=warn DATABASE_URL="$BASE/$DB" ../../target/release/spur-server migrate
psql "$BASE/$DB" -qc "INSERT INTO conversations (id, session_id, channel, status, created_at, updated_at)
  SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, gen_random_uuid(), 'web', 'automated', now(), now()
  FROM generate_series(1, 1000) g"
for clients in 1 10 50; do
  printf 'c=%-4s ' "$clients"
  pgbench -n -M prepared -c "$clients" -j 2 -T "${SECONDS_PER_LEVEL:-8}" -f message.sql "$BASE/$DB?sslmode=disable" 2>&1 \
    | awk '/^latency average/ {lat=$4} /^tps/ {tps=$3} END {printf "%6.0f messages/s  latency avg %s ms\n", tps, lat}'
done
psql "$ADMIN" -qc "DROP DATABASE $DB"
