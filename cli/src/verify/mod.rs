//! `tessera verify STORE`: check a store's files against every source of checksums
//! ([`tile`] says which, in which order): a local directory by reading each file once, an S3
//! store by the checksums S3 keeps (HEADs, no byte read), whole or as one shard of a fleet.
//! Each run says how many files each source checked and names those none could.

mod local;
mod plan;
mod s3;
mod shards;
pub mod tile;

use std::path::Path;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tessera_engine::Storage;
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::inventory::Inventory;
use tessera_engine::registry::{ReadOptions, RegistryTiles};

use self::local::LocalCheck;
use self::s3::BucketCheck;
use self::shards::FindingsFile;
use self::tile::{Expectations, Source, Verdict};
use crate::args::VerifyArgs;
use crate::bucket::Bucket;
use crate::open_inventory;
use crate::shard::Shard;
use crate::text::counted;

/// Tiles of a directory hashed between two saves of where the run has got to.
const CHUNK: usize = 256;
/// Tiles of an S3 store read between two saves, per tile read at once: a save every few
/// seconds at most, as a tile there costs three requests.
const CHUNK_PER_S3_TILE: usize = 4;

/// A damaged tile and what is wrong with it.
pub type Damaged = (TileId, String);

/// The verdict on each file of one tile, by the file's key in the store.
#[derive(Debug)]
pub struct TileVerdict {
    pub id: TileId,
    pub verdicts: Vec<(String, Verdict)>,
}

impl TileVerdict {
    /// What is wrong with the tile, if a file of it is damaged.
    fn damage(&self) -> Option<String> {
        let problems: Vec<&str> = self
            .verdicts
            .iter()
            .filter_map(|(_, verdict)| match verdict {
                Verdict::Damaged(problem) => Some(problem.as_str()),
                _ => None,
            })
            .collect();
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

/// Checks tiles of one store.
trait Check {
    /// The verdicts on the tiles of `ids` the registry holds, in any order.
    fn check(&self, ids: &[TileId]) -> Result<Vec<TileVerdict>>;
}

/// How many files each source checked, and the files none could.
#[derive(Debug, Default)]
struct Tally {
    by_source: [u64; Source::ALL.len()],
    unchecked: Vec<String>,
}

impl Tally {
    fn add(&mut self, judged: &[TileVerdict]) {
        for (key, verdict) in judged.iter().flat_map(|tile| &tile.verdicts) {
            match verdict {
                Verdict::Intact(source) => self.by_source[*source as usize] += 1,
                Verdict::Unchecked => self.unchecked.push(key.clone()),
                Verdict::Damaged(_) => {}
            }
        }
    }

    fn report(&self, store: &str, read_missing_helps: bool) {
        let checked: Vec<String> = Source::ALL
            .iter()
            .zip(self.by_source)
            .filter(|(_, count)| *count > 0)
            .map(|(source, count)| format!("{count} by {}", source.describe()))
            .collect();
        if !checked.is_empty() {
            eprintln!("tessera: files of {store} found intact: {}", checked.join(", "));
        }
        if self.unchecked.is_empty() {
            return;
        }
        let files = counted(self.unchecked.len() as u64, "file", "files");
        eprintln!("tessera: {files} of {store} could not be checked: no source has a checksum to compare with");
        for key in self.unchecked.iter().take(20) {
            eprintln!("tessera: unchecked: {key}");
        }
        if self.unchecked.len() > 20 {
            eprintln!("tessera: ... and {} more", self.unchecked.len() - 20);
        }
        let hint = if read_missing_helps { "; or --read-missing reads them" } else { "" };
        eprintln!("tessera: `tessera hash` on the store they were copied from records checksums for them{hint}");
    }
}

/// Returns whether every verified tile was intact.
pub fn run(dir: &Path, args: &VerifyArgs) -> Result<bool> {
    if let Some(findings) = &args.merge_shards {
        return merge(dir, args, findings);
    }
    let mut inventory = if args.shard.is_some() { Inventory::open_read_only(dir)? } else { open_inventory(dir)? };
    let store = inventory.store(&args.store)?;
    let storage = store.config.storage()?;
    let tiles = store.tiles.to_vec();
    let registry = read_registry(&inventory)?;
    let expected = Expectations { registry: &registry, recorded: tile::recorded_checksums(&inventory, &args.store)? };
    let jobs = args.jobs.unwrap_or(if matches!(storage, Storage::S3(_)) { 64 } else { default_threads() }).max(1);
    let bucket = match &storage {
        Storage::S3(url) => Some(Bucket::open(url, args.s3.settings(Some(jobs)))?),
        // A plan needs only the inventory: the store's disk may be on another machine.
        Storage::Local(root) if !args.dry_run && !Path::new(root).is_dir() => {
            bail!("the store's storage {root} is not a directory on this machine")
        }
        Storage::Local(_) => None,
    };
    let years = inventory.years();
    let check: Box<dyn Check + '_> = match &bucket {
        Some(bucket) => {
            Box::new(BucketCheck { bucket, years, expected: &expected, tiles: jobs, read_missing: args.read_missing })
        }
        None => Box::new(LocalCheck { root: Path::new(storage.as_str()), years, expected: &expected, threads: jobs }),
    };
    let mut run = match args.shard {
        Some(shard) => Run::shard(&args.store, shard, args, years)?,
        None => Run::whole(&inventory, &args.store, args.restart, years)?,
    };
    let ids: Vec<TileId> = tiles
        .into_iter()
        .map(TileId)
        .filter(|id| run.resume_after.is_none_or(|after| *id > after))
        .filter(|id| run.shard.is_none_or(|shard| shard.holds(*id)) && registry.ids.binary_search(id).is_ok())
        .collect();
    if let Some(after) = run.resume_after {
        eprintln!("tessera: resuming after tile id {} ({} tiles left); --restart starts over", after.0, ids.len());
    }
    if args.dry_run {
        plan::print(&args.store, &ids, years, &expected, bucket.is_some(), args.read_missing);
        return Ok(true);
    }
    let progress = progress_bar(ids.len() as u64);
    let chunk = if bucket.is_some() { CHUNK_PER_S3_TILE * jobs } else { CHUNK };
    let mut tally = Tally::default();
    for chunk in ids.chunks(chunk) {
        let judged = check.check(chunk)?;
        tally.add(&judged);
        let mut found: Vec<Damaged> =
            judged.iter().filter_map(|tile| tile.damage().map(|problem| (tile.id, problem))).collect();
        found.sort_by_key(|(id, _)| *id);
        run.save(&mut inventory, chunk, found)?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    tally.report(&args.store, bucket.is_some() && !args.read_missing);
    Ok(run.finish(&mut inventory)? && tally.unchecked.is_empty())
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Where a run's findings go: the inventory itself (damaged tiles removed, the verify
/// cursor saved), or a shard's findings file.
struct Run {
    store: String,
    years: YearRange,
    shard: Option<Shard>,
    findings: Option<FindingsFile>,
    resume_after: Option<TileId>,
    verified: u64,
    damaged: Vec<Damaged>,
}

impl Run {
    fn whole(inventory: &Inventory, store: &str, restart: bool, years: YearRange) -> Result<Run> {
        let resume_after = if restart { None } else { inventory.verify_cursor(store)? };
        Ok(Run {
            store: store.to_owned(),
            years,
            shard: None,
            findings: None,
            resume_after,
            verified: 0,
            damaged: Vec::new(),
        })
    }

    fn shard(store: &str, shard: Shard, args: &VerifyArgs, years: YearRange) -> Result<Run> {
        let (file, found) = FindingsFile::open(&args.findings, store, shard, args.restart)?;
        if found.finished {
            eprintln!(
                "tessera: shard {}/{} of {store} already finished ({}); --restart verifies it again",
                shard.index,
                shard.count,
                file.path().display()
            );
        }
        let resume_after = if found.finished { Some(TileId(u32::MAX)) } else { found.checked_through };
        let damaged = found.damaged.into_iter().map(|(id, _, problem)| (id, problem)).collect();
        Ok(Run {
            store: store.to_owned(),
            years,
            shard: Some(shard),
            findings: Some(file),
            resume_after,
            verified: found.verified,
            damaged,
        })
    }

    /// Records a chunk's findings, then where the run has got to.
    fn save(&mut self, inventory: &mut Inventory, chunk: &[TileId], found: Vec<Damaged>) -> Result<()> {
        let Some(last) = chunk.last().copied() else { return Ok(()) };
        self.verified += chunk.len() as u64;
        match &mut self.findings {
            Some(file) => {
                let keyed: Vec<(Damaged, String)> =
                    found.iter().map(|damaged| (damaged.clone(), key(self.years, damaged.0))).collect();
                file.save(&keyed, last, self.verified)?;
            }
            None => {
                let ids: Vec<TileId> = found.iter().map(|(id, _)| *id).collect();
                inventory.remove(&self.store, &ids)?;
                inventory.set_verify_cursor(&self.store, Some(last))?;
            }
        }
        self.damaged.extend(found);
        Ok(())
    }

    /// Reports the run; returns whether every tile verified was intact.
    fn finish(mut self, inventory: &mut Inventory) -> Result<bool> {
        match &mut self.findings {
            Some(file) => file.finish(self.verified)?,
            None => inventory.set_verify_cursor(&self.store, None)?,
        }
        let shard = self.shard.map_or(String::new(), |shard| format!(" (shard {}/{})", shard.index, shard.count));
        report(self.years, &format!("{}{shard}", self.store), self.verified, &self.damaged);
        match (&self.findings, self.damaged.is_empty()) {
            (Some(file), false) => eprintln!(
                "tessera: findings saved to {}: `tessera verify {} --merge-shards {}` removes the damaged tiles",
                file.path().display(),
                self.store,
                file.path().parent().map_or(String::new(), |dir| dir.display().to_string())
            ),
            (None, false) => {
                eprintln!(
                    "tessera: damaged tiles were removed from {}: `tessera diff` lists them to copy again",
                    self.store
                )
            }
            (_, true) => {}
        }
        Ok(self.damaged.is_empty())
    }
}

/// `verify STORE --merge-shards DIR`: removes the damaged tiles every shard found, through the
/// journal; then fails naming the shards that are missing or unfinished, if any (what they
/// found so far is applied: damage found is damage). A merge removes only what no earlier
/// merge applied (the folder's ledger), so a tile copied again in between stays.
fn merge(dir: &Path, args: &VerifyArgs, findings_dir: &Path) -> Result<bool> {
    let mut inventory = open_inventory(dir)?;
    inventory.store(&args.store)?;
    let shards = shards::read_all(findings_dir, &args.store)?;
    let applied = shards::applied(findings_dir, &args.store)?;
    let count = shards.len();
    let (mut damaged, mut unapplied): (Vec<Damaged>, Vec<TileId>) = (Vec::new(), Vec::new());
    let (mut verified, mut incomplete, mut applying) = (0, Vec::new(), Vec::new());
    for (shard, findings) in shards {
        let Some(findings) = findings else {
            incomplete.push(format!("{}/{count} (no file)", shard.index));
            continue;
        };
        if !findings.finished {
            incomplete.push(format!("{}/{count} ({} tiles verified so far)", shard.index, findings.verified));
        }
        verified += findings.verified;
        let done = applied.get(&(shard.index, findings.run.clone())).copied().unwrap_or(0);
        unapplied.extend(findings.damaged.iter().skip(done).map(|(id, _, _)| *id));
        applying.push((shard, findings.run, findings.damaged.len()));
        damaged.extend(findings.damaged.into_iter().map(|(id, _, problem)| (id, problem)));
    }
    damaged.sort_by_key(|(id, _)| *id);
    damaged.dedup_by_key(|(id, _)| *id);
    unapplied.sort_unstable();
    unapplied.dedup();
    let removed = inventory.remove(&args.store, &unapplied)?;
    shards::record_applied(findings_dir, &args.store, &applying)?;
    report(inventory.years(), &format!("{} ({count} shards)", args.store), verified, &damaged);
    eprintln!("tessera: removed {removed} damaged tiles from {}: `tessera diff` lists them to copy again", args.store);
    if !incomplete.is_empty() {
        bail!("shards not finished: {}; run them again (they resume), then merge again", incomplete.join(", "));
    }
    Ok(damaged.is_empty())
}

/// The registry's tiles, with its hashes where it has them (upstream's 0.11 manifests have
/// none: the tiles' `SHA256` files and recorded checksums are the sources then).
fn read_registry(inventory: &Inventory) -> Result<RegistryTiles> {
    let Some(tiles) = inventory.registry_tiles(ReadOptions { hashes: true })? else {
        bail!("verify checks the tiles the registry lists, and {} is missing", inventory.registry_path().display());
    };
    Ok(tiles)
}

pub fn key(years: YearRange, id: TileId) -> String {
    let mut key = Vec::new();
    KeyWriter::new(years).push(&mut key, id.0, KeyStyle::Key);
    String::from_utf8_lossy(&key).into_owned()
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = "verifying [{bar:30}] {pos}/{len} tiles {per_sec} eta {eta}";
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

fn report(years: YearRange, store: &str, verified: u64, bad: &[Damaged]) {
    eprintln!("tessera: verified {verified} tiles of {store}: {} damaged", bad.len());
    for (id, problem) in bad.iter().take(20) {
        eprintln!("tessera: damaged: {} ({problem})", key(years, *id));
    }
}
