#!/usr/bin/env bash
# The quick start: builds the chat widget when it is missing or older than
# its sources (spur-wasm/build.sh installs the wasm32 target and
# wasm-bindgen-cli itself), then runs the server with its embedded defaults.
# Arguments go to the server (`bash scripts/start.sh seed`, ...). When the
# widget cannot be built (no rustup, no network for the first install) the
# server still starts, with the plain demo page, and this says why.
set -uo pipefail
cd "$(dirname "$0")/.."

widget=spur-wasm/dist/spur-widget.js
stale() {
  [ ! -f "$widget" ] ||
    [ -n "$(find spur-wasm/src spur-wasm/widget spur-wasm/Cargo.toml spur-core/src spur-core/Cargo.toml \
      -newer "$widget" -type f -print -quit)" ]
}
if stale; then
  echo "start.sh: building the chat widget (a few minutes the first time)" >&2
  bash spur-wasm/build.sh >/dev/null ||
    echo "start.sh: the widget could not be built (see above); / shows the plain demo page" >&2
fi
exec cargo run --release -p spur-server -- "$@"
