#!/usr/bin/env bash
# `tessera scan STORE --list` (tessera walks a directory store) beside `find -printf | tessera
# scan` and `find` alone, on a tree of one year of the full demo's tiles (two sparse files a
# tile, about 450k folders and 900k files), warm page cache, interleaved rounds.
#   benches/walk/run.sh [YEAR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
# The machine beside the figures: the engine's speed depends on the CPU.
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
year="${1:-2024}"
rounds="${2:-3}"
cargo build --release -q -p tessera-cli
tessera="${CARGO_TARGET_DIR:-$PWD/target}/release/tessera"
[ -d target/bench-demo ] || "$tessera" init --demo target/bench-demo
work=target/bench-walk
tree="$PWD/$work/tree"
if ! [ -d "$tree/$year" ]; then
  rm -rf "$work" && mkdir -p "$work"
  cp -a target/bench-demo "$work/inventory"
  # Every tile of the year, as the registry has it: the scaleway store emptied for the year
  # lacks them all.
  "$tessera" --inventory "$work/inventory" scan scaleway --year "$year" < /dev/null 2>/dev/null
  "$tessera" --inventory "$work/inventory" diff registry scaleway --year "$year" | python3 -c '
import os, sys
root = sys.argv[1]
for key in sys.stdin:
    key = key.strip()
    name = key.split("/")[1]
    folder = os.path.join(root, key)
    os.makedirs(folder, exist_ok=True)
    for file, size in ((name + ".npy", 1000), (name + "_scales.npy", 100)):
        with open(os.path.join(folder, file), "wb") as out:
            out.truncate(size)
' "$tree"
  sed -i "s|^storage = \"/mnt/cephfs/.*\"|storage = \"$tree\"|" "$work/inventory/tessera.toml"
fi
export TESSERA_INVENTORY="$PWD/$work/inventory"
find "$tree" -type f > /dev/null   # warm the page cache
seconds() { local start end; start=$(date +%s.%N); "$@" > /dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
find_alone() { find "$tree" -type f -printf '%s %p\n'; }
find_scan() { find "$tree" -type f -printf '%s %p\n' | "$tessera" scan scaleway --year "$year"; }
walk_scan() { "$tessera" scan scaleway --list --year "$year"; }
for round in $(seq "$rounds"); do
  echo "round $round: find alone $(seconds find_alone) s; find | tessera scan $(seconds find_scan) s; tessera scan --list $(seconds walk_scan) s"
done
"$tessera" scan scaleway --list --year "$year" 2>&1 | grep -E 'listed|scanned'
