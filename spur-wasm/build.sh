#!/usr/bin/env bash
# Builds the widget into spur-wasm/dist/: the wasm (size-optimised), its ES
# module glue and .d.ts (wasm-bindgen), the widget module, package.json, and
# prints the size a browser downloads. Installs what it needs: the wasm32
# target, wasm-bindgen-cli at the crate's exact version, binaryen's wasm-opt
# from npm (Debian's binaryen 108 breaks wasm-bindgen output).
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
if [ ! -x "$tools/node_modules/.bin/wasm-opt" ]; then
  mkdir -p "$tools"
  (cd "$tools" && [ -f package.json ] || echo '{"private": true}' > package.json
   npm install --no-audit --no-fund --loglevel=error binaryen@132)
fi

cargo build -q -p spur-wasm --target wasm32-unknown-unknown --profile release-wasm
rm -rf "$dist" && mkdir -p "$dist"
wasm-bindgen --target web --out-dir "$dist" "$root/target/wasm32-unknown-unknown/release-wasm/spur_wasm.wasm"
"$tools/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue \
  "$dist/spur_wasm_bg.wasm" -o "$dist/spur_wasm_bg.wasm"
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

# What a browser downloads: the widget module, the glue, the wasm.
printf '%-24s %10s %10s\n' file bytes gzipped
total=0; total_gz=0
for f in spur-widget.js spur_wasm.js spur_wasm_bg.wasm; do
  raw=$(wc -c < "$dist/$f"); gz=$(gzip -9 -c "$dist/$f" | wc -c)
  total=$((total + raw)); total_gz=$((total_gz + gz))
  printf '%-24s %10d %10d\n' "$f" "$raw" "$gz"
done
printf '%-24s %10d %10d  (goal: 51200 gzipped)\n' total "$total" "$total_gz"
