#!/usr/bin/env bash
# Runs the real spur-server binary the way the README's quick start does
# (no configuration, from an empty directory) and checks what a newcomer
# sees: readiness, a grounded answer, the demo page, the SQLite file, JSON
# logs with request ids, a clean exit on SIGTERM, and a bad setting named.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${SPUR_SERVER_BIN:-$PWD/target/debug/spur-server}"
[ -x "$BIN" ] || cargo build -q -p spur-server
WORK="$(mktemp -d)"
PORT="${SMOKE_PORT:-3917}"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cd "$WORK"
env -i PATH="$PATH" PORT="$PORT" "$BIN" >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" | grep -q ready
REPLY="$(curl -fs "http://127.0.0.1:$PORT/v1/chat/message" -H 'content-type: application/json' \
  -d '{"message":"Do you ship to India?"}')"
echo "$REPLY" | grep -q 'India' || { echo "no grounded answer: $REPLY"; exit 1; }
curl -fs "http://127.0.0.1:$PORT/" | grep -q 'role="log"'
[ -f "$WORK/spur.db" ] || { echo "no SQLite file in the working directory"; exit 1; }
grep -q '"request_id"' "$WORK/log" || { echo "no request id in the JSON logs"; cat "$WORK/log"; exit 1; }
kill -TERM "$PID"
wait "$PID" && echo "clean exit on SIGTERM"

set +e
PORT="$PORT" DATABASE_URL="mysql://nope" "$BIN" >/dev/null 2>"$WORK/err"
CODE=$?
set -e
[ "$CODE" -eq 2 ] && grep -q DATABASE_URL "$WORK/err" || { echo "bad config not named (exit $CODE)"; cat "$WORK/err"; exit 1; }
echo "smoke: ok"
