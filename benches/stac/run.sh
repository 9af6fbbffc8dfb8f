#!/usr/bin/env bash
# tessera serve under load, beside a peer and the HTTP stack's ceiling, on the same machine.
#
#   benches/stac/run.sh [INVENTORY]     (default target/bench-demo, the full demo)
#
# Needs: wrk (Debian), a release build (built here), rustac from PyPI (installed here into
# target/peer-venv). wrk shares the machine's cores with the server it loads, as in
# ../shared/research/stac-throughput.md. Prints a table; nothing is written outside target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The machine beside the figures: the engine's speed depends on the CPU.
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
inventory="${1:-target/bench-demo}"
[ -f "$inventory/tessera.toml" ] || target/release/tessera init --demo "$inventory"
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p tessera-cli -p tessera-benches --bin tessera --bin serve-ready --bin fixed-body
venv=target/peer-venv
[ -x "$venv/bin/rustac" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'rustac==0.9.18'; }
out=target/stac-bench
mkdir -p "$out"
bbox='0.5,49.5,1.5,50.5'
load() { wrk -t2 -c32 -d10s --latency "$@" | tee -a "$out/wrk.log" | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%s req/s, p50 %s, p99 %s\n", rps, p50, p99}'; }
: > "$out/wrk.log"

echo "== tessera serve on $inventory"
# The first start builds registry.details once; it is derived data, like the indexes.
target/release/serve-ready 127.0.0.1:8181 /healthz -- target/release/tessera --inventory "$inventory" serve --listen 127.0.0.1:8181 >/dev/null
for run in 1 2 3; do
  echo "start-up $run: $(target/release/serve-ready 127.0.0.1:8181 /healthz -- target/release/tessera --inventory "$inventory" serve --listen 127.0.0.1:8181)"
done
RUST_LOG=warn target/release/tessera --inventory "$inventory" serve --listen 127.0.0.1:8181 &
server=$!
# The same server keeping no pages: every request searched and rendered afresh.
RUST_LOG=warn target/release/tessera --inventory "$inventory" serve --listen 127.0.0.1:8184 --page-cache 0 &
uncached=$!
trap 'kill $server $uncached $peer $ceiling 2>/dev/null || true' EXIT
peer= ceiling=
sleep 0.5
curl -sf "http://127.0.0.1:8181/search?bbox=$bbox&limit=10" > "$out/search-body.json"
echo "GET /search bbox 1 degree, limit 10 ($(wc -c < "$out/search-body.json") bytes): matched $(grep -o '"numberMatched":[0-9]*' "$out/search-body.json")"
# The ceiling: hyper answering the same bytes, fixed. The runs interleave, round by round, so
# all see the same machine (it is shared and noisy).
target/release/fixed-body 127.0.0.1:8183 "$out/search-body.json" &
ceiling=$!
sleep 0.3
# Each round runs the three in turn: tessera as deployed (a search asked again is answered
# from its page kept), tessera searching every request afresh, and the ceiling.
percent() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN {printf "%.0f", 100 * a / b}'; }
kept=() fresh=()
for round in 1 2 3 4 5; do
  ours=$(load "http://127.0.0.1:8181/search?bbox=$bbox&limit=10")
  searched=$(load "http://127.0.0.1:8184/search?bbox=$bbox&limit=10")
  fixed=$(load http://127.0.0.1:8183/search)
  kept+=("$(percent "$ours" "$fixed")") fresh+=("$(percent "$searched" "$fixed")")
  echo "  round $round: tessera $ours (${kept[-1]}%) | --page-cache 0 $searched (${fresh[-1]}%) | ceiling $fixed"
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
echo "  of the ceiling, median of 5 rounds: tessera $(median "${kept[@]}")%, --page-cache 0 $(median "${fresh[@]}")%"

echo "GET /search, a different 1-degree box and year each time, limit 10 (benches/stac/varied-search.lua)"
# Every 1-degree box and year with at least 10 registry tiles, read from the registry itself,
# as a Lua table for wrk.
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pyarrow' 2>/dev/null || "$venv/bin/pip" install -q 'pyarrow==22.0.0'
"$venv/bin/python" - "$inventory/registry.parquet" "$out/search-boxes.lua" <<'PY'
import collections, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1], columns=["year", "lon_i", "lat_i"])
counts = collections.Counter(
    (year, (lon + 18000) // 100 - 180, (lat + 9000) // 100 - 90)
    for year, lon, lat in zip(*(table.column(name).to_pylist() for name in ["year", "lon_i", "lat_i"])))
boxes = sorted((west, south, year) for (year, west, south), tiles in counts.items() if tiles >= 10)
with open(sys.argv[2], "w") as out:
    out.write("return {" + ",".join(f"{{{w},{s},{y}}}" for w, s, y in boxes) + "}\n")
print(f"  {len(boxes)} boxes and years, each with 10 tiles or more")
PY
export SEARCH_BOXES="$PWD/$out/search-boxes.lua"
# The ceiling answers a body of the same size: one of these pages, fixed.
curl -sf "http://127.0.0.1:8181/search?collections=geotessera-2021&bbox=10,48,11,49&limit=10" > "$out/varied-body.json"
target/release/fixed-body 127.0.0.1:8185 "$out/varied-body.json" &
varied_ceiling=$!
trap 'kill $server $uncached $peer $ceiling $varied_ceiling 2>/dev/null || true' EXIT
sleep 0.3
# A first round, not counted: the registry's details (300 MB on the full demo, read a tile at a
# time) come into the page cache, as on a server that has run a while. Cold, the first round ran
# at 4% of the ceiling with a 0.5 s p99.
echo "  warm-up (not counted): $(load -s benches/stac/varied-search.lua http://127.0.0.1:8181)"
lookups() { curl -sf http://127.0.0.1:8181/metrics | awk -v o="$1" '$1 == "tessera_page_cache_lookups_total{outcome=\""o"\"}" {print $2}'; }
hits_before=$(lookups hit) misses_before=$(lookups miss)
varied=() varied_p99=()
for round in 1 2 3 4 5; do
  ours=$(load -s benches/stac/varied-search.lua http://127.0.0.1:8181)
  # The same script drives the ceiling (which ignores the path): wrk's own work, a Lua call and
  # a formatted path a request, is then the same on both sides.
  fixed=$(load -s benches/stac/varied-search.lua http://127.0.0.1:8185)
  varied+=("$(percent "$ours" "$fixed")") varied_p99+=("$(echo "$ours" | awk '{print $NF}')")
  echo "  round $round: tessera $ours (${varied[-1]}%) | ceiling ($(wc -c < "$out/varied-body.json") bytes) $fixed"
done
hits=$(awk -v a="$(lookups hit)" -v b="$hits_before" 'BEGIN {print a - b}')
misses=$(awk -v a="$(lookups miss)" -v b="$misses_before" 'BEGIN {print a - b}')
echo "  of the ceiling, median of 5 rounds: $(median "${varied[@]}")%; p99 by round: ${varied_p99[*]}; page cache hits $hits of $((hits + misses))"
echo "POST /search bbox 1 degree, limit 10: $(load -s benches/stac/post-search.lua http://127.0.0.1:8181/search)"
# Filters and aggregations, on the server that keeps no pages (every request searched afresh):
# a store's gap in a different 10-degree box and year each time
# (benches/stac/filtered-search.lua), and counts over every tile. Beside wrk's figures, the
# server's own mean time per request, from its /metrics.
served() { curl -sf http://127.0.0.1:8184/metrics | awk -v r="route=\"$1\"" 'index($0, "_sum{" r) {s = $2} index($0, "_count{" r) {c = $2} END {print s + 0, c + 0}'; }
timed_load() {
  local route=$1 before after
  shift
  before=$(served "$route")
  result=$(load "$@")
  after=$(served "$route")
  echo "$result; server time $(awk -v b="$before" -v a="$after" 'BEGIN {split(b, x, " "); split(a, y, " "); printf "%.3f ms", 1000 * (y[1] - x[1]) / (y[2] - x[2])}') a request"
}
# Under load the server's time includes the wait for a core; one request at a time it is the
# work alone: 100 requests in a row, each path from `paths` (one a line).
one_at_a_time() {
  local route=$1 paths=$2 before after
  before=$(served "$route")
  for _ in $(seq 5); do printf '%s\n' "$paths"; done | head -100 | while read -r path; do curl -sf -o /dev/null "http://127.0.0.1:8184$path"; done
  after=$(served "$route")
  awk -v b="$before" -v a="$after" 'BEGIN {split(b, x, " "); split(a, y, " "); printf "%.3f ms", 1000 * (y[1] - x[1]) / (y[2] - x[2])}'
}
gap_in_boxes=$(for _ in $(seq 20); do
  west=$(( (RANDOM % 36 - 18) * 10 )) south=$(( (RANDOM % 13 - 6) * 10 )) year=$(( 2017 + RANDOM % 9 ))
  echo "/search?collections=geotessera-$year&limit=10&filter=NOT%20a_contains(tessera%3Astores%2C%20(%27scaleway%27))%20AND%20s_intersects(geometry%2C%20BBOX($west%2C$south%2C$((west + 10))%2C$((south + 10))))"
done)
echo "One request at a time, mean server time (--page-cache 0):"
echo "  /search, a store's gap in a 10-degree box and year, limit 10: $(one_at_a_time search "$gap_in_boxes")"
echo "  /search, a store's gap everywhere, limit 10: $(one_at_a_time search '/search?limit=10&filter=NOT%20a_contains(tessera%3Astores%2C%20(%27scaleway%27))')"
echo "  /search, bbox 10 degrees, limit 10: $(one_at_a_time search '/search?limit=10&bbox=10,40,20,50')"
echo "  /aggregate, datetime_frequency + grid_code_1deg_frequency over every tile: $(one_at_a_time aggregate '/aggregate?aggregations=datetime_frequency,grid_code_1deg_frequency')"
echo "  /aggregate, total_count + tessera:stores_frequency of the gap: $(one_at_a_time aggregate '/aggregate?aggregations=total_count,tessera:stores_frequency&filter=NOT%20a_contains(tessera%3Astores%2C%20(%27scaleway%27))')"
echo "Under load (wrk -t2 -c32; server time includes waiting for a core):"
echo "GET /search filtered (a gap in a 10-degree box), limit 10: $(timed_load search -s benches/stac/filtered-search.lua http://127.0.0.1:8184)"
gap='filter=NOT%20a_contains(tessera%3Astores%2C%20(%27scaleway%27))'
echo "GET /search filtered (the gap, everywhere), limit 10: $(timed_load search "http://127.0.0.1:8184/search?limit=10&$gap")"
echo "GET /search bbox 10 degrees, limit 10 (the same server): $(timed_load search "http://127.0.0.1:8184/search?limit=10&bbox=10,40,20,50")"
echo "GET /aggregate datetime_frequency + grid_code_1deg_frequency, every tile: $(timed_load aggregate 'http://127.0.0.1:8184/aggregate?aggregations=datetime_frequency,grid_code_1deg_frequency')"
echo "GET /aggregate total_count + tessera:stores_frequency of the gap: $(timed_load aggregate "http://127.0.0.1:8184/aggregate?aggregations=total_count,tessera:stores_frequency&$gap")"
echo "== peer: the same questions as SQL in DuckDB over the inventory's parquet files"
"$venv/bin/python" -c 'import duckdb' 2>/dev/null || "$venv/bin/pip" install -q 'duckdb==2.0.1'
"$venv/bin/python" benches/stac/duckdb-peer.py "$inventory" scaleway
echo "GET /collections: $(load http://127.0.0.1:8181/collections)"
echo "GET one item: $(load http://127.0.0.1:8181/collections/geotessera-2024/items/2024_grid_0.85_49.95)"
echo "GET /coverage/okavango/2024: $(load http://127.0.0.1:8181/coverage/okavango/2024)"
echo "GET /coverage/okavango/2024 (gzip): $(load -H 'Accept-Encoding: gzip' http://127.0.0.1:8181/coverage/okavango/2024)"
echo "tessera RSS after the load: $(ps -o rss= -p $server | awk '{printf "%.1f MB", $1/1024}')"
echo "coverage bytes for one store-year: identity $(curl -s http://127.0.0.1:8181/coverage/okavango/2024 | wc -c), gzip $(curl -s -H 'Accept-Encoding: gzip' http://127.0.0.1:8181/coverage/okavango/2024 | wc -c), br $(curl -s -H 'Accept-Encoding: br' http://127.0.0.1:8181/coverage/okavango/2024 | wc -c)"

echo "== peer: rustac serve (memory backend), 10,000 of the same items"
curl -sf "http://127.0.0.1:8181/search?bbox=-5,45,15,55&collections=geotessera-2024&limit=10000" > "$out/page.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
page = json.load(open(f"{out}/page.json"))
with open(f"{out}/items.ndjson", "w") as f:
    for item in page["features"]:
        f.write(json.dumps(item) + "\n")
print(f"  exported {len(page['features'])} items")
PY
curl -sf http://127.0.0.1:8181/collections/geotessera-2024 > "$out/collection.json"
started=$(date +%s%N)
"$venv/bin/rustac" serve -a 127.0.0.1:8182 "$out/collection.json" "$out/items.ndjson" >/dev/null 2>&1 &
peer=$!
until curl -sf http://127.0.0.1:8182/collections/geotessera-2024/items/2024_grid_0.85_49.95 >/dev/null; do sleep 0.05; done
echo "  rustac ready in $(( ($(date +%s%N) - started) / 1000000 )) ms, RSS $(ps -o rss= -p $peer | awk '{printf "%.1f MB", $1/1024}')"
echo "  POST /search bbox 1 degree, limit 10: $(load -s benches/stac/post-search.lua http://127.0.0.1:8182/search)"
echo "  GET /search?bbox (its known bug): HTTP $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:8182/search?bbox=$bbox&limit=10")"
kill $peer


