//! A derived file's bytes, mapped from disk or owned in memory, and the one place the engine
//! memory-maps a file.

use std::fs::File;

use memmap2::Mmap;

/// A file's bytes: mapped read-only in place, or built in memory (a set that has no file, a
/// read-only inventory that cannot write the file it rebuilt).
#[derive(Debug)]
pub(crate) enum FileBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(map) => map,
            FileBytes::Owned(bytes) => bytes,
        }
    }
}

/// Maps the whole of `file` read-only. An empty file maps to no bytes.
#[allow(unsafe_code)]
pub(crate) fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: tessera never writes a file it maps in place: derived files are written to a
    // temporary file renamed over the old one, so a mapping keeps seeing the bytes it was
    // opened with, and listings are only read. Another program truncating the file while it
    // is mapped could still fault the process; that is the documented limit of memory-mapping
    // (docs/FORMAT.md).
    unsafe { Mmap::map(file) }
}
