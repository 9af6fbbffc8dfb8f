//! The record journal, `stores/NAME.journal`: what was recorded in a store since its manifest
//! was written (tiles copied, tiles found damaged), appended in checksummed frames and fsynced
//! before a record is acknowledged.
//!
//! ```text
//! header: magic "TJH2" | generation u64 | xxh3-64 of the 12 bytes before it
//! frame:  magic "TJR2" | count u32 | appended_at i64 (ns since the epoch)
//!         | count x (id u32, file_size u64, scales_size u64) | xxh3-64 of the frame before it
//! ```
//!
//! All integers are little-endian; a size of `u64::MAX` means unknown, and a `file_size` of
//! `u64::MAX - 1` marks a removal (a tile `tessera verify` found damaged). Entries apply in
//! order and the last one for a tile wins. A journal is created whole (header written to a
//! temporary file and renamed), with a random generation that names it: a manifest records the
//! generation and byte offset up to which it includes the journal, so what it includes is
//! never applied twice, and a journal started afresh is never mistaken for the old one.
//!
//! Reading takes frames from the start. A frame that is short or fails its checksum *at the
//! end* is a torn tail (a crash during an append, never acknowledged): reading stops there
//! and the next append cuts it off. A bad frame *followed by a valid one* is damage, not a
//! torn tail: [`read`] refuses it with [`Error::DamagedJournal`] and nothing is cut, because
//! the frames after it were acknowledged. [`salvage`] then keeps every valid frame.
//!
//! A [`Position`] names a point in a store's history of journals: a generation and a byte
//! offset in the journal of that generation. It stays meaningful across a compaction, which
//! starts a new generation and keeps the old journal as [`previous_path`], and is what a scan
//! records as it starts: which frames its listing can have seen, found without a clock.
//!
//! Journals written before the header existed (frames `TJR1`, without `appended_at`) are read
//! as generation 0, their frames as appended at time 0.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::grid::TileId;
use crate::store::manifest::ManifestRow;

const HEADER_MAGIC: [u8; 4] = *b"TJH2";
const HEADER: usize = 20;
const FRAME_MAGIC: [u8; 4] = *b"TJR2";
const FRAME_HEADER: usize = 16;
/// Frames of journals written before the header and timestamps.
const LEGACY_MAGIC: [u8; 4] = *b"TJR1";
const LEGACY_FRAME_HEADER: usize = 8;
const ENTRY: usize = 20;
const CHECKSUM: usize = 8;
const UNKNOWN: u64 = u64::MAX;
const REMOVED: u64 = u64::MAX - 1;

/// One journal entry: a tile now present (with the sizes seen), or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A tile recorded as present, with the sizes seen (`None`: not known).
    Present(ManifestRow),
    /// A tile recorded as no longer present (a damaged copy found by `tessera verify`).
    Removed(TileId),
}

impl Entry {
    /// The tile the entry records.
    pub fn id(&self) -> TileId {
        match self {
            Entry::Present(row) => row.id,
            Entry::Removed(id) => *id,
        }
    }
}

/// One appended frame: its entries, where it ends, and when it was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The byte offset just past the frame.
    pub end: u64,
    /// When it was appended, nanoseconds since the Unix epoch (0 for legacy frames).
    pub appended_at: i64,
    /// The tiles recorded in the frame, in order.
    pub entries: Vec<Entry>,
}

/// A point in a store's journals: the first `bytes` bytes (header included) of the journal of
/// `generation`. Compared by identity, never by time: a clock stepped back cannot move it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The journal's generation (0: a legacy journal, or none).
    pub generation: u64,
    /// Bytes from the start of that journal: everything up to the end of a frame.
    pub bytes: u64,
}

impl Position {
    /// Before every journal: the store had none (nor a retired one), so every frame of any
    /// journal it has since comes after this position.
    pub const NONE: Position = Position { generation: 0, bytes: 0 };
}

/// A journal as read: its generation, its complete frames, and the length they take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// The journal's name among those of its store (0: none yet, or a legacy journal).
    pub generation: u64,
    /// The complete frames, in file order.
    pub frames: Vec<Frame>,
    /// Bytes of the header and complete frames: the valid prefix of the file.
    pub valid: u64,
}

impl Journal {
    /// The entries of the frames that end after byte `from`, in order.
    pub fn entries_after(&self, from: u64) -> impl Iterator<Item = &Entry> {
        self.frames.iter().filter(move |frame| frame.end > from).flat_map(|frame| &frame.entries)
    }

    /// How many entries end after byte `from`.
    pub fn count_after(&self, from: u64) -> usize {
        self.frames.iter().filter(|frame| frame.end > from).map(|frame| frame.entries.len()).sum()
    }

    /// Where the journal ends now: the position a scan starting now records.
    pub fn end(&self) -> Position {
        Position { generation: self.generation, bytes: self.valid }
    }

    /// Whether `position` is a point of this journal (a journal with no bytes has none).
    pub fn holds(&self, position: Position) -> bool {
        self.valid > 0 && position.generation == self.generation && position.bytes <= self.valid
    }

    /// How many frames end at or before `bytes`: those a position there comes after.
    pub fn frames_up_to(&self, bytes: u64) -> usize {
        self.frames.iter().take_while(|frame| frame.end <= bytes).count()
    }

    /// The offset where frame `index` starts (where the frames from `index` on begin; the
    /// end of the last frame when `index` is the number of frames).
    pub fn start_of(&self, index: usize) -> u64 {
        match index.checked_sub(1).and_then(|before| self.frames.get(before)) {
            Some(frame) => frame.end,
            None => self.header_len(),
        }
    }

    /// When the newest frame was appended, if there is one.
    pub fn newest(&self) -> Option<i64> {
        self.frames.iter().map(|frame| frame.appended_at).max()
    }

    fn header_len(&self) -> u64 {
        if self.generation == 0 { 0 } else { HEADER as u64 }
    }
}

/// The journal of the manifest at `manifest`: `x.parquet` -> `x.journal`.
pub fn journal_path(manifest: &Path) -> PathBuf {
    manifest.with_extension("journal")
}

/// Reads the journal at `path`; a missing journal is empty. A damaged frame followed by valid
/// ones is [`Error::DamagedJournal`]; a torn tail is left out of [`Journal::valid`].
pub fn read(path: &Path) -> Result<Journal> {
    let bytes = read_bytes(path)?;
    let (journal, bad_at) = parse(&bytes);
    if let Some(offset) = bad_at
        && next_valid_frame(&bytes, offset as usize).is_some()
    {
        return Err(Error::DamagedJournal { path: path.to_owned(), offset });
    }
    Ok(journal)
}

/// Bytes of a damaged journal that are not a valid frame, skipped by [`salvage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Where the skipped bytes start.
    pub from: u64,
    /// Where the next valid frame starts.
    pub to: u64,
    /// The records they held: as many as their frame header says when it is intact and
    /// spans them exactly, else as many as bytes this long could hold.
    pub records: usize,
}

/// Reads what can be read of a damaged journal: every valid frame, skipping the bytes that
/// are not one. Returns the journal and what was skipped.
pub fn salvage(path: &Path) -> Result<(Journal, Vec<Damage>)> {
    let bytes = read_bytes(path)?;
    let (mut journal, mut bad_at) = parse(&bytes);
    let mut skipped = Vec::new();
    while let Some(offset) = bad_at {
        let Some(next) = next_valid_frame(&bytes, offset as usize) else { break };
        let records = records_in(&bytes[offset as usize..next]);
        skipped.push(Damage { from: offset, to: next as u64, records });
        let mut at = next;
        bad_at = None;
        while at < bytes.len() {
            match read_frame(&bytes[at..]) {
                Some((appended_at, entries, len)) => {
                    at += len;
                    journal.frames.push(Frame { end: at as u64, appended_at, entries });
                }
                None => {
                    bad_at = Some(at as u64);
                    break;
                }
            }
        }
        journal.valid = journal.frames.last().map_or(journal.valid, |frame| frame.end);
    }
    Ok((journal, skipped))
}

/// How many records the damaged bytes `bad` held (see [`Damage::records`]). A flipped bit
/// in an entry leaves the frame header whole, and then the count is exact.
fn records_in(bad: &[u8]) -> usize {
    let header_len = match bad.get(..4) {
        Some(magic) if magic == FRAME_MAGIC => FRAME_HEADER,
        Some(magic) if magic == LEGACY_MAGIC => LEGACY_FRAME_HEADER,
        _ => LEGACY_FRAME_HEADER,
    };
    let said = bad.get(4..8).and_then(|count| count.try_into().ok()).map(u32::from_le_bytes);
    match said {
        Some(count) if header_len + count as usize * ENTRY + CHECKSUM == bad.len() => count as usize,
        _ => bad.len().saturating_sub(LEGACY_FRAME_HEADER + CHECKSUM) / ENTRY,
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes).map_err(Error::io("reading", path))?,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(bytes),
        Err(err) => return Err(Error::io("opening", path)(err)),
    };
    Ok(bytes)
}

/// The header and the frames up to the first that cannot be read, and where that one starts.
fn parse(bytes: &[u8]) -> (Journal, Option<u64>) {
    let mut journal = Journal::default();
    let mut at = 0;
    if let Some(generation) = read_header(bytes) {
        journal.generation = generation;
        at = HEADER;
    }
    journal.valid = at as u64;
    while at < bytes.len() {
        let Some((appended_at, entries, len)) = read_frame(&bytes[at..]) else {
            return (journal, Some(at as u64));
        };
        at += len;
        journal.valid = at as u64;
        journal.frames.push(Frame { end: at as u64, appended_at, entries });
    }
    (journal, None)
}

fn read_header(bytes: &[u8]) -> Option<u64> {
    let header = bytes.get(..HEADER)?;
    if header[..4] != HEADER_MAGIC || xxh3_64(&header[..12]).to_le_bytes() != header[12..] {
        return None;
    }
    Some(u64::from_le_bytes(header[4..12].try_into().ok()?))
}

/// The first offset after `from` where a complete, valid frame starts.
fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    (from + 1..bytes.len()).find(|&at| {
        let magic = &bytes[at..(at + 4).min(bytes.len())];
        (magic == FRAME_MAGIC || magic == LEGACY_MAGIC) && read_frame(&bytes[at..]).is_some()
    })
}

/// One frame at the start of `bytes`: its time, entries and length.
fn read_frame(bytes: &[u8]) -> Option<(i64, Vec<Entry>, usize)> {
    let magic = bytes.get(..4)?;
    let header_len = match magic {
        m if m == FRAME_MAGIC => FRAME_HEADER,
        m if m == LEGACY_MAGIC => LEGACY_FRAME_HEADER,
        _ => return None,
    };
    let count = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    let body = header_len.checked_add(count.checked_mul(ENTRY)?)?;
    let checksum = bytes.get(body..body.checked_add(CHECKSUM)?)?;
    if xxh3_64(&bytes[..body]).to_le_bytes() != checksum {
        return None;
    }
    let appended_at = if header_len == FRAME_HEADER { i64::from_le_bytes(bytes[8..16].try_into().ok()?) } else { 0 };
    let (entries, _) = bytes[header_len..body].as_chunks::<ENTRY>();
    Some((appended_at, entries.iter().map(decode_entry).collect(), body + CHECKSUM))
}

fn decode_entry(entry: &[u8; ENTRY]) -> Entry {
    let u64_at = |at: usize| u64::from_le_bytes(entry[at..at + 8].try_into().unwrap_or_default());
    let size = |value: u64| (value != UNKNOWN).then_some(value);
    let id = TileId(u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]));
    if u64_at(4) == REMOVED {
        return Entry::Removed(id);
    }
    Entry::Present(ManifestRow { id, file_size: size(u64_at(4)), scales_size: size(u64_at(12)) })
}

fn encode_frame(entries: &[Entry], appended_at: i64) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_HEADER + entries.len() * ENTRY + CHECKSUM);
    frame.extend_from_slice(&FRAME_MAGIC);
    frame.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    frame.extend_from_slice(&appended_at.to_le_bytes());
    for entry in entries {
        let (file_size, scales_size) = match entry {
            Entry::Present(row) => (row.file_size.unwrap_or(UNKNOWN), row.scales_size.unwrap_or(UNKNOWN)),
            Entry::Removed(_) => (REMOVED, REMOVED),
        };
        frame.extend_from_slice(&entry.id().0.to_le_bytes());
        frame.extend_from_slice(&file_size.to_le_bytes());
        frame.extend_from_slice(&scales_size.to_le_bytes());
    }
    let checksum = xxh3_64(&frame);
    frame.extend_from_slice(&checksum.to_le_bytes());
    frame
}

fn encode_header(generation: u64) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(&HEADER_MAGIC);
    header[4..12].copy_from_slice(&generation.to_le_bytes());
    let checksum = xxh3_64(&header[..12]);
    header[12..].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as i64)
}

/// A generation unlike any other this store had: the time, the process and a counter, mixed.
fn new_generation() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut seed = [0u8; 24];
    seed[..8].copy_from_slice(&now_ns().to_le_bytes());
    seed[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    seed[12..20].copy_from_slice(&count.to_le_bytes());
    // Zero is the legacy generation: never drawn.
    xxh3_64(&seed).max(1)
}

/// Starts a new, empty journal at `path` with a fresh generation, replacing any there
/// atomically (the caller has folded the old one into the manifest, or set it aside).
pub fn start(path: &Path) -> Result<Journal> {
    let generation = new_generation();
    crate::fsutil::write_atomically(path, &encode_header(generation))?;
    Ok(Journal { generation, frames: Vec::new(), valid: HEADER as u64 })
}

/// Appends `entries` as one frame to `journal` (as [`read`] returned it: the file is cut
/// to its valid prefix first, dropping a torn tail) and fsyncs it. Starts the journal if
/// there is none. When this returns, the entries are durable.
pub fn append(path: &Path, journal: &mut Journal, entries: &[Entry]) -> Result<()> {
    if journal.valid == 0 {
        *journal = start(path)?;
    }
    let mut file = OpenOptions::new().write(true).open(path).map_err(Error::io("opening", path))?;
    file.set_len(journal.valid).map_err(Error::io("cutting the torn tail of", path))?;
    file.seek(SeekFrom::Start(journal.valid)).map_err(Error::io("seeking in", path))?;
    let appended_at = now_ns();
    let frame = encode_frame(entries, appended_at);
    file.write_all(&frame).map_err(Error::io("appending to", path))?;
    file.sync_all().map_err(Error::io("syncing", path))?;
    journal.valid += frame.len() as u64;
    journal.frames.push(Frame { end: journal.valid, appended_at, entries: entries.to_vec() });
    Ok(())
}

/// The journal a compaction retired: `x.journal` -> `x.journal.prev`. Its records are in the
/// manifest; it is kept one compaction longer so that a listing taken before them can still
/// tell which came after it.
pub fn previous_path(path: &Path) -> PathBuf {
    path.with_extension("journal.prev")
}

/// Retires the journal at `path` to [`previous_path`], replacing the one retired before.
pub fn retire(path: &Path) -> Result<()> {
    let previous = previous_path(path);
    match fs::rename(path, &previous) {
        Ok(()) => crate::fsutil::sync_parent(path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io("retiring", path)(err)),
    }
}

/// Moves a damaged journal aside, to `NAME.journal.damaged-<unix seconds>`, keeping its bytes.
pub fn set_aside(path: &Path) -> Result<PathBuf> {
    let seconds = now_ns() / 1_000_000_000;
    let aside = path.with_extension(format!("journal.damaged-{seconds}"));
    fs::rename(path, &aside).map_err(Error::io("moving aside", path))?;
    crate::fsutil::sync_parent(path)?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u32) -> Entry {
        Entry::Present(ManifestRow { id: TileId(id), file_size: Some(u64::from(id) * 10), scales_size: None })
    }

    fn entries(journal: &Journal) -> Vec<Entry> {
        journal.entries_after(0).copied().collect()
    }

    #[test]
    fn frames_round_trip_and_a_torn_tail_is_ignored_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.journal");
        let mut journal = read(&path).unwrap();
        assert_eq!(journal, Journal::default());
        append(&path, &mut journal, &[row(1), row(2)]).unwrap();
        append(&path, &mut journal, &[row(3), Entry::Removed(TileId(1))]).unwrap();
        assert!(journal.generation != 0);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&encode_frame(&[row(4)], 5)[..15]);
        fs::write(&path, &bytes).unwrap();
        let mut reread = read(&path).unwrap();
        assert_eq!(reread, journal);
        let removed = Entry::Removed(TileId(1));
        assert_eq!(entries(&reread), [row(1), row(2), row(3), removed]);
        append(&path, &mut reread, &[row(5)]).unwrap();
        assert_eq!(entries(&read(&path).unwrap()), [row(1), row(2), row(3), removed, row(5)]);
    }

    #[test]
    fn a_damaged_frame_before_valid_ones_is_an_error_and_nothing_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.journal");
        let mut journal = Journal::default();
        for id in 1..=3 {
            append(&path, &mut journal, &[row(id)]).unwrap();
        }
        let mut bytes = fs::read(&path).unwrap();
        let first_frame = HEADER;
        bytes[first_frame + FRAME_HEADER + 1] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, Error::DamagedJournal { offset, .. } if offset == first_frame as u64), "{err}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "reading cut nothing");
        let (salvaged, skipped) = salvage(&path).unwrap();
        assert_eq!(entries(&salvaged), [row(2), row(3)]);
        let damaged_frame_end = (first_frame + FRAME_HEADER + ENTRY + CHECKSUM) as u64;
        assert_eq!(skipped, [Damage { from: first_frame as u64, to: damaged_frame_end, records: 1 }]);
    }

    #[test]
    fn a_legacy_journal_reads_as_generation_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.journal");
        let mut legacy = Vec::new();
        for id in [1, 2] {
            let mut frame = LEGACY_MAGIC.to_vec();
            frame.extend_from_slice(&1u32.to_le_bytes());
            frame.extend_from_slice(&encode_frame(&[row(id)], 0)[FRAME_HEADER..FRAME_HEADER + ENTRY]);
            let checksum = xxh3_64(&frame);
            frame.extend_from_slice(&checksum.to_le_bytes());
            legacy.extend(frame);
        }
        fs::write(&path, &legacy).unwrap();
        let journal = read(&path).unwrap();
        assert_eq!((journal.generation, journal.valid), (0, legacy.len() as u64));
        assert_eq!(entries(&journal), [row(1), row(2)]);
        assert_eq!(journal.start_of(0), 0);
        assert!(journal.holds(Position { generation: 0, bytes: journal.frames[0].end }));
    }

    #[test]
    fn a_position_splits_the_frames_of_its_own_journal_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.journal");
        let mut journal = Journal::default();
        append(&path, &mut journal, &[row(1)]).unwrap();
        let scan_started = journal.end();
        append(&path, &mut journal, &[row(2)]).unwrap();
        assert!(journal.holds(scan_started));
        let seen = journal.frames_up_to(scan_started.bytes);
        assert_eq!((seen, journal.start_of(seen)), (1, scan_started.bytes));
        assert_eq!(journal.entries_after(journal.start_of(seen)).copied().collect::<Vec<_>>(), [row(2)]);
        assert_eq!(journal.start_of(0), HEADER as u64);
        let restarted = start(&path).unwrap();
        assert!(!restarted.holds(scan_started), "a new generation holds no position of the old one");
        assert!(!Journal::default().holds(Position::NONE));
    }
}
