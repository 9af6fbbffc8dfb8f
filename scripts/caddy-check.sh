#!/usr/bin/env bash
# tessera serve behind the real Caddy (Debian's package) with deploy/Caddyfile, on loopback, as
# the seed deployed it: the map's files at /, the API under /api/. Checks through Caddy: the
# Caddyfile validates; the landing page's links are under /api; a search pages; coverage and
# static files carry the cache headers a CDN needs and are compressed; the per-client cap counts
# two clients (from 127.0.0.2 and 127.0.0.3, which Caddy names in X-Forwarded-For) apart; the
# public side keeps operator data to the admin listener; the map loads in headless Chromium.
#
# Usage: scripts/caddy-check.sh [TESSERA_BINARY]   (default target/debug/tessera; the map must
# be built by scripts/build-web.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="${1:-target/debug/tessera}"
[ -f target/web/index.html ] || { echo "build the app first: scripts/build-web.sh" >&2; exit 1; }
command -v caddy >/dev/null || { apt-get update -qq && apt-get install -y -qq caddy >/dev/null; }
echo "caddy $(caddy version)"
out=target/caddy-check
rm -rf "$out" && mkdir -p "$out"
demo="$out/demo"
"$tessera" init --demo "$demo" --small >/dev/null 2>&1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
caddy_port=$(free_port) tessera_port=$(free_port) admin_port=$(free_port)
export TESSERA_SITE=":$caddy_port" TESSERA_UPSTREAM="127.0.0.1:$tessera_port" TESSERA_WEB="$PWD/target/web"
# Caddy keeps its state under XDG_DATA_HOME and XDG_CONFIG_HOME: here, not in the user's home.
export XDG_DATA_HOME="$PWD/$out/caddy-data" XDG_CONFIG_HOME="$PWD/$out/caddy-config"
caddy validate --config deploy/Caddyfile --adapter caddyfile 2>"$out/validate.log" \
  || { cat "$out/validate.log" >&2; exit 1; }
echo "caddy validate: deploy/Caddyfile is valid"

"$tessera" --inventory "$demo" serve --listen "127.0.0.1:$tessera_port" --admin-listen "127.0.0.1:$admin_port" \
  --base-path /api --base-url "http://127.0.0.1:$caddy_port/api" --trust-proxy 127.0.0.1 --max-per-client 2 \
  --access-log --web target/web >"$out/serve.log" 2>&1 &
server=$!
caddy run --config deploy/Caddyfile --adapter caddyfile >"$out/caddy.log" 2>&1 &
proxy=$!
trap 'kill $server $proxy 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$caddy_port/api/healthz" >/dev/null && break
  sleep 0.1
done
okavango_2024=$("$tessera" --inventory "$demo" status --json | python3 -c 'import json, sys; print(next(s for s in json.load(sys.stdin)["stores"] if s["name"] == "okavango")["years"]["2024"])')
scripts/timed 60 python3 scripts/caddy/through_caddy.py "http://127.0.0.1:$caddy_port" "http://127.0.0.1:$admin_port/api"
scripts/timed 120 node scripts/caddy/map.mjs "http://127.0.0.1:$caddy_port" "$okavango_2024" "$out"
# The access log names the visitors, not Caddy.
grep -q '127.0.0.3 (via 127.0.0.1' "$out/serve.log" || { echo "the access log does not name the client behind Caddy" >&2; tail -5 "$out/serve.log" >&2; exit 1; }
echo "caddy: all checks passed"
