#!/usr/bin/env bash
# spur-server's pages (demo chat, agent console, admin) and the embeddable
# widget (built by spur-wasm/build.sh, size report printed) end to end in
# headless Chromium against the real binary, the console's on SQLite and
# PostgreSQL. Screenshots land in target/e2e-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v chromium >/dev/null || { echo "chromium is required (apt-get install chromium)"; exit 1; }
# The workspace build nextest made (same packages, same features): a
# `-p` build would resolve features anew and rebuild the core.
cargo build -q --workspace --all-targets
bash spur-wasm/build.sh
bash spur-wasm/test.sh
cd spur-server/e2e
npm ci --no-audit --no-fund --loglevel=error
npx tsc -p tsconfig.json     # the widget's .d.ts serve strict TypeScript
npm test
# The console's pages again on PostgreSQL (their own screenshots).
SPUR_E2E_DATABASE=postgres SPUR_E2E_ARTIFACTS="$PWD/../../target/e2e-artifacts/postgres" \
  npm test -- handoff.test.mjs tickets.test.mjs
