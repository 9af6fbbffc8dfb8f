"""The package against the `tessera` command on the same inventory: every figure must agree."""

import datetime
import os

import numpy as np
import pyarrow as pa
import pytest
from pyroaring import BitMap

import tessera
from conftest import Cli

CELLS_PER_YEAR = 3600 * 1800
BOX = (0, 45, 10, 55)


def test_status_is_the_cli_status(demo, cli):
    ours = tessera.Inventory(demo).status()
    theirs = cli.json("status", "--json")
    assert ours["missing"] == theirs["missing"]
    assert ours["zero_size"] == theirs["zero_size"]
    assert ours["registry"]["tiles"] == theirs["registry"]["tiles"] == 5127
    assert ours["registry"]["years"] == theirs["registry"]["years"]
    assert {str(y): n for y, n in ours["registry"]["per_year"].items()} == theirs["registry"]["per_year"]
    assert [s["name"] for s in ours["stores"]] == [s["name"] for s in theirs["stores"]]
    for store, cli_store in zip(ours["stores"], theirs["stores"]):
        for field in ("role", "tiles", "not_in_registry", "records_since"):
            assert store[field] == cli_store[field], field
        assert {str(y): n for y, n in store["per_year"].items()} == cli_store["years"]
        assert store["listed_at"] is None or isinstance(store["listed_at"], datetime.datetime)
    # The pairs are not all zero, or agreeing would prove little.
    assert any(pair["tiles"] > 0 for pair in ours["missing"])


def test_status_in_a_box_is_the_cli_status_in_that_box(demo, cli):
    ours = tessera.Inventory(demo).status(bbox=BOX)
    theirs = cli.json("status", "--json", "--bbox", "0,45,10,55")
    assert ours["missing"] == theirs["missing"]
    assert [s["tiles"] for s in ours["stores"]] == [s["tiles"] for s in theirs["stores"]]
    assert ours["registry"]["tiles"] < 5127


@pytest.mark.parametrize(
    "source,target,year,bbox",
    [
        ("okavango", "scaleway", 2024, BOX),
        ("okavango", "scaleway", None, None),
        ("registry", "okavango", [2017, 2025], None),
        ("scaleway", "okavango", None, (170, -60, -170, 60)),  # across the antimeridian
        ("okavango", "s3", 2021, None),
    ],
)
def test_missing_is_the_cli_diff(demo, cli, source, target, year, bbox):
    args = ["diff", source, target]
    if year is not None:
        args += ["--year", ",".join(str(y) for y in np.atleast_1d(year))]
    if bbox is not None:
        args += ["--bbox", ",".join(str(v) for v in bbox)]
    expected = cli.run(*args).split()
    inventory = tessera.Inventory(demo)
    lacking = inventory.missing(source, target, year=year, bbox=bbox)
    assert lacking.keys() == expected
    assert len(lacking) == inventory.missing_count(source, target, year=year, bbox=bbox) == int(cli.run(*args, "--count"))


def test_every_form_of_a_result_names_the_same_tiles(demo):
    lacking = tessera.Inventory(demo).tiles("registry", year=[2017, 2024])
    assert len(lacking) == 475 + 641
    ids = lacking.ids
    assert ids.dtype == np.uint32 and len(ids) == len(lacking)
    assert np.all(np.diff(ids.astype(np.int64)) > 0), "ids ascend"
    assert lacking.keys() == [tessera.tile_name(int(i)) for i in ids]
    assert lacking.keys(item_ids=True) == [k.replace("/", "_") for k in lacking.keys()]
    assert list(BitMap.deserialize(lacking.roaring())) == ids.tolist()
    assert sum(hi - lo + 1 for lo, hi in lacking.ranges()) == len(lacking)

    table = lacking.to_arrow()
    assert table.schema == pa.schema(
        [("id", pa.uint32()), ("key", pa.string()), ("year", pa.uint16()), ("lon", pa.float64()), ("lat", pa.float64())]
    )
    assert table.num_rows == len(lacking)
    for row in table.slice(0, 50).to_pylist():
        assert tessera.parse_key(row["key"]) == (row["year"], row["lon"], row["lat"])
        assert tessera.tile_id(row["lon"], row["lat"], row["year"]) == row["id"]


def test_an_empty_result_has_every_form(demo):
    inventory = tessera.Inventory(demo)
    nothing = inventory.missing("okavango", "okavango")
    assert len(nothing) == 0 and nothing.ids.shape == (0,) and nothing.keys() == []
    assert nothing.to_arrow().num_rows == 0 and len(BitMap.deserialize(nothing.roaring())) == 0


def test_tiles_and_counts_agree_with_the_cli_per_year(demo, cli):
    inventory = tessera.Inventory(demo)
    per_year = {s["name"]: s["years"] for s in cli.json("status", "--json")["stores"]}
    for store in inventory.stores:
        for year in range(2017, 2026):
            held = inventory.tiles(store.name, year=year)
            assert len(held) == inventory.count(store.name, year=year) == per_year[store.name][str(year)]
            assert np.all(held.ids // CELLS_PER_YEAR == year - 2017)


def test_coverage_is_the_year_s_cells_in_portable_roaring(demo):
    inventory = tessera.Inventory(demo)
    cells = BitMap.deserialize(inventory.coverage("okavango", 2024))
    held = inventory.tiles("okavango", year=2024).ids
    assert len(cells) == len(held) > 0
    assert list(cells) == (held - (2024 - 2017) * CELLS_PER_YEAR).tolist()
    lacking = BitMap.deserialize(inventory.coverage("okavango", 2024, target="scaleway"))
    assert len(lacking) == inventory.missing_count("okavango", "scaleway", year=2024) > 0
    assert lacking <= cells


def test_the_grid_helpers_round_trip_at_the_edges():
    for lon, lat, year in [(0.87, 49.93, 2024), (-179.99, -89.99, 2017), (179.99, 89.99, 2025), (-0.01, 0.01, 2020)]:
        tile = tessera.tile_id(lon, lat, year)
        west, south, east, north = tessera.bbox_of(tile)
        assert west <= lon < east and south <= lat < north
        assert round(east - west, 9) == round(north - south, 9) == 0.1
        key_year, centre_lon, centre_lat = tessera.parse_key(tessera.tile_name(tile))
        assert key_year == year and abs(centre_lon - lon) < 0.05 + 1e-9 and abs(centre_lat - lat) < 0.05 + 1e-9
    assert tessera.tile_name(tessera.tile_id(0.87, 49.93, 2024)) == "2024/grid_0.85_49.95"
    assert tessera.tile_id(0.87, 49.93, 2024, first_year=2024) == tessera.tile_id(0.87, 49.93, 2017)
    with pytest.raises(tessera.TesseraError, match="longitude"):
        tessera.tile_id(181, 0, 2024)
    with pytest.raises(tessera.TesseraError):
        tessera.tile_id(0, 0, 2016)
    with pytest.raises(tessera.TesseraError):
        tessera.parse_key("2024/grid_0.80_49.95")


def test_errors_name_what_was_wrong(demo, tmp_path):
    inventory = tessera.Inventory(demo)
    with pytest.raises(tessera.TesseraError, match="unknown store `nope`.*okavango, s3, scaleway"):
        inventory.missing("okavango", "nope")
    with pytest.raises(tessera.TesseraError, match="south is greater than north"):
        inventory.count("okavango", bbox=(0, 10, 1, 5))
    with pytest.raises(tessera.TesseraError, match="not a tessera inventory|tessera.toml"):
        tessera.Inventory(tmp_path)
    with pytest.raises(tessera.TesseraError):
        inventory.coverage("okavango", 1999)


def test_opening_never_writes_and_rebuilds_in_memory(fresh):
    index = fresh / "stores" / "scaleway.tbm"
    expected = tessera.Inventory(fresh).count("scaleway")
    index.unlink()
    before = sorted(os.listdir(fresh / "stores"))
    inventory = tessera.Inventory(fresh)
    assert inventory.count("scaleway") == expected
    assert any("scaleway.tbm" in notice for notice in inventory.notices)
    assert sorted(os.listdir(fresh / "stores")) == before, "a read-only open wrote a file"


def test_changed_tells_a_reader_that_a_writer_recorded(fresh):
    inventory = tessera.Inventory(fresh)
    lacking = inventory.missing("okavango", "scaleway", year=2024)
    assert not inventory.changed()
    Cli(fresh).run("record", "scaleway", stdin="\n".join(lacking.keys()[:3]) + "\n")
    assert inventory.changed()
    assert tessera.Inventory(fresh).missing_count("okavango", "scaleway", year=2024) == len(lacking) - 3


def test_importing_tessera_leaves_numpy_for_the_first_array():
    # NumPy takes ~50 ms to import: a script that only counts should not pay for it.
    import subprocess
    import sys

    program = "import sys, tessera; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    "cql2",
    [
        "NOT a_contains(tessera:stores, ('scaleway')) AND a_contains(tessera:stores, ('okavango'))",
        '{"op": "a_equals", "args": [{"property": "tessera:stores"}, ["okavango", "s3"]]}',
        "s_intersects(geometry, BBOX(170, -60, 180, 60)) OR year = 2019",
        "tessera:bytes > 130000000",
    ],
)
def test_select_is_the_cli_select(demo, cli, cql2):
    inventory = tessera.Inventory(demo)
    selected = inventory.select(cql2)
    assert selected.keys() == cli.run("select", cql2).split()
    assert len(selected) == inventory.select_count(cql2) == int(cli.run("select", cql2, "--count"))
    assert 0 < len(selected) < 5127
    in_2024 = inventory.select(cql2, year=2024, bbox=(-180, -90, 180, 90))
    assert in_2024.keys() == [key for key in selected.keys() if key.startswith("2024/")]


def test_a_bad_filter_raises_with_the_reason(demo):
    with pytest.raises(tessera.TesseraError, match="did you mean `tessera:stores`"):
        tessera.Inventory(demo).select("tessera:store IS NULL")
