//! Verifying a store that is a directory on this machine: files hashed on a pool of threads.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use anyhow::Result;
use sha2::{Digest, Sha256};
use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::registry::RegistryTiles;

use super::tile::{TileFiles, judge};
use super::{Check, Damaged};

/// Hashes tiles below `root` on `threads` threads and compares them with the registry.
pub struct LocalCheck<'a> {
    pub root: &'a Path,
    pub years: YearRange,
    pub registry: &'a RegistryTiles,
    pub threads: usize,
}

impl Check for LocalCheck<'_> {
    fn damaged(&self, ids: &[TileId]) -> Result<Vec<Damaged>> {
        let per_thread = ids.len().div_ceil(self.threads.max(1)).max(1);
        let damaged = std::thread::scope(|scope| {
            let workers: Vec<_> = ids
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || part.iter().filter_map(|&id| self.problem(id).map(|p| (id, p))).collect())
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap_or_else(|_| Vec::new())).collect()
        });
        Ok(damaged)
    }
}

impl LocalCheck<'_> {
    /// What is wrong with a tile's files, if anything.
    fn problem(&self, id: TileId) -> Option<String> {
        let tile = TileFiles::of(id, self.years, self.registry)?;
        let folder = self.root.join(&tile.folder);
        let listed = fs::read_to_string(folder.join("SHA256")).unwrap_or_default();
        tile.files.iter().find_map(|(file, registry_hash)| match sha256_of(&folder.join(file)) {
            Ok(actual) => judge(file, actual, *registry_hash, &listed),
            Err(err) => Some(format!("{file}: {err}")),
        })
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
