"""GeoTessera tile inventories from Python, through the tessera engine.

An inventory is the directory ``tessera init`` makes: the upstream registry (what should
exist) and, for each store, the tiles it holds, as memory-mapped Roaring bitmaps. Every
query here is a bitmap operation in Rust: microseconds over millions of tiles.

>>> import tessera
>>> inv = tessera.Inventory("demo")
>>> lacking = inv.missing("okavango", "scaleway", year=2024, bbox=(0, 45, 10, 55))
>>> len(lacking), lacking.keys()[:1], lacking.ids[:1]          # doctest: +SKIP
(3, ['2024/grid_0.85_49.95'], array([48003485], dtype=uint32))

Tile ids are dense integers: ``(year - first_year) * 6_480_000 + row * 3600 + col`` on the
0.1-degree grid, row 0 in the south and column 0 at -180. The inventory's first year is
``inv.years[0]``; the grid helpers take it as ``first_year`` (2017, GeoTessera's, by default).
"""

from __future__ import annotations

import datetime as _datetime
import operator
import os
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from . import _engine
from ._engine import TesseraError, bbox_of, parse_key, tile_id, tile_name

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow

__all__ = [
    "Inventory",
    "Store",
    "Tiles",
    "TesseraError",
    "tile_id",
    "tile_name",
    "bbox_of",
    "parse_key",
]

Bbox = Tuple[float, float, float, float]
"""``(west, south, east, north)`` in degrees; west > east crosses the antimeridian."""

Years = Union[int, Iterable[int], None]
"""One year, several, or ``None`` for every year of the inventory."""


def _year_list(year: Years) -> Optional[List[int]]:
    if year is None:
        return None
    try:
        return [operator.index(year)]
    except TypeError:
        return [operator.index(y) for y in year]


def _bbox(bbox: Optional[Bbox]) -> Optional[Bbox]:
    if bbox is None:
        return None
    west, south, east, north = (float(v) for v in bbox)
    return (west, south, east, north)


class Store(NamedTuple):
    """One ``[[stores]]`` entry of the inventory's ``tessera.toml``."""

    name: str
    role: str
    """``primary`` or ``mirror``."""
    storage: str
    """Where copies read or write: a local path or ``s3://bucket/prefix``."""
    public_url: str


class Tiles:
    """Tiles a query selected, sorted by id, in the form you ask for.

    ``len(tiles)`` counts them; ``tiles.ids`` is a NumPy ``uint32`` array; ``tiles.keys()``
    the ``2024/grid_0.85_49.95`` keys a copy list holds; ``tiles.to_arrow()`` a pyarrow table;
    ``tiles.roaring()`` a portable Roaring bitmap of the ids (``pyroaring.BitMap.deserialize``).
    """

    __slots__ = ("_tiles",)

    def __init__(self, tiles: _engine.Tiles) -> None:
        self._tiles = tiles

    def __len__(self) -> int:
        return len(self._tiles)

    def __repr__(self) -> str:
        return f"<tessera.Tiles: {len(self)} tiles>"

    @property
    def ids(self) -> "np.ndarray":
        """The tile ids, ascending, as a read-only ``uint32`` array."""
        import numpy as np  # here, not at import: NumPy takes 50 ms to import

        return np.frombuffer(self._tiles.id_bytes(), dtype="<u4")

    def keys(self, *, item_ids: bool = False) -> List[str]:
        """``2024/grid_0.85_49.95`` per tile, or the STAC item ids ``2024_grid_0.85_49.95``."""
        return self._tiles.keys(item_ids)

    def ranges(self) -> List[Tuple[int, int]]:
        """The ids as inclusive ``(lo, hi)`` runs: what a near-identical mirror lacks is a few."""
        return self._tiles.ranges()

    def roaring(self) -> bytes:
        """The ids as a portable Roaring bitmap, the format CRoaring, pyroaring and roaring-rs read."""
        return self._tiles.roaring()

    def to_arrow(self) -> "pyarrow.Table":
        """A table with one row per tile: ``id`` (uint32), ``key`` (string), ``year`` (uint16),
        ``lon`` and ``lat`` (float64, the cell centre). Needs ``pyarrow``."""
        import numpy as np
        import pyarrow as pa

        years, lons, lats = self._tiles.columns()
        return pa.table(
            {
                "id": pa.array(self.ids, type=pa.uint32()),
                "key": pa.array(self.keys(), type=pa.string()),
                "year": pa.array(np.frombuffer(years, dtype="<u2"), type=pa.uint16()),
                "lon": pa.array(np.frombuffer(lons, dtype="<f8"), type=pa.float64()),
                "lat": pa.array(np.frombuffer(lats, dtype="<f8"), type=pa.float64()),
            }
        )


class Inventory:
    """A tessera inventory directory, opened read-only.

    Nothing is ever written to it: an index that is missing or out of date is rebuilt in
    memory and reported in :attr:`notices`. Opening maps every index once (well under a
    millisecond for a few stores); after that every method is a bitmap operation.
    ``store`` names below may also be ``"registry"``: what should exist.
    """

    __slots__ = ("_inventory",)

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self._inventory = _engine.Inventory(os.fspath(path))

    def __repr__(self) -> str:
        return f"tessera.Inventory({str(self.path)!r})"

    @property
    def path(self) -> str:
        """The inventory directory."""
        return os.fspath(self._inventory.path)

    @property
    def years(self) -> Tuple[int, int]:
        """``(first, last)``: the inclusive range of years the inventory covers."""
        return self._inventory.years

    @property
    def stores(self) -> List[Store]:
        """Every store, in the order ``tessera.toml`` lists them."""
        return [Store(*store) for store in self._inventory.stores]

    @property
    def notices(self) -> List[str]:
        """What opening had to do: indexes rebuilt in memory, stores without a manifest."""
        return self._inventory.notices

    def changed(self) -> bool:
        """Whether a writer (``tessera record``, ``scan``, ``import``) changed the inventory
        since it was opened; open it again to see the change."""
        return self._inventory.changed()

    def status(self, bbox: Optional[Bbox] = None) -> Dict[str, Any]:
        """The sync status as ``tessera status --json`` reports it: ``registry``, ``stores``
        (tiles per year, ``not_in_registry``, ``listed_at``, ``records_since``), ``missing``
        for every ordered pair, and ``zero_size``. Years are ``int`` keys, ``listed_at`` is
        a UTC ``datetime`` (or ``None``) and ``bbox`` the four numbers given (or ``None``)."""
        status = self._inventory.status(_bbox(bbox))
        for store in status["stores"]:
            ns = store.pop("listed_at_ns")
            store["listed_at"] = (
                None
                if ns is None
                else _datetime.datetime.fromtimestamp(ns // 1_000_000_000, tz=_datetime.timezone.utc)
            )
        return status

    def tiles(self, store: str, *, year: Years = None, bbox: Optional[Bbox] = None) -> Tiles:
        """The tiles ``store`` holds, in ``year`` (one or several; all by default) and
        overlapping ``bbox``."""
        return Tiles(self._inventory.select(store, _year_list(year), _bbox(bbox)))

    def count(self, store: str, *, year: Years = None, bbox: Optional[Bbox] = None) -> int:
        """How many tiles :meth:`tiles` would return, without listing them."""
        return self._inventory.count(store, _year_list(year), _bbox(bbox))

    def missing(self, source: str, target: str, *, year: Years = None, bbox: Optional[Bbox] = None) -> Tiles:
        """The tiles ``source`` holds and ``target`` lacks: what a sync from one to the other
        copies (``tessera diff SOURCE TARGET``)."""
        return Tiles(self._inventory.missing(source, target, _year_list(year), _bbox(bbox)))

    def missing_count(self, source: str, target: str, *, year: Years = None, bbox: Optional[Bbox] = None) -> int:
        """How many tiles :meth:`missing` would return (``tessera diff --count``)."""
        return self._inventory.missing_count(source, target, _year_list(year), _bbox(bbox))

    def select(self, cql2: str, *, year: Years = None, bbox: Optional[Bbox] = None) -> Tiles:
        """The registry's tiles a CQL2 filter selects (``tessera select``): CQL2-text, or
        CQL2-JSON when it starts with ``{``. It speaks of items as the STAC API renders them,
        e.g. ``"NOT a_contains(tessera:stores, ('scaleway')) AND year = 2024"``; store
        membership, places, years and ids are answered from bitmaps."""
        return Tiles(self._inventory.where_(cql2, _year_list(year), _bbox(bbox), False)[1])

    def select_count(self, cql2: str, *, year: Years = None, bbox: Optional[Bbox] = None) -> int:
        """How many tiles :meth:`select` would return, without listing them."""
        return self._inventory.where_(cql2, _year_list(year), _bbox(bbox), True)[0]

    def coverage(self, source: str, year: int, target: Optional[str] = None) -> bytes:
        """The cells of ``year`` that ``source`` holds (or, with ``target``, holds and ``target``
        lacks) as a portable Roaring bitmap of cell indexes ``row * 3600 + col``: the bytes
        the coverage map draws, which ``pyroaring.BitMap.deserialize`` opens."""
        return self._inventory.coverage(source, year, target)
