//! Store manifests, `stores/{name}.parquet`: which tiles a store holds, with the sizes seen.
//!
//! Format (parquet, zstd, one row per tile, rows sorted by tile id and unique):
//!
//! | column | parquet / Arrow type | meaning |
//! |---|---|---|
//! | `year` | INT64, required | the tile's year |
//! | `lon_i` | INT32, required | centre longitude in hundredths of a degree, `round(lon * 100)` |
//! | `lat_i` | INT32, required | centre latitude in hundredths of a degree |
//! | `file_size` | INT64, nullable | bytes of the embedding `.npy`; null = not known |
//! | `scales_size` | INT64, nullable | bytes of the `_scales.npy`; null = not known |
//!
//! Id order is `year, lat_i, lon_i` (recorded as the row groups' sorting columns), and
//! `year, lon_i, lat_i` join with the upstream registry in DuckDB or polars:
//!
//! ```sql
//! SELECT r.* FROM 'registry.parquet' r
//! ANTI JOIN 'stores/s3.parquet' s USING (year, lon_i, lat_i);
//! ```
//!
//! A size is null when the listing that produced the manifest did not show it (a bare `find`).
//! Files are replaced atomically (a temporary file, synced, renamed over it): a reader sees the old
//! manifest or the new one, never a torn file. Reading is tolerant like the
//! [registry](crate::registry) reader: `lon`/`lat` floats instead of `lon_i`/`lat_i`, `grid_size`
//! for `file_size`, int32 years, any row order; duplicates are dropped and reported.

use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::grid::{CELL_CENTI, CELLS_PER_YEAR, COLS, TileId, YearRange};
use crate::listing::ScannedTile;
use crate::parquet_io::{self, Column, KeyColumns, Kind, Order, ParquetFile};
use crate::registry::ReadReport;

/// The optional manifest columns, each with the names it may have, in order of preference.
const OPTIONAL: [&[&str]; 2] = [&["file_size", "grid_size"], &["scales_size"]];

/// Rows per written record batch: bounds the writer's memory on a 3.8M-tile store, and
/// batches this small reuse the allocator's memory instead of faulting in fresh pages.
const WRITE_BATCH_ROWS: usize = 128 * 1024;

/// One tile a store holds, with the sizes seen (`None` = not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManifestRow {
    /// The tile's dense id.
    pub id: TileId,
    /// Bytes of the embedding `.npy`.
    pub file_size: Option<u64>,
    /// Bytes of the `_scales.npy`.
    pub scales_size: Option<u64>,
}

/// What a manifest row is written from: a tile and the sizes seen (`None`: not known). Both a
/// [`ManifestRow`] and a listing's [`ScannedTile`] are, so a scan writes its tiles as they are,
/// without copying 3.8M of them into rows first.
pub trait SizedTile: Copy {
    /// The tile's dense id.
    fn id(&self) -> TileId;
    /// Bytes of the embedding `.npy`, or `None` when not known.
    fn file_size(&self) -> Option<u64>;
    /// Bytes of the `_scales.npy`, or `None` when not known.
    fn scales_size(&self) -> Option<u64>;

    /// The tile as a manifest row.
    fn to_row(&self) -> ManifestRow {
        ManifestRow { id: self.id(), file_size: self.file_size(), scales_size: self.scales_size() }
    }
}

impl SizedTile for ManifestRow {
    fn id(&self) -> TileId {
        self.id
    }

    fn file_size(&self) -> Option<u64> {
        self.file_size
    }

    fn scales_size(&self) -> Option<u64> {
        self.scales_size
    }
}

impl SizedTile for ScannedTile {
    fn id(&self) -> TileId {
        self.id
    }

    fn file_size(&self) -> Option<u64> {
        self.file_size.map(NonZeroU64::get)
    }

    fn scales_size(&self) -> Option<u64> {
        self.scales_size.map(NonZeroU64::get)
    }
}

/// What a manifest says of itself, in its parquet footer's key-value metadata: which bytes of
/// the store's journal it already includes, and when its tiles were last listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The generation of the journal whose first `journal_bytes` bytes this manifest includes
    /// (`tessera.journal = "GENERATION:BYTES"`). Frames past them, or of another generation,
    /// apply over the manifest; 0 and 0 (a manifest from before this field) include none.
    pub journal_generation: u64,
    /// Bytes from the start of that journal, its header included, that this manifest includes.
    pub journal_bytes: u64,
    /// When the listing behind it was taken, nanoseconds since the epoch (`tessera.listed_at`);
    /// `None` when no listing made it (a generated or ingested manifest).
    pub listed_at: Option<i64>,
    /// Records appended up to this time (nanoseconds) were folded in by compactions whose
    /// journals are gone (`tessera.forgotten_until`): a listing taken before it cannot tell
    /// which records came after it, and is refused.
    pub forgotten_until: Option<i64>,
}

const JOURNAL_KEY: &str = "tessera.journal";
const LISTED_AT_KEY: &str = "tessera.listed_at";
const FORGOTTEN_UNTIL_KEY: &str = "tessera.forgotten_until";

impl Provenance {
    fn key_values(&self) -> Vec<KeyValue> {
        let journal = format!("{}:{}", self.journal_generation, self.journal_bytes);
        let mut pairs = vec![KeyValue::new(JOURNAL_KEY.to_owned(), journal)];
        if let Some(at) = self.listed_at {
            pairs.push(KeyValue::new(LISTED_AT_KEY.to_owned(), at.to_string()));
        }
        if let Some(at) = self.forgotten_until {
            pairs.push(KeyValue::new(FORGOTTEN_UNTIL_KEY.to_owned(), at.to_string()));
        }
        pairs
    }

    fn from_key_values(pairs: &[KeyValue]) -> Provenance {
        let value = |key: &str| pairs.iter().find(|pair| pair.key == key).and_then(|pair| pair.value.as_deref());
        let journal = value(JOURNAL_KEY).and_then(|text| text.split_once(':'));
        let (journal_generation, journal_bytes) = journal
            .and_then(|(generation, bytes)| Some((generation.parse().ok()?, bytes.parse().ok()?)))
            .unwrap_or_default();
        let listed_at = value(LISTED_AT_KEY).and_then(|text| text.parse().ok());
        let forgotten_until = value(FORGOTTEN_UNTIL_KEY).and_then(|text| text.parse().ok());
        Provenance { journal_generation, journal_bytes, listed_at, forgotten_until }
    }
}

/// The provenance of the manifest at `path`, from its footer alone.
pub fn read_provenance(path: &Path) -> Result<Provenance> {
    let file = ParquetFile::open(path)?;
    Ok(Provenance::from_key_values(file.key_values()))
}

/// Replaces the manifest at `path` with `rows`, atomically and durably, with no provenance
/// (see [`write_manifest_with`]).
pub fn write_manifest(path: &Path, years: YearRange, rows: &[ManifestRow]) -> Result<()> {
    write_manifest_with(path, years, rows, &Provenance::default())
}

/// Replaces the manifest at `path` with `rows` and `provenance`, atomically and durably.
///
/// `rows` may come in any order (they are written sorted by id) but each tile must appear once:
/// a repeated id is [`Error::BadRow`] naming the tile and the index of its second occurrence in
/// `rows`, and nothing is written. An id past the last of `years` is [`Error::IdOutOfRange`].
pub fn write_manifest_with<R: SizedTile>(
    path: &Path,
    years: YearRange,
    rows: &[R],
    provenance: &Provenance,
) -> Result<()> {
    let sorted = sorted_rows(path, years, rows)?;
    let rows = sorted.as_deref().unwrap_or(rows);
    fsutil::replace_atomically(path, |out| {
        let parquet = |err: parquet::errors::ParquetError| parquet_error(path, err);
        let properties = writer_properties(provenance.key_values());
        let mut writer = ArrowWriter::try_new(out, schema(), Some(properties)).map_err(parquet)?;
        for chunk in rows.chunks(WRITE_BATCH_ROWS) {
            writer.write(&batch(path, years, chunk)?).map_err(parquet)?;
        }
        writer.close().map_err(parquet)?;
        Ok(())
    })
}

/// `None` when `rows` are already sorted and unique (the usual case, checked in one pass), else
/// a sorted copy; a duplicate is an error.
fn sorted_rows<R: SizedTile>(path: &Path, years: YearRange, rows: &[R]) -> Result<Option<Vec<R>>> {
    if rows.windows(2).all(|pair| pair[0].id() < pair[1].id()) {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].id()); // stable: of two equal ids the later index comes second
    if let Some(pair) = order.windows(2).find(|pair| rows[pair[0]].id() == rows[pair[1]].id()) {
        let tile = years.tile(rows[pair[1]].id())?;
        return Err(Error::BadRow {
            path: path.to_owned(),
            row: pair[1],
            message: format!(
                "tile {} is given twice (rows {} and {}); a manifest lists each tile once",
                tile.key(),
                pair[0],
                pair[1]
            ),
        });
    }
    Ok(Some(order.into_iter().map(|i| rows[i]).collect()))
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("year", DataType::Int64, false),
        Field::new("lon_i", DataType::Int32, false),
        Field::new("lat_i", DataType::Int32, false),
        Field::new("file_size", DataType::Int64, true),
        Field::new("scales_size", DataType::Int64, true),
    ]))
}

fn writer_properties(metadata: Vec<KeyValue>) -> WriterProperties {
    // Id order is year, lat_i, lon_i: columns 0, 2, 1.
    let sorting = [0, 2, 1].map(|column_idx| SortingColumn { column_idx, descending: false, nulls_first: false });
    WriterProperties::builder()
        .set_key_value_metadata(Some(metadata))
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_sorting_columns(Some(sorting.to_vec()))
        // Sizes are nearly unique per tile: a dictionary would only overflow and fall back.
        .set_column_dictionary_enabled(ColumnPath::from("file_size"), false)
        .set_column_dictionary_enabled(ColumnPath::from("scales_size"), false)
        .build()
}

/// One row group's columns. Written for speed (3.8M rows on a full scan): one pass, no
/// `Result` per row (ids and sizes are checked once), no null buffer when every size is known.
fn batch<R: SizedTile>(path: &Path, years: YearRange, rows: &[R]) -> Result<RecordBatch> {
    if let Some(past) = rows.iter().map(|row| row.id()).find(|id| u64::from(id.0) >= years.id_limit()) {
        return Err(Error::IdOutOfRange { id: past.0, years });
    }
    let largest = rows.iter().flat_map(|row| [row.file_size(), row.scales_size()]).flatten().max();
    if let Some(size) = largest.filter(|&size| i64::try_from(size).is_err()) {
        to_i64(path, size)?;
    }
    let (mut year, mut lon_i, mut lat_i) =
        (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
    for row in rows {
        let id = row.id().0;
        let (year_index, cell) = (id / CELLS_PER_YEAR, id % CELLS_PER_YEAR);
        year.push(i64::from(years.first()) + i64::from(year_index));
        lon_i.push((cell % COLS) as i32 * CELL_CENTI - 17_995);
        lat_i.push((cell / COLS) as i32 * CELL_CENTI - 8_995);
    }
    let sizes = |size: fn(&R) -> Option<u64>| -> ArrayRef {
        if rows.iter().all(|row| size(row).is_some()) {
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|row| size(row).unwrap_or_default() as i64)))
        } else {
            Arc::new(Int64Array::from_iter(rows.iter().map(|row| size(row).map(|s| s as i64))))
        }
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(year)),
        Arc::new(Int32Array::from(lon_i)),
        Arc::new(Int32Array::from(lat_i)),
        sizes(R::file_size),
        sizes(R::scales_size),
    ];
    RecordBatch::try_new(schema(), columns)
        .map_err(|err| Error::Parquet { path: path.to_owned(), message: err.to_string() })
}

fn to_i64(path: &Path, size: u64) -> Result<i64> {
    i64::try_from(size).map_err(|_| Error::Parquet {
        path: path.to_owned(),
        message: format!("size {size} does not fit the int64 column"),
    })
}

fn parquet_error(path: &Path, err: parquet::errors::ParquetError) -> Error {
    Error::Parquet { path: path.to_owned(), message: err.to_string() }
}

/// Reads the manifest at `path`: rows sorted by id, one per tile, whose years must lie in
/// `years`. Errors and the report are as for the [registry](crate::registry).
pub fn read_manifest(path: &Path, years: YearRange) -> Result<(Vec<ManifestRow>, ReadReport)> {
    let file = ParquetFile::open(path)?;
    let keys = KeyColumns::find(&file)?;
    let file_size = file.find(OPTIONAL[0], Kind::Int)?;
    let scales_size = file.find(OPTIONAL[1], Kind::Int)?;
    let mut report = ReadReport::new(&file, &OPTIONAL);
    let mut columns: Vec<&Column> = keys.columns().to_vec();
    columns.extend(file_size.iter().chain(scales_size.iter()));
    let (mut ids, mut files, mut scales) = (Vec::new(), Vec::new(), Vec::new());
    file.read(&columns, |batch, first_row| {
        keys.append_ids(&report.path, years, batch, first_row, &mut ids)?;
        append_sizes(&report.path, file_size.as_ref(), batch, first_row, &mut files)?;
        append_sizes(&report.path, scales_size.as_ref(), batch, first_row, &mut scales)
    })?;
    let order = Order::sort_unique(&mut ids, years);
    report.note_duplicates(&order);
    let (files, scales) = (order.apply(files), order.apply(scales));
    let rows = (ids.into_iter().zip(files).zip(scales))
        .map(|((id, file_size), scales_size)| ManifestRow { id, file_size, scales_size })
        .collect();
    Ok((rows, report))
}

/// Appends one size per row of `batch`: the column's value, or `None` for a null or when the
/// file has no such column.
fn append_sizes(
    path: &Path,
    column: Option<&Column>,
    batch: &RecordBatch,
    first_row: usize,
    out: &mut Vec<Option<u64>>,
) -> Result<()> {
    let Some(column) = column else {
        out.resize(out.len() + batch.num_rows(), None);
        return Ok(());
    };
    out.reserve(batch.num_rows());
    parquet_io::for_each_int(path, column, batch, first_row, |row, value| {
        out.push(parquet_io::size_value(path, column, row, value)?);
        Ok(())
    })
}

/// Whether no row of the parquet file at `path` (a manifest or a registry) can have a zero
/// `file_size` or `scales_size`, from the footer's statistics alone: `true` when every row
/// group's minimum of each size column present is positive. `false` means "read the sizes to
/// know", not that a zero exists.
pub fn sizes_known_positive(path: &Path) -> Result<bool> {
    let file = ParquetFile::open(path)?;
    for names in OPTIONAL {
        if let Some(column) = file.find(names, Kind::Int)?
            && !file.int_min_is_positive(&column)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The ids of the manifest at `path`, sorted and unique, decoding only `year` and the
/// coordinates: the fast path for building a store's bitmap index. The report is the same as
/// [`read_manifest`]'s.
pub fn read_manifest_ids(path: &Path, years: YearRange) -> Result<(Vec<TileId>, ReadReport)> {
    let file = ParquetFile::open(path)?;
    let keys = KeyColumns::find(&file)?;
    let mut report = ReadReport::new(&file, &OPTIONAL);
    let mut ids = Vec::with_capacity(report.rows);
    file.read(&keys.columns(), |batch, first_row| keys.append_ids(&report.path, years, batch, first_row, &mut ids))?;
    let order = Order::sort_unique(&mut ids, years);
    report.note_duplicates(&order);
    Ok((ids, report))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, Int64Array};

    use super::*;
    use crate::grid::{Cell, DEFAULT_YEARS, Tile};
    use crate::parquet_io::testing::write;

    fn id(year: u16, name: &str) -> TileId {
        DEFAULT_YEARS.id(Tile::new(year, Cell::parse_name(name).unwrap())).unwrap()
    }

    fn row(year: u16, name: &str, file_size: Option<u64>, scales_size: Option<u64>) -> ManifestRow {
        ManifestRow { id: id(year, name), file_size, scales_size }
    }

    fn sample() -> Vec<ManifestRow> {
        vec![
            row(2025, "grid_179.95_89.95", Some(300), Some(3)),
            row(2017, "grid_-0.05_-0.05", None, None),
            row(2024, "grid_0.85_49.95", Some(108_527_232), None),
            row(2024, "grid_-179.95_-89.95", None, Some(2)),
        ]
    }

    #[test]
    fn manifest_round_trips_sorted_with_nulls_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.parquet");
        write_manifest(&path, DEFAULT_YEARS, &sample()).unwrap();
        let (rows, report) = read_manifest(&path, DEFAULT_YEARS).unwrap();
        let mut expected = sample();
        expected.sort();
        assert_eq!(rows, expected);
        assert!(report.is_clean(), "{report}");
        assert_eq!(read_manifest_ids(&path, DEFAULT_YEARS).unwrap(), (expected.iter().map(|r| r.id).collect(), report));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["s3.parquet"]);
    }

    #[test]
    fn manifest_schema_is_the_documented_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.parquet");
        write_manifest(&path, DEFAULT_YEARS, &sample()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let fields: Vec<_> =
            builder.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
        let expected = [
            ("year", DataType::Int64),
            ("lon_i", DataType::Int32),
            ("lat_i", DataType::Int32),
            ("file_size", DataType::Int64),
            ("scales_size", DataType::Int64),
        ];
        assert_eq!(fields, expected.map(|(name, data_type)| (name.to_owned(), data_type)));
        let group = builder.metadata().row_group(0);
        assert_eq!(group.sorting_columns().map(|s| s.len()), Some(3));
        assert_eq!(group.column(0).compression(), Compression::ZSTD(ZstdLevel::default()));
    }

    #[test]
    fn empty_manifest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.parquet");
        write_manifest(&path, DEFAULT_YEARS, &[]).unwrap();
        assert_eq!(read_manifest(&path, DEFAULT_YEARS).unwrap().0, []);
    }

    #[test]
    fn writing_a_tile_twice_is_refused_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.parquet");
        write_manifest(&path, DEFAULT_YEARS, &sample()).unwrap();
        let mut rows = sample();
        rows.push(row(2024, "grid_0.85_49.95", Some(1), Some(1)));
        let err = write_manifest(&path, DEFAULT_YEARS, &rows).unwrap_err();
        assert!(matches!(err, Error::BadRow { row: 4, .. }), "{err:?}");
        assert!(err.to_string().contains("2024/grid_0.85_49.95 is given twice"), "{err}");
        assert_eq!(read_manifest(&path, DEFAULT_YEARS).unwrap().0.len(), 4);
    }

    #[test]
    fn duplicate_rows_in_a_manifest_are_reported_and_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.parquet");
        let years: ArrayRef = Arc::new(Int64Array::from(vec![2024, 2024, 2017, 2024]));
        let lon: ArrayRef = Arc::new(Int32Array::from(vec![85, 95, -5, 85]));
        let lat: ArrayRef = Arc::new(Int32Array::from(vec![4995, 4995, -5, 4995]));
        let sizes: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4)]));
        write(&path, vec![("year", years), ("lon_i", lon), ("lat_i", lat), ("file_size", sizes)]);
        let (rows, report) = read_manifest(&path, DEFAULT_YEARS).unwrap();
        let expected = [
            row(2017, "grid_-0.05_-0.05", Some(3), None),
            row(2024, "grid_0.85_49.95", Some(1), None),
            row(2024, "grid_0.95_49.95", None, None),
        ];
        assert_eq!(rows, expected);
        assert_eq!((report.duplicates, report.missing_optional.clone()), (1, vec!["scales_size"]));
        assert_eq!(report.duplicate_examples[0].1, 3);
        assert_eq!(read_manifest_ids(&path, DEFAULT_YEARS).unwrap(), (rows.iter().map(|r| r.id).collect(), report));
    }

    #[test]
    fn manifest_without_lat_i_names_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let years: ArrayRef = Arc::new(Int64Array::from(vec![2024]));
        let lon: ArrayRef = Arc::new(Int32Array::from(vec![85]));
        write(&path, vec![("year", years), ("lon_i", lon)]);
        let err = read_manifest_ids(&path, DEFAULT_YEARS).unwrap_err();
        assert!(matches!(err, Error::MissingColumn { column: "lat_i", .. }), "{err:?}");
        assert!(err.to_string().contains("bad.parquet"));
    }
}
