//! The engine's one error type. Every variant carries the offending value, path or line, so a
//! message can be printed as it is and tell the user what to fix.

use std::path::PathBuf;

use crate::grid::{Year, YearRange};

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A query (a CQL2 filter, its properties or values) that cannot be answered as written.
    #[error("{message}")]
    BadQuery {
        /// What is wrong, naming the offending term.
        message: String,
    },

    /// A query stopped by its caller (its time ran out, or its client left).
    #[error("the query was stopped before it finished")]
    Stopped,

    /// A tile name, coordinate or id that is not on the 0.1-degree grid.
    #[error("`{input}` is not on the tile grid: {reason}")]
    OffGrid {
        /// The text or coordinate given, as written (a tile name, item id, degrees or `row R, col C`).
        input: String,
        /// Which rule of the grid it breaks.
        reason: &'static str,
    },

    /// A year range that is empty or too long for `u32` ids.
    #[error("year range {first}..={last} is invalid: it must be non-empty and at most 662 years")]
    BadYearRange {
        /// The first year of the range asked for.
        first: Year,
        /// The last year of the range asked for.
        last: Year,
    },

    /// A registry with tiles of a year before the inventory's first: ids count from the first
    /// year, so that needs a new inventory.
    #[error(
        "{path} has tiles of {year}, before this inventory's first year {first}: ids count from the first year, so make a new inventory whose years start at {year} (`tessera init --years {year}..LAST`) and scan the stores into it"
    )]
    YearBeforeFirst {
        /// The registry file being imported.
        path: PathBuf,
        /// The earliest year of the registry's tiles.
        year: i64,
        /// The inventory's first year.
        first: Year,
    },

    /// A year outside the inventory's configured range.
    #[error("year {year} is outside this inventory's years {years}")]
    YearOutOfRange {
        /// The year asked for.
        year: Year,
        /// The inventory's years.
        years: YearRange,
    },

    /// A tile id past the inventory's last year.
    #[error("tile id {id} is past the last year of {years}")]
    IdOutOfRange {
        /// The tile id that is too large.
        id: u32,
        /// The inventory's years, which set the largest valid id.
        years: YearRange,
    },

    /// A bounding box whose values are out of range.
    #[error("bbox {bbox:?} is invalid: {reason}")]
    BadBbox {
        /// The box as given: west, south, east and north in degrees.
        bbox: [f64; 4],
        /// Which value is out of range, and its valid range.
        reason: &'static str,
    },

    /// A bounding box that is not four comma-separated numbers.
    #[error("bbox `{text}` is invalid: expected four numbers `west,south,east,north` in degrees")]
    BadBboxText {
        /// The text as given.
        text: String,
    },

    /// Bytes that are not a valid portable Roaring bitmap.
    #[error("corrupt Roaring bitmap at byte {offset}: {reason}")]
    CorruptBitmap {
        /// Where the damage starts, in bytes from the start of the bitmap.
        offset: usize,
        /// What is wrong with the bytes there.
        reason: &'static str,
    },

    /// An index or details file that cannot be used, and why: a caller that owns the source
    /// rebuilds it (stale, corrupt, missing), one that does not refuses it.
    #[error("index file {path} cannot be used: {problem}")]
    BadIndex {
        /// The index file, or `<memory>` for bytes not read from a file.
        path: PathBuf,
        /// Why it cannot be used.
        problem: IndexProblem,
    },

    /// An I/O failure on a file the engine was reading or writing.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done to the file, as a verb (`reading`, `creating`, `syncing`).
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The error the operating system returned.
        source: std::io::Error,
    },

    /// A parquet file that cannot be read or written.
    #[error("parquet file {path}: {message}")]
    Parquet {
        /// The parquet file.
        path: PathBuf,
        /// What went wrong, as the parquet reader or writer reported it.
        message: String,
    },

    /// A parquet file without a column the engine needs.
    #[error("parquet file {path} has no column `{column}`{hint}")]
    MissingColumn {
        /// The parquet file.
        path: PathBuf,
        /// The name of the column it lacks.
        column: &'static str,
        /// Text appended to the message, saying what data the engine needs and of which type.
        hint: &'static str,
    },

    /// A parquet column whose type the engine cannot read.
    #[error("parquet file {path}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The parquet file.
        path: PathBuf,
        /// The name of the column.
        column: &'static str,
        /// The column's type in the file.
        found: String,
        /// The types the engine reads for it.
        expected: &'static str,
    },

    /// A value in a parquet file that is out of range (row numbers start at 0).
    #[error("parquet file {path}, row {row}: {message}")]
    BadRow {
        /// The parquet file.
        path: PathBuf,
        /// The row number, counting from 0.
        row: usize,
        /// Which value is wrong, and why.
        message: String,
    },

    /// A record journal with a damaged frame before valid ones. The frames after it hold
    /// acknowledged records, so nothing is cut: the journal is left as it is.
    #[error(
        "journal {path} is damaged at byte {offset} and valid records follow it; nothing was changed (salvage every valid record with `tessera repair` on its store)"
    )]
    DamagedJournal {
        /// The journal file.
        path: PathBuf,
        /// Where the damaged frame starts, in bytes from the start of the file.
        offset: u64,
    },

    /// A listing older than records the store's journals no longer hold.
    #[error(
        "the listing of {store} was taken before records that compactions have since folded into its manifest (taken at {listed_at}, records folded until {forgotten_until}, nanoseconds since the epoch): it cannot tell which it lacks; list the store again"
    )]
    ListingTooOld {
        /// The name of the store.
        store: String,
        /// When the listing was taken, in nanoseconds since the epoch.
        listed_at: i64,
        /// The time up to which compactions folded records into the manifest, in nanoseconds since the epoch.
        forgotten_until: i64,
    },

    /// A listing whose scan started in a journal the store no longer holds: it cannot tell
    /// which of the records folded into the manifest since came after it.
    #[error(
        "the journal {store} had when its listing's scan started (generation {generation}) has since been folded into the manifest twice, or repaired: the listing cannot tell which records came after it; scan the store again"
    )]
    ScanOutlivedJournal {
        /// The name of the store.
        store: String,
        /// The generation of the journal the scan started in.
        generation: u64,
    },

    /// A `tessera.toml` that cannot be read or is inconsistent.
    #[error("config {path}: {message}")]
    Config {
        /// The config file (`tessera.toml`, or the inventory's `secret.key`).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A store name that the inventory does not declare.
    #[error("unknown store `{name}`; this inventory has: {known}")]
    UnknownStore {
        /// The store name asked for.
        name: String,
        /// The names of the inventory's stores, separated by commas.
        known: String,
    },

    /// A `storage` value that is neither a local path nor `s3://bucket/prefix`.
    #[error("storage `{storage}` is invalid: {reason}")]
    BadStorage {
        /// The `storage` value as given.
        storage: String,
        /// Why it is not accepted.
        reason: &'static str,
    },

    /// A copy tool asked to copy between storages it cannot reach.
    #[error("`{tool}` cannot copy from {from} to {to} ({why}); tools that can: {usable}")]
    CopyTool {
        /// The name of the copy tool asked for.
        tool: &'static str,
        /// The storage to copy from.
        from: String,
        /// The storage to copy to.
        to: String,
        /// Why the tool cannot copy between them.
        why: &'static str,
        /// The names of the tools that can, separated by commas (empty when none can).
        usable: String,
    },

    /// The registry was named as a source, and the inventory has none.
    #[error("{path} has no registry.parquet to compare with; import one with `tessera import`")]
    NoRegistry {
        /// The inventory's directory.
        path: PathBuf,
    },

    /// A directory that is not a tessera inventory.
    #[error("{path} is not a tessera inventory (no tessera.toml); create one with `tessera init`")]
    NotAnInventory {
        /// The directory given as the inventory.
        path: PathBuf,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}

/// Why an index file (`.tbm`) or the registry's details table cannot be used: each kind is one
/// a caller acts on differently (rebuild a stale or corrupt file; upgrade for a newer version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexProblem {
    /// There is no such file.
    #[error("it does not exist")]
    Missing,
    /// It exists but cannot be opened or mapped.
    #[error("cannot read it: {0}")]
    Unreadable(String),
    /// Not a file of this kind at all: its first bytes are not the magic ones.
    #[error("not a tessera {kind} file (wrong magic bytes)")]
    Foreign {
        /// The kind of file expected (`index` or `details`).
        kind: &'static str,
    },
    /// Written in another layout version, by another release of tessera.
    #[error("format version {found}, this build reads version {supported}")]
    Version {
        /// The format version in the file's header.
        found: u16,
        /// The format version this build reads.
        supported: u16,
    },
    /// Made for another grid than the 0.1-degree one.
    #[error("made for a {cols}x{rows} grid of {cell_centi} hundredths, not 3600x1800 of 10")]
    OtherGrid {
        /// The number of grid columns in the file's header.
        cols: u16,
        /// The number of grid rows in the file's header.
        rows: u16,
        /// The cell size in the file's header, in hundredths of a degree.
        cell_centi: u16,
    },
    /// Made for other years than the inventory's.
    #[error("built for years {built}, the inventory has {inventory}")]
    OtherYears {
        /// The years the file was built for, as written in its header.
        built: String,
        /// The inventory's years.
        inventory: YearRange,
    },
    /// Shorter or longer than its header says.
    #[error("truncated or padded: {found} bytes, its header says {expected}")]
    Truncated {
        /// The file's length in bytes.
        found: u64,
        /// The length in bytes it should have: its header's own, or the one its header gives.
        expected: u64,
    },
    /// Its bytes contradict its header or its own structure.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Built from a source (a manifest and journal, or the registry) that has changed since.
    #[error("stale: built from {built_from}, the source is now {now}")]
    Stale {
        /// The source when the file was built: its size, modification time and journal size.
        built_from: String,
        /// The source now, in the same form.
        now: String,
    },
}
