//! The record journal, `stores/NAME.journal`: tiles recorded as copied since the manifest was
//! last written, appended in checksummed frames and fsynced before a record is acknowledged.
//!
//! ```text
//! frame: magic "TJR1" | count u32 | count x (id u32, file_size u64, scales_size u64) | xxh3 u64
//! ```
//!
//! All integers are little-endian; a size of `u64::MAX` means unknown, and a `file_size` of
//! `u64::MAX - 1` marks a removal (a tile `tessera verify` found damaged). Entries apply in
//! order and the last one for a tile wins. The checksum covers the
//! magic, the count and the entries. A reader takes frames until the end of the file or the
//! first frame that is short or fails its checksum: that torn tail is what a crash during an
//! append leaves, it was never acknowledged, and the next append cuts it off before writing.
//! Compaction folds the journal into the manifest (rewritten atomically) and then removes it;
//! a crash between the two leaves rows in both, which is harmless because replaying the journal
//! over the compacted manifest gives the same last-entry-wins result.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::grid::TileId;
use crate::manifest::ManifestRow;

const MAGIC: [u8; 4] = *b"TJR1";
const FRAME_HEADER: usize = 8;
const ENTRY: usize = 20;
const CHECKSUM: usize = 8;
const UNKNOWN: u64 = u64::MAX;
const REMOVED: u64 = u64::MAX - 1;

/// One journal entry: a tile now present (with the sizes seen), or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Present(ManifestRow),
    Removed(TileId),
}

impl Entry {
    pub fn id(&self) -> TileId {
        match self {
            Entry::Present(row) => row.id,
            Entry::Removed(id) => *id,
        }
    }
}

/// The journal of the manifest at `manifest`: `x.parquet` -> `x.journal`.
pub fn journal_path(manifest: &Path) -> PathBuf {
    manifest.with_extension("journal")
}

/// The entries of every complete frame, in the order they were appended, and the byte length
/// of those frames (the valid prefix of the file). A missing journal is empty.
pub fn read(path: &Path) -> Result<(Vec<Entry>, u64)> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes).map_err(Error::io("reading", path))?,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(err) => return Err(Error::io("opening", path)(err)),
    };
    let mut rows = Vec::new();
    let mut valid = 0;
    while let Some((frame_rows, len)) = read_frame(&bytes[valid..]) {
        rows.extend(frame_rows);
        valid += len;
    }
    Ok((rows, valid as u64))
}

fn read_frame(bytes: &[u8]) -> Option<(Vec<Entry>, usize)> {
    if bytes.len() < FRAME_HEADER || bytes[..4] != MAGIC {
        return None;
    }
    let count = u32::from_le_bytes(bytes[4..8].try_into().ok()?) as usize;
    let body = FRAME_HEADER.checked_add(count.checked_mul(ENTRY)?)?;
    let checksum = bytes.get(body..body + CHECKSUM)?;
    if xxh3_64(&bytes[..body]).to_le_bytes() != checksum {
        return None;
    }
    let (entries, _) = bytes[FRAME_HEADER..body].as_chunks::<ENTRY>();
    let rows = entries.iter().map(decode_entry).collect();
    Some((rows, body + CHECKSUM))
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

fn encode_frame(entries: &[Entry]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_HEADER + entries.len() * ENTRY + CHECKSUM);
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&(entries.len() as u32).to_le_bytes());
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

/// Appends `entries` as one frame after the journal's `valid` bytes (cutting off any torn
/// tail) and fsyncs it; returns the new valid length. When this returns, they are durable.
pub fn append(path: &Path, valid: u64, entries: &[Entry]) -> Result<u64> {
    let created = !path.exists();
    let mut file =
        OpenOptions::new().create(true).write(true).truncate(false).open(path).map_err(Error::io("opening", path))?;
    file.set_len(valid).map_err(Error::io("cutting the torn tail of", path))?;
    file.seek(SeekFrom::Start(valid)).map_err(Error::io("seeking in", path))?;
    let frame = encode_frame(entries);
    file.write_all(&frame).map_err(Error::io("appending to", path))?;
    file.sync_all().map_err(Error::io("syncing", path))?;
    if created {
        crate::fsutil::sync_parent(path)?;
    }
    Ok(valid + frame.len() as u64)
}

/// Removes the journal once its rows are in the manifest.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => crate::fsutil::sync_parent(path),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io("removing", path)(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u32) -> Entry {
        Entry::Present(ManifestRow { id: TileId(id), file_size: Some(u64::from(id) * 10), scales_size: None })
    }

    #[test]
    fn frames_round_trip_and_a_torn_tail_is_ignored_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.journal");
        assert_eq!(read(&path).unwrap(), (vec![], 0));
        let valid = append(&path, 0, &[row(1), row(2)]).unwrap();
        let valid = append(&path, valid, &[row(3), Entry::Removed(TileId(1))]).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&encode_frame(&[row(4)])[..15]);
        fs::write(&path, &bytes).unwrap();
        let removed = Entry::Removed(TileId(1));
        assert_eq!(read(&path).unwrap(), (vec![row(1), row(2), row(3), removed], valid));
        let after = append(&path, valid, &[row(5)]).unwrap();
        assert_eq!(read(&path).unwrap(), (vec![row(1), row(2), row(3), removed, row(5)], after));
    }

    #[test]
    fn a_corrupt_frame_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.journal");
        let valid = append(&path, 0, &[row(1)]).unwrap();
        append(&path, valid, &[row(2)]).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 12;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path).unwrap(), (vec![row(1)], valid));
    }
}
