#!/usr/bin/env bash
# STAC Browser (radiantearth/stac-browser, the web UI most STAC users reach for) against
# `tessera serve` on the small demo, in Debian's headless chromium, on 127.0.0.1 with no
# network: scripts/stac/stac-browser.mjs browses the catalog, a collection's pages and an item
# the way a user clicks through them, and compares what it shows with the API.
#
# Builds STAC Browser once into target/stac-browser (from its npm package, with runtime
# configuration enabled); later runs reuse the build. Needs web/node_modules (scripts/build-web.sh).
#
# Usage: scripts/stac-browser-check.sh [TESSERA_BINARY]   (default target/debug/tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="${1:-target/debug/tessera}"
version=4.0.1
build=target/stac-browser
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
[ -d web/node_modules/playwright-core ] || (cd web && npm install --no-audit --no-fund)

if [ "$(cat "$build/VERSION" 2>/dev/null)" != "$version" ]; then
  echo "building STAC Browser $version into $build"
  rm -rf "$build" && mkdir -p "$build/src"
  (cd "$build/src" && npm pack -q "@radiantearth/stac-browser@$version" >/dev/null && tar xzf ./*.tgz --strip-components=1)
  # The package ships no lock file, and ol-stac releases after it need a newer OpenLayers than
  # it pins: ol-stac is held at 1.4.0, the release current when it came out.
  (cd "$build/src" && npm pkg set dependencies.ol-stac=1.4.0 && npm install -q --no-audit --no-fund --ignore-scripts)
  # Runtime configuration (dist/config.js), so the catalog URL is set per run, not per build.
  sed -i 's|<!-- <script defer="defer" src="/config.js"></script> -->|<script defer="defer" src="./config.js"></script>|' "$build/src/public/index.html"
  grep -q 'src="./config.js"' "$build/src/public/index.html" || { echo "cannot enable STAC Browser's config.js" >&2; exit 1; }
  (cd "$build/src" && SB_historyMode=hash SB_pathPrefix=./ npx vue-cli-service build --noSourceMaps >../build.log 2>&1) \
    || { tail -30 "$build/build.log"; exit 1; }
  mv "$build/src/dist" "$build/dist" && rm -rf "$build/src"
  echo "$version" > "$build/VERSION"
fi

out=target/stac-browser-check
rm -rf "$out" && mkdir -p "$out"
demo=target/stac-browser-demo
rm -rf "$demo"
"$tessera" init --demo "$demo" --small >/dev/null 2>&1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
ui_port=$(free_port)
api="http://127.0.0.1:$api_port"
echo "window.STAC_BROWSER_CONFIG = { catalogUrl: \"$api/\" };" > "$build/dist/config.js"
"$tessera" --inventory "$demo" serve --listen "127.0.0.1:$api_port" >"$out/serve.log" 2>&1 &
server=$!
python3 -m http.server "$ui_port" --bind 127.0.0.1 --directory "$build/dist" >"$out/ui.log" 2>&1 &
ui=$!
trap 'kill $server $ui 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$api/healthz" >/dev/null && curl -sf "http://127.0.0.1:$ui_port/" >/dev/null && break
  sleep 0.1
done
scripts/timed 300 node scripts/stac/stac-browser.mjs "$api" "http://127.0.0.1:$ui_port/" "$out"
