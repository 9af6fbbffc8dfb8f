#!/usr/bin/env bash
# The diff kernels in the browser beside the same kernels native: okavango - scaleway and the
# reverse on the full demo, count and ids, from the same index bytes. The WebAssembly is the
# engine compiled for wasm32-unknown-unknown (release profile, no SIMD), timed in Debian's
# headless Chromium; the native figures are diff-timer's, in the same run.
#   benches/wasm/run.sh [INVENTORY]   (default target/bench-demo, the full demo)
# Needs the web toolchain (scripts/build-web.sh installs it). Writes only under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
inventory="${1:-target/bench-demo}"
cargo build --release -q -p tessera-cli -p tessera-benches --bin tessera --bin diff-timer
[ -f "$inventory/tessera.toml" ] || target/release/tessera init --demo "$inventory"
cargo build --release -q -p tessera-wasm-kernels --target wasm32-unknown-unknown
out=target/wasm-bench
rm -rf "$out" && mkdir -p "$out/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
  target/wasm32-unknown-unknown/release/tessera_wasm_kernels.wasm
# The page is the directory's index.html: `serve --web` serves a directory that has one.
cp benches/wasm/kernels.html "$out/index.html"
cp "$inventory/stores/okavango.tbm" "$inventory/stores/scaleway.tbm" "$out/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/tessera --inventory "$inventory" serve --listen "127.0.0.1:$port" --web "$out" >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
for round in 1 2 3; do
  echo "round $round"
  echo "  wasm, headless Chromium: $(timeout 300 node benches/wasm/kernels.mjs "http://127.0.0.1:$port/map/")"
  echo "  native (diff-timer):     $(target/release/diff-timer "$inventory" okavango scaleway 2>/dev/null)"
  echo "  native, reverse:         $(target/release/diff-timer "$inventory" scaleway okavango 2>/dev/null)"
done
