//! Reading the upstream GeoTessera `registry.parquet`: which tiles should exist, with their
//! sizes, hashes and modification times.
//!
//! The upstream schema (GeoParquet, zstd, sorted by `year, lat, lon`):
//!
//! | column | Arrow type accepted | use |
//! |---|---|---|
//! | `year` | int64 or int32 | **required** |
//! | `lon_i`, `lat_i` | int32 or int64, `round(x * 100)` | **required**, or else `lon`, `lat` |
//! | `lon`, `lat` | float64 (float32) centres | used only when `lon_i`/`lat_i` are absent |
//! | `file_size` (alias `grid_size`) | int64 or int32 | optional |
//! | `scales_size` | int64 or int32 | optional |
//! | `hash`, `scales_hash` | utf8, large_utf8 or utf8_view: 64 hex digits | optional |
//! | `mtime` (alias `grid_mtime`) | timestamp of any unit | optional |
//!
//! Other columns (`geometry`, `grid_path`, `version`, ...) are ignored and never decoded: only
//! the columns a caller needs are read, so [`read_registry_ids`] touches three integer columns.
//! The newer upstream `manifest.parquet` (no hashes, `grid_size`) loads too.
//!
//! What the reader promises:
//! - A missing required column is [`Error::MissingColumn`] naming the file and the column; a
//!   column of the wrong type is [`Error::ColumnType`].
//! - A missing optional column is listed once in [`ReadReport::missing_optional`] and its field
//!   is `None`: it is never silently zeroed.
//! - A row whose coordinates are not a tile centre, whose year is outside the inventory's
//!   [`YearRange`], or whose size, hash or key is null or malformed is [`Error::BadRow`] with the
//!   row number (from 0).
//! - Output is sorted by [`TileId`]; a repeated `(year, lon, lat)` keeps its first row and is
//!   counted in [`ReadReport::duplicates`] with up to ten examples.
//!
//! ```no_run
//! use std::path::Path;
//! use tessera_engine::grid::DEFAULT_YEARS;
//! use tessera_engine::registry::{read_registry, read_registry_ids, ReadOptions};
//!
//! let path = Path::new("registry.parquet");
//! let (tiles, report) = read_registry(path, DEFAULT_YEARS, ReadOptions { hashes: true })?;
//! for line in report.warnings() {
//!     eprintln!("warning: {line}");
//! }
//! println!("{} tiles, sizes known: {}", tiles.len(), tiles.file_size.is_some());
//! let (ids, _report) = read_registry_ids(path, DEFAULT_YEARS)?; // ids only: fast
//! # Ok::<(), tessera_engine::Error>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::grid::{Tile, TileId, YearRange};
use crate::parquet_io::{self, Column, KeyColumns, Kind, Order, ParquetFile};

/// The optional registry columns, each with the names it may have, in order of preference.
const OPTIONAL: [&[&str]; 5] =
    [&["file_size", "grid_size"], &["scales_size"], &["hash"], &["scales_hash"], &["mtime", "grid_mtime"]];

/// Which optional columns to decode besides ids, sizes and modification times.
///
/// For ids alone (the fast path that builds bitmap indexes), use [`read_registry_ids`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read and parse `hash` and `scales_hash` (the slowest columns: 128 hex digits a row).
    pub hashes: bool,
}

/// The tiles of a registry, sorted by id and unique. Every `Some` vector is parallel to `ids`.
///
/// A field is `None` when the file has no such column (then [`ReadReport::missing_optional`]
/// names it), when it was not asked for (hashes without [`ReadOptions::hashes`]), or when only
/// ids were read ([`read_registry_ids`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryTiles {
    /// The tiles' dense ids, sorted and unique.
    pub ids: Vec<TileId>,
    /// Bytes of each tile's embedding `.npy`.
    pub file_size: Option<Vec<u64>>,
    /// Bytes of each tile's `_scales.npy`.
    pub scales_size: Option<Vec<u64>>,
    /// SHA-256 of each embedding `.npy`.
    pub hash: Option<Vec<[u8; 32]>>,
    /// SHA-256 of each `_scales.npy`.
    pub scales_hash: Option<Vec<[u8; 32]>>,
    /// Modification time of each embedding `.npy`, nanoseconds since the Unix epoch (UTC).
    pub mtime_ns: Option<Vec<i64>>,
}

impl RegistryTiles {
    /// Number of distinct tiles.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the registry holds no tiles.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What a reader noticed without failing: absent optional columns and duplicate tiles.
/// Shared by the registry and [store manifest](crate::store::manifest) readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReport {
    /// The file read.
    pub path: PathBuf,
    /// Rows in the file, duplicates included.
    pub rows: usize,
    /// Optional columns the file lacks, by their canonical names (`file_size`, `hash`, ...).
    pub missing_optional: Vec<&'static str>,
    /// Rows dropped because an earlier row named the same tile.
    pub duplicates: usize,
    /// Up to ten dropped rows: the tile and the row number (from 0).
    pub duplicate_examples: Vec<(Tile, usize)>,
}

impl ReadReport {
    /// A report on `file` naming the absent `optional` columns, before any row is read.
    pub(crate) fn new(file: &ParquetFile, optional: &[&[&'static str]]) -> ReadReport {
        ReadReport {
            path: file.path().to_owned(),
            rows: file.rows(),
            missing_optional: optional.iter().filter(|names| !file.has(names)).map(|names| names[0]).collect(),
            duplicates: 0,
            duplicate_examples: Vec::new(),
        }
    }

    /// Records the duplicates found while ordering the rows.
    pub(crate) fn note_duplicates(&mut self, order: &Order) {
        self.duplicates = order.duplicates;
        self.duplicate_examples = order.examples.clone();
    }

    /// Whether there is nothing to warn about.
    pub fn is_clean(&self) -> bool {
        self.missing_optional.is_empty() && self.duplicates == 0
    }

    /// One human-readable line per problem, for a CLI to print on stderr, e.g.
    /// ``registry.parquet has no column `hash`: stale-by-hash checks are off``.
    pub fn warnings(&self) -> Vec<String> {
        let file = self.path.display();
        let mut lines: Vec<String> = (self.missing_optional.iter())
            .map(|column| format!("{file} has no column `{column}`{}", consequence(column)))
            .collect();
        if self.duplicates > 0 {
            lines.push(self.duplicate_line());
        }
        lines
    }

    fn duplicate_line(&self) -> String {
        let examples: Vec<String> =
            self.duplicate_examples.iter().map(|(tile, row)| format!("{} (row {row})", tile.key())).collect();
        let more = self.duplicates - self.duplicate_examples.len();
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!(
            "{} has {} duplicate (year, lon, lat) rows, ignored (the first row of each tile is kept): {}{more}",
            self.path.display(),
            self.duplicates,
            examples.join(", ")
        )
    }
}

/// What a missing optional column costs the user.
fn consequence(column: &str) -> &'static str {
    match column {
        "file_size" => " (nor `grid_size`): embedding sizes are unknown, size checks are off",
        "scales_size" => ": scales sizes are unknown, size checks on scales files are off",
        "hash" => ": stale-by-hash checks are off",
        "scales_hash" => ": stale-by-hash checks on scales files are off",
        "mtime" => " (nor `grid_mtime`): tile modification times are unknown",
        _ => "",
    }
}

impl fmt::Display for ReadReport {
    /// The [`warnings`](ReadReport::warnings), one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.warnings().join("\n"))
    }
}

/// Reads the tiles of the registry at `path`, whose years must lie in `years`: ids, sizes,
/// modification times, and hashes when `options` asks for them. See the [module docs](self)
/// for what is accepted and reported.
pub fn read_registry(path: &Path, years: YearRange, options: ReadOptions) -> Result<(RegistryTiles, ReadReport)> {
    let wanted = Wanted { sizes: true, hashes: options.hashes, mtime: true };
    read(path, years, wanted)
}

/// The ids of the registry at `path`, sorted and unique, decoding only `year` and the
/// coordinates: the fast path for building bitmap indexes (about 50 ms for 3.8M rows in a
/// release build). The report is the same as [`read_registry`]'s.
pub fn read_registry_ids(path: &Path, years: YearRange) -> Result<(Vec<TileId>, ReadReport)> {
    let (tiles, report) = read(path, years, Wanted { sizes: false, hashes: false, mtime: false })?;
    Ok((tiles.ids, report))
}

/// The first and last year of the rows of the parquet file at `path` (`None` when it has no
/// rows), reading its `year` column alone: to see whether a registry runs past the
/// inventory's years before reading it for them.
pub fn year_span(path: &Path) -> Result<Option<(i64, i64)>> {
    let file = ParquetFile::open(path)?;
    let year = file.require("year", Kind::Int, ": every row needs the tile's year (int64 or int32)")?;
    let mut span: Option<(i64, i64)> = None;
    let column = year.clone();
    file.read(&[&year], |batch, first_row| {
        parquet_io::for_each_int(path, &column, batch, first_row, |_, value| {
            if let Some(year) = value {
                span = Some(span.map_or((year, year), |(first, last)| (first.min(year), last.max(year))));
            }
            Ok(())
        })
    })?;
    Ok(span)
}

/// Which groups of optional columns to decode.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    sizes: bool,
    hashes: bool,
    mtime: bool,
}

fn read(path: &Path, years: YearRange, wanted: Wanted) -> Result<(RegistryTiles, ReadReport)> {
    let file = ParquetFile::open(path)?;
    let keys = KeyColumns::find(&file)?;
    let extras = Extras::find(&file, wanted)?;
    let mut report = ReadReport::new(&file, &OPTIONAL);
    let mut columns: Vec<&Column> = keys.columns().to_vec();
    columns.extend(extras.columns());
    let mut raw = Raw::default();
    file.read(&columns, |batch, first_row| {
        keys.append_ids(&report.path, years, batch, first_row, &mut raw.ids)?;
        raw.append(&report.path, &extras, batch, first_row)
    })?;
    let order = Order::sort_unique(&mut raw.ids, years);
    report.note_duplicates(&order);
    Ok((raw.into_tiles(&extras, &order), report))
}

/// The optional columns to decode: asked for and present.
#[derive(Debug, Default)]
struct Extras {
    file_size: Option<Column>,
    scales_size: Option<Column>,
    hash: Option<Column>,
    scales_hash: Option<Column>,
    mtime: Option<Column>,
}

impl Extras {
    fn find(file: &ParquetFile, wanted: Wanted) -> Result<Extras> {
        let find = |asked: bool, names: &[&'static str], kind| {
            if asked { file.find(names, kind) } else { Ok(None) }
        };
        let [sizes, scales, hash, scales_hash, mtime] = OPTIONAL;
        Ok(Extras {
            file_size: find(wanted.sizes, sizes, Kind::Int)?,
            scales_size: find(wanted.sizes, scales, Kind::Int)?,
            hash: find(wanted.hashes, hash, Kind::Text)?,
            scales_hash: find(wanted.hashes, scales_hash, Kind::Text)?,
            mtime: find(wanted.mtime, mtime, Kind::Timestamp)?,
        })
    }

    fn columns(&self) -> impl Iterator<Item = &Column> {
        [&self.file_size, &self.scales_size, &self.hash, &self.scales_hash, &self.mtime].into_iter().flatten()
    }
}

/// Decoded values in file order, before sorting and de-duplication.
#[derive(Debug, Default)]
struct Raw {
    ids: Vec<TileId>,
    file_size: Vec<u64>,
    scales_size: Vec<u64>,
    hash: Vec<[u8; 32]>,
    scales_hash: Vec<[u8; 32]>,
    mtime: Vec<i64>,
}

impl Raw {
    fn append(&mut self, path: &Path, extras: &Extras, batch: &RecordBatch, first_row: usize) -> Result<()> {
        if let Some(column) = &extras.file_size {
            append_sizes(path, column, batch, first_row, &mut self.file_size)?;
        }
        if let Some(column) = &extras.scales_size {
            append_sizes(path, column, batch, first_row, &mut self.scales_size)?;
        }
        if let Some(column) = &extras.hash {
            append_hashes(path, column, batch, first_row, &mut self.hash)?;
        }
        if let Some(column) = &extras.scales_hash {
            append_hashes(path, column, batch, first_row, &mut self.scales_hash)?;
        }
        if let Some(column) = &extras.mtime {
            parquet_io::for_each_timestamp_ns(path, column, batch, first_row, |row, value| {
                self.mtime.push(value.ok_or_else(|| parquet_io::null_error(path, column, row))?);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn into_tiles(self, extras: &Extras, order: &Order) -> RegistryTiles {
        RegistryTiles {
            ids: self.ids,
            file_size: extras.file_size.as_ref().map(|_| order.apply(self.file_size)),
            scales_size: extras.scales_size.as_ref().map(|_| order.apply(self.scales_size)),
            hash: extras.hash.as_ref().map(|_| order.apply(self.hash)),
            scales_hash: extras.scales_hash.as_ref().map(|_| order.apply(self.scales_hash)),
            mtime_ns: extras.mtime.as_ref().map(|_| order.apply(self.mtime)),
        }
    }
}

/// Appends a size column; in a registry every size is known, so a null is a bad row.
fn append_sizes(path: &Path, column: &Column, batch: &RecordBatch, first_row: usize, out: &mut Vec<u64>) -> Result<()> {
    out.reserve(batch.num_rows());
    parquet_io::for_each_int(path, column, batch, first_row, |row, value| {
        let size = parquet_io::size_value(path, column, row, value)?;
        out.push(size.ok_or_else(|| parquet_io::null_error(path, column, row))?);
        Ok(())
    })
}

fn append_hashes(
    path: &Path,
    column: &Column,
    batch: &RecordBatch,
    first_row: usize,
    out: &mut Vec<[u8; 32]>,
) -> Result<()> {
    out.reserve(batch.num_rows());
    parquet_io::for_each_text(path, column, batch, first_row, |row, text| {
        let text = text.ok_or_else(|| parquet_io::null_error(path, column, row))?;
        out.push(parse_sha256(text).ok_or_else(|| bad_hash(path, column, row, text))?);
        Ok(())
    })
}

fn bad_hash(path: &Path, column: &Column, row: usize, text: &str) -> Error {
    let shown: String = text.chars().take(80).collect();
    let ellipsis = if shown.len() < text.len() { "..." } else { "" };
    Error::BadRow {
        path: path.to_owned(),
        row,
        message: format!("`{}` is \"{shown}{ellipsis}\", not a SHA-256 (64 hexadecimal digits)", column.name),
    }
}

/// Parses 64 hexadecimal digits (either case) into 32 bytes.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let bytes: &[u8; 64] = text.as_bytes().try_into().ok()?;
    let mut hash = [0u8; 32];
    for (out, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        let (high, low) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        if (high | low) > 0xF {
            return None;
        }
        *out = (high << 4) | low;
    }
    Some(hash)
}

/// The value of each hex digit byte, `0xFF` for any other byte: a table because registries
/// hold 3.8M rows of 128 digits.
const HEX: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, BinaryArray, Float64Array, Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
        TimestampMicrosecondArray, TimestampNanosecondArray,
    };

    use super::*;
    use crate::grid::{Cell, DEFAULT_YEARS};
    use crate::parquet_io::testing::write;

    /// `(year, lon_i, lat_i)` of the sample rows, deliberately not in id order.
    const ROWS: [(i64, i32, i32); 4] = [(2024, 85, 4995), (2017, -5, -5), (2025, 17995, 8995), (2024, -17995, -8995)];

    fn id(year: i64, lon_i: i32, lat_i: i32) -> TileId {
        let tile = Tile::new(year as u16, Cell::from_centi(lon_i, lat_i).unwrap());
        DEFAULT_YEARS.id(tile).unwrap()
    }

    fn hex(byte: u8) -> String {
        format!("{byte:02x}").repeat(32)
    }

    fn ints64(values: impl IntoIterator<Item = i64>) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(values))
    }

    fn ints32(values: impl IntoIterator<Item = i32>) -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(values))
    }

    fn key_columns(rows: &[(i64, i32, i32)]) -> Vec<(&'static str, ArrayRef)> {
        vec![
            ("year", ints64(rows.iter().map(|r| r.0))),
            ("lon_i", ints32(rows.iter().map(|r| r.1))),
            ("lat_i", ints32(rows.iter().map(|r| r.2))),
        ]
    }

    /// The upstream schema, with the hash columns built by `strings`.
    fn upstream(strings: fn(Vec<String>) -> ArrayRef) -> Vec<(&'static str, ArrayRef)> {
        let lon: Vec<f64> = ROWS.iter().map(|r| f64::from(r.1) / 100.0).collect();
        let lat: Vec<f64> = ROWS.iter().map(|r| f64::from(r.2) / 100.0).collect();
        let wkb: Vec<Vec<u8>> = lon.iter().zip(&lat).map(|(x, y)| point_wkb(*x, *y)).collect();
        let mut columns = vec![
            ("lat", Arc::new(Float64Array::from(lat)) as ArrayRef),
            ("lon", Arc::new(Float64Array::from(lon)) as ArrayRef),
            ("year", ints64(ROWS.iter().map(|r| r.0))),
            ("hash", strings((0..4).map(hex).collect())),
            ("scales_hash", strings((10..14).map(hex).collect())),
            ("mtime", Arc::new(TimestampNanosecondArray::from_iter_values([40, 10, 30, 20])) as ArrayRef),
            ("file_size", ints64([400, 100, 300, 200])),
            ("scales_size", ints64([4, 1, 3, 2])),
        ];
        columns.extend(key_columns(&ROWS).into_iter().skip(1));
        columns.push(("geometry", Arc::new(BinaryArray::from_iter_values(wkb)) as ArrayRef));
        columns
    }

    fn point_wkb(x: f64, y: f64) -> Vec<u8> {
        let mut wkb = vec![1, 1, 0, 0, 0];
        wkb.extend(x.to_le_bytes());
        wkb.extend(y.to_le_bytes());
        wkb
    }

    fn large(values: Vec<String>) -> ArrayRef {
        Arc::new(LargeStringArray::from(values))
    }

    fn utf8(values: Vec<String>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }

    fn view(values: Vec<String>) -> ArrayRef {
        Arc::new(StringViewArray::from_iter_values(values))
    }

    fn read_all(columns: Vec<(&str, ArrayRef)>) -> Result<(RegistryTiles, ReadReport)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.parquet");
        write(&path, columns);
        read_registry(&path, DEFAULT_YEARS, ReadOptions { hashes: true })
    }

    #[test]
    fn upstream_schema_with_large_utf8_hashes_round_trips_in_id_order() {
        let (tiles, report) = read_all(upstream(large)).unwrap();
        // Id order: 2017 first, then 2024 south before north, then 2025.
        let expected_ids: Vec<TileId> = [1, 3, 0, 2].map(|i| id(ROWS[i].0, ROWS[i].1, ROWS[i].2)).to_vec();
        assert_eq!(tiles.ids, expected_ids);
        assert_eq!(tiles.file_size, Some(vec![100, 200, 400, 300]));
        assert_eq!(tiles.scales_size, Some(vec![1, 2, 4, 3]));
        assert_eq!(tiles.mtime_ns, Some(vec![10, 20, 40, 30]));
        assert_eq!(tiles.hash.unwrap()[2], [0; 32]);
        assert_eq!(tiles.scales_hash.unwrap()[0], [11; 32]);
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.rows, 4);
    }

    #[test]
    fn utf8_and_utf8_view_hashes_are_accepted() {
        for strings in [utf8 as fn(Vec<String>) -> ArrayRef, view] {
            let (tiles, _) = read_all(upstream(strings)).unwrap();
            assert_eq!(tiles.hash.unwrap()[0], [1; 32]);
        }
    }

    #[test]
    fn hashes_are_read_only_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.parquet");
        write(&path, upstream(large));
        let (tiles, report) = read_registry(&path, DEFAULT_YEARS, ReadOptions::default()).unwrap();
        assert_eq!((tiles.hash, tiles.scales_hash), (None, None));
        assert!(tiles.file_size.is_some() && report.missing_optional.is_empty());
        assert_eq!(read_registry_ids(&path, DEFAULT_YEARS).unwrap(), (tiles.ids, report));
    }

    #[test]
    fn int32_years_are_accepted() {
        let mut columns = key_columns(&ROWS);
        columns[0].1 = ints32(ROWS.iter().map(|r| r.0 as i32));
        let (tiles, _) = read_all(columns).unwrap();
        assert_eq!(tiles.ids[0], id(2017, -5, -5));
    }

    #[test]
    fn newer_manifest_loads_with_grid_size_and_grid_mtime() {
        let mut columns = key_columns(&ROWS);
        columns.push(("grid_size", ints64([400, 100, 300, 200])));
        columns.push(("scales_size", ints64([4, 1, 3, 2])));
        let mtime = TimestampMicrosecondArray::from_iter_values([4, 1, 3, 2]).with_timezone("UTC");
        columns.push(("grid_mtime", Arc::new(mtime)));
        columns.push(("grid_path", utf8(vec!["s3://x".into(); 4])));
        let (tiles, report) = read_all(columns).unwrap();
        assert_eq!(tiles.file_size, Some(vec![100, 200, 400, 300]));
        assert_eq!(tiles.mtime_ns, Some(vec![1000, 2000, 4000, 3000]));
        assert_eq!((tiles.hash, tiles.scales_hash), (None, None));
        assert_eq!(report.missing_optional, ["hash", "scales_hash"]);
    }

    #[test]
    fn missing_optional_column_is_reported_once_and_left_none() {
        let columns = upstream(large).into_iter().filter(|(name, _)| *name != "hash").collect();
        let (tiles, report) = read_all(columns).unwrap();
        assert_eq!(tiles.hash, None);
        assert!(tiles.scales_hash.is_some());
        assert_eq!(report.missing_optional, ["hash"]);
        let warnings = report.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].ends_with("registry.parquet has no column `hash`: stale-by-hash checks are off"));
    }

    #[test]
    fn missing_year_names_the_file_and_the_column() {
        let columns = upstream(large).into_iter().filter(|(name, _)| *name != "year").collect();
        let err = read_all(columns).unwrap_err();
        assert!(matches!(err, Error::MissingColumn { column: "year", .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("registry.parquet") && message.contains("`year`"), "{message}");
    }

    #[test]
    fn missing_coordinates_name_the_absent_column() {
        let columns = upstream(large).into_iter().filter(|(name, _)| !["lat_i", "lat"].contains(name)).collect();
        let err = read_all(columns).unwrap_err();
        assert!(matches!(err, Error::MissingColumn { column: "lat_i", .. }), "{err:?}");
    }

    #[test]
    fn float_coordinates_are_used_without_lon_i_and_lat_i() {
        let columns = upstream(large).into_iter().filter(|(name, _)| !["lon_i", "lat_i"].contains(name)).collect();
        let (tiles, _) = read_all(columns).unwrap();
        assert_eq!(tiles.ids[0], id(2017, -5, -5));
        assert_eq!(tiles.ids.len(), 4);
    }

    #[test]
    fn wrong_column_type_says_what_was_expected() {
        let mut columns = key_columns(&ROWS);
        columns[0].1 = utf8(vec!["2024".into(); 4]);
        let err = read_all(columns).unwrap_err();
        assert!(matches!(err, Error::ColumnType { column: "year", .. }), "{err:?}");
        assert!(err.to_string().contains("int32 or int64"));
    }

    #[test]
    fn off_grid_row_is_a_bad_row_naming_the_row_and_value() {
        let rows = [(2024, 85, 4995), (2024, 95, 4995), (2024, 80, 4995)];
        let err = read_all(key_columns(&rows)).unwrap_err();
        assert!(matches!(err, Error::BadRow { row: 2, .. }), "{err:?}");
        assert!(err.to_string().contains("lon_i = 80"), "{err}");
    }

    #[test]
    fn year_outside_the_range_says_to_widen_years() {
        let err = read_all(key_columns(&[(2024, 85, 4995), (2026, 85, 4995)])).unwrap_err();
        assert!(matches!(err, Error::BadRow { row: 1, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("year 2026") && message.contains("widen `years` in tessera.toml"), "{message}");
    }

    #[test]
    fn malformed_hash_is_a_bad_row_only_when_hashes_are_read() {
        let mut columns = upstream(large);
        columns[3].1 = large(vec![hex(0), hex(1), "not a hash".into(), hex(3)]);
        let err = read_all(columns.clone()).unwrap_err();
        assert!(matches!(err, Error::BadRow { row: 2, .. }) && err.to_string().contains("not a hash"), "{err:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.parquet");
        write(&path, columns);
        assert!(read_registry(&path, DEFAULT_YEARS, ReadOptions { hashes: false }).is_ok());
    }

    #[test]
    fn duplicates_are_reported_and_the_first_row_is_kept() {
        let rows = [(2024, 85, 4995), (2017, -5, -5), (2024, 85, 4995), (2017, -5, -5), (2024, 85, 4995)];
        let mut columns = key_columns(&rows);
        columns.push(("file_size", ints64([1, 2, 3, 4, 5])));
        let (tiles, report) = read_all(columns).unwrap();
        assert_eq!(tiles.ids, [id(2017, -5, -5), id(2024, 85, 4995)]);
        assert_eq!(tiles.file_size, Some(vec![2, 1]));
        assert_eq!((report.rows, report.duplicates), (5, 3));
        let tile = |year, name| Tile::new(year, Cell::parse_name(name).unwrap());
        let examples = [
            (tile(2017, "grid_-0.05_-0.05"), 3),
            (tile(2024, "grid_0.85_49.95"), 2),
            (tile(2024, "grid_0.85_49.95"), 4),
        ];
        assert_eq!(report.duplicate_examples, examples);
        let warning = report.warnings().pop().unwrap();
        assert!(warning.contains("3 duplicate") && warning.contains("2024/grid_0.85_49.95 (row 2)"), "{warning}");
    }

    #[test]
    fn null_key_is_a_bad_row_naming_the_row() {
        let mut columns = key_columns(&ROWS);
        columns[1].1 = Arc::new(Int32Array::from(vec![Some(85), Some(-5), None, Some(85)]));
        let err = read_all(columns).unwrap_err();
        assert!(matches!(err, Error::BadRow { row: 2, .. }) && err.to_string().contains("`lon_i` is null"), "{err:?}");
    }

    #[test]
    fn sha256_parsing_accepts_both_cases_and_nothing_else() {
        assert_eq!(parse_sha256(&"aB".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_sha256(&"a".repeat(63)), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
    }
}
