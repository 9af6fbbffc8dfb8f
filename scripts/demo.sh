#!/usr/bin/env bash
# The main job on the bundled demo inventory: generate it (about 3.8M tiles, 3 stores) into
# demo/ unless it is there, print the sync status, show what the scaleway mirror lacks and how
# `tessera sync` would fill it.
# Pass --small for a few thousand tiles.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=demo
size_flag=()
if [ "${1:-}" = "--small" ]; then dir=demo-small; size_flag=(--small); fi

cargo build --release -q -p tessera-cli
# Where cargo put it: target/ unless CARGO_TARGET_DIR says otherwise.
tessera="${CARGO_TARGET_DIR:-target}/release/tessera"
if [ -f "$dir/tessera.toml" ]; then
  # Made by an earlier run, maybe by an older tessera: say so, since the figures below are its.
  echo "Using the demo inventory already in $dir/ (rm -rf $dir to make it again with this tessera)." >&2
else
  "$tessera" init --demo "$dir" "${size_flag[@]}"
fi
export TESSERA_INVENTORY="$dir"

"$tessera" status
echo
echo "scaleway lacks $("$tessera" diff okavango scaleway --count) tiles; the first ten:"
"$tessera" diff okavango scaleway | head -n 10
echo
echo "How tessera sync would fill it (a dry run: nothing is copied):"
"$tessera" sync okavango scaleway --dry-run
echo
echo "Browse it as a STAC API and a map:"
echo "  scripts/build-web.sh && $tessera --inventory $dir serve   # then open http://127.0.0.1:8080/map/"
