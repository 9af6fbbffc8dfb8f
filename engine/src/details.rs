//! The registry's per-tile details (file sizes and SHA-256s) as a fixed-width table in id
//! order, memory-mapped: what a STAC item needs, found in O(1) without reading parquet.
//!
//! Row `n` describes the registry's tile at position `n` of its bitmap
//! ([`RoaringView::position`](crate::bitmap::RoaringView::position)), so the table needs no
//! ids of its own. The file (`registry.details`, beside `registry.parquet`) is derived data,
//! built by [`open_or_build`] whenever it is missing, damaged or older than the registry.
//! The byte layout is specified in `docs/FORMAT.md`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, IndexProblem, Result};
use crate::file_bytes::{self, FileBytes};
use crate::grid::YearRange;
use crate::index::SourceStamp;
use crate::notice::Notice;
use crate::registry::{self, ReadOptions, RegistryTiles};
use crate::{fsutil, index};

/// The first 8 bytes of every details file.
pub const MAGIC: [u8; 8] = *b"\x89TDT\r\n\x1a\n";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes before the first row.
pub const HEADER_LEN: usize = 64;
/// Bytes of one row: two `u64` sizes and two SHA-256 digests.
pub const ROW_LEN: usize = 80;

/// Which columns the registry had; an absent column reads as `None` in every row.
const HAS_FILE_SIZE: u16 = 1;
const HAS_SCALES_SIZE: u16 = 2;
const HAS_HASH: u16 = 4;
const HAS_SCALES_HASH: u16 = 8;

/// One registry tile's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TileDetails {
    /// Bytes of the embedding `.npy`.
    pub file_size: Option<u64>,
    /// Bytes of the `_scales.npy`.
    pub scales_size: Option<u64>,
    /// SHA-256 of the embedding `.npy`.
    pub hash: Option<[u8; 32]>,
    /// SHA-256 of the `_scales.npy`.
    pub scales_hash: Option<[u8; 32]>,
}

/// An opened details table.
#[derive(Debug)]
pub struct Details {
    bytes: FileBytes,
    columns: u16,
    rows: u64,
}

impl Details {
    /// Number of rows: the registry's tile count when the table was built.
    pub fn len(&self) -> u64 {
        self.rows
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The details in row `position`, or `None` past the end.
    pub fn get(&self, position: u64) -> Option<TileDetails> {
        if position >= self.rows {
            return None;
        }
        let at = HEADER_LEN + position as usize * ROW_LEN;
        let row: &[u8; ROW_LEN] = self.bytes.get(at..at + ROW_LEN)?.try_into().ok()?;
        let has = |flag| self.columns & flag != 0;
        let size = |at: usize| u64::from_le_bytes(row[at..at + 8].try_into().unwrap_or_default());
        let digest = |at: usize| -> [u8; 32] { row[at..at + 32].try_into().unwrap_or_default() };
        Some(TileDetails {
            file_size: has(HAS_FILE_SIZE).then(|| size(0)),
            scales_size: has(HAS_SCALES_SIZE).then(|| size(8)),
            hash: has(HAS_HASH).then(|| digest(16)),
            scales_hash: has(HAS_SCALES_HASH).then(|| digest(48)),
        })
    }
}

/// The details file beside a registry: `registry.parquet` -> `registry.details`.
pub fn details_path(registry: &Path) -> PathBuf {
    registry.with_extension("details")
}

/// Opens the details of `registry`, holding `tiles` tiles, or builds them first (reading the
/// whole registry with its hashes: a few seconds for 3.8M tiles, once). Returns a notice when
/// it had to build, saying why.
pub fn open_or_build(registry: &Path, years: YearRange, tiles: u64) -> Result<(Details, Option<Notice>)> {
    open_or_build_as(registry, years, tiles, true)
}

/// [`open_or_build`], writing the built table only when `write` (a read-only inventory keeps
/// it in memory).
pub fn open_or_build_as(
    registry: &Path,
    years: YearRange,
    tiles: u64,
    write: bool,
) -> Result<(Details, Option<Notice>)> {
    let path = details_path(registry);
    let stamp = SourceStamp::of(registry)?;
    let problem = match open(&path, stamp, tiles) {
        Ok(details) => return Ok((details, None)),
        Err(problem) => problem,
    };
    let (table, _) = registry::read_registry(registry, years, ReadOptions { hashes: true })?;
    let bytes = encode(&table, stamp);
    if !write {
        let details = check(FileBytes::Owned(bytes), stamp, tiles)
            .map_err(|problem| Error::BadIndex { path: path.clone(), problem })?;
        return Ok((details, Some(Notice::Rebuilt { path, problem, in_memory: true })));
    }
    fsutil::replace_atomically(&path, |out| out.write_all(&bytes).map_err(Error::io("writing", &path)))?;
    let details = open(&path, stamp, tiles).map_err(|problem| Error::BadIndex { path: path.clone(), problem })?;
    Ok((details, Some(Notice::Rebuilt { path, problem, in_memory: false })))
}

/// Maps `path` and checks its header against the registry it must describe.
fn open(path: &Path, stamp: SourceStamp, tiles: u64) -> std::result::Result<Details, IndexProblem> {
    let file = File::open(path).map_err(|err| index::unreadable(&err))?;
    let map = file_bytes::map(&file).map_err(|err| index::unreadable(&err))?;
    // Rows are read one tile at a time, anywhere in the file: read-ahead would only pull in
    // pages nobody asked for (a sync of 9,184 scattered tiles touched 250 MB without this).
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    check(FileBytes::Mapped(map), stamp, tiles)
}

/// Checks a table's header against the registry it must describe.
fn check(map: FileBytes, stamp: SourceStamp, tiles: u64) -> std::result::Result<Details, IndexProblem> {
    let header = map
        .get(..HEADER_LEN)
        .ok_or(IndexProblem::Truncated { found: map.len() as u64, expected: HEADER_LEN as u64 })?;
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
    if header[..8] != MAGIC {
        return Err(IndexProblem::Foreign { kind: "details" });
    }
    if u16_at(8) != FORMAT_VERSION {
        return Err(IndexProblem::Version { found: u16_at(8), supported: FORMAT_VERSION });
    }
    if (usize::from(u16_at(10)), usize::from(u16_at(12))) != (HEADER_LEN, ROW_LEN) {
        let (header, row) = (u16_at(10), u16_at(12));
        return Err(IndexProblem::Corrupt(format!(
            "a {header}-byte header and {row}-byte rows in version {FORMAT_VERSION}"
        )));
    }
    let rows = u64_at(16);
    let source = SourceStamp { len: u64_at(24), mtime_ns: u64_at(32) as i64, journal_len: 0 };
    if source != stamp {
        return Err(IndexProblem::Stale { built_from: format!("a registry of {source}"), now: stamp.to_string() });
    }
    if rows != tiles {
        return Err(IndexProblem::Corrupt(format!("it has {rows} rows, the registry {tiles} tiles")));
    }
    let expected = HEADER_LEN as u64 + rows * ROW_LEN as u64;
    if map.len() as u64 != expected {
        return Err(IndexProblem::Truncated { found: map.len() as u64, expected });
    }
    // The payload checksum (bytes 40..48) is not verified here: that would read every page
    // (300 MB for 3.8M tiles) at each start.
    let columns = u16_at(14);
    Ok(Details { bytes: map, columns, rows })
}

/// Serialises a registry's details (header plus one row per tile, in id order).
pub fn encode(table: &RegistryTiles, source: SourceStamp) -> Vec<u8> {
    let rows = table.len();
    let mut bytes = vec![0u8; HEADER_LEN + rows * ROW_LEN];
    let columns = [
        (HAS_FILE_SIZE, table.file_size.is_some()),
        (HAS_SCALES_SIZE, table.scales_size.is_some()),
        (HAS_HASH, table.hash.is_some()),
        (HAS_SCALES_HASH, table.scales_hash.is_some()),
    ]
    .iter()
    .filter(|(_, present)| *present)
    .fold(0u16, |flags, (flag, _)| flags | flag);
    for (n, row) in bytes[HEADER_LEN..].chunks_exact_mut(ROW_LEN).enumerate() {
        let put = |column: &Option<Vec<u64>>| column.as_ref().map_or(0, |values| values[n]).to_le_bytes();
        row[0..8].copy_from_slice(&put(&table.file_size));
        row[8..16].copy_from_slice(&put(&table.scales_size));
        row[16..48].copy_from_slice(table.hash.as_ref().map_or(&[0; 32], |hashes| &hashes[n]));
        row[48..80].copy_from_slice(table.scales_hash.as_ref().map_or(&[0; 32], |hashes| &hashes[n]));
    }
    let mut checksum = Xxh3::new();
    checksum.update(&bytes[HEADER_LEN..]);
    let header = &mut bytes[..HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    header[12..14].copy_from_slice(&(ROW_LEN as u16).to_le_bytes());
    header[14..16].copy_from_slice(&columns.to_le_bytes());
    header[16..24].copy_from_slice(&(rows as u64).to_le_bytes());
    header[24..32].copy_from_slice(&source.len.to_le_bytes());
    header[32..40].copy_from_slice(&source.mtime_ns.to_le_bytes());
    header[40..48].copy_from_slice(&checksum.digest().to_le_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::TileId;

    fn table() -> RegistryTiles {
        RegistryTiles {
            ids: vec![TileId(3), TileId(9)],
            file_size: Some(vec![100, 200]),
            scales_size: Some(vec![10, 20]),
            hash: Some(vec![[1; 32], [2; 32]]),
            scales_hash: None,
            mtime_ns: None,
        }
    }

    #[test]
    fn rows_read_back_with_absent_columns_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.details");
        let stamp = SourceStamp { len: 7, mtime_ns: 8, journal_len: 0 };
        fsutil::write_atomically(&path, &encode(&table(), stamp)).unwrap();
        let details = open(&path, stamp, 2).unwrap();
        let second = details.get(1).unwrap();
        assert_eq!((second.file_size, second.scales_size, second.hash), (Some(200), Some(20), Some([2; 32])));
        assert_eq!(second.scales_hash, None);
        assert_eq!(details.get(2), None);
    }

    #[test]
    fn a_stale_or_short_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.details");
        let stamp = SourceStamp { len: 7, mtime_ns: 8, journal_len: 0 };
        let bytes = encode(&table(), stamp);
        fsutil::write_atomically(&path, &bytes).unwrap();
        assert!(matches!(open(&path, SourceStamp { len: 8, ..stamp }, 2), Err(IndexProblem::Stale { .. })));
        assert!(matches!(open(&path, stamp, 3), Err(IndexProblem::Corrupt(reason)) if reason.contains("rows")));
        fsutil::write_atomically(&path, &bytes[..bytes.len() - 1]).unwrap();
        let short = (bytes.len() - 1) as u64;
        assert_eq!(open(&path, stamp, 2).err(), Some(IndexProblem::Truncated { found: short, expected: short + 1 }));
        let mut newer = bytes.clone();
        newer[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        fsutil::write_atomically(&path, &newer).unwrap();
        let found = FORMAT_VERSION + 1;
        assert_eq!(open(&path, stamp, 2).err(), Some(IndexProblem::Version { found, supported: FORMAT_VERSION }));
        assert_eq!(open(&dir.path().join("none"), stamp, 2).err(), Some(IndexProblem::Missing));
    }
}
