#!/usr/bin/env bash
# The STAC API against the real tools: `tessera serve` on the small demo inventory on
# 127.0.0.1, checked by stac-api-validator (every declared conformance class, with paging)
# and by a pystac-client session. Offline: JSON schemas come from installed packages
# (scripts/stac/sitecustomize.py). Exits non-zero when either reports an error.
#
# Usage: scripts/stac-check.sh [TESSERA_BINARY]   (default target/debug/tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="${1:-target/debug/tessera}"
venv=target/stac-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# stac-api-validator 0.6.8 pins pystac-client 0.9.x, the client the second check uses.
[ -x "$venv/bin/stac-api-validator" ] || "$venv/bin/pip" install -q 'stac-api-validator==0.6.8'
# pystac-client converts a filter to the other CQL2 encoding with the cql2 package (cql2-rs).
"$venv/bin/python" -c 'import cql2' 2>/dev/null || "$venv/bin/pip" install -q 'cql2==0.6.0'

demo=target/stac-demo
rm -rf "$demo"
"$tessera" init --demo "$demo" --small >/dev/null 2>&1
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
root="http://127.0.0.1:$port"
"$tessera" --inventory "$demo" serve --listen "127.0.0.1:$port" >target/stac-serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$root/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "$root/healthz" >/dev/null || { cat target/stac-serve.log; echo "tessera serve did not start" >&2; exit 1; }

echo "stac-api-validator against $root"
geometry='{"type":"Polygon","coordinates":[[[20.05,20.05],[20.45,20.05],[20.45,20.45],[20.05,20.45],[20.05,20.05]]]}'
PYTHONPATH=scripts/stac scripts/timed 1200 "$venv/bin/stac-api-validator" --root-url "$root/" \
  --conformance core --conformance collections --conformance features --conformance item-search \
  --conformance 'item-search#sort' --conformance 'item-search#fields' \
  --conformance 'features#sort' --conformance 'features#fields' --conformance filter \
  --collection geotessera-2024 --geometry "$geometry" \
  --fields-nested-property properties.datetime --validate-pagination \
  --log-level WARNING 2>&1 | tee target/stac-validator.log
# The validator exits 1 on errors; tee hides that, so read its verdict.
grep -qx 'Errors: none' target/stac-validator.log || { echo "stac-api-validator reported errors" >&2; exit 1; }

echo "pystac-client against $root"
scripts/timed 600 "$venv/bin/python" scripts/stac/client_check.py "$root/" "$tessera" "$demo"
