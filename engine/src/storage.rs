//! Where a store's tile folders live, as `tessera.toml`'s `storage` names it, and which copy
//! tools can move tiles between two such places.
//!
//! A storage is a local directory (a ZFS dataset, a CephFS mount) or an S3 prefix
//! (`s3://bucket/prefix`). The pair of kinds decides the tool: `s5cmd` whenever S3 is on
//! either side (it refuses two local paths: "local->local copy operations are not
//! permitted"), `rsync` or `cp -a` between two directories (neither speaks S3).
//!
//! ```
//! use tessera_engine::storage::{CopyTool, Storage};
//!
//! let primary = Storage::parse("/data/tessera/v1/global_0.1_degree_representation")?;
//! let cephfs = Storage::parse("/mnt/cephfs/tessera/v1/global_0.1_degree_representation")?;
//! let bucket = Storage::parse("s3://tessera-embeddings/v1/global_0.1_degree_representation")?;
//! assert_eq!(CopyTool::for_pair(&primary, &cephfs), CopyTool::Rsync);
//! assert_eq!(CopyTool::for_pair(&primary, &bucket), CopyTool::S5cmd);
//! assert!(CopyTool::S5cmd.check(&primary, &cephfs).is_err());
//! # Ok::<(), tessera_engine::Error>(())
//! ```
//!
//! # Symbolic links in a directory store
//!
//! A link is never a tile file, nor a tile folder: a "copy" made of links into another store
//! holds no byte of its own, and is gone with the store it points into. The rule, kept here
//! and applied by [`LocalEntry::of`] wherever tessera looks at a directory store itself:
//! - `tessera scan --list` names each link it meets and counts nothing through it, so a tile
//!   with a linked file is partial there (a `find -L` listing, scanned, counts what links
//!   point to, for a store built of links on purpose);
//! - `tessera sync` with `cp` or `rsync` never confirms a tile whose folder or files are links,
//!   at the source or the target, and says so. With `--copy-links` ([`Links::Followed`]) the
//!   tool copies what the source's links point to (`cp --dereference`, `rsync --copy-links`)
//!   and the check follows the source's links, but the target's files must still be its own.
//!
//! `s5cmd` uploads what a link points to in any case: an object is never a link.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A store's storage: a local directory or an S3 prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A directory on this machine (or mounted on it), as written, without a trailing `/`.
    Local(String),
    /// `s3://bucket/prefix`, as written, without a trailing `/`.
    S3(String),
}

/// The kind of a [`Storage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// A directory on this machine or mounted on it.
    Local,
    /// An `s3://bucket/prefix` location.
    S3,
}

impl Storage {
    /// Parses a `storage` value: `s3://bucket[/prefix]` or a local path. Any other scheme
    /// (`gs://`, `https://`) is [`Error::BadStorage`]: no copy tool tessera drives reads it.
    pub fn parse(text: &str) -> Result<Storage> {
        let bad = |reason: &'static str| Error::BadStorage { storage: text.to_owned(), reason };
        let trimmed = text.trim_end_matches('/');
        if let Some(rest) = trimmed.strip_prefix("s3://") {
            let bucket = rest.split('/').next().unwrap_or_default();
            if bucket.is_empty() {
                return Err(bad("an S3 storage names its bucket: s3://bucket/prefix"));
            }
            return Ok(Storage::S3(trimmed.to_owned()));
        }
        if text.contains("://") {
            return Err(bad("expected a local directory or s3://bucket/prefix"));
        }
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        // The root directory is the one path whose trailing `/` must stay.
        Ok(Storage::Local(if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() }))
    }

    /// Whether this is a local directory or an S3 prefix.
    pub fn kind(&self) -> StorageKind {
        match self {
            Storage::Local(_) => StorageKind::Local,
            Storage::S3(_) => StorageKind::S3,
        }
    }

    /// True for a local directory, false for an S3 prefix.
    pub fn is_local(&self) -> bool {
        self.kind() == StorageKind::Local
    }

    /// The path or URI, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        match self {
            Storage::Local(path) | Storage::S3(path) => path,
        }
    }

    /// The local directory, if this is one.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Storage::Local(path) => Some(Path::new(path)),
            Storage::S3(_) => None,
        }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the symbolic links of a directory store are taken (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Links {
    /// A link is not a tile file: it is named, never counted or confirmed as a copy.
    #[default]
    Refused,
    /// A link stands for what it points to: the source side of `sync --copy-links`.
    Followed,
}

/// What a path in a directory store is, judged by [`Links`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEntry {
    /// A file or folder of its own (or what a followed link points to); `len` is a file's size
    /// in bytes.
    Own {
        /// The size in bytes, for a file.
        len: u64,
    },
    /// A symbolic link, not followed, and the path it holds.
    Link {
        /// Where the link points, as written in it.
        to: PathBuf,
    },
    /// Nothing is there (a followed link that points nowhere counts as nothing).
    Absent,
}

#[cfg(feature = "disk")]
impl LocalEntry {
    /// Judges `path`: one `lstat`, and one more call for a link (to follow or to read it).
    /// Errors other than "not found" are [`Error::Io`], naming the path.
    pub fn of(path: &Path, links: Links) -> Result<LocalEntry> {
        match std::fs::symlink_metadata(path) {
            Ok(own) => LocalEntry::judge(path, &own, links),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(LocalEntry::Absent),
            Err(err) => Err(Error::io("reading", path)(err)),
        }
    }

    /// Judges `path` by `own`, its own metadata as a directory walk has it already
    /// (`DirEntry::metadata` does not follow links).
    pub fn judge(path: &Path, own: &std::fs::Metadata, links: Links) -> Result<LocalEntry> {
        if !own.file_type().is_symlink() {
            return Ok(LocalEntry::Own { len: own.len() });
        }
        match links {
            Links::Refused => {
                let to = std::fs::read_link(path).map_err(Error::io("reading the link", path))?;
                Ok(LocalEntry::Link { to })
            }
            Links::Followed => match std::fs::metadata(path) {
                Ok(target) => Ok(LocalEntry::Own { len: target.len() }),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(LocalEntry::Absent),
                Err(err) => Err(Error::io("following the link", path)(err)),
            },
        }
    }
}

/// A tool that copies tile folders from one storage to another. tessera never copies bytes
/// itself: it writes what these tools read, or runs them (`tessera sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CopyTool {
    /// `s5cmd run`: `cp "SRC/2024/grid_x_y/*" "DST/2024/grid_x_y/"` lines; needs S3 on a side.
    S5cmd,
    /// `rsync -a -r --files-from=LIST SRC/ DST/`: between two directories.
    Rsync,
    /// `cp -a`: between two directories (`mkdir -p` and `cp -a` lines for `xargs -P`).
    Cp,
}

impl CopyTool {
    /// Every tool, in the order messages list them.
    pub const ALL: [CopyTool; 3] = [CopyTool::Rsync, CopyTool::Cp, CopyTool::S5cmd];

    /// The tool's command name.
    pub fn name(self) -> &'static str {
        match self {
            CopyTool::S5cmd => "s5cmd",
            CopyTool::Rsync => "rsync",
            CopyTool::Cp => "cp",
        }
    }

    /// Whether the tool can copy from `source` to `target`.
    pub fn can_copy(self, source: &Storage, target: &Storage) -> bool {
        let both_local = source.is_local() && target.is_local();
        match self {
            CopyTool::S5cmd => !both_local,
            CopyTool::Rsync | CopyTool::Cp => both_local,
        }
    }

    /// The tool tessera uses for a pair: `rsync` between two directories, `s5cmd` otherwise.
    pub fn for_pair(source: &Storage, target: &Storage) -> CopyTool {
        if source.is_local() && target.is_local() { CopyTool::Rsync } else { CopyTool::S5cmd }
    }

    /// `Ok` when the tool can copy between the pair, else [`Error::CopyTool`] naming the tools
    /// that can.
    pub fn check(self, source: &Storage, target: &Storage) -> Result<()> {
        if self.can_copy(source, target) {
            return Ok(());
        }
        let usable: Vec<&str> = CopyTool::ALL.iter().filter(|t| t.can_copy(source, target)).map(|t| t.name()).collect();
        let why = match self {
            CopyTool::S5cmd => "it refuses two local paths",
            CopyTool::Rsync | CopyTool::Cp => "it reads and writes only local paths",
        };
        Err(Error::CopyTool {
            tool: self.name(),
            why,
            from: source.to_string(),
            to: target.to_string(),
            usable: usable.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storages_parse_to_local_paths_or_s3_prefixes() {
        assert_eq!(Storage::parse("/data/v1/").unwrap(), Storage::Local("/data/v1".into()));
        assert_eq!(Storage::parse("/").unwrap(), Storage::Local("/".into()));
        assert_eq!(Storage::parse("relative/dir").unwrap(), Storage::Local("relative/dir".into()));
        assert_eq!(Storage::parse("s3://bucket/v1/").unwrap(), Storage::S3("s3://bucket/v1".into()));
        assert_eq!(Storage::parse("s3://bucket").unwrap(), Storage::S3("s3://bucket".into()));
        for bad in ["", "s3://", "s3:///prefix", "gs://bucket/v1", "https://example.org/v1"] {
            let err = Storage::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn each_pair_of_kinds_has_tools_and_refuses_the_others_by_name() {
        let local = Storage::parse("/data/v1").unwrap();
        let mount = Storage::parse("/mnt/cephfs/v1").unwrap();
        let bucket = Storage::parse("s3://bucket/v1").unwrap();
        assert_eq!(CopyTool::for_pair(&local, &mount), CopyTool::Rsync);
        for (source, target) in [(&local, &bucket), (&bucket, &local), (&bucket, &bucket)] {
            assert_eq!(CopyTool::for_pair(source, target), CopyTool::S5cmd);
            assert!(CopyTool::S5cmd.check(source, target).is_ok());
            let err = CopyTool::Rsync.check(source, target).unwrap_err().to_string();
            assert!(err.contains("`rsync` cannot copy") && err.ends_with("tools that can: s5cmd"), "{err}");
        }
        assert!(CopyTool::Rsync.check(&local, &mount).is_ok() && CopyTool::Cp.check(&local, &mount).is_ok());
        let err = CopyTool::S5cmd.check(&local, &mount).unwrap_err().to_string();
        assert_eq!(
            err,
            "`s5cmd` cannot copy from /data/v1 to /mnt/cephfs/v1 (it refuses two local paths); tools that can: rsync, cp"
        );
    }
}
