//! Listing parsers: which tiles a store holds, from the text that `s5cmd ls`, `find`,
//! `rclone ls/lsl/lsf/lsjson` and `aws s3 ls` print (shapes in `research/formats.md`).
//!
//! A listing is read line by line. Its [`Format`] is detected from its first meaningful line;
//! each line then yields a path and, where the format shows it, a size. Paths are matched
//! anywhere against `{year}/grid_{lon}_{lat}/{file}`, so any prefix (a bucket, a mount point, a
//! dataset version) is fine. A tile counts as present when both `.npy` files are listed with
//! non-zero sizes, and its `SHA256` file too whenever the listing shows `SHA256` files at all.
//! Everything else is counted in a [`ScanReport`], with the first line of each kind of problem.
//!
//! Written for throughput (millions of lines a second): lines are borrowed slices, tokens are
//! found by byte scans, and nothing is allocated per line.

mod bytes;
mod formats;
mod scanner;
mod tile_path;
#[cfg(feature = "disk")]
mod walk;

/// A listing file mapped into memory, for [`Scanner`]: `map_file(path)?.bytes()`.
#[cfg(feature = "disk")]
pub use crate::fsutil::{MappedFile, map_file};
pub use formats::{Format, Line, Size};
pub use scanner::{PartialTile, Problem, ScanReport, ScannedTile, Scanner};
pub use tile_path::{Role, TilePath, parse_tile_path};
#[cfg(feature = "disk")]
pub use walk::{FoundLink, list_local};

#[cfg(test)]
mod tests;
