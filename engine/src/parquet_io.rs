//! Column access shared by the [`registry`](crate::registry) and [`manifest`](crate::store::manifest)
//! readers: open a parquet file, find columns by name (with aliases), check their Arrow types,
//! read only the columns asked for, turn `(year, lon, lat)` rows into [`TileId`]s, and put the
//! rows in id order with duplicates dropped and reported.
//!
//! Types are checked against the file's Arrow schema before any data is read, so a wrong type
//! fails fast with [`Error::ColumnType`]; the per-batch accessors check again (cheaply) rather
//! than trusting that invariant with a panic.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::grid::{Cell, Tile, TileId, YearRange};

/// Rows per decoded batch: large enough that per-batch overhead vanishes on 3.8M rows, small
/// enough that a batch of the widest projection (two hash strings) stays a few MB.
const BATCH_ROWS: usize = 64 * 1024;

/// At most this many duplicate rows are kept as examples in a report.
pub(crate) const DUPLICATE_EXAMPLES: usize = 10;

/// The kinds of column the readers understand, each accepting a few Arrow types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Int32 or Int64.
    Int,
    /// Float64 or Float32.
    Float,
    /// Utf8, LargeUtf8 or Utf8View: pandas 3 writes `large_string`, older writers `string`.
    Text,
    /// A timestamp of any unit and time zone, read as nanoseconds since the Unix epoch.
    Timestamp,
}

impl Kind {
    fn accepts(self, data_type: &DataType) -> bool {
        match self {
            Kind::Int => matches!(data_type, DataType::Int32 | DataType::Int64),
            Kind::Float => matches!(data_type, DataType::Float64 | DataType::Float32),
            Kind::Text => matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
            Kind::Timestamp => matches!(data_type, DataType::Timestamp(..)),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Int => "int32 or int64",
            Kind::Float => "float64",
            Kind::Text => "a string (utf8, large_utf8 or utf8_view)",
            Kind::Timestamp => "a timestamp",
        }
    }
}

/// A top-level column found in a file, under the first of its accepted names that is present.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The name the file uses (one of the aliases asked for).
    pub name: &'static str,
    index: usize,
    kind: Kind,
}

/// An open parquet file whose schema is known and whose data is not read yet.
pub(crate) struct ParquetFile {
    path: PathBuf,
    builder: ParquetRecordBatchReaderBuilder<File>,
}

impl ParquetFile {
    /// Opens `path` and reads its footer (schema and row groups), not its data.
    pub(crate) fn open(path: &Path) -> Result<ParquetFile> {
        let file = File::open(path).map_err(Error::io("opening", path))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|err| parquet_error(path, err.to_string()))?;
        Ok(ParquetFile { path: path.to_owned(), builder })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in the file, from its footer.
    pub(crate) fn rows(&self) -> usize {
        usize::try_from(self.builder.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// The footer's key-value metadata (empty when it has none).
    pub(crate) fn key_values(&self) -> &[parquet::file::metadata::KeyValue] {
        self.builder.metadata().file_metadata().key_value_metadata().map_or(&[], Vec::as_slice)
    }

    /// Whether any of `names` is a top-level column, whatever its type.
    pub(crate) fn has(&self, names: &[&'static str]) -> bool {
        self.position(names).is_some()
    }

    /// The first of `names` present in the file, checked to be of `kind`; `None` when absent.
    pub(crate) fn find(&self, names: &[&'static str], kind: Kind) -> Result<Option<Column>> {
        let Some((name, index)) = self.position(names) else {
            return Ok(None);
        };
        let found = self.builder.schema().field(index).data_type();
        if !kind.accepts(found) {
            return Err(Error::ColumnType {
                path: self.path.clone(),
                column: name,
                found: found.to_string(),
                expected: kind.expected(),
            });
        }
        Ok(Some(Column { name, index, kind }))
    }

    /// Like [`ParquetFile::find`] for a single required column; `hint` completes the error.
    pub(crate) fn require(&self, name: &'static str, kind: Kind, hint: &'static str) -> Result<Column> {
        self.find(&[name], kind)?.ok_or_else(|| self.missing(name, hint))
    }

    /// The error for a required column that is absent.
    pub(crate) fn missing(&self, column: &'static str, hint: &'static str) -> Error {
        Error::MissingColumn { path: self.path.clone(), column, hint }
    }

    /// Whether the footer's statistics prove every non-null value of the integer `column` is
    /// above zero, reading no data. `false` when any row group lacks a minimum or has one of
    /// zero or less: then only reading the column can tell.
    pub(crate) fn int_min_is_positive(&self, column: &Column) -> bool {
        use parquet::file::statistics::Statistics;
        self.builder.metadata().row_groups().iter().all(|group| {
            let chunk = group.columns().iter().find(|chunk| chunk.column_descr().name() == column.name);
            match chunk.and_then(|chunk| chunk.statistics()) {
                Some(Statistics::Int64(stats)) => stats.min_opt().is_some_and(|min| *min > 0),
                Some(Statistics::Int32(stats)) => stats.min_opt().is_some_and(|min| *min > 0),
                // A row group of nulls only has no minimum and holds no zero.
                Some(stats) => stats.null_count_opt() == Some(group.num_rows() as u64),
                None => false,
            }
        })
    }

    fn position(&self, names: &[&'static str]) -> Option<(&'static str, usize)> {
        let schema = self.builder.schema();
        names.iter().find_map(|&name| schema.index_of(name).ok().map(|index| (name, index)))
    }

    /// Decodes only `columns` and calls `each` with every batch and the number of its first row.
    pub(crate) fn read(
        self,
        columns: &[&Column],
        mut each: impl FnMut(&RecordBatch, usize) -> Result<()>,
    ) -> Result<()> {
        let path = self.path;
        let mask = ProjectionMask::roots(self.builder.parquet_schema(), columns.iter().map(|c| c.index));
        let reader = self
            .builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|err| parquet_error(&path, err.to_string()))?;
        let mut first_row = 0;
        for batch in reader {
            let batch = batch.map_err(|err| parquet_error(&path, err.to_string()))?;
            each(&batch, first_row)?;
            first_row += batch.num_rows();
        }
        Ok(())
    }
}

fn parquet_error(path: &Path, message: String) -> Error {
    Error::Parquet { path: path.to_owned(), message }
}

/// The array of `column` in a batch read with it in the projection.
fn array<'b>(path: &Path, column: &Column, batch: &'b RecordBatch) -> Result<&'b ArrayRef> {
    batch
        .column_by_name(column.name)
        .ok_or_else(|| parquet_error(path, format!("column `{}` vanished from a decoded batch", column.name)))
}

fn type_error(path: &Path, column: &Column, array: &ArrayRef) -> Error {
    Error::ColumnType {
        path: path.to_owned(),
        column: column.name,
        found: array.data_type().to_string(),
        expected: column.kind.expected(),
    }
}

/// Calls `each(row, value)` for every value of an integer column; `None` is a null.
pub(crate) fn for_each_int(
    path: &Path,
    column: &Column,
    batch: &RecordBatch,
    first_row: usize,
    mut each: impl FnMut(usize, Option<i64>) -> Result<()>,
) -> Result<()> {
    let array = array(path, column, batch)?;
    if let Some(ints) = array.as_primitive_opt::<Int64Type>() {
        for (i, value) in ints.iter().enumerate() {
            each(first_row + i, value)?;
        }
    } else if let Some(ints) = array.as_primitive_opt::<Int32Type>() {
        for (i, value) in ints.iter().enumerate() {
            each(first_row + i, value.map(i64::from))?;
        }
    } else {
        return Err(type_error(path, column, array));
    }
    Ok(())
}

/// Calls `each(row, value)` for every value of a string column of any of the three Arrow
/// string types; `None` is a null.
pub(crate) fn for_each_text(
    path: &Path,
    column: &Column,
    batch: &RecordBatch,
    first_row: usize,
    each: impl FnMut(usize, Option<&str>) -> Result<()>,
) -> Result<()> {
    let array = array(path, column, batch)?;
    match array.data_type() {
        DataType::Utf8 => visit(array.as_string::<i32>().iter(), first_row, each),
        DataType::LargeUtf8 => visit(array.as_string::<i64>().iter(), first_row, each),
        DataType::Utf8View => visit(array.as_string_view().iter(), first_row, each),
        _ => Err(type_error(path, column, array)),
    }
}

/// Monomorphic per string type, so the per-row call inlines (two hashes a row on 3.8M rows).
fn visit<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    first_row: usize,
    mut each: impl FnMut(usize, Option<&str>) -> Result<()>,
) -> Result<()> {
    for (i, value) in values.enumerate() {
        each(first_row + i, value)?;
    }
    Ok(())
}

/// Calls `each(row, nanoseconds)` for every value of a timestamp column of any unit.
pub(crate) fn for_each_timestamp_ns(
    path: &Path,
    column: &Column,
    batch: &RecordBatch,
    first_row: usize,
    each: impl FnMut(usize, Option<i64>) -> Result<()>,
) -> Result<()> {
    let array = array(path, column, batch)?;
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(array, 1_000_000_000, first_row, each)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(array, 1_000_000, first_row, each)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(array, 1_000, first_row, each)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => scaled::<TimestampNanosecondType>(array, 1, first_row, each),
        _ => Err(type_error(path, column, array)),
    }
}

fn scaled<T: ArrowPrimitiveType<Native = i64>>(
    array: &ArrayRef,
    scale: i64,
    first_row: usize,
    mut each: impl FnMut(usize, Option<i64>) -> Result<()>,
) -> Result<()> {
    let values = array.as_primitive::<T>();
    values.iter().enumerate().try_for_each(|(i, v)| each(first_row + i, v.map(|v| v.saturating_mul(scale))))
}

/// A size column value: non-negative, or an error naming the row. `None` stays `None`.
pub(crate) fn size_value(path: &Path, column: &Column, row: usize, value: Option<i64>) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(v) => u64::try_from(v).map(Some).map_err(|_| Error::BadRow {
            path: path.to_owned(),
            row,
            message: format!("`{}` is {v}; a size cannot be negative", column.name),
        }),
    }
}

/// The error for a null in a column that must not have nulls.
pub(crate) fn null_error(path: &Path, column: &Column, row: usize) -> Error {
    Error::BadRow { path: path.to_owned(), row, message: format!("`{}` is null", column.name) }
}

/// Where a file says which cell a row is in.
#[derive(Debug, Clone)]
enum Coords {
    /// `lon_i`, `lat_i`: integer hundredths of a degree (preferred: exact).
    Centi { lon: Column, lat: Column },
    /// `lon`, `lat`: float degrees, rounded to hundredths like upstream's `round(x * 100)`.
    Degrees { lon: Column, lat: Column },
}

/// The columns that locate a tile: `year` and the cell's coordinates.
#[derive(Debug, Clone)]
pub(crate) struct KeyColumns {
    year: Column,
    coords: Coords,
}

const YEAR_HINT: &str = ": every row needs the tile's year (int64 or int32)";
const COORD_HINT: &str =
    ": tiles are located by `lon_i`/`lat_i` (int32 hundredths of a degree) or `lon`/`lat` (float64 degrees)";

impl KeyColumns {
    /// Finds `year` and either `lon_i`/`lat_i` (preferred) or `lon`/`lat`.
    pub(crate) fn find(file: &ParquetFile) -> Result<KeyColumns> {
        let year = file.require("year", Kind::Int, YEAR_HINT)?;
        let coords = if file.has(&["lon_i"]) && file.has(&["lat_i"]) {
            let lon = file.require("lon_i", Kind::Int, COORD_HINT)?;
            Coords::Centi { lon, lat: file.require("lat_i", Kind::Int, COORD_HINT)? }
        } else if file.has(&["lon"]) && file.has(&["lat"]) {
            let lon = file.require("lon", Kind::Float, COORD_HINT)?;
            Coords::Degrees { lon, lat: file.require("lat", Kind::Float, COORD_HINT)? }
        } else {
            return Err(file.missing(missing_coordinate(file), COORD_HINT));
        };
        Ok(KeyColumns { year, coords })
    }

    /// The three columns to decode.
    pub(crate) fn columns(&self) -> [&Column; 3] {
        match &self.coords {
            Coords::Centi { lon, lat } | Coords::Degrees { lon, lat } => [&self.year, lon, lat],
        }
    }

    /// Appends the id of every row of `batch` to `ids`.
    ///
    /// Hot path (3.8M rows whenever an index is rebuilt): typed slices, nulls rejected once per
    /// batch, the year's first id cached across rows (files are sorted by year), no allocation
    /// per row; errors are built only for a bad row.
    pub(crate) fn append_ids(
        &self,
        path: &Path,
        years: YearRange,
        batch: &RecordBatch,
        first_row: usize,
        ids: &mut Vec<TileId>,
    ) -> Result<()> {
        let year = int_slice(path, &self.year, batch, first_row)?;
        let rows = RowContext { path, years, first_row };
        ids.reserve(batch.num_rows());
        match &self.coords {
            Coords::Centi { lon, lat } => {
                let (mut lon_scratch, mut lat_scratch) = (Vec::new(), Vec::new());
                let lon = int_slice(path, lon, batch, first_row)?.as_i32(&mut lon_scratch);
                let lat = int_slice(path, lat, batch, first_row)?.as_i32(&mut lat_scratch);
                let cell = |i: usize| {
                    let (lon_i, lat_i) = (lon[i], lat[i]);
                    Cell::from_centi(lon_i, lat_i).map_err(|err| {
                        off_grid(path, first_row + i, format_args!("lon_i = {lon_i}, lat_i = {lat_i}"), err)
                    })
                };
                year.push_ids(&rows, cell, ids)
            }
            Coords::Degrees { lon, lat } => {
                let (mut lon_scratch, mut lat_scratch) = (Vec::new(), Vec::new());
                let lon = float_slice(path, lon, batch, first_row)?.as_f64(&mut lon_scratch);
                let lat = float_slice(path, lat, batch, first_row)?.as_f64(&mut lat_scratch);
                let cell = |i: usize| {
                    let (x, y) = (lon[i], lat[i]);
                    Cell::from_degrees(x, y)
                        .map_err(|err| off_grid(path, first_row + i, format_args!("lon = {x}, lat = {y}"), err))
                };
                year.push_ids(&rows, cell, ids)
            }
        }
    }
}

/// Names the coordinate column to ask for: the missing half of a pair that is half present,
/// else `lon_i`.
fn missing_coordinate(file: &ParquetFile) -> &'static str {
    match (file.has(&["lon_i"]), file.has(&["lat_i"]), file.has(&["lon"]), file.has(&["lat"])) {
        (true, false, ..) => "lat_i",
        (false, true, ..) => "lon_i",
        (_, _, true, false) => "lat",
        (_, _, false, true) => "lon",
        _ => "lon_i",
    }
}

fn off_grid(path: &Path, row: usize, what: std::fmt::Arguments<'_>, err: Error) -> Error {
    let reason = match err {
        Error::OffGrid { reason, .. } => reason,
        _ => "not a tile centre",
    };
    Error::BadRow { path: path.to_owned(), row, message: format!("{what} is not on the tile grid: {reason}") }
}

/// Where a batch's rows are, for errors and ids.
struct RowContext<'a> {
    path: &'a Path,
    years: YearRange,
    first_row: usize,
}

impl RowContext<'_> {
    /// The first id of `year`, or an error telling the user to widen the configured years.
    fn year_base(&self, i: usize, year: i64) -> Result<u32> {
        let range = u16::try_from(year).ok().and_then(|year| self.years.year_ids(year).ok());
        range.map(|range| range.lo).ok_or_else(|| Error::BadRow {
            path: self.path.to_owned(),
            row: self.first_row + i,
            message: format!(
                "year {year} is outside this inventory's years {}; widen `years` in tessera.toml to load it",
                self.years
            ),
        })
    }
}

/// The integer types a key column may hold.
trait Int: Copy + PartialEq {
    fn wide(self) -> i64;
}

impl Int for i32 {
    fn wide(self) -> i64 {
        i64::from(self)
    }
}

impl Int for i64 {
    fn wide(self) -> i64 {
        self
    }
}

/// An integer column's values in one batch, known to hold no nulls.
enum IntSlice<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

fn int_slice<'a>(path: &Path, column: &Column, batch: &'a RecordBatch, first_row: usize) -> Result<IntSlice<'a>> {
    let array = array(path, column, batch)?;
    reject_nulls(path, column, array.as_ref(), first_row)?;
    if let Some(ints) = array.as_primitive_opt::<Int64Type>() {
        Ok(IntSlice::I64(ints.values()))
    } else if let Some(ints) = array.as_primitive_opt::<Int32Type>() {
        Ok(IntSlice::I32(ints.values()))
    } else {
        Err(type_error(path, column, array))
    }
}

impl<'a> IntSlice<'a> {
    /// The values as `i32` coordinates, copied into `scratch` only when stored as int64; a
    /// value beyond `i32` becomes `i32::MAX`, which the grid rejects with the row.
    fn as_i32<'s>(&self, scratch: &'s mut Vec<i32>) -> &'s [i32]
    where
        'a: 's,
    {
        match *self {
            IntSlice::I32(values) => values,
            IntSlice::I64(values) => {
                scratch.extend(values.iter().map(|&v| i32::try_from(v).unwrap_or(i32::MAX)));
                scratch
            }
        }
    }

    /// Pushes one id per row: the row's year (this slice) and `cell(i)`.
    fn push_ids(
        &self,
        rows: &RowContext<'_>,
        cell: impl Fn(usize) -> Result<Cell>,
        ids: &mut Vec<TileId>,
    ) -> Result<()> {
        match *self {
            IntSlice::I32(years) => push_ids(rows, years, cell, ids),
            IntSlice::I64(years) => push_ids(rows, years, cell, ids),
        }
    }
}

fn push_ids<Y: Int>(
    rows: &RowContext<'_>,
    years: &[Y],
    cell: impl Fn(usize) -> Result<Cell>,
    ids: &mut Vec<TileId>,
) -> Result<()> {
    let mut cached: Option<(Y, u32)> = None;
    for (i, &year) in years.iter().enumerate() {
        let base = match cached {
            Some((cached_year, base)) if cached_year == year => base,
            _ => {
                let base = rows.year_base(i, year.wide())?;
                cached = Some((year, base));
                base
            }
        };
        ids.push(TileId(base + cell(i)?.index()));
    }
    Ok(())
}

/// A float column's values in one batch, known to hold no nulls.
enum FloatSlice<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

fn float_slice<'a>(path: &Path, column: &Column, batch: &'a RecordBatch, first_row: usize) -> Result<FloatSlice<'a>> {
    let array = array(path, column, batch)?;
    reject_nulls(path, column, array.as_ref(), first_row)?;
    if let Some(floats) = array.as_primitive_opt::<Float64Type>() {
        Ok(FloatSlice::F64(floats.values()))
    } else if let Some(floats) = array.as_primitive_opt::<Float32Type>() {
        Ok(FloatSlice::F32(floats.values()))
    } else {
        Err(type_error(path, column, array))
    }
}

impl<'a> FloatSlice<'a> {
    /// The values as `f64`, copied into `scratch` only when stored as float32.
    fn as_f64<'s>(&self, scratch: &'s mut Vec<f64>) -> &'s [f64]
    where
        'a: 's,
    {
        match *self {
            FloatSlice::F64(values) => values,
            FloatSlice::F32(values) => {
                scratch.extend(values.iter().map(|&v| f64::from(v)));
                scratch
            }
        }
    }
}

/// A key column must not hold nulls: the error names the first null's row.
fn reject_nulls(path: &Path, column: &Column, array: &dyn Array, first_row: usize) -> Result<()> {
    if array.null_count() == 0 {
        return Ok(());
    }
    let i = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
    Err(null_error(path, column, first_row + i))
}

/// How the rows of a file map to output rows sorted by id with duplicates dropped.
#[derive(Debug)]
pub(crate) struct Order {
    /// The file row of each output row, or `None` when the file was already sorted and unique.
    rows: Option<Vec<usize>>,
    /// Rows dropped because an earlier row had the same tile.
    pub duplicates: usize,
    /// The first few dropped rows: their tile and row number.
    pub examples: Vec<(Tile, usize)>,
}

impl Order {
    /// Sorts `ids` (one per file row) and drops repeated ids, keeping the first occurrence in
    /// file order. Costs one comparison per row when the file is already in id order.
    pub(crate) fn sort_unique(ids: &mut Vec<TileId>, years: YearRange) -> Order {
        if ids.windows(2).all(|pair| pair[0] < pair[1]) {
            return Order { rows: None, duplicates: 0, examples: Vec::new() };
        }
        let mut pairs: Vec<(TileId, usize)> = ids.iter().copied().zip(0..).collect();
        // (id, row) pairs are unique, so an unstable sort is deterministic, and within one id
        // the smallest row, the first occurrence, comes first and is the one kept.
        pairs.sort_unstable();
        let mut order = Order { rows: None, duplicates: 0, examples: Vec::new() };
        let mut rows = Vec::with_capacity(pairs.len());
        ids.clear();
        for (id, row) in pairs {
            if ids.last() == Some(&id) {
                order.note_duplicate(years, id, row);
            } else {
                ids.push(id);
                rows.push(row);
            }
        }
        order.rows = Some(rows);
        order
    }

    fn note_duplicate(&mut self, years: YearRange, id: TileId, row: usize) {
        self.duplicates += 1;
        if self.examples.len() < DUPLICATE_EXAMPLES {
            // Every id here is a year of `years` plus a cell index, so it maps back to a tile.
            let tile = years.tile(id).expect("ids built from this year range map back to tiles");
            self.examples.push((tile, row));
        }
    }

    /// Puts per-row `values` (in file order) into output order.
    pub(crate) fn apply<T: Copy>(&self, values: Vec<T>) -> Vec<T> {
        match &self.rows {
            None => values,
            Some(rows) => rows.iter().map(|&row| values[row]).collect(),
        }
    }
}

/// Writing small parquet files with arbitrary columns, for the readers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::fs::File;
    use std::path::Path;

    use arrow_array::{ArrayRef, RecordBatch};
    use parquet::arrow::ArrowWriter;

    /// Writes `columns` (all nullable) as one row group, keeping their Arrow types in the file.
    pub(crate) fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
}
