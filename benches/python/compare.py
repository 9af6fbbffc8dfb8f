"""What scaleway lacks of okavango in 2024, counted from Python: through tessera, and by
anti-joins on the same parquet manifests with pandas, pyarrow and DuckDB. Interleaved rounds,
every method once per round; the counts must agree.

    python compare.py INVENTORY [--rounds 7] [--year 2024]

Two figures per method: in the process (the inventory opened or the parquet read inside the
timing, the interpreter and imports outside; "tessera open" counts on an inventory opened
beforehand, as a long-lived program does), and a whole process (`python -c`, spawn to exit).
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE, TARGET = "okavango", "scaleway"

# Each method: what it prepares untimed (imports; for "tessera open" the open inventory) and a
# timed statement that leaves the count in `n`, given `inventory`, `source` and `target` (the
# two manifests) and `year`.
METHODS = {
    "tessera open": (
        "import tessera\ninv = tessera.Inventory(inventory)",
        "n = inv.missing_count('okavango', 'scaleway', year=year)",
    ),
    "tessera": (
        "import tessera",
        "n = tessera.Inventory(inventory).missing_count('okavango', 'scaleway', year=year)",
    ),
    "pyarrow": (
        "import pyarrow.parquet as pq",
        "cols = ['year', 'lon_i', 'lat_i']\n"
        "a = pq.read_table(source, columns=cols, filters=[('year', '=', year)])\n"
        "b = pq.read_table(target, columns=cols, filters=[('year', '=', year)])\n"
        "n = a.join(b, keys=cols, join_type='left anti').num_rows",
    ),
    "pandas": (
        "import pandas as pd",
        "cols = ['year', 'lon_i', 'lat_i']\n"
        "a = pd.read_parquet(source, columns=cols, filters=[('year', '=', year)])\n"
        "b = pd.read_parquet(target, columns=cols, filters=[('year', '=', year)])\n"
        "m = a.merge(b, on=cols, how='left', indicator=True)\n"
        "n = int((m['_merge'] == 'left_only').sum())",
    ),
    "duckdb": (
        "import duckdb",
        "n = duckdb.sql(f\"SELECT count(*) FROM read_parquet('{source}') a ANTI JOIN read_parquet('{target}') b "
        "USING (year, lon_i, lat_i) WHERE a.year = {year}\").fetchone()[0]",
    ),
}


def setup(inventory: Path, year: int) -> str:
    return (
        f"inventory = {str(inventory)!r}; year = {year}\n"
        f"source = {str(inventory / 'stores' / (SOURCE + '.parquet'))!r}\n"
        f"target = {str(inventory / 'stores' / (TARGET + '.parquet'))!r}\n"
    )


def in_process(name: str, inventory: Path, year: int) -> tuple:
    imports, statement = METHODS[name]
    scope: dict = {}
    exec(setup(inventory, year) + imports, scope)
    code = compile(statement, name, "exec")
    start = time.perf_counter()
    exec(code, scope)
    return time.perf_counter() - start, scope["n"]


def whole_process(name: str, inventory: Path, year: int) -> tuple:
    imports, statement = METHODS[name]
    program = setup(inventory, year) + imports + "\n" + statement + "\nprint(n)"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=300)
    return time.perf_counter() - start, int(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--year", type=int, default=2024)
    args = parser.parse_args()

    for kind, measure in (("in the process", in_process), ("whole process (python -c)", whole_process)):
        methods = [name for name in METHODS if measure is in_process or name != "tessera open"]
        times: dict = {name: [] for name in methods}
        counts: dict = {}
        for name in methods:  # warm-up: imports, page cache
            measure(name, args.inventory, args.year)
        for _ in range(args.rounds):
            for name in methods:
                seconds, n = measure(name, args.inventory, args.year)
                times[name].append(seconds)
                counts[name] = n
        if len(set(counts.values())) != 1:
            sys.exit(f"the methods disagree: {counts}")
        ours = statistics.median(times["tessera"])
        print(f"\n{SOURCE} -> {TARGET}, {args.year}: {counts['tessera']} tiles missing; {kind}, "
              f"median of {args.rounds} interleaved rounds")
        print(f"  {'method':<13} {'median ms':>10} {'min ms':>9} {'x tessera':>10}")
        for name in methods:
            median = statistics.median(times[name])
            print(f"  {name:<13} {median * 1e3:>10.3f} {min(times[name]) * 1e3:>9.3f} {median / ours:>10.2f}")


if __name__ == "__main__":
    main()
