//! Verifying a store that is a directory on this machine: files hashed on a pool of threads.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use tessera_engine::grid::{TileId, YearRange};

use super::tile::{Expectations, Found, Verdict};
use super::{Check, TileVerdict};

/// Hashes tiles below `root` on `threads` threads and judges them by what is expected.
pub struct LocalCheck<'a> {
    pub root: &'a Path,
    pub years: YearRange,
    pub expected: &'a Expectations<'a>,
    pub threads: usize,
}

impl Check for LocalCheck<'_> {
    fn check(&self, ids: &[TileId]) -> Result<Vec<TileVerdict>> {
        let per_thread = ids.len().div_ceil(self.threads.max(1)).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> =
                ids.chunks(per_thread).map(|part| scope.spawn(move || self.damaged_in(part))).collect();
            // A worker that panicked hashed some of its tiles and not others: the chunk is not
            // verified, and its cursor must not move past it.
            let mut judged = Vec::new();
            for worker in workers {
                judged.extend(worker.join().map_err(|_| anyhow!("a hashing thread panicked"))??);
            }
            Ok(judged)
        })
    }
}

impl LocalCheck<'_> {
    fn damaged_in(&self, ids: &[TileId]) -> Result<Vec<TileVerdict>> {
        ids.iter().filter_map(|&id| self.judge(id).transpose()).collect()
    }

    /// The verdict on each of a tile's files, or `None` when the registry does not hold it. A
    /// file that is not there is damage; one that cannot be read (an I/O error, a permission)
    /// is an error: it says nothing of the tile, and the run stops rather than remove it.
    fn judge(&self, id: TileId) -> Result<Option<TileVerdict>> {
        let Some(tile) = self.expected.tile(id, self.years) else { return Ok(None) };
        let folder = self.root.join(&tile.folder);
        let sums = folder.join("SHA256");
        let listed = match fs::read_to_string(&sums) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            read => read.with_context(|| format!("cannot read {}", sums.display()))?,
        };
        let mut verdicts = Vec::with_capacity(2);
        for file in &tile.files {
            let path = folder.join(&file.name);
            let verdict = match sha256_of(&path) {
                Ok(actual) => file.judge(&Found::Read(actual), &listed),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    Verdict::Damaged(format!("{}: no such file", file.name))
                }
                Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
            };
            verdicts.push((format!("{}/{}", tile.folder, file.name), verdict));
        }
        Ok(Some(TileVerdict { id, verdicts }))
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
