//! Durable, atomic file replacement: write a temporary file beside the target, fsync it, rename
//! it over the target, fsync the directory. A crash at any point leaves either the old file or
//! the new one, never a torn mix, and the temporary file never has the target's name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Replaces `path` with whatever `write` produces, atomically and durably.
///
/// If `write` fails, the temporary file is removed and `path` is untouched.
pub fn replace_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let temp = temp_path(path);
    let result = write_and_sync(&temp, write)
        .and_then(|()| fs::rename(&temp, path).map_err(Error::io("renaming a temporary file to", path)));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_parent(path)
}

fn write_and_sync(temp: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let file = File::create(temp).map_err(Error::io("creating", temp))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|err| Error::io("writing", temp)(err.into_error()))?;
    file.sync_all().map_err(Error::io("syncing", temp))
}

/// `dir/.name.tmp-<pid>`: hidden, per process, and never mistaken for the real file.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Makes a rename durable by syncing the directory that holds it.
pub fn sync_parent(path: &Path) -> Result<()> {
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

/// Writes all of `bytes` to `path` atomically.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_atomically(path, |out| out.write_all(bytes).map_err(Error::io("writing", path)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
