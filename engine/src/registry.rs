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
//! the columns a caller asks for are read, so reading ids alone touches three integer columns.
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
//! use tessera_engine::registry::{read_registry, ReadOptions};
//!
//! let (tiles, report) = read_registry(Path::new("registry.parquet"), DEFAULT_YEARS, ReadOptions::IDS)?;
//! for line in report.warnings() {
//!     eprintln!("warning: {line}");
//! }
//! println!("{} tiles", tiles.len());
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

/// Which optional columns to decode besides the tile ids. The default reads ids only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read `file_size` (or `grid_size`) and `scales_size`.
    pub sizes: bool,
    /// Read and parse `hash` and `scales_hash` (the slowest columns: 128 hex digits a row).
    pub hashes: bool,
    /// Read `mtime` (or `grid_mtime`).
    pub mtime: bool,
}

impl ReadOptions {
    /// Tile ids only: the fast path for building bitmap indexes.
    pub const IDS: ReadOptions = ReadOptions { sizes: false, hashes: false, mtime: false };
    /// Every column the registry can have.
    pub const ALL: ReadOptions = ReadOptions { sizes: true, hashes: true, mtime: true };
}

/// The tiles of a registry, sorted by id and unique. Every `Some` vector is parallel to `ids`.
///
/// A field is `None` when it was not asked for in [`ReadOptions`] or the file has no such
/// column (then [`ReadReport::missing_optional`] names it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryTiles {
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

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What a reader noticed without failing: absent optional columns and duplicate tiles.
/// Shared by the registry and [store manifest](crate::manifest) readers.
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

/// Reads the tiles of the registry at `path` whose years must lie in `years`, decoding only the
/// columns `options` asks for. See the [module docs](self) for what is accepted and reported.
pub fn read_registry(path: &Path, years: YearRange, options: ReadOptions) -> Result<(RegistryTiles, ReadReport)> {
    let file = ParquetFile::open(path)?;
    let keys = KeyColumns::find(&file)?;
    let wanted = Wanted::find(&file, options)?;
    let mut report = ReadReport::new(&file, &OPTIONAL);
    let mut columns: Vec<&Column> = keys.columns().to_vec();
    columns.extend(wanted.columns());
    let mut raw = Raw::default();
    file.read(&columns, |batch, first_row| {
        keys.append_ids(&report.path, years, batch, first_row, &mut raw.ids)?;
        raw.append(&report.path, &wanted, batch, first_row)
    })?;
    let order = Order::sort_unique(&mut raw.ids, years);
    report.note_duplicates(&order);
    Ok((raw.into_tiles(&wanted, &order), report))
}

/// The ids of the registry at `path`, sorted and unique: [`read_registry`] with
/// [`ReadOptions::IDS`].
pub fn read_registry_ids(path: &Path, years: YearRange) -> Result<(Vec<TileId>, ReadReport)> {
    let (tiles, report) = read_registry(path, years, ReadOptions::IDS)?;
    Ok((tiles.ids, report))
}

/// The optional columns to decode: asked for and present.
#[derive(Debug, Default)]
struct Wanted {
    file_size: Option<Column>,
    scales_size: Option<Column>,
    hash: Option<Column>,
    scales_hash: Option<Column>,
    mtime: Option<Column>,
}

impl Wanted {
    fn find(file: &ParquetFile, options: ReadOptions) -> Result<Wanted> {
        let find = |wanted: bool, names: &[&'static str], kind| if wanted { file.find(names, kind) } else { Ok(None) };
        let [sizes, scales, hash, scales_hash, mtime] = OPTIONAL;
        Ok(Wanted {
            file_size: find(options.sizes, sizes, Kind::Int)?,
            scales_size: find(options.sizes, scales, Kind::Int)?,
            hash: find(options.hashes, hash, Kind::Text)?,
            scales_hash: find(options.hashes, scales_hash, Kind::Text)?,
            mtime: find(options.mtime, mtime, Kind::Timestamp)?,
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
    fn append(&mut self, path: &Path, wanted: &Wanted, batch: &RecordBatch, first_row: usize) -> Result<()> {
        if let Some(column) = &wanted.file_size {
            append_sizes(path, column, batch, first_row, &mut self.file_size)?;
        }
        if let Some(column) = &wanted.scales_size {
            append_sizes(path, column, batch, first_row, &mut self.scales_size)?;
        }
        if let Some(column) = &wanted.hash {
            append_hashes(path, column, batch, first_row, &mut self.hash)?;
        }
        if let Some(column) = &wanted.scales_hash {
            append_hashes(path, column, batch, first_row, &mut self.scales_hash)?;
        }
        if let Some(column) = &wanted.mtime {
            parquet_io::for_each_timestamp_ns(path, column, batch, first_row, |row, value| {
                self.mtime.push(value.ok_or_else(|| parquet_io::null_error(path, column, row))?);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn into_tiles(self, wanted: &Wanted, order: &Order) -> RegistryTiles {
        RegistryTiles {
            ids: self.ids,
            file_size: wanted.file_size.as_ref().map(|_| order.apply(self.file_size)),
            scales_size: wanted.scales_size.as_ref().map(|_| order.apply(self.scales_size)),
            hash: wanted.hash.as_ref().map(|_| order.apply(self.hash)),
            scales_hash: wanted.scales_hash.as_ref().map(|_| order.apply(self.scales_hash)),
            mtime_ns: wanted.mtime.as_ref().map(|_| order.apply(self.mtime)),
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
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (out, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(hash)
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}
