#!/usr/bin/env bash
# The coverage map in headless Chromium against `tessera serve` on the small demo, on
# 127.0.0.1 with no network: web/tests/browser.mjs checks it against what the CLI says.
# Installs Debian's chromium when missing. Screenshots: target/web-check/.
#
# Usage: scripts/web-check.sh [TESSERA_BINARY [INVENTORY]]
#   TESSERA_BINARY defaults to target/debug/tessera; INVENTORY to a fresh small demo. For the
#   figures on the full demo: scripts/web-check.sh target/release/tessera target/bench-demo
# The app must be built by scripts/build-web.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="${1:-target/debug/tessera}"
[ -f target/web/index.html ] || { echo "build the app first: scripts/build-web.sh" >&2; exit 1; }
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
out=target/web-check
rm -rf "$out" && mkdir -p "$out"
if [ -n "${2:-}" ]; then
  demo="$2"
else
  demo=target/web-demo
  rm -rf "$demo"
  "$tessera" init --demo "$demo" --small >/dev/null 2>&1
  # Online imagery under the coverage; browser.mjs serves its tiles itself (no network).
  printf '\n[map]\nbasemap_url = "https://imagery.test/{z}/{x}/{y}.png"\nbasemap_attribution = "Test imagery"\n' >> "$demo/tessera.toml"
fi
"$tessera" --inventory "$demo" status --json > "$out/status.json"
"$tessera" --inventory "$demo" diff okavango scaleway --year 2024 > "$out/missing.txt"
"$tessera" --inventory "$demo" diff registry okavango --year 2024 --count > "$out/missing-okavango.txt"
# The box the check draws on the map.
box=0,45,10,55
"$tessera" --inventory "$demo" status --json --bbox "$box" > "$out/box-status.json"
"$tessera" --inventory "$demo" diff okavango scaleway --year 2024 --bbox "$box" > "$out/box-missing.txt"
python3 - "$out" "$demo" <<'PY'
import json, sys, tomllib
out, demo = sys.argv[1], sys.argv[2]
imagery = "basemap_url" in tomllib.load(open(f"{demo}/tessera.toml", "rb")).get("map", {})
status = json.load(open(f"{out}/status.json"))
okavango = next(s for s in status["stores"] if s["name"] == "okavango")
missing = [line.strip() for line in open(f"{out}/missing.txt") if line.strip()]
box_status = json.load(open(f"{out}/box-status.json"))
box = {
    "bbox": box_status["bbox"],
    "registry": box_status["registry"]["per_year"],
    "stores": {s["name"]: s["years"] for s in box_status["stores"]},
    "missing_scaleway_2024": [line.strip() for line in open(f"{out}/box-missing.txt") if line.strip()],
}
missing_okavango = int(open(f"{out}/missing-okavango.txt").read())
facts = {"okavango_2024": okavango["years"]["2024"], "missing_scaleway_2024": missing, "imagery": imagery, "box": box,
         "missing_okavango_2024": missing_okavango}
json.dump(facts, open(f"{out}/facts.json", "w"))
PY
# Served under a prefix, as behind a reverse proxy: browser.mjs refuses every request outside
# it, so the map must find the API beside itself (at the root this is the same code path).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prefix=/geotessera
"$tessera" --inventory "$demo" serve --listen "127.0.0.1:$port" --base-path "$prefix" --web target/web \
  >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port$prefix/healthz" >/dev/null && break; sleep 0.1; done
scripts/timed 300 node web/tests/browser.mjs "http://127.0.0.1:$port$prefix" "$out/facts.json" "$out"
