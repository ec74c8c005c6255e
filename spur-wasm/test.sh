#!/usr/bin/env bash
# The SDK's wasm-bindgen-test suite in headless Chromium (chromedriver;
# webdriver.json holds the browser flags this machine needs).
set -euo pipefail
cd "$(dirname "$0")"
command -v chromedriver >/dev/null || { echo "chromedriver is required (apt-get install chromium-driver)"; exit 1; }
command -v wasm-bindgen-test-runner >/dev/null || { echo "run spur-wasm/build.sh first (installs wasm-bindgen-cli)"; exit 1; }
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test -p spur-wasm --target wasm32-unknown-unknown
