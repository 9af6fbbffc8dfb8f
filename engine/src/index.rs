//! Index files (`.tbm`): one store's tile ids as a portable Roaring bitmap behind a checked
//! header, memory-mapped and read in place. The byte layout is specified in `docs/FORMAT.md`.
//!
//! An index is derived data: it is rebuilt from its source (a store manifest or the registry)
//! whenever it is missing, truncated, corrupt, foreign, made for another grid or year range, or
//! stale. Staleness is exact: the header records the source file's length and modification
//! time when the index was built, and any difference means the source has changed since.

use std::fs::{self, File};
use std::path::Path;
use std::time::UNIX_EPOCH;

use memmap2::Mmap;
use roaring::RoaringBitmap;
use xxhash_rust::xxh3::xxh3_64;

use crate::bitmap::RoaringView;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::grid::{CELL_CENTI, COLS, ROWS, TileId, YearRange};

/// The first 8 bytes of every index file. The `\r\n` and `\x1a` catch text-mode mangling.
pub const MAGIC: [u8; 8] = *b"\x89TBM\r\n\x1a\n";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u16 = 2;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 72;

/// The identity of the files an index was built from: the parquet source's length and
/// modification time, and the length of the store's record journal (0 when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceStamp {
    pub len: u64,
    pub mtime_ns: i64,
    pub journal_len: u64,
}

impl SourceStamp {
    /// The stamp of `path` as it is now, with no journal.
    pub fn of(path: &Path) -> Result<SourceStamp> {
        let meta = fs::metadata(path).map_err(Error::io("reading the metadata of", path))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos() as i64);
        Ok(SourceStamp { len: meta.len(), mtime_ns, journal_len: 0 })
    }

    /// The same stamp with a journal of `journal_len` valid bytes.
    pub fn with_journal(self, journal_len: u64) -> SourceStamp {
        SourceStamp { journal_len, ..self }
    }

    /// The stamp of an index with no source file: a store that has no manifest yet.
    pub const NONE: SourceStamp = SourceStamp { len: 0, mtime_ns: 0, journal_len: 0 };
}

/// The decoded header of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub years: YearRange,
    pub cardinality: u64,
    pub payload_len: u64,
    pub checksum: u64,
    pub source: SourceStamp,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        let fields: [(usize, &[u8]); 11] = [
            (8, &FORMAT_VERSION.to_le_bytes()),
            (10, &(HEADER_LEN as u16).to_le_bytes()),
            (12, &(COLS as u16).to_le_bytes()),
            (14, &(ROWS as u16).to_le_bytes()),
            (16, &(CELL_CENTI as u16).to_le_bytes()),
            (18, &self.years.first().to_le_bytes()),
            (20, &self.years.last().to_le_bytes()),
            (24, &self.cardinality.to_le_bytes()),
            (32, &self.payload_len.to_le_bytes()),
            (40, &self.checksum.to_le_bytes()),
            (48, &self.source.len.to_le_bytes()),
        ];
        for (at, field) in fields {
            bytes[at..at + field.len()].copy_from_slice(field);
        }
        bytes[56..64].copy_from_slice(&self.source.mtime_ns.to_le_bytes());
        bytes[64..72].copy_from_slice(&self.source.journal_len.to_le_bytes());
        bytes
    }

    /// Decodes and checks everything that does not need the payload.
    fn decode(bytes: &[u8]) -> std::result::Result<Header, String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!("truncated: {} bytes, shorter than the {HEADER_LEN}-byte header", bytes.len()));
        }
        if bytes[0..8] != MAGIC {
            return Err("not a tessera index file (wrong magic bytes)".into());
        }
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let version = u16_at(8);
        if version != FORMAT_VERSION || usize::from(u16_at(10)) != HEADER_LEN {
            let header = u16_at(10);
            return Err(format!(
                "format version {version} ({header}-byte header), this build reads version {FORMAT_VERSION} ({HEADER_LEN}-byte header)"
            ));
        }
        let grid = (u16_at(12), u16_at(14), u16_at(16));
        if grid != (COLS as u16, ROWS as u16, CELL_CENTI as u16) {
            return Err(format!("made for a {}x{} grid of {} hundredths, not 3600x1800 of 10", grid.0, grid.1, grid.2));
        }
        let years = YearRange::new(u16_at(18), u16_at(20)).map_err(|err| err.to_string())?;
        let source = SourceStamp { len: u64_at(48), mtime_ns: u64_at(56) as i64, journal_len: u64_at(64) };
        Ok(Header { years, cardinality: u64_at(24), payload_len: u64_at(32), checksum: u64_at(40), source })
    }
}

/// Serialises `ids` (sorted, unique) as an index file: header plus run-optimised portable bitmap.
pub fn encode(years: YearRange, ids: impl IntoIterator<Item = TileId>, source: SourceStamp) -> Result<Vec<u8>> {
    let mut bitmap = RoaringBitmap::new();
    let unsorted = |_| Error::BadIndex { path: "<memory>".into(), reason: "ids are not sorted and unique".into() };
    bitmap.append(ids.into_iter().map(|id| id.0)).map_err(unsorted)?;
    if bitmap.max().is_some_and(|max| u64::from(max) >= years.id_limit()) {
        return Err(Error::BadIndex {
            path: "<memory>".into(),
            reason: format!("an id is past the last year of {years}"),
        });
    }
    Ok(encode_bitmap(years, &mut bitmap, source))
}

/// Serialises a bitmap (run-optimising it first) as an index file.
pub fn encode_bitmap(years: YearRange, bitmap: &mut RoaringBitmap, source: SourceStamp) -> Vec<u8> {
    bitmap.optimize();
    let mut bytes = vec![0u8; HEADER_LEN];
    bitmap.serialize_into(&mut bytes).expect("writing to a Vec cannot fail");
    let payload = &bytes[HEADER_LEN..];
    let header = Header {
        years,
        cardinality: bitmap.len(),
        payload_len: payload.len() as u64,
        checksum: xxh3_64(payload),
        source,
    };
    bytes[..HEADER_LEN].copy_from_slice(&header.encode());
    bytes
}

/// Writes an index file atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fsutil::write_atomically(path, bytes)
}

/// The payload of an index: what a [`RoaringView`] reads. Normally a memory-mapped file; an
/// index built in memory (the empty set of a store with no manifest yet) owns its bytes.
#[derive(Debug)]
pub struct Mapped(Bytes);

#[derive(Debug)]
enum Bytes {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        let whole: &[u8] = match &self.0 {
            Bytes::Map(map) => map,
            Bytes::Owned(bytes) => bytes,
        };
        &whole[HEADER_LEN..]
    }
}

/// An opened, verified index file.
#[derive(Debug)]
pub struct Index {
    pub header: Header,
    pub view: RoaringView<Mapped>,
}

/// Maps and verifies an index file: header, length, payload checksum, structure, cardinality,
/// year range, and (when given) that it was built from `source`.
///
/// Every failure is [`Error::BadIndex`] naming the file and the reason; callers that own the
/// source rebuild the index, the others refuse it.
pub fn open(path: &Path, years: YearRange, source: Option<SourceStamp>) -> Result<Index> {
    let bad = |reason: String| Error::BadIndex { path: path.to_owned(), reason };
    let file = File::open(path).map_err(|err| bad(format!("cannot open it: {err}")))?;
    let map = map_file(&file).map_err(|err| bad(format!("cannot map it: {err}")))?;
    open_bytes(Bytes::Map(map), years, source).map_err(bad)
}

/// An index held in memory, checked like a file: for sets that have no file.
pub fn open_owned(bytes: Vec<u8>, years: YearRange) -> Result<Index> {
    open_bytes(Bytes::Owned(bytes), years, None).map_err(|reason| Error::BadIndex { path: "<memory>".into(), reason })
}

fn open_bytes(bytes: Bytes, years: YearRange, source: Option<SourceStamp>) -> std::result::Result<Index, String> {
    let mapped = Mapped(bytes);
    let whole: &[u8] = match &mapped.0 {
        Bytes::Map(map) => map,
        Bytes::Owned(bytes) => bytes,
    };
    let header = Header::decode(whole)?;
    check_payload(&header, &whole[HEADER_LEN..], years, source)?;
    let view = RoaringView::open(mapped).map_err(|err| err.to_string())?;
    if view.cardinality() != header.cardinality {
        return Err(format!("header says {} tiles, the bitmap holds {}", header.cardinality, view.cardinality()));
    }
    if view.containers().last().is_some_and(|c| u64::from(c.base()) >= years.id_limit()) {
        return Err(format!("it holds ids past the last year of {years}"));
    }
    Ok(Index { header, view })
}

fn check_payload(
    header: &Header,
    payload: &[u8],
    years: YearRange,
    source: Option<SourceStamp>,
) -> std::result::Result<(), String> {
    if payload.len() as u64 != header.payload_len {
        return Err(format!(
            "truncated or padded: payload is {} bytes, header says {}",
            payload.len(),
            header.payload_len
        ));
    }
    // Ids are year-major from the first year: an index built before the inventory's years
    // grew at the end holds the same ids, and stays valid.
    if header.years.first() != years.first() || header.years.last() > years.last() {
        return Err(format!("built for years {}, the inventory has {years}", header.years));
    }
    if let Some(source) = source.filter(|s| *s != header.source) {
        return Err(format!(
            "stale: built from a source of {} bytes (mtime {}, journal {} bytes), it is now {} bytes (mtime {}, journal {} bytes)",
            header.source.len,
            header.source.mtime_ns,
            header.source.journal_len,
            source.len,
            source.mtime_ns,
            source.journal_len
        ));
    }
    let checksum = xxh3_64(payload);
    if checksum != header.checksum {
        return Err(format!("corrupt: payload checksum {checksum:016x}, header says {:016x}", header.checksum));
    }
    Ok(())
}

#[allow(unsafe_code)]
pub(crate) fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: tessera never writes an index file in place: it writes a temporary file and
    // renames it over the old one, so a mapping keeps seeing the bytes it was opened with.
    // Another program truncating the file while it is mapped could still fault the process;
    // that is the documented limit of memory-mapping (docs/FORMAT.md).
    unsafe { Mmap::map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::DEFAULT_YEARS;

    fn sample(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("s.tbm");
        let ids = (0..5000u32).chain(70_000..90_000).map(TileId);
        write(&path, &encode(DEFAULT_YEARS, ids, SourceStamp { len: 7, mtime_ns: 9, journal_len: 0 }).unwrap())
            .unwrap();
        path
    }

    #[test]
    fn round_trips_and_checks_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let index = open(&path, DEFAULT_YEARS, Some(SourceStamp { len: 7, mtime_ns: 9, journal_len: 0 })).unwrap();
        assert_eq!(index.view.cardinality(), 25_000);
        let stale = open(&path, DEFAULT_YEARS, Some(SourceStamp { len: 8, mtime_ns: 9, journal_len: 0 })).unwrap_err();
        assert!(stale.to_string().contains("stale") && stale.to_string().contains("s.tbm"));
    }

    #[test]
    fn every_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 20] ^= 0x10;
        let cases: [(Vec<u8>, &str); 4] = [
            (good[..good.len() - 3].to_vec(), "truncated"),
            (good[..40].to_vec(), "truncated"),
            (flipped, "checksum"),
            ([&b"PAR1"[..], &[b'.'; 100]].concat(), "magic"),
        ];
        for (bytes, reason) in cases {
            fs::write(&path, &bytes).unwrap();
            let message = open(&path, DEFAULT_YEARS, None).unwrap_err().to_string();
            assert!(message.contains(reason) && message.contains("s.tbm"), "{reason}: {message}");
        }
        fs::write(&path, &good).unwrap();
        let other_years = YearRange::new(2017, 2024).unwrap();
        assert!(open(&path, other_years, None).unwrap_err().to_string().contains("years"));
    }
}
