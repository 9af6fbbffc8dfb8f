#!/usr/bin/env bash
# Hot reload under load: wrk keeps `tessera serve` busy with searches for 60 s while, every
# second, `tessera record` adds a tile to the scaleway store or `tessera scan` (an empty listing
# scoped to that tile) removes it again. After each change the tile's item is asked for until
# it shows the change; a change not shown within 5 s fails. So do a failed request (wrk: any
# non-2xx answer or socket error) and a server that stops.
#
# Usage: scripts/reload-soak.sh [TESSERA_BINARY] [SECONDS]   (default target/debug/tessera, 60)
# Needs wrk (Debian; installed here when missing). Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="$(realpath "${1:-target/debug/tessera}")"
seconds="${2:-60}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

work=$(mktemp -d)
server= load=
cleanup() { kill $server $load 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
inventory="$work/demo"
"$tessera" init --small --demo "$inventory" >/dev/null 2>&1
t() { "$tessera" --inventory "$inventory" "$@"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
RUST_LOG=warn "$tessera" --inventory "$inventory" serve --listen "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do curl -sf -m 2 "$base/healthz" >/dev/null && break; sleep 0.1; done

# The tiles okavango holds and scaleway lacks: each is added, then removed, in turn.
mapfile -t lacking < <(t diff okavango scaleway | head -n "$seconds")
[ "${#lacking[@]}" -ge $((seconds / 2)) ] || { echo "too few tiles to change: ${#lacking[@]}" >&2; exit 1; }

# The stores an item is held by, from its `tessera:stores`.
holders() {
  local key=$1
  curl -sf -m 5 "$base/collections/geotessera-${key%%/*}/items/${key/\//_}" | grep -o '"tessera:stores":\[[^]]*\]'
}

wrk -t2 -c16 -d"$((seconds + 3))s" --latency "$base/search?bbox=17,-35,20,-33&limit=10" > "$work/wrk.txt" &
load=$!
sleep 1

lags=()
for step in $(seq 0 $((seconds - 1))); do
  started=$(date +%s%N)
  key=${lacking[$((step / 2))]}
  if [ $((step % 2)) -eq 0 ]; then
    echo "$key" | t record scaleway >/dev/null 2>&1
    want=yes
  else
    # A listing taken now (its file's time): the record a second ago is older, so superseded.
    : > "$work/empty.txt"
    t scan scaleway --prefix "$key" "$work/empty.txt" >/dev/null 2>&1
    want=no
  fi
  changed=$(date +%s%N)
  while :; do
    shown=no
    holders "$key" | grep -q '"scaleway"' && shown=yes
    [ "$shown" = "$want" ] && break
    if [ $(( $(date +%s%N) - changed )) -gt 5000000000 ]; then
      echo "step $step: $key still shows scaleway=$shown 5 s after the change" >&2
      exit 1
    fi
    kill -0 "$server" 2>/dev/null || { echo "the server stopped:" >&2; cat "$work/serve.log" >&2; exit 1; }
    sleep 0.02
  done
  lags+=($(( ($(date +%s%N) - changed) / 1000000 )))
  # One change a second.
  rest=$(( 1000000000 - ($(date +%s%N) - started) ))
  [ "$rest" -gt 0 ] && sleep "0.$(printf '%09d' "$rest")"
done

wait $load
load=
cat "$work/wrk.txt"
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
failed=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/wrk.txt")
sorted=$(printf '%s\n' "${lags[@]}" | sort -n)
echo "reload soak: ${#lags[@]} changes in ${seconds} s (record, scan); each shown after median $(echo "$sorted" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') ms, max $(echo "$sorted" | tail -1) ms; $requests searches, $failed failed"
kill -0 "$server" || { echo "the server stopped" >&2; exit 1; }
[ "$failed" -eq 0 ] || { echo "failed requests under reload: $failed" >&2; exit 1; }
[ "$requests" -gt 0 ]
