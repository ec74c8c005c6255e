#!/usr/bin/env bash
# Every test, as the README says: formatting, lints, the native test suite
# (SQLite, real PostgreSQL and Redis, fake OpenAI server), the wasm build
# gate, the Rust example, the real server binary, its pages in headless
# Chromium, and the Python wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's time is printed (and summed at the end): CI should stay under 45 minutes.
TIMES=()
step() {
    local started=$SECONDS
    "$@"
    TIMES+=("$(printf '%5ds  %s' $((SECONDS - started)) "$*")")
}

step cargo fmt --all -- --check
# --workspace covers every member, spur-py and spur-wasm (natively) included.
step cargo clippy --workspace --all-targets -- -D warnings
# The MCP client's tests run a real MCP server (the official Python SDK).
step bash scripts/mcp-venv.sh
# One process per test (nextest): process-wide state such as the metrics
# recorder is each test's own, so exact counts can be asserted.
step cargo nextest run --workspace --no-fail-fast
step cargo test --workspace --doc
step cargo check -p spur-core --no-default-features --target wasm32-unknown-unknown
step cargo clippy -p spur-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
# The Rust quick start, from the workspace build (`cargo run -p` would
# resolve features anew and rebuild the core).
step cargo build -q --workspace --all-targets
step bash -c './target/debug/spur-example-quickstart | tee /tmp/spur-example.out'
grep -q "India" /tmp/spur-example.out
step bash scripts/test-answers.sh
step bash scripts/smoke-server.sh
step bash scripts/test-api-fuzz.sh
step bash scripts/test-browser.sh
step bash scripts/test-python.sh
printf '%s\n' "${TIMES[@]}"
echo "all checks passed in $((SECONDS / 60)) min"
