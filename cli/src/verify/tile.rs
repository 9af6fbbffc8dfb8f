//! What a tile's files must be, from every source that knows, and how a file is judged.
//!
//! A file's expected checksum is taken from the first source, in this order, that holds one of
//! a kind that can be compared with what was found of the file:
//! 1. the registry's `hash` / `scales_hash` columns (SHA-256);
//! 2. the tile folder's `SHA256` file, as `geotessera-registry hash` writes it (SHA-256);
//! 3. the checksums `tessera hash` recorded (SHA-256, CRC64NVME, MD5): the store's own, then
//!    the primaries', then the other stores': a copy must equal what was hashed.
//!
//! What was found of a file is its SHA-256 when it was read, or what S3 keeps of it (CRC64NVME,
//! SHA-256, an ETag that is an MD5) when it was not. A file no source can be compared with is
//! not checked: it is neither intact nor damaged, and is named.

use tessera_engine::checksums::{Checksums, FileSums};
use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::inventory::{Inventory, Role};
use tessera_engine::registry::{self, RegistryTiles};

use crate::bucket::ObjectChecksums;

/// Every store's recorded checksums, in the order they are consulted: `first`'s (the store a
/// copy came from, or the one being verified), then the primaries', then the others'.
pub fn recorded_checksums(inventory: &Inventory, first: &str) -> anyhow::Result<Vec<Checksums>> {
    let mut stores: Vec<_> = inventory.stores().iter().collect();
    stores.sort_by_key(|store| (store.config.name != first, store.config.role != Role::Primary));
    let mut recorded = Vec::new();
    for store in stores {
        let sums = inventory.checksums(&store.config.name)?;
        if !sums.is_empty() {
            recorded.push(sums);
        }
    }
    Ok(recorded)
}

/// Where an expected checksum came from, in the order sources are consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Registry,
    Sha256File,
    Recorded,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Registry, Source::Sha256File, Source::Recorded];

    /// What a file's damage is measured against, in its report: "differs from ...".
    pub fn whose(self) -> &'static str {
        match self {
            Source::Registry => "the registry's",
            Source::Sha256File => "the tile's SHA256 file",
            Source::Recorded => "the checksums recorded by `tessera hash`",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Source::Registry => "the registry's hashes",
            Source::Sha256File => "the tiles' SHA256 files",
            Source::Recorded => "checksums recorded by `tessera hash`",
        }
    }
}

/// What was found of a file.
#[derive(Debug, Clone, Copy)]
pub enum Found {
    /// Its bytes were read: their SHA-256.
    Read([u8; 32]),
    /// What the storage keeps of it, no byte read.
    Metadata(ObjectChecksums),
}

/// The judgement of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact(Source),
    Damaged(String),
    /// No source could be compared with what was found.
    Unchecked,
}

/// Every source of expected checksums for a store's tiles.
pub struct Expectations<'a> {
    pub registry: &'a RegistryTiles,
    /// Each hashed store's recorded checksums, the primaries' first.
    pub recorded: Vec<Checksums>,
}

/// The files of one tile a verify checks, with what each is expected to be.
#[derive(Debug)]
pub struct TileFiles {
    /// `2024/grid_0.15_49.95`, relative to the store's root.
    pub folder: String,
    pub files: [FileExpected; 2],
}

/// One data file and what it must be, from the registry and the recorded checksums (the
/// `SHA256` file is read with the tile's folder, when it is needed).
#[derive(Debug)]
pub struct FileExpected {
    pub name: String,
    pub registry_sha256: Option<[u8; 32]>,
    pub recorded: Option<FileSums>,
}

impl Expectations<'_> {
    /// The files of tile `id`, or `None` when the registry does not hold it.
    pub fn tile(&self, id: TileId, years: YearRange) -> Option<TileFiles> {
        let tile = years.tile(id).ok()?;
        let at = self.registry.ids.binary_search(&id).ok()?;
        let name = tile.cell.name().to_string();
        let recorded = self.recorded.iter().find_map(|sums| sums.get(id));
        let file = |at_file: usize, name: String, hashes: &Option<Vec<[u8; 32]>>| FileExpected {
            name,
            registry_sha256: hashes.as_ref().map(|hashes| hashes[at]),
            recorded: recorded.map(|sums| sums.files[at_file]),
        };
        Some(TileFiles {
            folder: format!("{}/{name}", tile.year),
            files: [
                file(0, format!("{name}.npy"), &self.registry.hash),
                file(1, format!("{name}_scales.npy"), &self.registry.scales_hash),
            ],
        })
    }
}

impl FileExpected {
    /// The file's line in its tile's `SHA256` file (`listed`, empty when the tile has none).
    pub fn listed_sha256(&self, listed: &str) -> Option<[u8; 32]> {
        let line = listed.lines().find(|line| line.split_whitespace().nth(1) == Some(self.name.as_str()))?;
        line.split_whitespace().next().and_then(registry::parse_sha256)
    }

    /// Whether judging what S3 keeps of the file needs its tile's `SHA256` file: S3 keeps a
    /// SHA-256 and no source before that file has one.
    pub fn needs_listing(&self, found: &ObjectChecksums) -> bool {
        found.sha256.is_some() && self.registry_sha256.is_none()
    }

    /// Judges what was found of the file against the first source that can say.
    pub fn judge(&self, found: &Found, listed: &str) -> Verdict {
        let listed = self.listed_sha256(listed);
        let sha256 = |source: Source, expected: [u8; 32], actual: [u8; 32]| {
            if expected == actual {
                Verdict::Intact(source)
            } else {
                Verdict::Damaged(format!("{}: sha256 differs from {}", self.name, source.whose()))
            }
        };
        match found {
            Found::Read(actual) => {
                if let Some(expected) = self.registry_sha256 {
                    return sha256(Source::Registry, expected, *actual);
                }
                if let Some(expected) = listed {
                    return sha256(Source::Sha256File, expected, *actual);
                }
                match self.recorded {
                    Some(recorded) => sha256(Source::Recorded, recorded.sha256, *actual),
                    None => Verdict::Unchecked,
                }
            }
            Found::Metadata(meta) => self.judge_metadata(meta, listed),
        }
    }

    fn judge_metadata(&self, meta: &ObjectChecksums, listed: Option<[u8; 32]>) -> Verdict {
        let differs = |what: &str, source: Source| {
            Verdict::Damaged(format!("{}: {what} differs from {}", self.name, source.whose()))
        };
        if let Some(recorded) = self.recorded
            && recorded.size != meta.size
        {
            return differs("size", Source::Recorded);
        }
        if let Some(actual) = meta.sha256 {
            for (source, expected) in [(Source::Registry, self.registry_sha256), (Source::Sha256File, listed)] {
                if let Some(expected) = expected {
                    return if expected == actual { Verdict::Intact(source) } else { differs("sha256", source) };
                }
            }
        }
        let Some(recorded) = self.recorded else { return Verdict::Unchecked };
        let comparisons = [
            ("CRC64NVME", meta.crc64nvme.map(|actual| actual == recorded.crc64nvme)),
            ("sha256", meta.sha256.map(|actual| actual == recorded.sha256)),
            ("MD5 (ETag)", meta.md5.zip(recorded.md5).map(|(actual, expected)| actual == expected)),
        ];
        match comparisons.into_iter().find_map(|(what, same)| same.map(|same| (what, same))) {
            Some((_, true)) => Verdict::Intact(Source::Recorded),
            Some((what, false)) => differs(what, Source::Recorded),
            None => Verdict::Unchecked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(registry: Option<u8>, recorded: Option<FileSums>) -> FileExpected {
        FileExpected { name: "grid_0.15_49.95.npy".into(), registry_sha256: registry.map(|byte| [byte; 32]), recorded }
    }

    fn sums(byte: u8) -> FileSums {
        FileSums { size: 10, mtime_ns: 0, crc64nvme: u64::from(byte), sha256: [byte; 32], md5: Some([byte; 16]) }
    }

    fn listing(byte: u8) -> String {
        format!("{}  grid_0.15_49.95.npy\n", "0".repeat(62) + &format!("{byte:02x}"))
    }

    #[test]
    fn a_read_file_is_judged_by_the_first_source_that_has_a_hash() {
        let mut expected = [0u8; 32];
        expected[31] = 7;
        assert_eq!(
            file(Some(1), Some(sums(2))).judge(&Found::Read([1; 32]), &listing(3)),
            Verdict::Intact(Source::Registry)
        );
        assert_eq!(
            file(None, Some(sums(2))).judge(&Found::Read(expected), &listing(7)),
            Verdict::Intact(Source::Sha256File)
        );
        assert_eq!(file(None, Some(sums(2))).judge(&Found::Read([2; 32]), ""), Verdict::Intact(Source::Recorded));
        assert!(matches!(file(None, Some(sums(2))).judge(&Found::Read([9; 32]), ""), Verdict::Damaged(_)));
        assert_eq!(file(None, None).judge(&Found::Read([9; 32]), ""), Verdict::Unchecked);
    }

    #[test]
    fn metadata_is_judged_by_the_checksum_kinds_the_storage_keeps() {
        let meta = |crc64nvme, sha256, md5| Found::Metadata(ObjectChecksums { size: 10, crc64nvme, sha256, md5 });
        // A CRC64NVME can only be compared with recorded checksums, whatever the registry holds.
        let judged = file(Some(1), Some(sums(2))).judge(&meta(Some(2), None, None), "");
        assert_eq!(judged, Verdict::Intact(Source::Recorded));
        let judged = file(Some(1), Some(sums(2))).judge(&meta(Some(3), None, None), "");
        assert!(matches!(judged, Verdict::Damaged(ref problem) if problem.contains("CRC64NVME")), "{judged:?}");
        // A SHA-256 kept by S3 is compared with the registry first.
        assert_eq!(file(Some(1), None).judge(&meta(None, Some([1; 32]), None), ""), Verdict::Intact(Source::Registry));
        // An ETag that is an MD5, against a recorded MD5.
        assert_eq!(
            file(None, Some(sums(4))).judge(&meta(None, None, Some([4; 16])), ""),
            Verdict::Intact(Source::Recorded)
        );
        assert!(matches!(file(None, Some(sums(4))).judge(&meta(None, None, Some([5; 16])), ""), Verdict::Damaged(_)));
        // Nothing comparable: unchecked, not intact.
        assert_eq!(file(Some(1), None).judge(&meta(Some(2), None, Some([4; 16])), ""), Verdict::Unchecked);
        // Another size is damage before any checksum is looked at.
        let other_size = Found::Metadata(ObjectChecksums { size: 11, crc64nvme: Some(2), sha256: None, md5: None });
        assert!(
            matches!(file(None, Some(sums(2))).judge(&other_size, ""), Verdict::Damaged(ref p) if p.contains("size"))
        );
    }
}
