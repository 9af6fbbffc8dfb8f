#!/usr/bin/env bash
# 25 times the tiles: the planet inventory (every cell of the grid over 15 years, 97.2M tiles;
# two mirrors each a random half, so their containers are bitsets) beside the full demo (3.8M
# tiles, run containers), measured in the same run, command by command: whole processes
# (spawn to exit, median of 21, with their peak RSS), the diff kernels, the server's start
# and its answers, and the map's time to coverage drawn (with --map).
#   benches/planet/run.sh [--map]
# The planet is generated once into target/bench-planet (about 10 GB, 80 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
cargo build --release -q -p tessera-cli -p tessera-benches --bin tessera --bin diff-timer --bin serve-ready
tessera="${CARGO_TARGET_DIR:-$PWD/target}/release/tessera"
[ -f target/bench-demo/tessera.toml ] || "$tessera" init --demo target/bench-demo
if ! [ -f target/bench-planet/registry.details ]; then
  /usr/bin/time -f "init --demo --planet: %e s, peak RSS %M KB" "$tessera" init --demo target/bench-planet --planet
fi
du -sh target/bench-demo target/bench-planet

# The indexes as a machine that has run a while holds them: evicted from the page cache, then
# read back by tessera (`status` opens every index). How they come back decides the cost of
# mapping them in every later process: 4 KiB pages made a cold `diff --count` on the planet
# 7.4-7.9 ms, 2 MiB pages (which tessera asks for) 4.7 ms.
python3 - target/bench-demo target/bench-planet <<'PY'
import os, pathlib, sys
for inventory in sys.argv[1:]:
    for index in pathlib.Path(inventory).rglob("*.tbm"):
        fd = os.open(index, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
for inventory in target/bench-demo target/bench-planet; do "$tessera" --inventory "$inventory" status >/dev/null; done

# Whole commands: the median of 21 runs, spawn to exit, and the largest peak RSS of them.
python3 - "$tessera" <<'PY'
import resource, statistics, subprocess, sys, time
tessera = sys.argv[1]
cases = {
    "target/bench-demo": ("okavango", "scaleway", "okavango"),
    "target/bench-planet": ("half-a", "half-b", "primary"),
}
commands = [
    ("status", lambda a, b, p: ["status"]),
    ("diff A B --count", lambda a, b, p: ["diff", a, b, "--count"]),
    ("diff A B --count --year 2024", lambda a, b, p: ["diff", a, b, "--count", "--year", "2024"]),
    ("diff A B --count --bbox 0,45,10,55", lambda a, b, p: ["diff", a, b, "--count", "--bbox", "0,45,10,55"]),
    ("diff A B --year 2024 --bbox 0,45,10,55 (keys)", lambda a, b, p: ["diff", a, b, "--year", "2024", "--bbox", "0,45,10,55"]),
    ("diff A B (every key)", lambda a, b, p: ["diff", a, b]),
]
print(f"{'command':48} {'full demo':>22} {'planet':>22}")
for name, args in commands:
    cells = []
    for inventory, stores in cases.items():
        command = [tessera, "--inventory", inventory] + args(*stores)
        runs = 5 if "every key" in name else 21
        times, peak = [], 0
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append((time.perf_counter() - started) * 1e3)
            peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        cells.append(f"{statistics.median(times):8.2f} ms {peak / 1024:6.0f} MB")
    print(f"{name:48} {cells[0]:>22} {cells[1]:>22}")
PY

echo "diff kernels (in process, median of 11 batches):"
echo "  full demo okavango - scaleway: $(target/release/diff-timer target/bench-demo okavango scaleway 2>/dev/null)"
echo "  planet half-a - half-b:        $(target/release/diff-timer target/bench-planet half-a half-b 2>/dev/null)"

# The server: start to first answer, then what the map and a client ask of it.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for pair in "target/bench-demo okavango scaleway" "target/bench-planet half-a half-b"; do
  set -- $pair
  inventory=$1 a=$2 b=$3
  echo "serve $inventory:"
  for run in 1 2 3; do
    echo "  start-up $run: $(target/release/serve-ready "127.0.0.1:$port" /healthz -- "$tessera" --inventory "$inventory" serve --listen "127.0.0.1:$port")"
  done
  RUST_LOG=warn "$tessera" --inventory "$inventory" serve --listen "127.0.0.1:$port" > /dev/null 2>&1 &
  server=$!
  until curl -sf "http://127.0.0.1:$port/healthz" > /dev/null; do sleep 0.05; done
  ask() { curl -s -o /dev/null -w '%{size_download} bytes in %{time_total} s' "$@"; }
  for store in "$a" "$b"; do
    echo "  coverage $store 2024 (br, first):   $(ask -H 'Accept-Encoding: br' "http://127.0.0.1:$port/coverage/$store/2024")"
    echo "  coverage $store 2024 (br, cached):  $(ask -H 'Accept-Encoding: br' "http://127.0.0.1:$port/coverage/$store/2024")"
    echo "  coverage $store 2024 (identity):    $(ask "http://127.0.0.1:$port/coverage/$store/2024")"
  done
  echo "  search, 1-degree box, 100 items:    $(ask "http://127.0.0.1:$port/search?bbox=0.5,49.5,1.5,50.5&limit=100")"
  echo "  server RSS after these: $(awk '/VmRSS/ {print $2, $3}' /proc/$server/status)"
  kill $server; wait $server 2>/dev/null || true
done

if [ "${1:-}" = "--map" ]; then
  echo "the map, full demo:"; benches/map/run.sh target/bench-demo 5 | tail -9
  echo "the map, planet:"; benches/map/run.sh target/bench-planet 5 half-a | tail -9
fi
