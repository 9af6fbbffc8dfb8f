//! Checksums a store's files were found to have (`stores/NAME.sums`), recorded by one read of
//! each file (`tessera hash`): SHA-256, CRC64NVME and, where an ETag comparison needs it, MD5,
//! with the size and modification time the file had when it was read.
//!
//! They are data about files, not about which tiles a store holds: a mirror's copy of a tile
//! must have the checksums recorded for the primary's, so a store hashed once lets every other
//! store be verified against it, and an S3 store by the checksums S3 keeps itself (no byte read).
//!
//! The file is a fixed-width table of rows in tile id order behind a checked header (the scheme
//! of the index and details files). Unlike those it cannot be rebuilt cheaply (it costs a read of
//! every byte), so it is written durably and a damaged one is an error, never silently dropped.
//! The byte layout is specified in `docs/FORMAT.md`.

use std::fs::File;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, IndexProblem, Result};
use crate::file_bytes::{self, FileBytes};
use crate::fsutil;
use crate::grid::{TileId, YearRange};

/// The first 8 bytes of every checksums file.
pub const MAGIC: [u8; 8] = *b"\x89TCS\r\n\x1a\n";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes before the first row.
pub const HEADER_LEN: usize = 40;
/// Bytes of one file's checksums: size, mtime, CRC64NVME, SHA-256, MD5.
const FILE_LEN: usize = 8 + 8 + 8 + 32 + 16;
/// Bytes of one row: the tile id, which files have an MD5, then its two files.
pub const ROW_LEN: usize = 4 + 4 + 2 * FILE_LEN;

/// The checksums of one file, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileSums {
    /// Bytes of the file.
    pub size: u64,
    /// Its modification time when it was read, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// CRC64NVME of its bytes: what S3 computes for every new upload.
    pub crc64nvme: u64,
    /// SHA-256 of its bytes: what the registry and the `SHA256` files hold.
    pub sha256: [u8; 32],
    /// MD5 of its bytes (a single-part ETag), when it was asked for.
    pub md5: Option<[u8; 16]>,
}

/// The checksums of one tile's two data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSums {
    /// The tile.
    pub id: TileId,
    /// The embeddings `.npy`, then the `_scales.npy`.
    pub files: [FileSums; 2],
}

/// An opened checksums table.
#[derive(Debug)]
pub struct Checksums {
    bytes: FileBytes,
    rows: usize,
}

impl Checksums {
    /// An empty table: a store never hashed.
    pub fn empty() -> Checksums {
        Checksums { bytes: FileBytes::Owned(vec![0; HEADER_LEN]), rows: 0 }
    }

    /// Maps the table at `path`, made for `years`; an empty one when there is no file. A file
    /// that is damaged, foreign or made for other years is an error naming the problem.
    pub fn open(path: &Path, years: YearRange) -> Result<Checksums> {
        let file = match File::open(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Checksums::empty()),
            opened => opened.map_err(Error::io("opening", path))?,
        };
        let bytes = FileBytes::Mapped(file_bytes::map(&file).map_err(Error::io("mapping", path))?);
        let rows = check(&bytes, years).map_err(|problem| Error::BadIndex { path: path.to_owned(), problem })?;
        Ok(Checksums { bytes, rows })
    }

    /// Number of tiles recorded.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no tile is recorded.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The checksums recorded for tile `id`.
    pub fn get(&self, id: TileId) -> Option<TileSums> {
        let (mut lo, mut hi) = (0, self.rows);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let row = self.row(mid);
            match row_id(row).cmp(&id.0) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(decode_row(row)),
            }
        }
        None
    }

    /// Every recorded tile, in id order.
    pub fn iter(&self) -> impl Iterator<Item = TileSums> + '_ {
        (0..self.rows).map(|at| decode_row(self.row(at)))
    }

    fn row(&self, at: usize) -> &[u8] {
        let start = HEADER_LEN + at * ROW_LEN;
        &self.bytes[start..start + ROW_LEN]
    }
}

/// Writes `tiles` (any order, one row per tile: the last of a repeated id wins) to `path`,
/// atomically and durably.
pub fn write(path: &Path, years: YearRange, tiles: &[TileSums]) -> Result<()> {
    let mut sorted: Vec<&TileSums> = tiles.iter().collect();
    sorted.sort_by_key(|tile| tile.id);
    sorted.dedup_by(|later, earlier| {
        let same = later.id == earlier.id;
        if same {
            *earlier = *later;
        }
        same
    });
    let mut payload = Vec::with_capacity(sorted.len() * ROW_LEN);
    for tile in sorted {
        encode_row(tile, &mut payload);
    }
    let rows = (payload.len() / ROW_LEN) as u64;
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    bytes.extend_from_slice(&years.first().to_le_bytes());
    bytes.extend_from_slice(&years.last().to_le_bytes());
    bytes.extend_from_slice(&(ROW_LEN as u32).to_le_bytes());
    bytes.extend_from_slice(&rows.to_le_bytes());
    bytes.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]); // reserved
    debug_assert_eq!(bytes.len(), HEADER_LEN);
    bytes.extend_from_slice(&payload);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    }
    fsutil::write_atomically(path, &bytes)
}

/// Checks a whole file against its header; returns its row count.
fn check(bytes: &[u8], years: YearRange) -> std::result::Result<usize, IndexProblem> {
    if bytes.len() < HEADER_LEN {
        return Err(IndexProblem::Truncated { found: bytes.len() as u64, expected: HEADER_LEN as u64 });
    }
    if bytes[0..8] != MAGIC {
        return Err(IndexProblem::Foreign { kind: "checksums" });
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let version = u16_at(8);
    if version != FORMAT_VERSION || u16_at(10) as usize != HEADER_LEN || u32_at(16) as usize != ROW_LEN {
        return Err(IndexProblem::Version { found: version, supported: FORMAT_VERSION });
    }
    let (first, last) = (u16_at(12), u16_at(14));
    if (first, last) != (years.first(), years.last()) {
        return Err(IndexProblem::OtherYears { built: format!("{first}..{last}"), inventory: years });
    }
    let rows = u64_at(20);
    let expected = (HEADER_LEN as u64).saturating_add(rows.saturating_mul(ROW_LEN as u64));
    if bytes.len() as u64 != expected {
        return Err(IndexProblem::Truncated { found: bytes.len() as u64, expected });
    }
    if xxh3_64(&bytes[HEADER_LEN..]) != u64_at(28) {
        return Err(IndexProblem::Corrupt("the rows do not match the header's checksum".into()));
    }
    Ok(rows as usize)
}

fn row_id(row: &[u8]) -> u32 {
    u32::from_le_bytes(row[0..4].try_into().unwrap_or_default())
}

fn encode_row(tile: &TileSums, out: &mut Vec<u8>) {
    out.extend_from_slice(&tile.id.0.to_le_bytes());
    let has_md5 =
        tile.files.iter().enumerate().fold(0u32, |flags, (at, file)| flags | (u32::from(file.md5.is_some()) << at));
    out.extend_from_slice(&has_md5.to_le_bytes());
    for file in &tile.files {
        out.extend_from_slice(&file.size.to_le_bytes());
        out.extend_from_slice(&file.mtime_ns.to_le_bytes());
        out.extend_from_slice(&file.crc64nvme.to_le_bytes());
        out.extend_from_slice(&file.sha256);
        out.extend_from_slice(&file.md5.unwrap_or_default());
    }
}

fn decode_row(row: &[u8]) -> TileSums {
    let has_md5 = u32::from_le_bytes(row[4..8].try_into().unwrap_or_default());
    let file = |at: usize| {
        let bytes = &row[8 + at * FILE_LEN..8 + (at + 1) * FILE_LEN];
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        FileSums {
            size: u64_at(0),
            mtime_ns: u64_at(8) as i64,
            crc64nvme: u64_at(16),
            sha256: bytes[24..56].try_into().unwrap_or_default(),
            md5: (has_md5 & (1 << at) != 0).then(|| bytes[56..72].try_into().unwrap_or_default()),
        }
    };
    TileSums { id: TileId(row_id(row)), files: [file(0), file(1)] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn years() -> YearRange {
        YearRange::new(2017, 2025).unwrap()
    }

    fn tile(id: u32, seed: u8) -> TileSums {
        let file = |n: u8| FileSums {
            size: u64::from(seed) * 1000 + u64::from(n),
            mtime_ns: -i64::from(seed),
            crc64nvme: u64::from(seed) << 40 | u64::from(n),
            sha256: [seed ^ n; 32],
            md5: (n == 0).then_some([seed; 16]),
        };
        TileSums { id: TileId(id), files: [file(0), file(1)] }
    }

    #[test]
    fn rows_written_in_any_order_are_found_by_id_and_the_last_of_a_repeat_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("primary.sums");
        let tiles = [tile(900, 1), tile(7, 2), tile(900, 3), tile(12, 4)];
        write(&path, years(), &tiles).unwrap();
        let sums = Checksums::open(&path, years()).unwrap();
        assert_eq!(sums.len(), 3);
        assert_eq!(sums.get(TileId(900)), Some(tile(900, 3)));
        assert_eq!(sums.get(TileId(7)), Some(tile(7, 2)));
        assert_eq!(sums.get(TileId(8)), None);
        let ids: Vec<u32> = sums.iter().map(|tile| tile.id.0).collect();
        assert_eq!(ids, [7, 12, 900]);
    }

    #[test]
    fn a_missing_file_is_empty_and_a_damaged_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("primary.sums");
        assert!(Checksums::open(&path, years()).unwrap().is_empty());
        write(&path, years(), &[tile(1, 1), tile(2, 2)]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN + 20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = Checksums::open(&path, years()).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).unwrap();
        assert!(Checksums::open(&path, years()).unwrap_err().to_string().contains("truncated"));
        let other = YearRange::new(2017, 2024).unwrap();
        write(&path, years(), &[tile(1, 1)]).unwrap();
        assert!(Checksums::open(&path, other).unwrap_err().to_string().contains("years"));
    }
}
