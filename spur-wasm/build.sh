#!/usr/bin/env bash
# Builds the widget into spur-wasm/dist/: the wasm (size-optimised), its ES
# module glue and .d.ts (wasm-bindgen), the widget module, package.json, and
# prints the size a browser downloads. Installs what it needs: the wasm32
# target, wasm-bindgen-cli at the crate's exact version, binaryen's wasm-opt
# from npm (Debian's binaryen 108 breaks wasm-bindgen output). Without npm the
# wasm is left unoptimised (it works; it is larger) and the script says so.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
dist="$here/dist"
cd "$root"

version="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  # Unoptimised: it builds in half the time and runs fast enough on one widget.
  cargo install -q --debug wasm-bindgen-cli --version "$version"
fi
tools="$root/target/widget-tools"
wasm_opt="$tools/node_modules/.bin/wasm-opt"
if [ ! -x "$wasm_opt" ] && command -v npm >/dev/null; then
  mkdir -p "$tools"
  (cd "$tools" && [ -f package.json ] || echo '{"private": true}' > package.json
   npm install --no-audit --no-fund --loglevel=error binaryen@132)
fi

cargo build -q -p spur-wasm --target wasm32-unknown-unknown --profile release-wasm
rm -rf "$dist" && mkdir -p "$dist"
wasm-bindgen --target web --out-dir "$dist" "$root/target/wasm32-unknown-unknown/release-wasm/spur_wasm.wasm"
if [ -x "$wasm_opt" ]; then
  "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue \
    "$dist/spur_wasm_bg.wasm" -o "$dist/spur_wasm_bg.wasm"
else
  echo "build.sh: npm is missing, so the wasm is not size-optimised (install Node and npm for wasm-opt)" >&2
fi
cp "$here/widget/spur-widget.js" "$here/widget/spur-widget.d.ts" "$dist/"
cat > "$dist/package.json" <<JSON
{
  "name": "spur-widget",
  "version": "$(awk -F'"' '/^version = / {print $2; exit}' "$root/Cargo.toml")",
  "description": "The Spur support-chat widget and its typed client (wasm).",
  "type": "module",
  "main": "spur-widget.js",
  "types": "spur-widget.d.ts",
  "files": ["spur-widget.js", "spur-widget.d.ts", "spur_wasm.js", "spur_wasm.d.ts", "spur_wasm_bg.wasm", "spur_wasm_bg.wasm.d.ts"],
  "license": "MIT OR Apache-2.0"
}
JSON

# Served precompressed (the server picks by Accept-Encoding): brotli at
# its best quality through Node's zlib, gzip -9.
for f in spur-widget.js spur_wasm.js spur_wasm_bg.wasm; do
  gzip -9 -n -k -f "$dist/$f"
done
node -e '
const zlib = require("zlib"), fs = require("fs");
for (const f of process.argv.slice(1)) {
  const params = { [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY };
  fs.writeFileSync(f + ".br", zlib.brotliCompressSync(fs.readFileSync(f), { params }));
}' "$dist/spur-widget.js" "$dist/spur_wasm.js" "$dist/spur_wasm_bg.wasm" 2>/dev/null ||
  echo "build.sh: node is missing, so no brotli files (gzip only)" >&2

# What a browser downloads: the widget module, the glue, the wasm.
printf '%-24s %10s %10s %10s\n' file bytes gzip brotli
total=0; total_gz=0; total_br=0
for f in spur-widget.js spur_wasm.js spur_wasm_bg.wasm; do
  raw=$(wc -c < "$dist/$f"); gz=$(wc -c < "$dist/$f.gz"); br=$(cat "$dist/$f.br" 2>/dev/null | wc -c)
  total=$((total + raw)); total_gz=$((total_gz + gz)); total_br=$((total_br + br))
  printf '%-24s %10d %10d %10d\n' "$f" "$raw" "$gz" "$br"
done
printf '%-24s %10d %10d %10d  (goal: 45 KB on the wire)\n' total "$total" "$total_gz" "$total_br"
