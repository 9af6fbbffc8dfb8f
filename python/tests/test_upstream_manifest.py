"""A tree and manifest in upstream geotessera 0.11's layout and schema (`npy/{dataset}/
manifest.parquet`, no hash column; tile folders `npy/v1.1-cam/{year}/grid_X_Y/` with the
`SHA256` file `geotessera-registry hash` writes), written here with pyarrow as upstream's
`s3scan` writes it: import, scan, verify by the SHA256 files, a flipped byte named, and after
`tessera hash`, a mirror filled by `sync` verified by the recorded checksums."""

import hashlib
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import _binary

TILES = [(2024, 0.15, 49.95), (2024, 0.25, 49.95), (2024, -120.05, 35.15), (2025, 0.15, 49.95), (2025, 10.05, -3.45)]


def tile_name(lon: float, lat: float) -> str:
    return f"grid_{lon:.2f}_{lat:.2f}"


def write_tree(root: Path) -> list[dict]:
    """Writes each tile's two .npy files and its SHA256 file; returns the manifest's rows."""
    rows = []
    for n, (year, lon, lat) in enumerate(TILES):
        name = tile_name(lon, lat)
        folder = root / str(year) / name
        folder.mkdir(parents=True)
        grid, scales = bytes([n]) * (1000 + n), bytes([n + 100]) * (200 + n)
        (folder / f"{name}.npy").write_bytes(grid)
        (folder / f"{name}_scales.npy").write_bytes(scales)
        sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {file}\n"
                       for file, data in [(f"{name}.npy", grid), (f"{name}_scales.npy", scales)])
        (folder / "SHA256").write_text(sums)
        url = f"s3://tessera-embeddings/npy/v1.1-cam/{year}/{name}"
        now = datetime(2026, 10, 1, tzinfo=timezone.utc)
        rows.append({
            "version": "1.1", "variant": "cambridge", "year": year, "lon": lon, "lat": lat,
            "directory": f"{url}/", "grid_path": f"{url}/{name}.npy", "scales_path": f"{url}/{name}_scales.npy",
            "grid_mtime": now, "scales_mtime": now, "grid_size": len(grid), "scales_size": len(scales),
            "lon_i": round(lon * 100), "lat_i": round(lat * 100),
        })
    return rows


def write_manifest(path: Path, rows: list[dict]) -> None:
    schema = pa.schema([
        ("version", pa.large_string()), ("variant", pa.large_string()), ("year", pa.int64()),
        ("lon", pa.float64()), ("lat", pa.float64()), ("directory", pa.large_string()),
        ("grid_path", pa.large_string()), ("scales_path", pa.large_string()),
        ("grid_mtime", pa.timestamp("us", tz="UTC")), ("scales_mtime", pa.timestamp("us", tz="UTC")),
        ("grid_size", pa.int64()), ("scales_size", pa.int64()), ("lon_i", pa.int32()), ("lat_i", pa.int32()),
    ])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="snappy")


def tessera(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_binary(), "--inventory", str(inventory), *args], capture_output=True, text=True, timeout=120)


def test_an_upstream_0_11_tree_verifies_by_its_sha256_files_then_a_mirror_by_recorded_checksums(tmp_path):
    root = tmp_path / "npy" / "v1.1-cam"
    write_manifest(tmp_path / "manifest.parquet", write_tree(root))
    mirror, inventory = tmp_path / "mirror", tmp_path / "inventory"
    mirror.mkdir()
    made = subprocess.run([_binary(), "init", "--inventory", str(inventory), "--years", "2017..2025",
                           "--store", f"okavango=primary,{root},https://p",
                           "--store", f"mirror=mirror,{mirror},https://m"], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    for args in [("import", str(tmp_path / "manifest.parquet")), ("scan", "okavango", "--list")]:
        done = tessera(inventory, *args)
        assert done.returncode == 0, done.stderr

    verify = tessera(inventory, "verify", "okavango")
    assert verify.returncode == 0, verify.stderr
    assert f"{2 * len(TILES)} by the tiles' SHA256 files" in verify.stderr

    name = tile_name(0.25, 49.95)
    grid = root / "2024" / name / f"{name}.npy"
    good = grid.read_bytes()
    grid.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    verify = tessera(inventory, "verify", "okavango", "--restart")
    assert verify.returncode == 1, verify.stderr
    assert f"damaged: 2024/{name} ({name}.npy: sha256 differs from the tile's SHA256 file" in verify.stderr
    grid.write_bytes(good)
    assert tessera(inventory, "scan", "okavango", "--list").returncode == 0

    hashed = tessera(inventory, "hash", "okavango")
    assert hashed.returncode == 0, hashed.stderr
    synced = tessera(inventory, "sync", "okavango", "mirror", "--tool", "cp")
    assert synced.returncode == 0, synced.stderr
    for sums in mirror.glob("*/*/SHA256"):
        sums.unlink()  # a mirror that keeps the data files only: the recorded checksums judge it
    verify = tessera(inventory, "verify", "mirror")
    assert verify.returncode == 0, verify.stderr
    assert f"{2 * len(TILES)} by checksums recorded by `tessera hash`" in verify.stderr
