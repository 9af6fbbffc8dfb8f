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
    /// A tile name, coordinate or id that is not on the 0.1-degree grid.
    #[error("`{input}` is not on the tile grid: {reason}")]
    OffGrid { input: String, reason: &'static str },

    /// A year range that is empty or too long for `u32` ids.
    #[error("year range {first}..={last} is invalid: it must be non-empty and at most 662 years")]
    BadYearRange { first: Year, last: Year },

    /// A registry with tiles of a year before the inventory's first: ids count from the first
    /// year, so that needs a new inventory.
    #[error(
        "{path} has tiles of {year}, before this inventory's first year {first}: ids count from the first year, so make a new inventory whose years start at {year} (`tessera init --years {year}..LAST`) and scan the stores into it"
    )]
    YearBeforeFirst { path: PathBuf, year: i64, first: Year },

    /// A year outside the inventory's configured range.
    #[error("year {year} is outside this inventory's years {years}")]
    YearOutOfRange { year: Year, years: YearRange },

    /// A tile id past the inventory's last year.
    #[error("tile id {id} is past the last year of {years}")]
    IdOutOfRange { id: u32, years: YearRange },

    /// A bounding box whose values are out of range.
    #[error("bbox {bbox:?} is invalid: {reason}")]
    BadBbox { bbox: [f64; 4], reason: &'static str },

    /// A bounding box that is not four comma-separated numbers.
    #[error("bbox `{text}` is invalid: expected four numbers `west,south,east,north` in degrees")]
    BadBboxText { text: String },

    /// Bytes that are not a valid portable Roaring bitmap.
    #[error("corrupt Roaring bitmap at byte {offset}: {reason}")]
    CorruptBitmap { offset: usize, reason: &'static str },

    /// An index or details file that cannot be used, and why: a caller that owns the source
    /// rebuilds it (stale, corrupt, missing), one that does not refuses it.
    #[error("index file {path} cannot be used: {problem}")]
    BadIndex { path: PathBuf, problem: IndexProblem },

    /// An I/O failure on a file the engine was reading or writing.
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },

    /// A parquet file that cannot be read or written.
    #[error("parquet file {path}: {message}")]
    Parquet { path: PathBuf, message: String },

    /// A parquet file without a column the engine needs.
    #[error("parquet file {path} has no column `{column}`{hint}")]
    MissingColumn { path: PathBuf, column: &'static str, hint: &'static str },

    /// A parquet column whose type the engine cannot read.
    #[error("parquet file {path}: column `{column}` has type {found}, expected {expected}")]
    ColumnType { path: PathBuf, column: &'static str, found: String, expected: &'static str },

    /// A value in a parquet file that is out of range (row numbers start at 0).
    #[error("parquet file {path}, row {row}: {message}")]
    BadRow { path: PathBuf, row: usize, message: String },

    /// A record journal with a damaged frame before valid ones. The frames after it hold
    /// acknowledged records, so nothing is cut: the journal is left as it is.
    #[error(
        "journal {path} is damaged at byte {offset} and valid records follow it; nothing was changed (salvage every valid record with `tessera repair` on its store)"
    )]
    DamagedJournal { path: PathBuf, offset: u64 },

    /// A listing older than records the store's journals no longer hold.
    #[error(
        "the listing of {store} was taken before records that compactions have since folded into its manifest (taken at {listed_at}, records folded until {forgotten_until}, nanoseconds since the epoch): it cannot tell which it lacks; list the store again"
    )]
    ListingTooOld { store: String, listed_at: i64, forgotten_until: i64 },

    /// A `tessera.toml` that cannot be read or is inconsistent.
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A store name that the inventory does not declare.
    #[error("unknown store `{name}`; this inventory has: {known}")]
    UnknownStore { name: String, known: String },

    /// A `storage` value that is neither a local path nor `s3://bucket/prefix`.
    #[error("storage `{storage}` is invalid: {reason}")]
    BadStorage { storage: String, reason: &'static str },

    /// A copy tool asked to copy between storages it cannot reach.
    #[error("`{tool}` cannot copy from {from} to {to} ({why}); tools that can: {usable}")]
    CopyTool { tool: &'static str, from: String, to: String, why: &'static str, usable: String },

    /// The registry was named as a source, and the inventory has none.
    #[error("{path} has no registry.parquet to compare with; import one with `tessera import`")]
    NoRegistry { path: PathBuf },

    /// A directory that is not a tessera inventory.
    #[error("{path} is not a tessera inventory (no tessera.toml); create one with `tessera init`")]
    NotAnInventory { path: PathBuf },
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
    Foreign { kind: &'static str },
    /// Written in another layout version, by another release of tessera.
    #[error("format version {found}, this build reads version {supported}")]
    Version { found: u16, supported: u16 },
    /// Made for another grid than the 0.1-degree one.
    #[error("made for a {cols}x{rows} grid of {cell_centi} hundredths, not 3600x1800 of 10")]
    OtherGrid { cols: u16, rows: u16, cell_centi: u16 },
    /// Made for other years than the inventory's.
    #[error("built for years {built}, the inventory has {inventory}")]
    OtherYears { built: String, inventory: YearRange },
    /// Shorter or longer than its header says.
    #[error("truncated or padded: {found} bytes, its header says {expected}")]
    Truncated { found: u64, expected: u64 },
    /// Its bytes contradict its header or its own structure.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Built from a source (a manifest and journal, or the registry) that has changed since.
    #[error("stale: built from {built_from}, the source is now {now}")]
    Stale { built_from: String, now: String },
}
