//! `tessera sync SOURCE TARGET`: copy what TARGET lacks with the tool for the pair of storages,
//! recording each chunk's confirmed tiles in TARGET as soon as they are confirmed.
//!
//! The tiles are cut into chunks, each copied by one process of the tool (`s5cmd run`,
//! `rsync`, `cp`), `--jobs` of them at a time on worker threads. The main thread alone writes
//! the inventory: it records each chunk's confirmed tiles through the journal (fsynced, under
//! the store's lock) and moves the progress bar. A tile that failed is never recorded; failed
//! tiles are tried again after a pause that doubles each time, and listed at the end.
//!
//! Killed at any moment, a sync loses nothing it recorded (the journal is fsynced before the
//! next chunk is counted), and the next sync computes the diff again: it sends only what is
//! left. Copy processes die with it (see `copy::die_with_parent`).

mod confirm;
mod copy;
mod plan;

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::{Bbox, TileId};
use tessera_engine::inventory::{COMPACT_AFTER_ROWS, Filter, Inventory};
use tessera_engine::manifest::ManifestRow;
use tessera_engine::storage::{Links, Storage};

use crate::args::SyncArgs;
use crate::open_inventory;
use crate::shard::Shard;
use confirm::ByChecksum;
use copy::{Copier, Outcome};
use plan::{Plan, Scope};

/// Failed tiles named on stderr at the end; `tessera diff` lists them all.
const SHOWN_FAILURES: usize = 20;
/// The S3 client that confirms uploads: HEADs, a few at once per chunk, retried as a scan's.
const CONFIRM_SETTINGS: crate::bucket::Settings =
    crate::bucket::Settings { concurrency: 16, timeout: Duration::from_secs(60), retries: 10 };

/// Returns whether every tile was copied as it should be.
pub fn run(dir: &Path, args: &SyncArgs) -> Result<bool> {
    let bbox = args.bbox.as_deref().map(Bbox::parse).transpose()?;
    let filter = Filter { years: args.year.clone(), bbox };
    let mut inventory = open_inventory(dir)?;
    let scope = Scope {
        filter: &filter,
        stale: args.stale,
        include_unlisted: args.include_unlisted,
        tool: args.tool.map(Into::into),
        shard: args.shard,
    };
    let plan = Plan::compute(&inventory, &args.source, &args.target, scope)?;
    if let Some(notice) = &plan.notice {
        eprintln!("tessera: note: {}", crate::word(notice));
    }
    let (chunk, jobs) = (args.chunk as usize, args.jobs as usize);
    if args.dry_run {
        let mut out = io::stdout().lock();
        plan.write_dry_run(&inventory, chunk, jobs, &mut out)?;
        out.flush()?;
        return Ok(true);
    }
    reachable(&plan)?;
    let started = Instant::now();
    let mut sync = Sync::new(&plan, args);
    let keys = KeyWriter::new(inventory.years());
    let target_bucket = match &plan.to {
        Storage::S3(url) => Some(crate::bucket::Bucket::open(url, CONFIRM_SETTINGS)?),
        Storage::Local(_) => None,
    };
    let recorded = crate::verify::tile::recorded_checksums(&inventory, &args.source)?;
    let confirm = target_bucket.as_ref().filter(|_| !recorded.is_empty()).map(|bucket| ByChecksum {
        bucket,
        recorded: &recorded,
        years: inventory.years(),
    });
    let links = if args.copy_links { Links::Followed } else { Links::Refused };
    let (from, to, years) = (&plan.from, &plan.to, inventory.years());
    let copier = Copier { tool: plan.tool, from, to, keys: &keys, years, links, confirm: confirm.as_ref() };
    let mut pending = plan.tiles.clone();
    let mut delay = Duration::from_secs_f64(args.retry_delay.max(0.0));
    for attempt in 0..=args.retries {
        if attempt > 0 {
            sync.progress.println(format!(
                "tessera: {} tiles failed; trying them again in {} ({attempt} of {})",
                pending.len(),
                HumanDuration(delay),
                args.retries
            ));
            std::thread::sleep(delay);
            delay *= 2;
        }
        sync.failed.clear();
        sync.pass(&mut inventory, &copier, &pending, chunk, jobs)?;
        if sync.failed.is_empty() {
            break;
        }
        sync.failed.sort_by_key(|(id, _)| *id);
        let failed = |row: &&ManifestRow| sync.failed.binary_search_by_key(&row.id, |(id, _)| *id).is_ok();
        pending = plan.tiles.iter().filter(failed).copied().collect();
    }
    sync.progress.finish_and_clear();
    sync.report(&keys, started.elapsed());
    Ok(sync.failed.is_empty() && sync.differ.is_empty())
}

/// Refuses a sync whose local storage is not there: an unmounted CephFS would otherwise fill
/// the empty mount point on the local disk, and a missing source fail every tile, retries
/// and all.
fn reachable(plan: &Plan) -> Result<()> {
    for (name, storage) in [(&plan.source, &plan.from), (&plan.target, &plan.to)] {
        if let Some(path) = storage.local_path().filter(|path| !path.is_dir()) {
            anyhow::bail!(
                "{name}'s storage {} is not a directory here (not mounted?); nothing was copied",
                path.display()
            );
        }
    }
    Ok(())
}

/// The state of a running sync: what is done, what failed, the progress bar.
struct Sync<'a> {
    plan: &'a Plan,
    progress: ProgressBar,
    /// Tiles recorded in the target.
    recorded: usize,
    /// Of those, tiles whose objects showed the source's recorded checksums.
    confirmed: usize,
    /// Bytes of the recorded tiles, by the sizes copied.
    bytes: u64,
    /// Tiles recorded whose sizes differ from what they should be.
    differ: Vec<(TileId, String)>,
    /// Tiles that failed in the last pass.
    failed: Vec<(TileId, String)>,
    shard: Option<Shard>,
}

impl<'a> Sync<'a> {
    fn new(plan: &'a Plan, args: &SyncArgs) -> Sync<'a> {
        let progress = progress_bar(plan, &args.source, &args.target);
        Sync {
            plan,
            progress,
            recorded: 0,
            confirmed: 0,
            bytes: 0,
            differ: Vec::new(),
            failed: Vec::new(),
            shard: args.shard,
        }
    }

    /// Copies `tiles` once: `jobs` workers take chunks from a queue and send their outcomes
    /// here, where each is recorded before the next is taken in.
    fn pass(
        &mut self,
        inventory: &mut Inventory,
        copier: &Copier,
        tiles: &[ManifestRow],
        chunk: usize,
        jobs: usize,
    ) -> Result<()> {
        self.progress.set_length(tiles.iter().map(weight).sum());
        self.progress.set_position(0);
        let queue: Mutex<VecDeque<&[ManifestRow]>> = Mutex::new(tiles.chunks(chunk).collect());
        let chunks = queue.lock().map_or(0, |q| q.len());
        let (done, outcomes) = mpsc::channel::<Result<Outcome>>();
        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..jobs.min(chunks) {
                let (queue, done) = (&queue, done.clone());
                scope.spawn(move || {
                    // A poisoned queue means a worker panicked: the others stop taking chunks.
                    while let Some(chunk) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                        if done.send(copier.copy(chunk)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done);
            for outcome in outcomes {
                let outcome = match outcome {
                    Ok(outcome) => outcome,
                    Err(err) => {
                        // The tool cannot run at all: stop handing out chunks, and say why.
                        queue.lock().map(|mut q| q.clear()).ok();
                        return Err(err);
                    }
                };
                self.take(inventory, outcome)?;
            }
            Ok(())
        })
    }

    /// Records a chunk's copied tiles (durable when this returns) and notes the rest.
    fn take(&mut self, inventory: &mut Inventory, outcome: Outcome) -> Result<()> {
        if !outcome.copied.is_empty() {
            inventory
                .record(&self.plan.target, &outcome.copied, COMPACT_AFTER_ROWS)
                .with_context(|| format!("recording copied tiles in {}", self.plan.target))?;
        }
        // The bar counts the planned sizes of every tile the chunk dealt with (failed ones
        // included: the bar shows this pass), the total it started from.
        let ids = outcome.copied.iter().map(|row| row.id).chain(outcome.failed.iter().map(|(id, _)| *id));
        let planned: u64 = ids
            .filter_map(|id| self.plan.tiles.binary_search_by_key(&id, |row| row.id).ok())
            .map(|at| weight(&self.plan.tiles[at]))
            .sum();
        self.progress.inc(planned);
        self.recorded += outcome.copied.len();
        self.confirmed += outcome.confirmed;
        self.bytes += outcome.copied.iter().map(weight).sum::<u64>();
        self.differ.extend(outcome.differ);
        self.failed.extend(outcome.failed);
        self.progress.set_message(format!("{} of {} tiles", self.recorded, self.plan.tiles.len()));
        Ok(())
    }

    /// The summary line, then the tiles that failed or differ, on stderr.
    fn report(&self, keys: &KeyWriter, elapsed: Duration) {
        let plan = self.plan;
        let rate = self.bytes as f64 / elapsed.as_secs_f64().max(1e-3);
        let mut summary = format!(
            "tessera: synced {} -> {}{} with {}: {} of {} tiles copied and recorded ({} in {}, {}/s)",
            plan.source,
            plan.target,
            self.shard.map_or(String::new(), |shard| format!(" (shard {}/{})", shard.index, shard.count)),
            plan.tool.name(),
            self.recorded,
            plan.tiles.len(),
            HumanBytes(self.bytes),
            HumanDuration(elapsed),
            HumanBytes(rate as u64)
        );
        if self.confirmed > 0 {
            summary.push_str(&format!("; {} confirmed by the checksums S3 keeps", self.confirmed));
        }
        if !self.failed.is_empty() {
            summary.push_str(&format!("; {} failed", self.failed.len()));
        }
        if !self.differ.is_empty() {
            summary.push_str(&format!("; {} copied with sizes that differ from the registry", self.differ.len()));
        }
        if plan.unlisted > 0 {
            summary.push_str(&format!("; {} tiles the registry does not list left out", plan.unlisted));
        }
        eprintln!("{summary}");
        for (what, tiles) in [("failed", &self.failed), ("differs", &self.differ)] {
            for (id, why) in tiles.iter().take(SHOWN_FAILURES) {
                let mut key = Vec::new();
                keys.push(&mut key, id.0, KeyStyle::Key);
                eprintln!("tessera: {what}: {} ({why})", String::from_utf8_lossy(&key));
            }
            if tiles.len() > SHOWN_FAILURES {
                eprintln!("tessera: ... and {} more {what}", tiles.len() - SHOWN_FAILURES);
            }
        }
        if !self.failed.is_empty() {
            eprintln!(
                "tessera: nothing failed was recorded: `tessera diff {} {}` lists what is left, `tessera sync` sends it",
                plan.source, plan.target
            );
        }
    }
}

/// The bytes of a tile's `.npy` files, as far as they are known.
fn weight(row: &ManifestRow) -> u64 {
    row.file_size.unwrap_or(0) + row.scales_size.unwrap_or(0)
}

/// Bytes (by the registry's sizes) against time, with the tiles recorded; drawn only on a
/// terminal (indicatif hides it elsewhere: pipes get the summary line alone).
fn progress_bar(plan: &Plan, source: &str, target: &str) -> ProgressBar {
    let bar = if io::stderr().is_terminal() { ProgressBar::new(plan.bytes()) } else { ProgressBar::hidden() };
    let template = "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} ({msg})";
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_prefix(format!("{source} -> {target}"));
    bar.set_message(format!("0 of {} tiles", plan.tiles.len()));
    bar
}
