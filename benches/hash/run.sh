#!/usr/bin/env bash
# `tessera hash STORE` (SHA-256 and CRC64NVME of every file, one read, a thread per core)
# beside `cat FILES > /dev/null` (reading alone) and `sha256sum FILES` (one process, then one
# per core through xargs), on the same files, warm page cache, in interleaved rounds; and the
# ceiling SHA-256 itself sets: OpenSSL's SHA-256 (SHA-NI where the CPU has it) over 64 KiB
# blocks in memory, one process and one per core, measured in each round. Two trees, generated from a seed:
#   small: 5,000 tiles of the size the test fixtures write (a few KB a file): per-file costs;
#   large: tiles of a 96 MiB embeddings file and a 4 MiB scales file, GB gigabytes in all.
#   benches/hash/run.sh [GB] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
lscpu | grep -E '^(Vendor ID|Model name|CPU\(s\)|Flags):' | sed 's/^\(Flags:\).*\(sha_ni\).*/\1 ... \2 .../' || true
gigabytes="${1:-20}"
rounds="${2:-3}"
cargo build --release -q -p tessera-cli
tessera="${CARGO_TARGET_DIR:-$PWD/target}/release/tessera"
work="$PWD/target/bench-hash"
cores=$(nproc)

# make_tree DIR TILES EMBEDDINGS_BYTES SCALES_BYTES: tile folders 2024/grid_X_Y/ of seeded bytes.
make_tree() {
  python3 - "$@" <<'EOF'
import os, random, sys
root, tiles, embeddings, scales = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
block = random.Random(13).randbytes(max(embeddings, scales) + 4096)
for n in range(tiles):
    lon, lat = -179.95 + 0.1 * (n % 3600), -89.95 + 0.1 * (n // 3600)
    name = f"grid_{lon:.2f}_{lat:.2f}"
    folder = os.path.join(root, "2024", name)
    os.makedirs(folder, exist_ok=True)
    for file, size in ((name + ".npy", embeddings), (name + "_scales.npy", scales)):
        with open(os.path.join(folder, file), "wb") as out:
            out.write(block[n % 4096 : n % 4096 + size])
EOF
}

# inventory DIR TREE: a one-store inventory over TREE, scanned.
inventory() {
  rm -rf "$1"
  "$tessera" --inventory "$1" init --years 2024..2024 --store "primary=primary,$2,https://example.org" >/dev/null 2>&1
  "$tessera" --inventory "$1" scan primary --list >/dev/null 2>&1
}

# sha256_ceiling [PROCESSES]: GB/s of OpenSSL's SHA-256 over 64 KiB blocks in memory.
sha256_ceiling() {
  openssl speed -evp sha256 -bytes 65536 -seconds 2 ${1:+-multi "$1"} 2>/dev/null |
    awk '/^sha256 /{sub(/k$/, "", $2); printf "%.2f\n", $2 * 1000 / 1e9}'
}

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
rate() { echo "scale=2; $1 / $2 / 1000000000" | bc; }

bench() {
  local name="$1" tree="$2" inv="$3"
  local bytes files
  bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
  files=$(find "$tree" -type f | wc -l)
  find "$tree" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache
  echo "== $name tree: $files files, $(rate "$bytes" 1) GB"
  cat_all() { find "$tree" -type f -print0 | xargs -0 cat > /dev/null; }
  sha_one() { find "$tree" -type f -print0 | xargs -0 sha256sum > /dev/null; }
  sha_cores() { find "$tree" -type f -print0 | xargs -0 -n 64 -P "$cores" sha256sum > /dev/null; }
  hash_cores() { "$tessera" --inventory "$inv" hash primary --force; }
  hash_one() { "$tessera" --inventory "$inv" hash primary --force --threads 1; }
  for round in $(seq "$rounds"); do
    local c s1 sc h1 hc
    local ceiling1 ceiling
    c=$(seconds cat_all); s1=$(seconds sha_one); sc=$(seconds sha_cores); h1=$(seconds hash_one); hc=$(seconds hash_cores)
    ceiling1=$(sha256_ceiling); ceiling=$(sha256_ceiling "$cores")
    echo "round $round (GB/s): cat $(rate "$bytes" "$c") | sha256sum $(rate "$bytes" "$s1"), x$cores $(rate "$bytes" "$sc")" \
      "| tessera hash (SHA-256 + CRC64NVME) 1 thread $(rate "$bytes" "$h1"), $cores threads $(rate "$bytes" "$hc")" \
      "| SHA-256 in memory (openssl) 1 process $ceiling1, $cores processes $ceiling" \
      "| tessera/cat $(echo "scale=2; $c / $hc" | bc), tessera/SHA-256 ceiling $(echo "scale=2; $(rate "$bytes" "$hc") / $ceiling" | bc)"
  done
}

small="$work/small"
if ! [ -d "$small/tree/2024" ]; then
  rm -rf "$small" && mkdir -p "$small/tree"
  make_tree "$small/tree" 5000 20000 1600
fi
inventory "$small/inventory" "$small/tree"
bench small "$small/tree" "$small/inventory"

large="$work/large-$gigabytes"
tiles=$(( gigabytes * 1000000000 / (100 * 1048576) ))
if ! [ -d "$large/tree/2024" ]; then
  rm -rf "$work"/large-* && mkdir -p "$large/tree"
  make_tree "$large/tree" "$tiles" $(( 96 * 1048576 )) $(( 4 * 1048576 ))
fi
inventory "$large/inventory" "$large/tree"
bench "large ($gigabytes GB)" "$large/tree" "$large/inventory"
