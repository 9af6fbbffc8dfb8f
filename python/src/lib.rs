//! `tessera._engine`: the engine's inventory and grid for Python. The pure-Python `tessera`
//! package wraps it, turning the bytes returned here into NumPy arrays and pyarrow tables.
//! Conversions only: every figure is the engine's.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use tessera_engine::bitmap::encode_ranges;
use tessera_engine::grid::{CELLS_PER_YEAR, Year};
use tessera_engine::inventory::{Counts, Status};
use tessera_engine::{Bbox, Cell, Filter, IdRange, KeyStyle, KeyWriter, Tile, TileId, YearRange};

create_exception!(
    tessera,
    TesseraError,
    PyException,
    "An inventory that cannot be opened or read, an unknown store, a year or box off the grid."
);

fn raise(err: tessera_engine::Error) -> PyErr {
    TesseraError::new_err(err.to_string())
}

type BboxArg = (f64, f64, f64, f64);

fn filter(years: Option<Vec<Year>>, bbox: Option<BboxArg>) -> PyResult<Filter> {
    let bbox = bbox.map(|(west, south, east, north)| Bbox::new(west, south, east, north)).transpose().map_err(raise)?;
    Ok(Filter { years: years.unwrap_or_default(), bbox })
}

/// An inventory directory opened read-only: nothing is ever written to it. An index that is
/// missing or stale is rebuilt in memory, and said so in `notices`.
#[pyclass(frozen, module = "tessera._engine")]
struct Inventory {
    inner: tessera_engine::Inventory,
}

#[pymethods]
impl Inventory {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Inventory> {
        let inner = py.detach(|| tessera_engine::Inventory::open_read_only(&path)).map_err(raise)?;
        Ok(Inventory { inner })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_owned()
    }

    /// `(first, last)`, inclusive.
    #[getter]
    fn years(&self) -> (Year, Year) {
        (self.inner.years().first(), self.inner.years().last())
    }

    #[getter]
    fn notices(&self) -> Vec<String> {
        self.inner.notices().iter().map(ToString::to_string).collect()
    }

    /// `[(name, role, storage, public_url)]` in config order.
    #[getter]
    fn stores(&self) -> Vec<(String, &'static str, String, String)> {
        (self.inner.stores().iter())
            .map(|s| {
                (s.config.name.clone(), s.config.role.as_str(), s.config.storage.clone(), s.config.public_url.clone())
            })
            .collect()
    }

    fn changed(&self) -> bool {
        self.inner.changed()
    }

    #[pyo3(signature = (bbox=None))]
    fn status<'py>(&self, py: Python<'py>, bbox: Option<BboxArg>) -> PyResult<Bound<'py, PyDict>> {
        let bbox = filter(None, bbox)?.bbox;
        let status = py.detach(|| self.inner.status(bbox)).map_err(raise)?;
        status_dict(py, &status)
    }

    #[pyo3(signature = (name, years=None, bbox=None))]
    fn select(&self, name: &str, years: Option<Vec<Year>>, bbox: Option<BboxArg>) -> PyResult<Tiles> {
        let ranges = self.inner.select(name, &filter(years, bbox)?).map_err(raise)?;
        Ok(Tiles { ranges, years: self.inner.years() })
    }

    #[pyo3(signature = (name, years=None, bbox=None))]
    fn count(&self, name: &str, years: Option<Vec<Year>>, bbox: Option<BboxArg>) -> PyResult<u64> {
        let tiles = self.inner.tiles(name).map_err(raise)?;
        self.inner.count(tiles, &filter(years, bbox)?).map_err(raise)
    }

    #[pyo3(signature = (source, target, years=None, bbox=None))]
    fn missing(&self, source: &str, target: &str, years: Option<Vec<Year>>, bbox: Option<BboxArg>) -> PyResult<Tiles> {
        let ranges = self.inner.missing(source, target, &filter(years, bbox)?).map_err(raise)?;
        Ok(Tiles { ranges, years: self.inner.years() })
    }

    #[pyo3(signature = (source, target, years=None, bbox=None))]
    fn missing_count(
        &self,
        source: &str,
        target: &str,
        years: Option<Vec<Year>>,
        bbox: Option<BboxArg>,
    ) -> PyResult<u64> {
        self.inner.missing_count(source, target, &filter(years, bbox)?).map_err(raise)
    }

    /// The registry's tiles a CQL2 filter (text, or JSON starting with `{`) selects, in
    /// `years` and `bbox`; with `count`, only their number is found (the ranges are empty).
    #[pyo3(signature = (cql2, years=None, bbox=None, count=false))]
    fn where_(
        &self,
        py: Python<'_>,
        cql2: &str,
        years: Option<Vec<Year>>,
        bbox: Option<BboxArg>,
        count: bool,
    ) -> PyResult<(u64, Tiles)> {
        let area = filter(None, bbox)?.bbox.map(tessera_engine::query::Area::Bbox);
        let selected = py.detach(|| -> tessera_engine::Result<(u64, Vec<IdRange>)> {
            let expr = match cql2.trim_start().starts_with('{') {
                true => tessera_engine::query::parse_json(cql2)?,
                false => tessera_engine::query::parse_text(cql2)?,
            };
            let details = match expr.to_json().is_ok_and(|json| json.contains("\"tessera:bytes\"")) {
                true if self.inner.registry().is_some() => Some(self.inner.registry_details()?.0),
                _ => None,
            };
            let query = tessera_engine::query::Query { years, area, filter: Some(expr), ..Default::default() };
            let plan = query.plan(&self.inner, details.as_ref())?;
            if count {
                return Ok((plan.count(&mut || true)?, Vec::new()));
            }
            let mut ranges = Vec::new();
            for tile in plan.forward(None, usize::MAX, &mut || true)? {
                tessera_engine::grid::push_merged(&mut ranges, IdRange { lo: tile.0, hi: tile.0 });
            }
            Ok((ranges.iter().map(|r| r.len()).sum(), ranges))
        });
        let (n, ranges) = selected.map_err(raise)?;
        Ok((n, Tiles { ranges, years: self.inner.years() }))
    }

    /// A portable Roaring bitmap of cell indexes, the bytes `/coverage/...` serves.
    #[pyo3(signature = (source, year, target=None))]
    fn coverage<'py>(
        &self,
        py: Python<'py>,
        source: &str,
        year: Year,
        target: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let cells = self.inner.coverage(source, target, year).map_err(raise)?;
        Ok(PyBytes::new(py, &encode_ranges(&cells)))
    }

    fn __repr__(&self) -> String {
        format!("Inventory({:?})", self.inner.dir())
    }
}

/// The result of a query: sorted, disjoint ranges of tile ids, in the form the caller asks for.
#[pyclass(frozen, module = "tessera._engine")]
struct Tiles {
    ranges: Vec<IdRange>,
    years: YearRange,
}

#[pymethods]
impl Tiles {
    fn __len__(&self) -> usize {
        self.ranges.iter().map(|r| r.len() as usize).sum()
    }

    /// The ids, as little-endian `u32`s.
    fn id_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut bytes = Vec::with_capacity(self.__len__() * 4);
        for id in self.ids() {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        PyBytes::new(py, &bytes)
    }

    /// `2024/grid_0.85_49.95` per tile (`item_id`: `2024_grid_0.85_49.95`).
    #[pyo3(signature = (item_id=false))]
    fn keys<'py>(&self, py: Python<'py>, item_id: bool) -> PyResult<Bound<'py, PyList>> {
        let style = if item_id { KeyStyle::ItemId } else { KeyStyle::Key };
        let writer = KeyWriter::new(self.years);
        let mut text = Vec::with_capacity(32);
        let keys = self.ids().map(|id| {
            text.clear();
            writer.push(&mut text, id, style);
            String::from_utf8_lossy(&text).into_owned()
        });
        PyList::new(py, keys)
    }

    /// `(years, lons, lats)`: little-endian `u16`, `f64` and `f64` per tile (cell centres).
    fn columns<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let (mut years, mut lons, mut lats) = (Vec::new(), Vec::new(), Vec::new());
        for id in self.ids() {
            let tile = self.years.tile(TileId(id)).map_err(raise)?;
            years.extend_from_slice(&tile.year.to_le_bytes());
            lons.extend_from_slice(&tile.cell.lon().to_le_bytes());
            lats.extend_from_slice(&tile.cell.lat().to_le_bytes());
        }
        Ok((PyBytes::new(py, &years), PyBytes::new(py, &lons), PyBytes::new(py, &lats)))
    }

    /// The ids as a portable Roaring bitmap.
    fn roaring<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &encode_ranges(&self.ranges))
    }

    /// `(lo, hi)` inclusive id ranges.
    fn ranges(&self) -> Vec<(u32, u32)> {
        self.ranges.iter().map(|r| (r.lo, r.hi)).collect()
    }
}

impl Tiles {
    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|r| r.lo..=r.hi)
    }
}

/// A grid whose first year is `first_year` and that reaches `year`.
fn grid_to(first_year: Year, year: Year) -> PyResult<YearRange> {
    YearRange::new(first_year, year.max(first_year)).map_err(raise)
}

/// The grid that holds id `id`.
fn grid_of(id: u32, first_year: Year) -> PyResult<YearRange> {
    let years = Year::try_from(id / CELLS_PER_YEAR).map_err(|_| TesseraError::new_err("id off the grid"))?;
    grid_to(first_year, first_year.saturating_add(years))
}

/// The id of the tile of `year` whose cell contains the point `(lon, lat)` degrees (a point
/// on a border belongs to the cell east or north of it), on a grid starting at `first_year`.
#[pyfunction]
#[pyo3(signature = (lon, lat, year, first_year=2017))]
fn tile_id(lon: f64, lat: f64, year: Year, first_year: Year) -> PyResult<u32> {
    let cell = Cell::containing(lon, lat).map_err(raise)?;
    Ok(grid_to(first_year, year)?.id(Tile::new(year, cell)).map_err(raise)?.0)
}

/// The key of tile `id`, `2024/grid_0.85_49.95`, on a grid starting at `first_year`.
#[pyfunction]
#[pyo3(signature = (id, first_year=2017))]
fn tile_name(id: u32, first_year: Year) -> PyResult<String> {
    Ok(grid_of(id, first_year)?.tile(TileId(id)).map_err(raise)?.key().to_string())
}

/// The footprint of tile `id`, `(west, south, east, north)` in degrees.
#[pyfunction]
#[pyo3(signature = (id, first_year=2017))]
fn bbox_of(id: u32, first_year: Year) -> PyResult<BboxArg> {
    let [west, south, east, north] = grid_of(id, first_year)?.tile(TileId(id)).map_err(raise)?.cell.footprint();
    Ok((west, south, east, north))
}

/// `(year, lon, lat)` of a key `2024/grid_0.85_49.95` or item id `2024_grid_0.85_49.95`.
#[pyfunction]
fn parse_key(key: &str) -> PyResult<(Year, f64, f64)> {
    let tile = Tile::parse_key(key).or_else(|_| Tile::parse_item_id(key)).map_err(raise)?;
    Ok((tile.year, tile.cell.lon(), tile.cell.lat()))
}

fn counts_dict<'py>(py: Python<'py>, counts: &Counts) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("tiles", counts.tiles)?;
    dict.set_item("years", counts.nonempty_years())?;
    let per_year = PyDict::new(py);
    for (year, tiles) in &counts.years {
        per_year.set_item(year, tiles)?;
    }
    dict.set_item("per_year", per_year)?;
    Ok(dict)
}

/// The shape of `tessera status --json`, with integer years and `listed_at` in ns.
fn status_dict<'py>(py: Python<'py>, status: &Status) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("bbox", status.bbox.map(|b| b.degrees()))?;
    dict.set_item("registry", status.registry.as_ref().map(|r| counts_dict(py, r)).transpose()?)?;
    let stores = PyList::empty(py);
    for store in &status.stores {
        let entry = counts_dict(py, &store.counts)?;
        entry.set_item("name", &store.name)?;
        entry.set_item("role", store.role.as_str())?;
        entry.set_item("not_in_registry", store.not_in_registry)?;
        entry.set_item("listed_at_ns", store.listed_at)?;
        entry.set_item("records_since", store.records_since)?;
        stores.append(entry)?;
    }
    dict.set_item("stores", stores)?;
    let missing = PyList::empty(py);
    for pair in &status.missing {
        let entry = PyDict::new(py);
        entry.set_item("source", &pair.source)?;
        entry.set_item("target", &pair.target)?;
        entry.set_item("tiles", pair.tiles)?;
        missing.append(entry)?;
    }
    dict.set_item("missing", missing)?;
    let zero_size = PyDict::new(py);
    for (name, tiles) in &status.zero_size {
        zero_size.set_item(name, tiles)?;
    }
    dict.set_item("zero_size", zero_size)?;
    Ok(dict)
}

#[pymodule]
fn _engine(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Inventory>()?;
    module.add_class::<Tiles>()?;
    module.add("TesseraError", module.py().get_type::<TesseraError>())?;
    module.add_function(wrap_pyfunction!(tile_id, module)?)?;
    module.add_function(wrap_pyfunction!(tile_name, module)?)?;
    module.add_function(wrap_pyfunction!(bbox_of, module)?)?;
    module.add_function(wrap_pyfunction!(parse_key, module)?)?;
    Ok(())
}
