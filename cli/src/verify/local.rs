//! Verifying a store that is a directory on this machine: files hashed on a pool of threads.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
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
        std::thread::scope(|scope| {
            let workers: Vec<_> =
                ids.chunks(per_thread).map(|part| scope.spawn(move || self.damaged_in(part))).collect();
            // A worker that panicked hashed some of its tiles and not others: the chunk is not
            // verified, and its cursor must not move past it.
            let mut damaged = Vec::new();
            for worker in workers {
                damaged.extend(worker.join().map_err(|_| anyhow!("a hashing thread panicked"))??);
            }
            Ok(damaged)
        })
    }
}

impl LocalCheck<'_> {
    fn damaged_in(&self, ids: &[TileId]) -> Result<Vec<Damaged>> {
        let mut damaged = Vec::new();
        for &id in ids {
            if let Some(problem) = self.problem(id)? {
                damaged.push((id, problem));
            }
        }
        Ok(damaged)
    }

    /// What is wrong with a tile's files, if anything. A file that is not there is damage;
    /// one that cannot be read (an I/O error, a permission) is an error: it says nothing of
    /// the tile, and the run stops rather than remove it.
    fn problem(&self, id: TileId) -> Result<Option<String>> {
        let Some(tile) = TileFiles::of(id, self.years, self.registry) else { return Ok(None) };
        let folder = self.root.join(&tile.folder);
        let sums = folder.join("SHA256");
        let listed = match fs::read_to_string(&sums) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            read => read.with_context(|| format!("cannot read {}", sums.display()))?,
        };
        for (file, registry_hash) in &tile.files {
            let path = folder.join(file);
            let problem = match sha256_of(&path) {
                Ok(actual) => judge(file, actual, *registry_hash, &listed),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Some(format!("{file}: no such file")),
                Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
            };
            if problem.is_some() {
                return Ok(problem);
            }
        }
        Ok(None)
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
