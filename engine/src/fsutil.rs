//! Durable, atomic file replacement: write a temporary file beside the target, fsync it, rename
//! it over the target, fsync the directory. A crash at any point leaves either the old file or
//! the new one, never a torn mix, and the temporary file never has the target's name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Replaces `path` with whatever `write` produces, atomically and durably.
///
/// If `write` fails, the temporary file is removed and `path` is untouched.
pub(crate) fn replace_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    replace(path, Durability::Synced, write)
}

/// Whether a replacement must survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// The file and the rename are synced before returning.
    Synced,
    /// No `fsync`: for derived files that check themselves when read. A crash may leave the old
    /// file, the new one, or (on some filesystems) an empty or partly written one under the
    /// name, which fails its checks and is built again.
    Unsynced,
}

fn replace(path: &Path, durability: Durability, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let temp = temp_path(path);
    let result = write_temp(&temp, durability, write)
        .and_then(|()| fs::rename(&temp, path).map_err(Error::io("renaming a temporary file to", path)));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    match durability {
        Durability::Synced => sync_parent(path),
        Durability::Unsynced => Ok(()),
    }
}

fn write_temp(
    temp: &Path,
    durability: Durability,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    // `create_new`: a temporary file is this writer's alone, never one another left behind.
    let file = fs::OpenOptions::new().write(true).create_new(true).open(temp).map_err(Error::io("creating", temp))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|err| Error::io("writing", temp)(err.into_error()))?;
    match durability {
        Durability::Synced => file.sync_all().map_err(Error::io("syncing", temp)),
        Durability::Unsynced => Ok(()),
    }
}

/// `dir/.name.tmp-<pid>-<random>`: hidden, unique per call (threads and processes alike),
/// and never mistaken for the real file.
fn temp_path(path: &Path) -> PathBuf {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut seed = [0u8; 24];
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    seed[..8].copy_from_slice(&nanos.to_le_bytes());
    seed[8..16].copy_from_slice(&CALLS.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    let random = xxhash_rust::xxh3::xxh3_64(&seed);
    path.with_file_name(format!(".{name}{TEMP_MARK}{}-{random:016x}", std::process::id()))
}

/// What every temporary file name holds after the target's name.
const TEMP_MARK: &str = ".tmp-";

/// Removes the temporary files of `targets` (in their directories) older than `age`: what a
/// writer killed mid-write left. Returns how many it removed; files it cannot read or remove
/// are left for the next time.
pub(crate) fn remove_orphans(targets: &[&Path], age: Duration) -> usize {
    let mut removed = 0;
    for target in targets {
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else { continue };
        let prefix = format!(".{}{TEMP_MARK}", name.to_string_lossy());
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let is_temp = entry.file_name().to_string_lossy().starts_with(&prefix);
            let modified = entry.metadata().and_then(|meta| meta.modified()).ok();
            let old = modified.and_then(|time| time.elapsed().ok()).is_some_and(|elapsed| elapsed > age);
            if is_temp && old && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Makes a rename durable by syncing the directory that holds it.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match File::open(parent).and_then(|dir| dir.sync_all()) {
        Ok(()) => Ok(()),
        // Some filesystems cannot fsync a directory; the rename itself is still atomic there.
        Err(err) if err.kind() == io::ErrorKind::InvalidInput => Ok(()),
        Err(err) => Err(Error::io("syncing directory", parent)(err)),
    }
}

/// A file mapped read-only, whole: its bytes in place, without copying them (`tessera scan`
/// reads a 930 MB listing this way). See [`map_file`] for the one caveat.
#[derive(Debug)]
pub struct MappedFile(memmap2::Mmap);

impl MappedFile {
    /// The whole file's bytes, in place; empty for an empty file.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Maps `path` read-only. An empty file maps to no bytes.
///
/// The caveat of every memory map: another program that truncates the file while it is
/// mapped makes reading the lost pages fault the process (SIGBUS). tessera maps only files it
/// reads once and never writes (listings) or replaces only by renaming (indexes).
pub fn map_file(path: &Path) -> Result<MappedFile> {
    let file = File::open(path).map_err(Error::io("opening", path))?;
    let map = crate::file_bytes::map(&file).map_err(Error::io("mapping", path))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(MappedFile(map))
}

/// Writes all of `bytes` to `path` atomically.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_atomically(path, |out| out.write_all(bytes).map_err(Error::io("writing", path)))
}

/// Writes all of `bytes` to `path` atomically but not durably: for derived files that check
/// themselves when read (see [`Durability::Unsynced`]); it costs no `fsync`.
pub(crate) fn write_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, Durability::Unsynced, |out| out.write_all(bytes).map_err(Error::io("writing", path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_unique_and_old_orphans_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.parquet");
        assert_ne!(temp_path(&path), temp_path(&path));
        let orphan = temp_path(&path);
        fs::write(&orphan, b"left by a killed writer").unwrap();
        let other = dir.path().join(".s3.tbm.tmp-1-0");
        fs::write(&other, b"another file's").unwrap();
        assert_eq!(remove_orphans(&[&path], Duration::from_secs(3600)), 0, "a fresh one may be a live writer's");
        assert_eq!(remove_orphans(&[&path], Duration::ZERO), 1);
        assert!(!orphan.exists() && other.exists());
    }

    #[test]
    fn failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.parquet");
        write_atomically(&path, b"old").unwrap();
        let failed = replace_atomically(&path, |out| {
            out.write_all(b"half").unwrap();
            Err(Error::Config { path: path.clone(), message: "boom".into() })
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
