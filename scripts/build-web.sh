#!/usr/bin/env bash
# Builds the coverage map into target/web, where `tessera serve` serves it (under /map/).
#
# Installs what it needs: the wasm32-unknown-unknown target, wasm-bindgen-cli at exactly the
# version of the wasm-bindgen crate in Cargo.lock (skipped when already installed), and the
# npm packages in web/package.json (MapLibre GL JS, the world-atlas basemap data, binaryen's
# wasm-opt). Then: a release build with the size profile, wasm-bindgen, wasm-opt -Oz, and the
# static files. Nothing built is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/web
step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, "", $0); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  # Not --locked: its lock file asks for a webpki-roots the registry mirror lacks.
  # --force: cargo skips a crate its records say is installed, even when the binary is gone.
  cargo install wasm-bindgen-cli --version "$version" --force
fi
(cd web && { [ -d node_modules/maplibre-gl ] && [ -d node_modules/binaryen ] || npm install --no-audit --no-fund; })

step "cargo build (wasm32, profile web)"
cargo build -p tessera-web --target wasm32-unknown-unknown --profile web

step "wasm-bindgen, wasm-opt, static files"
rm -rf "$out" && mkdir -p "$out/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" target/wasm32-unknown-unknown/web/tessera_web.wasm
node web/node_modules/binaryen/bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$out/pkg/tessera_web_bg.wasm" -o "$out/pkg/tessera_web_bg.wasm"
cp web/www/index.html web/www/style.css "$out/"
cp web/node_modules/maplibre-gl/dist/maplibre-gl.mjs web/node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs \
  web/node_modules/maplibre-gl/dist/maplibre-gl.css "$out/"
node web/prepare-basemap.mjs "$out/basemap"
# The demo generator's land mask is this same land on the grid, checked in: it must still be.
node web/land-mask.mjs target/land-mask.bin
cmp target/land-mask.bin fixtures/data/land-0.1deg.bin \
  || { echo "fixtures/data/land-0.1deg.bin is stale: node web/land-mask.mjs fixtures/data/land-0.1deg.bin" >&2; exit 1; }
wasm="$out/pkg/tessera_web_bg.wasm"
echo "built $out: $(wc -c < "$wasm") bytes of wasm ($(gzip -9c "$wasm" | wc -c) gzipped)"
