#!/usr/bin/env bash
# spur-server under wrk the way issue 19's comparison table was measured:
# wrk -t2 --latency posting {"message","sessionId"} to /chat/message over 200
# sessions created first, the fake OpenAI-compatible server answering at
# once; server and PostgreSQL CPU from /proc/PID/stat before and after each
# run, divided by the messages served.
#
#   cargo build --release -p spur-server -p spur-benches
#   bash benches/wrk/run.sh [sqlite|postgres]     (SECONDS_PER_LEVEL=20 by default)
#
# SERVER_BIN=path runs another build (to compare two side by side).
set -euo pipefail
cd "$(dirname "$0")/../.."
ONLY="${1:-}"
DURATION="${SECONDS_PER_LEVEL:-20}"
ADMIN="${SPUR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
WORK="$(mktemp -d)"
TICKS="$(getconf CLK_TCK)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# utime + stime of one process, in clock ticks.
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The same, summed over every PostgreSQL process (backends included).
postgres_ticks() {
  local total=0 pid
  for pid in $(pgrep -x postgres || true); do total=$((total + $(ticks_of "$pid"))); done
  echo "$total"
}

target/release/spur-fake-llm 0 > "$WORK/llm" &
for _ in $(seq 50); do [ -s "$WORK/llm" ] && break; sleep 0.1; done
LLM="$(head -1 "$WORK/llm")"

run_backend() {
  local name="$1" url="$2" port pid
  port="$(free_port)"
  env -i PATH="$PATH" PORT="$port" DATABASE_URL="$url" RUST_LOG=warn \
    OPENAI_BASE_URL="$LLM" OPENAI_API_KEY=sk-wrk OPENAI_MODEL=fast \
    RATE_LIMIT_PER_IP=0 RATE_LIMIT_PER_SESSION=0 RATE_LIMIT_PER_IP_DAY=0 CONNECTIONS_PER_IP=0 \
    "${SERVER_BIN:-target/release/spur-server}" &
  pid=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  : > "$WORK/sessions"
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/v1/chat/message" -H 'Content-Type: application/json' \
      -d '{"message":"hello"}' | grep -o '"sessionId":"[^"]*"' | cut -d'"' -f4 >> "$WORK/sessions"
  done
  echo "== $name ($(wc -l < "$WORK/sessions") sessions, ${DURATION} s per level)"
  for clients in 10 50; do
    local server_before pg_before out requests
    server_before="$(ticks_of "$pid")"; pg_before="$(postgres_ticks)"
    out="$(wrk -t2 -c"$clients" -d"${DURATION}s" --latency -s benches/wrk/message.lua \
      "http://127.0.0.1:$port" -- "$WORK/sessions" | grep '^requests=')"
    local server_ms pg_ms
    requests="$(sed 's/.*requests=\([0-9]*\).*/\1/' <<< "$out")"
    server_ms="$(awk -v t="$(( $(ticks_of "$pid") - server_before ))" -v hz="$TICKS" -v n="$requests" 'BEGIN {printf "%.3f", t * 1000 / hz / n}')"
    pg_ms="$(awk -v t="$(( $(postgres_ticks) - pg_before ))" -v hz="$TICKS" -v n="$requests" 'BEGIN {printf "%.3f", t * 1000 / hz / n}')"
    printf 'c=%-3s %s server_cpu_ms_per_msg=%s' "$clients" "$out" "$server_ms"
    [ "$name" = PostgreSQL ] && printf ' postgres_cpu_ms_per_msg=%s' "$pg_ms"
    printf ' rss_kib=%s\n' "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

if [ "$ONLY" != postgres ]; then
  run_backend SQLite "sqlite://$WORK/wrk.db"
fi
if [ "$ONLY" != sqlite ]; then
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS spur_wrk" -c "CREATE DATABASE spur_wrk" 2>/dev/null
  run_backend PostgreSQL "${ADMIN%/*}/spur_wrk?sslmode=disable"
  psql "$ADMIN" -qc "DROP DATABASE spur_wrk"
fi
