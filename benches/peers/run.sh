#!/usr/bin/env bash
# Side-by-side harness: DuckDB and polars anti-joins against tessera's diff, on the same
# generated parquet manifests (the full demo inventory), with the ratios.
# Usage: benches/peers/run.sh [INVENTORY_DIR]   (default target/bench-demo, generated if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
# The machine beside the figures: the engine's speed depends on the CPU.
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
dir="${1:-${TESSERA_BENCH_INVENTORY:-target/bench-demo}}"

cargo build --release -q -p tessera-cli -p tessera-benches --bin diff-timer
[ -f "$dir/tessera.toml" ] || target/release/tessera init --demo "$dir"
target/release/tessera --inventory "$dir" status >/dev/null   # build the indexes once

venv=target/peers-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import duckdb, polars' 2>/dev/null ||
  "$venv/bin/pip" install -q 'duckdb>=1.1' 'polars>=1.0'

"$venv/bin/python" benches/peers/anti_join.py --inventory "$dir" \
  --tessera target/release/tessera --timer target/release/diff-timer
