#!/usr/bin/env bash
# The coverage map's start-up in headless Chromium: navigation to coverage drawn, on the full
# demo, beside MapLibre alone (benches/map/bare.html) on the same server and browser.
#
#   benches/map/run.sh [INVENTORY] [RUNS] [STORE]   (default target/bench-demo, the full demo;
#   7 runs; STORE okavango, the store of the one-store case)
#
# Needs the app built (scripts/build-web.sh) and Debian's chromium. Writes only under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The machine beside the figures: the engine's speed depends on the CPU.
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
inventory="${1:-target/bench-demo}"
runs="${2:-7}"
store="${3:-okavango}"
[ -f target/web/index.html ] || { echo "build the app first: scripts/build-web.sh" >&2; exit 1; }
cargo build --release -q -p tessera-cli --bin tessera
[ -f "$inventory/tessera.toml" ] || target/release/tessera init --demo "$inventory"
web=target/map-bench/web
rm -rf "$web" && mkdir -p "$web" && cp -r target/web/. "$web/" && cp benches/map/bare.html "$web/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/tessera --inventory "$inventory" serve --listen "127.0.0.1:$port" --web "$web" >target/map-bench/serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "wasm: $(wc -c < target/web/pkg/tessera_web_bg.wasm) bytes ($(gzip -9c target/web/pkg/tessera_web_bg.wasm | wc -c) gzipped)"
echo "coverage for one store-year: $(curl -s -H 'Accept-Encoding: br' "http://127.0.0.1:$port/coverage/$store/2024" | wc -c) bytes (br)"
timeout 600 node benches/map/navigate.mjs "http://127.0.0.1:$port" "$runs" "$store"
