//! What a sync will send, computed from the inventory alone: the tiles, what they weigh, the
//! tool, and (for `--dry-run`) what the copy costs beside what a listing sync would cost.

use std::io::Write;

use anyhow::{Result, bail};
use indicatif::HumanBytes;
use tessera_engine::bitmap::kernels;
use tessera_engine::bitmap::sink::Ranges;
use tessera_engine::grid::{IdRange, TileId};
use tessera_engine::inventory::{Filter, Inventory, REGISTRY};
use tessera_engine::manifest::ManifestRow;
use tessera_engine::storage::{CopyTool, Storage};

use crate::diff::union;
use crate::pair;
use crate::shard::Shard;
use crate::text::thousands;

/// Files in a tile folder: two `.npy` files and `SHA256`. A listing sync lists them all.
const FILES_PER_TILE: u64 = 3;
/// Keys an S3 LIST request returns at most.
const KEYS_PER_LIST: u64 = 1_000;
/// s5cmd's default multipart part size: larger objects go up in parts (create, parts, complete).
const PART_SIZE: u64 = 50 * 1024 * 1024;

/// A sync, decided: the pair, the tool and the tiles.
#[derive(Debug)]
pub struct Plan {
    pub source: String,
    pub target: String,
    pub from: Storage,
    pub to: Storage,
    pub tool: CopyTool,
    /// The tiles to send, in id order, each with the sizes its files should have (the
    /// registry's; the source's for a tile the registry does not list; `None` if unknown).
    pub tiles: Vec<ManifestRow>,
    /// How many of `tiles` TARGET holds already with other sizes (`--stale`).
    pub stale: u64,
    /// Tiles SOURCE holds and TARGET lacks that the registry does not list: left out.
    pub unlisted: u64,
    /// What opening the registry's details had to do, for the user.
    pub notice: Option<tessera_engine::Notice>,
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub filter: &'a Filter,
    pub stale: bool,
    pub include_unlisted: bool,
    pub tool: Option<CopyTool>,
    /// Only the tiles of this shard.
    pub shard: Option<Shard>,
}

impl Plan {
    /// The plan for copying what `target` lacks from `source` within `scope`.
    pub fn compute(inventory: &Inventory, source: &str, target: &str, scope: Scope) -> Result<Plan> {
        let (from, to) = pair::storages(inventory, source, target, scope.filter)?;
        let tool = scope.tool.unwrap_or_else(|| CopyTool::for_pair(&from, &to));
        if let Err(err) = tool.check(&from, &to) {
            bail!("--tool {}: {err}", tool.name());
        }
        let missing = inventory.missing(source, target, scope.filter)?;
        let (mut ids, unlisted) = match inventory.registry() {
            Some(registry) if !scope.include_unlisted => {
                let mut listed = Ranges::default();
                kernels::and_ranges(registry, &missing, &mut listed);
                let unlisted = count(&missing, scope.shard) - count(&listed.0, scope.shard);
                (listed.0, unlisted)
            }
            _ => (missing, 0),
        };
        let mut stale = 0;
        if scope.stale {
            let resend = inventory.stale(source, target, scope.filter)?;
            stale = count(&resend, scope.shard);
            ids = union(&ids, &resend);
        }
        let (mut tiles, notice) = expected_sizes(inventory, source, &ids)?;
        if let Some(shard) = scope.shard {
            tiles.retain(|row| shard.holds(row.id));
        }
        Ok(Plan {
            source: source.to_owned(),
            target: target.to_owned(),
            from,
            to,
            tool,
            tiles,
            stale,
            unlisted,
            notice,
        })
    }

    /// Bytes of the `.npy` files to send, as far as their sizes are known.
    pub fn bytes(&self) -> u64 {
        self.tiles.iter().map(|row| row.file_size.unwrap_or(0) + row.scales_size.unwrap_or(0)).sum()
    }

    /// The `--dry-run` report: what will be sent and how, and what a listing sync would have
    /// listed first.
    pub fn write_dry_run(&self, inventory: &Inventory, chunk: usize, jobs: usize, out: &mut impl Write) -> Result<()> {
        let tiles = self.tiles.len() as u64;
        writeln!(out, "Plan: {} -> {} with {} ({})", self.source, self.target, self.tool.name(), self.kinds())?;
        writeln!(out, "  from {}\n  to   {}", self.from, self.to)?;
        if tiles == 0 {
            writeln!(out, "Tiles: none to copy: {} holds every tile {} holds in scope", self.target, self.source)?;
        } else {
            let stale = match self.stale {
                0 => String::new(),
                stale => format!(", {} of them to send again (--stale)", thousands(stale)),
            };
            writeln!(out, "Tiles: {}{stale}, {}", thousands(tiles), HumanBytes(self.bytes()))?;
        }
        if self.unlisted > 0 {
            writeln!(
                out,
                "  left out: {} tiles {} holds that the registry does not list (--include-unlisted sends them)",
                thousands(self.unlisted),
                self.source
            )?;
        }
        if tiles > 0 {
            let processes = tiles.div_ceil(chunk as u64);
            let (tool, requests) = (self.tool.name(), self.requests());
            writeln!(out, "Copy: {processes} {tool} processes of up to {chunk} tiles, {jobs} at a time; {requests}")?;
        }
        let listed = |name: &str| -> Result<u64> { Ok(inventory.tiles(name)?.cardinality() * FILES_PER_TILE) };
        let (source_files, target_files) = (listed(&self.source)?, listed(&self.target)?);
        writeln!(
            out,
            "Instead of listing: a listing sync (rsync, rclone, s5cmd sync) would first list {} and {}",
            self.listing(&self.from, &self.source, source_files),
            self.listing(&self.to, &self.target, target_files)
        )?;
        Ok(())
    }

    fn kinds(&self) -> &'static str {
        match (self.from.is_local(), self.to.is_local()) {
            (true, true) => "directory to directory",
            (true, false) => "directory to S3",
            (false, true) => "S3 to directory",
            (false, false) => "S3 to S3",
        }
    }

    /// The copy requests: files for a local copy; S3 requests (multipart counted) otherwise.
    fn requests(&self) -> String {
        let files = self.tiles.len() as u64 * FILES_PER_TILE;
        let sizes = || self.tiles.iter().flat_map(|row| [row.file_size, row.scales_size]).flatten();
        match (self.from.is_local(), self.to.is_local()) {
            (true, true) => format!("up to {} files ({FILES_PER_TILE} a tile)", thousands(files)),
            (true, false) => {
                // Each object is one PUT, or create + parts + complete above the part size.
                let extra: u64 =
                    sizes().filter(|&size| size > PART_SIZE).map(|size| size.div_ceil(PART_SIZE) + 1).sum();
                let puts = thousands(files + extra);
                format!("up to {} objects, {puts} PUT requests (objects over 50 MiB go in parts)", thousands(files))
            }
            (false, true) => {
                let extra: u64 =
                    sizes().filter(|&size| size > PART_SIZE).map(|size| size.div_ceil(PART_SIZE) - 1).sum();
                let gets = thousands(files + extra);
                format!("up to {} objects, {gets} GET requests (objects over 50 MiB in parts)", thousands(files))
            }
            (false, false) => format!("up to {0} objects, {0} server-side COPY requests", thousands(files)),
        }
    }

    fn listing(&self, storage: &Storage, name: &str, files: u64) -> String {
        match storage {
            Storage::Local(_) => format!("{} files on {name} (a walk of its folders)", thousands(files)),
            Storage::S3(_) => {
                let lists = thousands(files.div_ceil(KEYS_PER_LIST));
                format!("{} keys on {name} ({lists} LIST requests)", thousands(files))
            }
        }
    }
}

/// Rows for `ids` with the sizes their files should have: the registry's where it lists them
/// (from its memory-mapped details: microseconds), else the source's manifest.
fn expected_sizes(
    inventory: &Inventory,
    source: &str,
    ids: &[IdRange],
) -> Result<(Vec<ManifestRow>, Option<tessera_engine::Notice>)> {
    let unknown = |id| ManifestRow { id: TileId(id), file_size: None, scales_size: None };
    let mut rows: Vec<ManifestRow> = ids.iter().flat_map(|range| range.lo..=range.hi).map(unknown).collect();
    let mut notice = None;
    if let Some(registry) = inventory.registry().filter(|_| !rows.is_empty()) {
        let (details, built) = inventory.registry_details()?;
        notice = built;
        for row in &mut rows {
            if let Some(found) = registry.position(row.id.0).and_then(|at| details.get(at)) {
                (row.file_size, row.scales_size) = (found.file_size, found.scales_size);
            }
        }
    }
    if source != REGISTRY && rows.iter().any(|row| row.file_size.is_none() || row.scales_size.is_none()) {
        let held = inventory.rows(source)?;
        for row in rows.iter_mut().filter(|row| row.file_size.is_none() || row.scales_size.is_none()) {
            if let Ok(at) = held.binary_search_by_key(&row.id, |held| held.id) {
                row.file_size = row.file_size.or(held[at].file_size);
                row.scales_size = row.scales_size.or(held[at].scales_size);
            }
        }
    }
    Ok((rows, notice))
}

/// The ids in `ranges`, of `shard` only if there is one.
fn count(ranges: &[IdRange], shard: Option<Shard>) -> u64 {
    ranges.iter().map(|range| shard.map_or(range.len(), |shard| shard.count_in(*range))).sum()
}
