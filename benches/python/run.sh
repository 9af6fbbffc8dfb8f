#!/usr/bin/env bash
# Counting what a mirror lacks from Python: tessera's wheel beside pandas, pyarrow and DuckDB
# anti-joins on the same parquet manifests, interleaved (benches/python/compare.py).
#   benches/python/run.sh [INVENTORY] [ROUNDS]
# INVENTORY defaults to the full demo in target/bench-demo (made with `tessera init --demo`).
set -euo pipefail
cd "$(dirname "$0")/../.."
inventory="${1:-target/bench-demo}"
rounds="${2:-7}"
venv="$PWD/target/py-venv"
if ! [ -d "$inventory" ]; then
  cargo build --release -q -p tessera-cli
  target/release/tessera init --demo "$inventory"
fi
if ! "$venv/bin/python" -c 'import tessera' 2>/dev/null; then
  scripts/python-check.sh target/release/tessera
fi
"$venv/bin/pip" install -q 'pandas==2.3.3' 'duckdb==1.4.2'
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
"$venv/bin/python" benches/python/compare.py "$inventory" --rounds "$rounds"
