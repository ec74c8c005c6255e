#!/usr/bin/env bash
# Every test, as the README says: formatting, lints, the native test suite
# (SQLite, real PostgreSQL and Redis, fake OpenAI server), the wasm build
# gate, the Rust example, the real server binary, its pages in headless
# Chromium, and the Python wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p spur-py --all-targets -- -D warnings
# One process per test (nextest): process-wide state such as the metrics
# recorder is each test's own, so exact counts can be asserted.
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
cargo check -p spur-core --no-default-features --target wasm32-unknown-unknown
cargo clippy -p spur-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo run -q -p spur-example-quickstart | tee /tmp/spur-example.out
grep -q "India" /tmp/spur-example.out
bash scripts/test-answers.sh
bash scripts/smoke-server.sh
bash scripts/test-api-fuzz.sh
bash scripts/test-browser.sh
bash scripts/test-python.sh
echo "all checks passed"
