//! The 0.1-degree tile grid: cells, years, dense tile ids, names, and bounding boxes.
//!
//! Every conversion here is exact integer arithmetic on hundredths of a degree (for centres)
//! or nanodegrees (for bounding boxes); nothing is derived from float arithmetic on names.
//!
//! - A cell is `(row, col)` with `row` 0 at the south pole (`lat_i = -8995`) and `col` 0 at the
//!   antimeridian (`lon_i = -17995`): `col = (lon_i + 17995) / 10`, `row = (lat_i + 8995) / 10`.
//! - A tile is a cell in a year. Its dense id is
//!   `year_index * 6_480_000 + row * 3600 + col`, so one grid row of one year is one contiguous
//!   id range and a bounding box is one id range per row per year.
//!
//! ```
//! use tessera_engine::grid::{Tile, YearRange};
//!
//! let years = YearRange::new(2017, 2025).unwrap();
//! let tile = Tile::parse_item_id("2024_grid_0.85_49.95").unwrap();
//! let id = years.id(tile).unwrap();
//! assert_eq!(years.tile(id).unwrap(), tile);
//! assert_eq!(tile.key().to_string(), "2024/grid_0.85_49.95");
//! ```

use std::fmt;

use crate::error::{Error, Result};

/// Grid columns (longitude), 0.1 degree each.
pub const COLS: u32 = 3600;
/// Grid rows (latitude), 0.1 degree each.
pub const ROWS: u32 = 1800;
/// Cells in one year of the grid, and the id stride between years.
pub const CELLS_PER_YEAR: u32 = COLS * ROWS;
/// Cell size in hundredths of a degree.
pub const CELL_CENTI: i32 = 10;

const MAX_LON_CENTI: i32 = 17995;
const MAX_LAT_CENTI: i32 = 8995;

/// A grid cell. Row 0 is the southernmost row, column 0 the westernmost column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    row: u16,
    col: u16,
}

impl Cell {
    /// The cell at `row`, `col`, or an error when either is off the grid.
    pub fn new(row: u32, col: u32) -> Result<Cell> {
        if row >= ROWS || col >= COLS {
            return Err(Error::OffGrid {
                input: format!("row {row}, col {col}"),
                reason: "rows are 0..1800 and columns 0..3600",
            });
        }
        Ok(Cell { row: row as u16, col: col as u16 })
    }

    /// The cell whose centre is `(lon_i, lat_i)` hundredths of a degree, e.g. `(85, 4995)`.
    ///
    /// Centres end in 5 (`x.x5`): anything else is not on the grid and is rejected.
    #[inline]
    pub fn from_centi(lon_i: i32, lat_i: i32) -> Result<Cell> {
        let col = axis_index(lon_i, MAX_LON_CENTI, "longitude")?;
        let row = axis_index(lat_i, MAX_LAT_CENTI, "latitude")?;
        Ok(Cell { row, col })
    }

    /// The cell whose centre is `(lon, lat)` degrees. The values are rounded to hundredths first,
    /// as the registry's `lon_i = round(lon * 100)` does, then checked like [`Cell::from_centi`].
    pub fn from_degrees(lon: f64, lat: f64) -> Result<Cell> {
        Cell::from_centi(degrees_to_centi(lon)?, degrees_to_centi(lat)?)
    }

    /// The cell whose footprint contains the point `(lon, lat)` degrees. A point on a cell's
    /// border belongs to the cell east or north of it; 180 and 90 belong to the last cells.
    pub fn containing(lon: f64, lat: f64) -> Result<Cell> {
        let point = Bbox::new(lon, lat, lon, lat)?;
        Cell::new(point.rows().0, point.col_spans()[0].0)
    }

    /// Parses a tile directory name such as `grid_0.85_49.95` or `grid_-50.55_-20.65`.
    pub fn parse_name(name: &str) -> Result<Cell> {
        let off_grid = |reason| Error::OffGrid { input: name.to_owned(), reason };
        let coords = name.strip_prefix("grid_").ok_or(off_grid("a tile name starts with `grid_`"))?;
        let (lon, lat) = split_coords(coords).ok_or(off_grid("expected `grid_{lon}_{lat}`"))?;
        let lon_i = parse_centi(lon).ok_or(off_grid("longitude is not a number with two decimals"))?;
        let lat_i = parse_centi(lat).ok_or(off_grid("latitude is not a number with two decimals"))?;
        Cell::from_centi(lon_i, lat_i).map_err(|err| match err {
            Error::OffGrid { reason, .. } => off_grid(reason),
            other => other,
        })
    }

    /// Grid row, 0 (south) to 1799 (north).
    pub fn row(self) -> u32 {
        u32::from(self.row)
    }

    /// Grid column, 0 (west, lon -180) to 3599 (east).
    pub fn col(self) -> u32 {
        u32::from(self.col)
    }

    /// Centre longitude in hundredths of a degree, e.g. 85 for 0.85.
    pub fn lon_centi(self) -> i32 {
        i32::from(self.col) * CELL_CENTI - MAX_LON_CENTI
    }

    /// Centre latitude in hundredths of a degree.
    pub fn lat_centi(self) -> i32 {
        i32::from(self.row) * CELL_CENTI - MAX_LAT_CENTI
    }

    /// Centre longitude in degrees.
    pub fn lon(self) -> f64 {
        f64::from(self.lon_centi()) / 100.0
    }

    /// Centre latitude in degrees.
    pub fn lat(self) -> f64 {
        f64::from(self.lat_centi()) / 100.0
    }

    /// The footprint `[west, south, east, north]` in degrees: centre +/- 0.05.
    pub fn footprint(self) -> [f64; 4] {
        let (lon, lat) = (self.lon_centi(), self.lat_centi());
        [lon - 5, lat - 5, lon + 5, lat + 5].map(|centi| f64::from(centi) / 100.0)
    }

    /// The offset of this cell inside one year of ids: `row * 3600 + col`.
    pub fn index(self) -> u32 {
        self.row() * COLS + self.col()
    }

    /// The tile directory name, `grid_0.85_49.95`.
    pub fn name(self) -> CellName {
        CellName(self)
    }
}

/// Displays a cell as its tile directory name without allocating.
#[derive(Debug, Clone, Copy)]
pub struct CellName(Cell);

impl fmt::Display for CellName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("grid_")?;
        write_centi(f, self.0.lon_centi())?;
        f.write_str("_")?;
        write_centi(f, self.0.lat_centi())
    }
}

/// Writes hundredths of a degree as `{:.2}` would, from integers: `-5` is `-0.05`.
pub fn write_centi(out: &mut impl fmt::Write, centi: i32) -> fmt::Result {
    let sign = if centi < 0 { "-" } else { "" };
    let abs = centi.unsigned_abs();
    write!(out, "{sign}{}.{:02}", abs / 100, abs % 100)
}

#[inline]
fn axis_index(centi: i32, max: i32, axis: &'static str) -> Result<u16> {
    if centi.abs() > max {
        return Err(Error::OffGrid {
            input: centi_string(centi),
            reason: if axis == "longitude" {
                "longitude centres lie in -179.95..=179.95"
            } else {
                "latitude centres lie in -89.95..=89.95"
            },
        });
    }
    if centi.rem_euclid(CELL_CENTI) != 5 {
        return Err(Error::OffGrid {
            input: centi_string(centi),
            reason: "tile centres end in 5 (x.x5); this is not a 0.1-degree cell centre",
        });
    }
    // In range and ending in 5, so the quotient is 0..COLS or 0..ROWS.
    Ok(((centi + max) / CELL_CENTI) as u16)
}

fn centi_string(centi: i32) -> String {
    let mut text = String::new();
    let _ = write_centi(&mut text, centi);
    text
}

fn degrees_to_centi(degrees: f64) -> Result<i32> {
    let centi = (degrees * 100.0).round();
    if !centi.is_finite() || centi.abs() > 1e6 {
        return Err(Error::OffGrid { input: degrees.to_string(), reason: "not a finite coordinate" });
    }
    Ok(centi as i32)
}

/// Splits `0.85_49.95` at the `_` between two numbers (a minus sign never contains `_`).
fn split_coords(coords: &str) -> Option<(&str, &str)> {
    let (lon, lat) = coords.split_once('_')?;
    (!lat.contains('_')).then_some((lon, lat))
}

/// Parses `-12.34` into `-1234`: an optional minus, 1-3 integer digits, a dot, exactly 2 decimals.
fn parse_centi(text: &str) -> Option<i32> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.')?;
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 3 || frac.len() != 2 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let value = int.parse::<i32>().ok()? * 100 + frac.parse::<i32>().ok()?;
    Some(if negative { -value } else { value })
}

/// A calendar year of the inventory.
pub type Year = u16;

/// The inclusive range of years an inventory covers; ids are dense over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct YearRange {
    first: Year,
    last: Year,
}

/// The default range, 2017..=2025 (9 years, 58.32M ids).
pub const DEFAULT_YEARS: YearRange = YearRange { first: 2017, last: 2025 };

impl YearRange {
    /// `first..=last`; at most 662 years so every id fits a `u32`.
    pub fn new(first: Year, last: Year) -> Result<YearRange> {
        let span = u64::from(last).checked_sub(u64::from(first)).map(|d| d + 1);
        match span {
            Some(count) if count * u64::from(CELLS_PER_YEAR) <= u64::from(u32::MAX) + 1 => {
                Ok(YearRange { first, last })
            }
            _ => Err(Error::BadYearRange { first, last }),
        }
    }

    /// The first year, e.g. 2017.
    pub fn first(self) -> Year {
        self.first
    }

    /// The last year, included, e.g. 2025.
    pub fn last(self) -> Year {
        self.last
    }

    /// Number of years in the range.
    pub fn len(self) -> u32 {
        u32::from(self.last - self.first) + 1
    }

    /// Always false: a range holds at least one year.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Whether `year` lies in `first..=last`.
    pub fn contains(self, year: Year) -> bool {
        (self.first..=self.last).contains(&year)
    }

    /// The years from first to last, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = Year> {
        self.first..=self.last
    }

    /// One past the largest id: `len * 6_480_000`.
    pub fn id_limit(self) -> u64 {
        u64::from(self.len()) * u64::from(CELLS_PER_YEAR)
    }

    /// The dense id of `tile`, or an error when its year is outside the range.
    pub fn id(self, tile: Tile) -> Result<TileId> {
        self.check(tile.year)?;
        let year_index = u32::from(tile.year - self.first);
        Ok(TileId(year_index * CELLS_PER_YEAR + tile.cell.index()))
    }

    /// The tile of a dense id, or an error when the id is past the last year.
    pub fn tile(self, id: TileId) -> Result<Tile> {
        let year_index = id.0 / CELLS_PER_YEAR;
        if year_index >= self.len() {
            return Err(Error::IdOutOfRange { id: id.0, years: self });
        }
        let index = id.0 % CELLS_PER_YEAR;
        let cell = Cell { row: (index / COLS) as u16, col: (index % COLS) as u16 };
        Ok(Tile { year: self.first + year_index as Year, cell })
    }

    /// The ids of one year, `[lo, hi]` inclusive.
    pub fn year_ids(self, year: Year) -> Result<IdRange> {
        self.check(year)?;
        let lo = u32::from(year - self.first) * CELLS_PER_YEAR;
        Ok(IdRange { lo, hi: lo + CELLS_PER_YEAR - 1 })
    }

    fn check(self, year: Year) -> Result<()> {
        if self.contains(year) { Ok(()) } else { Err(Error::YearOutOfRange { year, years: self }) }
    }
}

impl fmt::Display for YearRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.first, self.last)
    }
}

/// A dense tile id: `year_index * 6_480_000 + row * 3600 + col`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId(pub u32);

/// An inclusive range of tile ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdRange {
    /// The first id in the range.
    pub lo: u32,
    /// The last id in the range, included; never below `lo`.
    pub hi: u32,
}

impl IdRange {
    /// Number of ids in the range.
    pub fn len(self) -> u64 {
        u64::from(self.hi - self.lo) + 1
    }

    /// Always false: a range holds at least one id.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// A cell in a year: one folder of three files on every store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tile {
    /// The calendar year, e.g. 2024.
    pub year: Year,
    /// The grid cell, e.g. `grid_0.85_49.95`.
    pub cell: Cell,
}

impl Tile {
    /// The tile of `cell` in `year`. Any year is accepted; [`YearRange::id`] checks it against a range.
    pub fn new(year: Year, cell: Cell) -> Tile {
        Tile { year, cell }
    }

    /// Parses a STAC item id, `2024_grid_0.85_49.95`.
    pub fn parse_item_id(text: &str) -> Result<Tile> {
        let (year, name) = text.split_once('_').ok_or_else(|| Error::OffGrid {
            input: text.to_owned(),
            reason: "an item id looks like `2024_grid_0.85_49.95`",
        })?;
        Ok(Tile { year: parse_year(year, text)?, cell: Cell::parse_name(name)? })
    }

    /// Parses a copy-list key, `2024/grid_0.85_49.95`.
    pub fn parse_key(text: &str) -> Result<Tile> {
        let (year, name) = text.split_once('/').ok_or_else(|| Error::OffGrid {
            input: text.to_owned(),
            reason: "a copy-list key looks like `2024/grid_0.85_49.95`",
        })?;
        Ok(Tile { year: parse_year(year, text)?, cell: Cell::parse_name(name)? })
    }

    /// The STAC item id, displayed as `2024_grid_0.85_49.95`.
    pub fn item_id(self) -> impl fmt::Display {
        TileText { tile: self, separator: '_' }
    }

    /// The copy-list key, displayed as `2024/grid_0.85_49.95`.
    pub fn key(self) -> impl fmt::Display {
        TileText { tile: self, separator: '/' }
    }
}

struct TileText {
    tile: Tile,
    separator: char,
}

impl fmt::Display for TileText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.tile.year, self.separator, self.tile.cell.name())
    }
}

fn parse_year(text: &str, whole: &str) -> Result<Year> {
    let valid = text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit());
    let year = text.parse::<Year>().ok().filter(|_| valid);
    year.ok_or_else(|| Error::OffGrid { input: whole.to_owned(), reason: "the year is not four digits" })
}

/// A bounding box in degrees, `west, south, east, north`. `west > east` crosses the antimeridian.
///
/// A tile matches when its footprint overlaps the box with positive area; along an axis where the
/// box has no extent (a point or a line), the cell whose half-open footprint `[lo, hi)` contains
/// the coordinate matches (the last cell for 180 or 90). Comparisons are exact, in integer
/// nanodegrees, so a box drawn on grid lines selects exactly the cells inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bbox {
    west: i64,
    south: i64,
    east: i64,
    north: i64,
}

const NANO: f64 = 1e9;
const NANO_PER_CELL: i64 = 100_000_000;
const NANO_180: i64 = 180_000_000_000;
const NANO_90: i64 = 90_000_000_000;

impl Bbox {
    /// A box from degrees. Longitudes lie in -180..=180, latitudes in -90..=90, south <= north.
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Bbox> {
        let bad = |reason: &'static str| Error::BadBbox { bbox: [west, south, east, north], reason };
        let [w, s, e, n] = [west, south, east, north].map(to_nano);
        let (Some(w), Some(s), Some(e), Some(n)) = (w, s, e, n) else {
            return Err(bad("coordinates must be finite numbers"));
        };
        if w.abs() > NANO_180 || e.abs() > NANO_180 {
            return Err(bad("longitudes must lie in -180..=180"));
        }
        if s.abs() > NANO_90 || n.abs() > NANO_90 {
            return Err(bad("latitudes must lie in -90..=90"));
        }
        if s > n {
            return Err(bad("south is greater than north"));
        }
        Ok(Bbox { west: w, south: s, east: e, north: n })
    }

    /// Parses `W,S,E,N` in degrees, as the CLI and STAC `bbox` parameters give it.
    pub fn parse(text: &str) -> Result<Bbox> {
        let values: Option<Vec<f64>> = text.split(',').map(|part| part.trim().parse().ok()).collect();
        match values.as_deref() {
            Some(&[west, south, east, north]) => Bbox::new(west, south, east, north),
            _ => Err(Error::BadBboxText { text: text.to_owned() }),
        }
    }

    /// `[west, south, east, north]` in degrees.
    pub fn degrees(&self) -> [f64; 4] {
        [self.west, self.south, self.east, self.north].map(|nano| nano as f64 / NANO)
    }

    /// Whether the box crosses the antimeridian (`west > east`).
    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }

    /// The grid rows the box touches, inclusive.
    pub fn rows(&self) -> (u32, u32) {
        axis_span(self.south + NANO_90, self.north + NANO_90, ROWS)
    }

    /// The column spans the box touches, inclusive, west to east: two when it crosses the
    /// antimeridian.
    pub fn col_spans(&self) -> Vec<(u32, u32)> {
        let (w, e) = (self.west + NANO_180, self.east + NANO_180);
        if self.crosses_antimeridian() {
            vec![axis_span(0, e, COLS), axis_span(w, 2 * NANO_180, COLS)]
        } else {
            vec![axis_span(w, e, COLS)]
        }
    }

    /// Whether the footprint of `cell` matches the box: the brute-force definition, one cell.
    pub fn contains_cell(&self, cell: Cell) -> bool {
        let x = i64::from(cell.col()) * NANO_PER_CELL - NANO_180;
        let y = i64::from(cell.row()) * NANO_PER_CELL - NANO_90;
        let lat_hit = axis_hit(y, self.south, self.north, NANO_90);
        let lon_hit = if self.crosses_antimeridian() {
            axis_hit(x, self.west, NANO_180, NANO_180) || axis_hit(x, -NANO_180, self.east, NANO_180)
        } else {
            axis_hit(x, self.west, self.east, NANO_180)
        };
        lat_hit && lon_hit
    }

    /// The ids of the matching tiles in each of `years`, as sorted, merged inclusive ranges:
    /// one per grid row and column span, joined where they touch.
    pub fn id_ranges(&self, grid: YearRange, years: &[Year]) -> Result<Vec<IdRange>> {
        let (row_lo, row_hi) = self.rows();
        let spans = self.col_spans();
        let mut years = years.to_vec();
        years.sort_unstable();
        years.dedup();
        let rows = (row_hi - row_lo + 1) as usize;
        let mut ranges: Vec<IdRange> = Vec::with_capacity(years.len() * rows * spans.len());
        for year in years {
            let base = grid.year_ids(year)?.lo;
            for row in row_lo..=row_hi {
                for &(lo, hi) in &spans {
                    let start = base + row * COLS;
                    push_merged(&mut ranges, IdRange { lo: start + lo, hi: start + hi });
                }
            }
        }
        Ok(ranges)
    }
}

/// Appends `range` to sorted `ranges`, joining it with the last one when they touch.
pub fn push_merged(ranges: &mut Vec<IdRange>, range: IdRange) {
    match ranges.last_mut() {
        Some(last) if u64::from(last.hi) + 1 >= u64::from(range.lo) => last.hi = last.hi.max(range.hi),
        _ => ranges.push(range),
    }
}

/// `W,S,E,N` in degrees, as [`Bbox::parse`] reads it back.
impl fmt::Display for Bbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [west, south, east, north] = self.degrees();
        write!(f, "{west},{south},{east},{north}")
    }
}

fn to_nano(degrees: f64) -> Option<i64> {
    let nano = (degrees * NANO).round();
    (nano.is_finite() && nano.abs() < 1e15).then_some(nano as i64)
}

/// Cells `c` of an axis (offset to start at 0) that overlap `[lo, hi]`: `c*cell < hi` and
/// `(c+1)*cell > lo`; a degenerate interval takes the cell containing it.
fn axis_span(lo: i64, hi: i64, cells: u32) -> (u32, u32) {
    let last = i64::from(cells) - 1;
    let first = (lo.div_euclid(NANO_PER_CELL)).clamp(0, last);
    let end = ((hi + NANO_PER_CELL - 1).div_euclid(NANO_PER_CELL) - 1).clamp(0, last);
    (first as u32, end.max(first) as u32)
}

/// One axis of [`Bbox::contains_cell`]: does the footprint starting at `start` match `[lo, hi]`?
fn axis_hit(start: i64, lo: i64, hi: i64, max: i64) -> bool {
    let end = start + NANO_PER_CELL;
    if lo < hi {
        start < hi && end > lo
    } else {
        // A point: the half-open footprint holding it, with the top edge in the last cell.
        (start <= lo && lo < end) || (lo == max && end == max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cell_containing_a_point_owns_its_west_and_south_borders() {
        let name = |lon, lat| Cell::containing(lon, lat).unwrap().name().to_string();
        assert_eq!(name(0.87, 49.93), "grid_0.85_49.95");
        assert_eq!(name(0.9, 49.9), "grid_0.95_49.95", "a border point belongs to the cell east and north");
        assert_eq!(name(-180.0, -90.0), "grid_-179.95_-89.95");
        assert_eq!(name(180.0, 90.0), "grid_179.95_89.95");
        assert!(Cell::containing(180.01, 0.0).is_err() && Cell::containing(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn names_round_trip_through_centi() {
        for name in ["grid_0.85_49.95", "grid_-50.55_-20.65", "grid_-0.05_-0.05", "grid_-179.95_89.95"] {
            assert_eq!(Cell::parse_name(name).unwrap().name().to_string(), name);
        }
    }

    #[test]
    fn off_grid_names_say_what_is_wrong() {
        let cases = [
            ("grid_0.80_49.95", "end in 5"),
            ("grid_180.05_0.05", "-179.95..=179.95"),
            ("grid_0.05_90.05", "-89.95..=89.95"),
            ("nan", "starts with `grid_`"),
            ("grid_nan_0.05", "two decimals"),
            ("grid_0.5_0.05", "two decimals"),
            ("grid_0.05", "grid_{lon}_{lat}"),
        ];
        for (name, expected) in cases {
            let message = Cell::parse_name(name).unwrap_err().to_string();
            assert!(message.contains(name) && message.contains(expected), "{name}: {message}");
        }
    }

    #[test]
    fn item_ids_and_keys_round_trip() {
        let tile = Tile::parse_item_id("2024_grid_0.85_49.95").unwrap();
        assert_eq!(tile.key().to_string(), "2024/grid_0.85_49.95");
        assert_eq!(Tile::parse_key("2024/grid_0.85_49.95").unwrap(), tile);
        assert!(Tile::parse_key("24/grid_0.85_49.95").is_err());
    }

    #[test]
    fn ids_follow_the_design_formula() {
        let years = DEFAULT_YEARS;
        let tile = Tile::parse_item_id("2024_grid_0.85_49.95").unwrap();
        let (row, col) = ((4995 + 8995) / 10, (85 + 17995) / 10);
        assert_eq!(years.id(tile).unwrap().0, 7 * 6_480_000 + row * 3600 + col);
        assert!(years.tile(TileId(9 * 6_480_000)).is_err());
        assert!(years.id(Tile::new(2016, tile.cell)).is_err());
    }

    #[test]
    fn footprint_is_centre_plus_minus_half_a_cell() {
        let cell = Cell::parse_name("grid_179.95_-89.95").unwrap();
        assert_eq!(cell.footprint(), [179.9, -90.0, 180.0, -89.9]);
    }

    #[test]
    fn aligned_bbox_selects_the_cells_inside() {
        let bbox = Bbox::new(0.0, 49.0, 1.0, 50.0).unwrap();
        assert_eq!(bbox.col_spans(), vec![(1800, 1809)]);
        assert_eq!(bbox.rows(), (1390, 1399));
    }

    #[test]
    fn antimeridian_bbox_has_two_spans() {
        let bbox = Bbox::new(179.0, -1.0, -179.0, 1.0).unwrap();
        assert_eq!(bbox.col_spans(), vec![(0, 9), (3590, 3599)]);
    }

    #[test]
    fn bad_bboxes_are_rejected_with_reasons() {
        assert!(Bbox::new(0.0, 0.0, 1.0, 91.0).unwrap_err().to_string().contains("latitudes"));
        assert!(Bbox::new(0.0, 2.0, 1.0, 1.0).unwrap_err().to_string().contains("south"));
        assert!(Bbox::parse("1,2,3").unwrap_err().to_string().contains("1,2,3"));
        assert!(Bbox::new(f64::NAN, 0.0, 1.0, 1.0).is_err());
    }

    #[test]
    fn a_bbox_prints_as_it_parses() {
        for text in ["0,45,10,55", "-10.5,-0.1,179.95,89.9", "179,-1,-179,1"] {
            let bbox = Bbox::parse(text).unwrap();
            assert_eq!(bbox.to_string(), text);
            assert_eq!(Bbox::parse(&bbox.to_string()).unwrap(), bbox);
        }
    }

    #[test]
    fn whole_world_is_one_range_per_year() {
        let bbox = Bbox::new(-180.0, -90.0, 180.0, 90.0).unwrap();
        let ranges = bbox.id_ranges(DEFAULT_YEARS, &[2017, 2018]).unwrap();
        assert_eq!(ranges, vec![IdRange { lo: 0, hi: 2 * CELLS_PER_YEAR - 1 }]);
    }
}
