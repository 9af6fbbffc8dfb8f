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
use crate::error::{Error, IndexProblem, Result};
use crate::file_bytes::{self, FileBytes};
use crate::fsutil;
use crate::grid::{CELL_CENTI, COLS, ROWS, TileId, YearRange};

/// The first 8 bytes of every index file. The `\r\n` and `\x1a` catch text-mode mangling.
pub(crate) const MAGIC: [u8; 8] = *b"\x89TBM\r\n\x1a\n";
/// The layout version this build writes and reads.
pub(crate) const FORMAT_VERSION: u16 = 2;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 72;

/// The identity of the files an index was built from: the parquet source's length and
/// modification time, and the length of the store's record journal (0 when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceStamp {
    /// Bytes of the parquet source; 0 when there is none.
    pub len: u64,
    /// Modification time of the parquet source, nanoseconds since the Unix epoch; 0 when there is none.
    pub mtime_ns: i64,
    /// Bytes of the store's record journal file; 0 when there is none.
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

impl std::fmt::Display for SourceStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes (mtime {}, journal {} bytes)", self.len, self.mtime_ns, self.journal_len)
    }
}

/// The decoded header of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The inclusive year range the index was built for; its ids are dense over it.
    pub years: YearRange,
    /// Number of tile ids in the bitmap.
    pub cardinality: u64,
    /// Bytes of the serialised bitmap that follows the header.
    pub payload_len: u64,
    /// xxh3-64 of the payload bytes.
    pub checksum: u64,
    /// The source files the index was built from, as they were then.
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
    fn decode(bytes: &[u8]) -> std::result::Result<Header, IndexProblem> {
        if bytes.len() < HEADER_LEN {
            return Err(IndexProblem::Truncated { found: bytes.len() as u64, expected: HEADER_LEN as u64 });
        }
        if bytes[0..8] != MAGIC {
            return Err(IndexProblem::Foreign { kind: "index" });
        }
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let version = u16_at(8);
        if version != FORMAT_VERSION {
            return Err(IndexProblem::Version { found: version, supported: FORMAT_VERSION });
        }
        if usize::from(u16_at(10)) != HEADER_LEN {
            return Err(IndexProblem::Corrupt(format!("a {}-byte header in version {version}", u16_at(10))));
        }
        let (cols, rows, cell_centi) = (u16_at(12), u16_at(14), u16_at(16));
        if (cols, rows, cell_centi) != (COLS as u16, ROWS as u16, CELL_CENTI as u16) {
            return Err(IndexProblem::OtherGrid { cols, rows, cell_centi });
        }
        let years =
            YearRange::new(u16_at(18), u16_at(20)).map_err(|err| IndexProblem::Corrupt(format!("its years: {err}")))?;
        let source = SourceStamp { len: u64_at(48), mtime_ns: u64_at(56) as i64, journal_len: u64_at(64) };
        Ok(Header { years, cardinality: u64_at(24), payload_len: u64_at(32), checksum: u64_at(40), source })
    }
}

/// Serialises `ids` (sorted, unique) as an index file: header plus run-optimised portable bitmap.
pub(crate) fn encode(years: YearRange, ids: impl IntoIterator<Item = TileId>, source: SourceStamp) -> Result<Vec<u8>> {
    let mut bitmap = RoaringBitmap::new();
    let bad = |reason: String| Error::BadIndex { path: "<memory>".into(), problem: IndexProblem::Corrupt(reason) };
    bitmap.append(ids.into_iter().map(|id| id.0)).map_err(|_| bad("ids are not sorted and unique".into()))?;
    if bitmap.max().is_some_and(|max| u64::from(max) >= years.id_limit()) {
        return Err(bad(format!("an id is past the last year of {years}")));
    }
    Ok(encode_bitmap(years, &mut bitmap, source))
}

/// Serialises a bitmap (run-optimising it first) as an index file.
pub(crate) fn encode_bitmap(years: YearRange, bitmap: &mut RoaringBitmap, source: SourceStamp) -> Vec<u8> {
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
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fsutil::write_atomically(path, bytes)
}

/// The payload of an index: what a [`RoaringView`] reads. Normally a memory-mapped file; an
/// index built in memory (the empty set of a store with no manifest yet) owns its bytes.
#[derive(Debug)]
pub struct Mapped(FileBytes);

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.0[HEADER_LEN..]
    }
}

/// An opened, verified index file.
#[derive(Debug)]
pub(crate) struct Index {
    /// The index's tile ids, read in place from the payload.
    pub view: RoaringView<Mapped>,
    /// The payload's xxh3-64, as verified: what derived data names the index by.
    pub checksum: u64,
    /// The source files the index was built from, as its header says.
    pub source: SourceStamp,
}

/// Maps and verifies an index file: header, length, payload checksum, structure, cardinality,
/// year range, and (when given) that it was built from `source`.
///
/// Every failure is [`Error::BadIndex`] naming the file and the reason; callers that own the
/// source rebuild the index, the others refuse it.
pub(crate) fn open(path: &Path, years: YearRange, source: Option<SourceStamp>) -> Result<Index> {
    let bad = |problem: IndexProblem| Error::BadIndex { path: path.to_owned(), problem };
    let file = File::open(path).map_err(|err| bad(unreadable(&err)))?;
    let map = file_bytes::map(&file).map_err(|err| bad(unreadable(&err)))?;
    ask_for_huge_pages(&map);
    open_bytes(FileBytes::Mapped(map), years, source).map_err(bad)
}

/// Asks Linux to read the index into the page cache, when it is not there, in 2 MiB pages.
/// An index is read whole (its checksum, then a diff), and mapping a file costs a fault and a
/// page-table entry per page: on a 12 MB index read back in 4 KiB pages, mapping alone took
/// 0.3-0.8 ms, against 0.06 ms in 2 MiB ones, and a cold `diff --count` of two such indexes
/// 8.0 ms against 4.9 ms (`benches/planet/run.sh`). Pages already cached keep their size; a
/// kernel without transparent huge pages ignores the advice.
fn ask_for_huge_pages(map: &Mmap) {
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    #[cfg(not(target_os = "linux"))]
    let _ = map;
}

/// Missing, or another failure to open or map a file.
pub(crate) fn unreadable(err: &std::io::Error) -> IndexProblem {
    match err.kind() {
        std::io::ErrorKind::NotFound => IndexProblem::Missing,
        _ => IndexProblem::Unreadable(err.to_string()),
    }
}

/// An index held in memory, checked like a file: for sets that have no file.
pub(crate) fn open_owned(bytes: Vec<u8>, years: YearRange) -> Result<Index> {
    open_bytes(FileBytes::Owned(bytes), years, None)
        .map_err(|problem| Error::BadIndex { path: "<memory>".into(), problem })
}

fn open_bytes(
    bytes: FileBytes,
    years: YearRange,
    source: Option<SourceStamp>,
) -> std::result::Result<Index, IndexProblem> {
    let mapped = Mapped(bytes);
    let whole: &[u8] = &mapped.0;
    let header = Header::decode(whole)?;
    check_payload(&header, &whole[HEADER_LEN..], years, source)?;
    let view = RoaringView::open(mapped).map_err(|err| IndexProblem::Corrupt(err.to_string()))?;
    if view.cardinality() != header.cardinality {
        let (said, held) = (header.cardinality, view.cardinality());
        return Err(IndexProblem::Corrupt(format!("its header says {said} tiles, the bitmap holds {held}")));
    }
    if view.containers().last().is_some_and(|c| u64::from(c.base()) >= years.id_limit()) {
        return Err(IndexProblem::Corrupt(format!("it holds ids past the last year of {years}")));
    }
    Ok(Index { view, checksum: header.checksum, source: header.source })
}

fn check_payload(
    header: &Header,
    payload: &[u8],
    years: YearRange,
    source: Option<SourceStamp>,
) -> std::result::Result<(), IndexProblem> {
    if payload.len() as u64 != header.payload_len {
        return Err(IndexProblem::Truncated {
            found: (HEADER_LEN + payload.len()) as u64,
            expected: HEADER_LEN as u64 + header.payload_len,
        });
    }
    // Ids are year-major from the first year: an index built before the inventory's years
    // grew at the end holds the same ids, and stays valid.
    if header.years.first() != years.first() || header.years.last() > years.last() {
        return Err(IndexProblem::OtherYears { built: header.years.to_string(), inventory: years });
    }
    if let Some(source) = source.filter(|s| *s != header.source) {
        return Err(IndexProblem::Stale { built_from: header.source.to_string(), now: source.to_string() });
    }
    let checksum = xxh3_64(payload);
    if checksum != header.checksum {
        let said = header.checksum;
        return Err(IndexProblem::Corrupt(format!("payload checksum {checksum:016x}, its header says {said:016x}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::DEFAULT_YEARS;

    /// An index is mapped with the advice to read it in huge pages: its mapping carries the
    /// `hg` flag in `/proc/self/smaps` (where the kernel has transparent huge pages at all).
    #[cfg(target_os = "linux")]
    #[test]
    fn an_index_is_mapped_asking_for_huge_pages() {
        if !Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            return;
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/index-v2.tbm");
        let opened = open(&path, DEFAULT_YEARS, None).expect("the index opens");
        let address = opened.view.bytes().as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps is readable");
        let mut flags_of_mapping = None;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
            {
                inside = (start..end).contains(&address);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                flags_of_mapping = Some(flags.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
            }
        }
        let flags = flags_of_mapping.expect("the index's mapping is listed");
        assert!(flags.iter().any(|flag| flag == "hg"), "flags of the mapping: {flags:?}");
    }

    /// The ids of `tests/data/index-v2.tbm`: runs, an array's worth of single ids and a
    /// second year, so every container kind is in it.
    fn v2_ids() -> Vec<TileId> {
        let runs = (0..3000u32).chain(10_000..10_050);
        let singles = (200_000..260_000u32).step_by(7);
        let next_year = (6_480_000..6_480_100u32).step_by(3);
        runs.chain(singles).chain(next_year).map(TileId).collect()
    }

    #[test]
    fn a_version_2_index_written_on_2026_11_30_still_opens_and_is_still_written_the_same() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/index-v2.tbm");
        if std::env::var_os("TESSERA_WRITE_INDEX_V2").is_some() {
            std::fs::write(&path, encode(DEFAULT_YEARS, v2_ids(), SourceStamp::NONE).unwrap()).unwrap();
        }
        let opened = open(&path, DEFAULT_YEARS, None).expect("a version 2 index opens");
        assert_eq!(opened.view.to_vec(), v2_ids().iter().map(|id| id.0).collect::<Vec<_>>());
        let mut kinds: Vec<_> = opened.view.containers().iter().map(|c| format!("{:?}", c.kind)).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds, ["Array", "Bitset", "Run"], "every container kind");
        // Byte for byte: a change to the writer shows here, and then needs a new version.
        let written = encode(DEFAULT_YEARS, v2_ids(), SourceStamp::NONE).unwrap();
        assert!(std::fs::read(&path).unwrap() == written, "the writer no longer writes version 2 as it did");
    }

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

    /// The problem `bytes` written as an index file are refused with, and its message.
    fn problem_of(path: &Path, bytes: &[u8], years: YearRange) -> (IndexProblem, String) {
        fs::write(path, bytes).unwrap();
        match open(path, years, Some(SourceStamp { len: 7, mtime_ns: 9, journal_len: 0 })) {
            Err(err @ Error::BadIndex { .. }) => {
                let message = err.to_string();
                let Error::BadIndex { problem, .. } = err else { unreachable!() };
                (problem, message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_problem_has_its_kind_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let good = fs::read(&path).unwrap();
        let with = |at: usize, field: &[u8]| {
            let mut bytes = good.clone();
            bytes[at..at + field.len()].copy_from_slice(field);
            bytes
        };
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 20] ^= 0x10;
        let len = good.len() as u64;
        let cases: Vec<(Vec<u8>, YearRange, IndexProblem)> = vec![
            (good[..good.len() - 3].to_vec(), DEFAULT_YEARS, IndexProblem::Truncated { found: len - 3, expected: len }),
            (good[..40].to_vec(), DEFAULT_YEARS, IndexProblem::Truncated { found: 40, expected: HEADER_LEN as u64 }),
            ([&b"PAR1"[..], &[b'.'; 100]].concat(), DEFAULT_YEARS, IndexProblem::Foreign { kind: "index" }),
            // A file of another release: the version it was written in is told apart.
            (
                with(8, &1u16.to_le_bytes()),
                DEFAULT_YEARS,
                IndexProblem::Version { found: 1, supported: FORMAT_VERSION },
            ),
            (
                with(8, &3u16.to_le_bytes()),
                DEFAULT_YEARS,
                IndexProblem::Version { found: 3, supported: FORMAT_VERSION },
            ),
            (
                with(12, &360u16.to_le_bytes()),
                DEFAULT_YEARS,
                IndexProblem::OtherGrid { cols: 360, rows: 1800, cell_centi: 10 },
            ),
            (
                good.clone(),
                YearRange::new(2018, 2025).unwrap(),
                IndexProblem::OtherYears {
                    built: DEFAULT_YEARS.to_string(),
                    inventory: YearRange::new(2018, 2025).unwrap(),
                },
            ),
            (
                with(48, &8u64.to_le_bytes()),
                DEFAULT_YEARS,
                IndexProblem::Stale {
                    built_from: SourceStamp { len: 8, mtime_ns: 9, journal_len: 0 }.to_string(),
                    now: SourceStamp { len: 7, mtime_ns: 9, journal_len: 0 }.to_string(),
                },
            ),
        ];
        for (bytes, years, expected) in cases {
            let (problem, message) = problem_of(&path, &bytes, years);
            assert_eq!(problem, expected);
            assert!(message.contains("s.tbm"), "{message}");
        }
        let (problem, message) = problem_of(&path, &flipped, DEFAULT_YEARS);
        assert!(matches!(problem, IndexProblem::Corrupt(_)), "{problem:?}");
        assert!(message.contains("checksum"), "{message}");
        fs::remove_file(&path).unwrap();
        let missing = open(&path, DEFAULT_YEARS, None).unwrap_err();
        assert!(matches!(missing, Error::BadIndex { problem: IndexProblem::Missing, .. }), "{missing}");
    }
}
