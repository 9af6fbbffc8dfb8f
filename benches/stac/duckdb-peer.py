"""The questions the filter and aggregate rounds ask tessera, asked of DuckDB over the same
inventory's parquet files: what pgstac or stac-server users would run as SQL over an index.

    python benches/stac/duckdb-peer.py INVENTORY [STORE]

Each query runs warm in one process (the best case for DuckDB), over the parquet files as
they are and over tables loaded into memory first; prints the median of 7 runs in ms.
"""

import statistics
import sys
import time

import duckdb

inventory = sys.argv[1]
store = sys.argv[2] if len(sys.argv) > 2 else "scaleway"
registry = f"read_parquet('{inventory}/registry.parquet')"
mirror = f"read_parquet('{inventory}/stores/{store}.parquet')"

QUERIES = {
    "gap count (anti join)": "select count(*) from {registry} r anti join {mirror} m using (year, lon_i, lat_i)",
    "gap page 1, limit 10": "select year, lon_i, lat_i from {registry} r anti join {mirror} m "
    "using (year, lon_i, lat_i) order by year, lat_i, lon_i limit 10",
    "gap in a 10-degree box, page 1": "select year, lon_i, lat_i from {registry} r anti join {mirror} m "
    "using (year, lon_i, lat_i) where r.lon >= 10 and r.lon < 20 and r.lat >= 40 and r.lat < 50 "
    "order by year, lat_i, lon_i limit 10",
    "count per year + per 1-degree cell": "select year, count(*) from {registry} group by year; "
    "select floor(lon), floor(lat), count(*) from {registry} group by 1, 2",
}


def median_ms(connection, sql, runs=7):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for statement in filter(None, (part.strip() for part in sql.split(";"))):
            connection.execute(statement).fetchall()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


connection = duckdb.connect()
connection.execute(f"create table reg as select lat, lon, year, lon_i, lat_i from {registry}")
connection.execute(f"create table mir as select year, lon_i, lat_i from {mirror}")
print(f"DuckDB {duckdb.__version__}, {inventory}, mirror {store}: median of 7 warm runs")
for name, sql in QUERIES.items():
    over_files = median_ms(connection, sql.format(registry=registry, mirror=mirror))
    in_memory = median_ms(connection, sql.format(registry="reg", mirror="mir"))
    print(f"  {name}: {over_files:.1f} ms over the parquet files, {in_memory:.1f} ms over tables in memory")
