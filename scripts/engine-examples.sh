#!/usr/bin/env bash
# Every example in engine/examples/, run on the small demo inventory and checked against what
# the tessera command prints for the same question.
#
# Usage: scripts/engine-examples.sh [TESSERA_BINARY]   (default target/debug/tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="$(realpath "${1:-target/debug/tessera}")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tessera" init --small --demo "$work/demo" 2>/dev/null
t() { "$tessera" --inventory "$work/demo" "$@"; }
# Built once, with the test profile and the whole workspace's features: what `cargo test
# --workspace` has already compiled, so only the examples are built here (`cargo run -p
# tessera-engine` resolved the engine's features alone and rebuilt its dependencies: 5.6 min).
cargo build -q --workspace --examples --profile test
examples="${CARGO_TARGET_DIR:-target}/debug/examples"
example() { "$examples/$1" "${@:2}"; }

bbox=17,-35,20,-33
gap=$(example mirror_gap "$work/demo" okavango scaleway "$bbox" | awk '$1 == "total" {print $2}')
want=$(t diff okavango scaleway --bbox "$bbox" --count)
[ "$gap" = "$want" ] || { echo "mirror_gap counts $gap, tessera diff $want" >&2; exit 1; }
echo "mirror_gap: $gap tiles lacking in $bbox, as tessera diff counts"

for tool in rsync cp; do
  cmp <(example copy_list "$work/demo" okavango scaleway "$tool") \
      <(t diff okavango scaleway --emit-copylist --format "$tool") ||
    { echo "copy_list $tool differs from tessera diff --emit-copylist" >&2; exit 1; }
done
# The bucket emptied, so that the s5cmd list holds every tile.
: > "$work/empty.txt"
t scan s3 "$work/empty.txt" 2>/dev/null
[ "$(t diff okavango s3 --count)" -gt 1000 ]
cmp <(example copy_list "$work/demo" okavango s3 s5cmd) <(t diff okavango s3 --emit-copylist --format s5cmd) ||
  { echo "copy_list s5cmd differs from tessera diff --emit-copylist" >&2; exit 1; }
if example copy_list "$work/demo" okavango scaleway s5cmd 2>/dev/null; then
  echo "copy_list accepted s5cmd between two directories" >&2
  exit 1
fi
echo "copy_list: rsync, cp and s5cmd lists equal tessera diff --emit-copylist's; s5cmd between directories refused"

for store in okavango scaleway s3; do
  example tbm_with_croaring "$work/demo/stores/$store.tbm" | grep -q "^CRoaring and the engine read the same" ||
    { echo "tbm_with_croaring: CRoaring and the engine disagree on $store.tbm" >&2; exit 1; }
done
echo "tbm_with_croaring: CRoaring reads every store's index as the engine does"

# The web handler: three requests over loopback, then it exits by itself.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scripts/timed 60 "$examples/web_handler" "$work/demo" "127.0.0.1:$port" 3 &
server=$!
# The first request is retried until the server listens (a bare probe would use up a request).
for _ in $(seq 100); do
  answer=$(curl -sf "http://127.0.0.1:$port/missing/okavango/scaleway?year=2024") && break
  sleep 0.1
done
want=$(t diff okavango scaleway --year 2024 --count)
[ "$answer" = "{\"source\":\"okavango\",\"target\":\"scaleway\",\"missing\":$want}" ] ||
  { echo "web_handler answered $answer; tessera diff counts $want" >&2; exit 1; }
cells=$(curl -sf "http://127.0.0.1:$port/coverage/okavango/2024" | python3 -c 'import sys; print(len(sys.stdin.buffer.read()))')
[ "$cells" -gt 8 ] || { echo "web_handler's coverage bitmap is $cells bytes" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/missing/okavango/nope")
[ "$status" = 400 ] || { echo "web_handler answered an unknown store with $status" >&2; exit 1; }
wait "$server"
echo "web_handler: served the count tessera diff gives, a coverage bitmap and a 400, then exited"
