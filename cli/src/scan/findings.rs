//! What a scan could not count, named: the links a walk met, the tiles listed in part, and the
//! tiles whose sizes differ from the registry's. Counts alone leave an operator to hunt for
//! the culprits in millions of lines; so the first [`SHOWN`] of each kind go to stderr, and
//! `--report FILE` gets every one, one a line, in the words stderr uses:
//!
//! ```text
//! link 2024/grid_0.85_49.95/grid_0.85_49.95.npy -> /data/primary/2024/grid_0.85_49.95/grid_0.85_49.95.npy
//! partial 2024/grid_0.85_49.95: lacks grid_0.85_49.95_scales.npy (not listed, or listed empty)
//! differs 2024/grid_0.95_49.95: listed 9984 + 436 bytes, the registry says 10984 + 436
//! ```
//!
//! Links are written to the report as the walk meets them (a store made of links has millions),
//! the rest once the scan is done.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::TileId;
use tessera_engine::listing::{FoundLink, PartialTile};

/// Findings of each kind named on stderr; `--report FILE` has them all.
pub const SHOWN: usize = 10;

/// A present tile whose listed sizes differ from the registry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeMismatch {
    pub id: TileId,
    /// The embeddings and scales sizes listed.
    pub listed: (Option<NonZeroU64>, Option<NonZeroU64>),
    /// The sizes the registry has for them.
    pub registry: (Option<u64>, Option<u64>),
}

/// The findings of one scan: the first few kept for stderr, all written to the report.
pub struct Findings {
    keys: KeyWriter,
    report: Option<(PathBuf, BufWriter<File>)>,
    /// A failed write to the report, returned by [`Findings::finish`].
    write_error: Option<io::Error>,
    links: u64,
    first_links: Vec<String>,
}

impl Findings {
    /// Findings for an inventory whose keys `keys` writes; `report` is created now, so that a
    /// path that cannot be written fails the scan before it starts.
    pub fn new(keys: KeyWriter, report: Option<&Path>) -> Result<Findings> {
        let report = match report {
            Some(path) => {
                let file =
                    File::create(path).with_context(|| format!("cannot create the report {}", path.display()))?;
                Some((path.to_owned(), BufWriter::new(file)))
            }
            None => None,
        };
        Ok(Findings { keys, report, write_error: None, links: 0, first_links: Vec::new() })
    }

    /// Symbolic links met, none counted as a tile file.
    pub fn links(&self) -> u64 {
        self.links
    }

    /// Notes a link the walk met.
    pub fn link(&mut self, link: FoundLink) {
        self.links += 1;
        let line = format!("link {} -> {}", link.path.display(), link.to.display());
        self.write(&line);
        if self.first_links.len() < SHOWN {
            self.first_links.push(line);
        }
    }

    /// Names the links, partial tiles and size mismatches on stderr (the first [`SHOWN`] of
    /// each) and writes the last two to the report, which is then complete.
    pub fn finish(mut self, partial: &[PartialTile], mismatches: &[SizeMismatch]) -> Result<()> {
        let partial: Vec<String> = partial.iter().map(|tile| self.describe_partial(tile)).collect();
        let mismatches: Vec<String> = mismatches.iter().map(|tile| self.describe_mismatch(tile)).collect();
        for line in partial.iter().chain(&mismatches) {
            self.write(line);
        }
        let more = match &self.report {
            Some((path, _)) => format!("all in {}", path.display()),
            None => "--report FILE lists them all".to_owned(),
        };
        let links = std::mem::take(&mut self.first_links);
        for (shown, count) in
            [(&links, self.links), (&partial, partial.len() as u64), (&mismatches, mismatches.len() as u64)]
        {
            for line in shown.iter().take(SHOWN) {
                eprintln!("tessera: {line}");
            }
            if count > SHOWN as u64 {
                eprintln!("tessera: ... and {} more ({more})", count - SHOWN as u64);
            }
        }
        if let Some(err) = self.write_error {
            return Err(err).context("cannot write the report");
        }
        if let Some((path, mut out)) = self.report {
            out.flush().with_context(|| format!("cannot write the report {}", path.display()))?;
            eprintln!("tessera: wrote the report to {}", path.display());
        }
        Ok(())
    }

    fn write(&mut self, line: &str) {
        if let Some((_, out)) = self.report.as_mut()
            && let Err(err) = writeln!(out, "{line}")
        {
            self.write_error.get_or_insert(err);
        }
    }

    fn key(&self, id: TileId) -> String {
        let mut key = Vec::new();
        self.keys.push(&mut key, id.0, KeyStyle::Key);
        String::from_utf8_lossy(&key).into_owned()
    }

    /// `partial 2024/grid_0.85_49.95: lacks grid_0.85_49.95_scales.npy and SHA256 (...)`.
    fn describe_partial(&self, tile: &PartialTile) -> String {
        let key = self.key(tile.id);
        let name = key.rsplit('/').next().unwrap_or_default();
        let mut lacks = Vec::new();
        if tile.lacks_embeddings {
            lacks.push(format!("{name}.npy"));
        }
        if tile.lacks_scales {
            lacks.push(format!("{name}_scales.npy"));
        }
        if tile.lacks_sha256 {
            lacks.push("SHA256".to_owned());
        }
        format!("partial {key}: lacks {} (not listed, or listed empty)", lacks.join(" and "))
    }

    /// `differs 2024/grid_0.95_49.95: listed 9984 + 436 bytes, the registry says 10984 + 436`.
    fn describe_mismatch(&self, tile: &SizeMismatch) -> String {
        let size = |size: Option<u64>| size.map_or("?".to_owned(), |size| size.to_string());
        let (listed, registry) = (tile.listed, tile.registry);
        format!(
            "differs {}: listed {} + {} bytes, the registry says {} + {}",
            self.key(tile.id),
            size(listed.0.map(NonZeroU64::get)),
            size(listed.1.map(NonZeroU64::get)),
            size(registry.0),
            size(registry.1)
        )
    }
}
