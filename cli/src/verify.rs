//! `tessera verify STORE`: re-hash a local store's files against the registry's SHA-256s.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::inventory::Inventory;
use tessera_engine::registry::{self, ReadOptions, RegistryTiles};

use crate::args::VerifyArgs;
use crate::open_inventory;

/// Tiles hashed between two cursor saves.
const CHUNK: usize = 256;

/// Returns whether every verified tile was intact.
pub fn run(dir: &Path, args: &VerifyArgs) -> Result<bool> {
    let mut inventory = open_inventory(dir)?;
    let store = inventory.store(&args.store)?;
    let root = local_root(&store.config.storage)?;
    let registry = read_hashes(&inventory)?;
    let resume_after = if args.restart { None } else { inventory.verify_cursor(&args.store)? };
    let ids: Vec<TileId> = store
        .tiles
        .to_vec()
        .into_iter()
        .map(TileId)
        .filter(|id| resume_after.is_none_or(|after| *id > after) && registry.ids.binary_search(id).is_ok())
        .collect();
    if let Some(after) = resume_after {
        eprintln!("tessera: resuming after tile id {} ({} tiles left); --restart starts over", after.0, ids.len());
    }
    let progress = progress_bar(ids.len() as u64);
    let checker = Checker { root: &root, years: inventory.years(), registry: &registry };
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut bad = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let found = checker.check_parallel(chunk, threads);
        let damaged: Vec<TileId> = found.iter().map(|(id, _)| *id).collect();
        inventory.remove(&args.store, &damaged)?;
        bad.extend(found);
        if let Some(last) = chunk.last() {
            inventory.set_verify_cursor(&args.store, Some(*last))?;
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    inventory.set_verify_cursor(&args.store, None)?;
    report(&inventory, &args.store, ids.len(), &bad);
    Ok(bad.is_empty())
}

fn local_root(storage: &str) -> Result<PathBuf> {
    if storage.contains("://") {
        bail!("verify reads files from a local directory; this store's storage is {storage}");
    }
    let root = PathBuf::from(storage);
    if !root.is_dir() {
        bail!("the store's storage {} is not a directory on this machine", root.display());
    }
    Ok(root)
}

fn read_hashes(inventory: &Inventory) -> Result<RegistryTiles> {
    let Some(tiles) = inventory.registry_tiles(ReadOptions { hashes: true })? else {
        bail!("verify compares with the registry's hashes, and {} is missing", inventory.registry_path().display());
    };
    if tiles.hash.is_none() {
        bail!("{} has no `hash` column: there is nothing to verify against", inventory.registry_path().display());
    }
    Ok(tiles)
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = "verifying [{bar:30}] {pos}/{len} tiles {per_sec} eta {eta}";
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

fn report(inventory: &Inventory, store: &str, verified: usize, bad: &[(TileId, String)]) {
    eprintln!("tessera: verified {verified} tiles of {store}: {} damaged", bad.len());
    let writer = KeyWriter::new(inventory.years());
    for (id, problem) in bad.iter().take(20) {
        let mut key = Vec::new();
        writer.push(&mut key, id.0, KeyStyle::Key);
        eprintln!("tessera: damaged: {} ({problem})", String::from_utf8_lossy(&key));
    }
    if !bad.is_empty() {
        eprintln!("tessera: damaged tiles were removed from {store}: `tessera diff` lists them to copy again");
    }
}

/// Hashes tiles below `root` and compares them with the registry.
struct Checker<'a> {
    root: &'a Path,
    years: YearRange,
    registry: &'a RegistryTiles,
}

impl Checker<'_> {
    /// The damaged tiles of `ids`, hashed on `threads` threads.
    fn check_parallel(&self, ids: &[TileId], threads: usize) -> Vec<(TileId, String)> {
        let per_thread = ids.len().div_ceil(threads.max(1)).max(1);
        let mut damaged: Vec<(TileId, String)> = std::thread::scope(|scope| {
            let workers: Vec<_> = ids
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter().filter_map(|&id| self.problem(id).map(|p| (id, p))).collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
        });
        damaged.sort_by_key(|(id, _)| *id);
        damaged
    }

    /// What is wrong with a tile's files, if anything.
    fn problem(&self, id: TileId) -> Option<String> {
        let tile = self.years.tile(id).ok()?;
        let name = tile.cell.name().to_string();
        let folder = self.root.join(tile.year.to_string()).join(&name);
        let at = self.registry.ids.binary_search(&id).ok()?;
        let expected = [
            (format!("{name}.npy"), self.registry.hash.as_ref().map(|h| h[at])),
            (format!("{name}_scales.npy"), self.registry.scales_hash.as_ref().map(|h| h[at])),
        ];
        let listed = fs::read_to_string(folder.join("SHA256")).unwrap_or_default();
        for (file, registry_hash) in expected {
            let actual = match sha256_of(&folder.join(&file)) {
                Ok(actual) => actual,
                Err(err) => return Some(format!("{file}: {err}")),
            };
            if registry_hash.is_some_and(|hash| hash != actual) {
                return Some(format!("{file}: sha256 differs from the registry's"));
            }
            let in_file = listed.lines().find(|line| line.split_whitespace().nth(1) == Some(file.as_str()));
            if in_file
                .and_then(|line| line.split_whitespace().next())
                .and_then(registry::parse_sha256)
                .is_some_and(|h| h != actual)
            {
                return Some(format!("{file}: sha256 differs from the tile's SHA256 file"));
            }
        }
        None
    }
}

fn sha256_of(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..read]);
    }
}
