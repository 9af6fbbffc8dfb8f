"""Time DuckDB and polars anti-joins on tessera's parquet manifests and compare with tessera.

Each peer answers the same question as `tessera diff okavango scaleway`: which tiles of the
source manifest are not in the target manifest, joined on (year, lon_i, lat_i). Warm,
in-process figures are medians of 7 runs after a warm-up; tessera's in-process figures come
from the `diff-timer` binary (median of 11 batches of at least 20 ms), and its whole-process
figure is the median wall time of 21 runs of `tessera diff --count`.
"""

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path


def median_ms(call, runs=7):
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def duckdb_anti_join(source, target):
    import duckdb

    con = duckdb.connect()
    query = (
        f"SELECT s.year, s.lon_i, s.lat_i FROM read_parquet('{source}') s "
        f"ANTI JOIN read_parquet('{target}') t USING (year, lon_i, lat_i)"
    )
    rows = con.execute(query).fetchall()
    return len(rows), median_ms(lambda: con.execute(query).fetchall())


def polars_anti_join(source, target):
    import polars as pl

    keys = ["year", "lon_i", "lat_i"]

    def run():
        a = pl.scan_parquet(source).select(keys)
        b = pl.scan_parquet(target).select(keys)
        return a.join(b, on=keys, how="anti").collect()

    return run().height, median_ms(run)


def tessera_process_ms(tessera, inventory, source, target, runs=21):
    command = [tessera, "--inventory", inventory, "diff", source, target, "--count"]
    subprocess.run(command, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--tessera", required=True)
    parser.add_argument("--timer", required=True)
    parser.add_argument("--source", default="okavango")
    parser.add_argument("--target", default="scaleway")
    args = parser.parse_args()

    stores = Path(args.inventory) / "stores"
    source, target = stores / f"{args.source}.parquet", stores / f"{args.target}.parquet"
    timer = subprocess.run(
        [args.timer, args.inventory, args.source, args.target], check=True, capture_output=True, text=True
    )
    ours = json.loads(timer.stdout)
    duck_rows, duck_ms = duckdb_anti_join(source, target)
    polars_rows, polars_ms = polars_anti_join(source, target)
    process_ms = tessera_process_ms(args.tessera, args.inventory, args.source, args.target)

    for name, rows in [("duckdb", duck_rows), ("polars", polars_rows)]:
        if rows != ours["missing"]:
            raise SystemExit(f"{name} found {rows} missing tiles, tessera {ours['missing']}: the answers differ")

    ranges_ms = ours["ranges_us"] / 1e3
    print(f"{args.source} - {args.target}: {ours['missing']} missing tiles (all three agree)\n")
    print(f"{'what':<52} {'ms':>10} {'tessera is':>12}")
    rows = [
        ("tessera diff, in process (ranges)", ranges_ms, None),
        ("tessera diff, in process (count)", ours["count_us"] / 1e3, None),
        ("tessera inventory open (map + verify all indexes)", ours["open_us"] / 1e3, None),
        ("tessera diff --count, whole process spawn to exit", process_ms, None),
        ("DuckDB anti-join on the parquet manifests (warm)", duck_ms, duck_ms / ranges_ms),
        ("polars lazy anti-join on the parquet manifests (warm)", polars_ms, polars_ms / ranges_ms),
        ("DuckDB vs the whole tessera process", duck_ms, duck_ms / process_ms),
    ]
    for what, ms, ratio in rows:
        shown = f"{ratio:,.0f}x faster" if ratio else ""
        print(f"{what:<52} {ms:>10.3f} {shown:>12}")


if __name__ == "__main__":
    main()
