//! Verifying an S3 store: each object streamed through SHA-256, read in ranges fetched
//! several at once (a tile's embeddings run to tens of megabytes), several tiles at once.

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::registry::RegistryTiles;

use super::tile::{TileFiles, judge};
use super::{Check, Damaged};
use crate::bucket::Bucket;

/// Bytes of one ranged GET.
const RANGE: u64 = 8 << 20;
/// Ranges of one object in flight at once.
const RANGES_IN_FLIGHT: usize = 4;

/// Hashes tiles of an S3 store, `tiles` at once, and compares them with the registry.
pub struct BucketCheck<'a> {
    pub bucket: &'a Bucket,
    pub years: YearRange,
    pub registry: &'a RegistryTiles,
    pub tiles: usize,
}

impl Check for BucketCheck<'_> {
    fn damaged(&self, ids: &[TileId]) -> Result<Vec<Damaged>> {
        let checks = futures::stream::iter(ids.iter().copied())
            .map(|id| async move { Ok::<_, anyhow::Error>(self.problem(id).await?.map(|problem| (id, problem))) })
            .buffer_unordered(self.tiles.max(1))
            .try_filter_map(|found| async move { Ok(found) });
        self.bucket.block_on(checks.try_collect())
    }
}

impl BucketCheck<'_> {
    /// What is wrong with a tile's objects, if anything. An object that cannot be read after
    /// the retries is an error, not damage: the run stops and resumes from its last save.
    async fn problem(&self, id: TileId) -> Result<Option<String>> {
        let Some(tile) = TileFiles::of(id, self.years, self.registry) else { return Ok(None) };
        let sums = format!("{}/SHA256", tile.folder);
        let append = |listed: &mut Vec<u8>, bytes: &[u8]| listed.extend_from_slice(bytes);
        let listed = self.bucket.read_in_ranges(&sums, RANGE, 1, Vec::new, append).await?;
        let listed = String::from_utf8_lossy(listed.as_ref().map_or(&[][..], |(_, bytes)| bytes));
        for (file, registry_hash) in &tile.files {
            let key = format!("{}/{file}", tile.folder);
            let hash = |hasher: &mut Sha256, bytes: &[u8]| hasher.update(bytes);
            let read = self.bucket.read_in_ranges(&key, RANGE, RANGES_IN_FLIGHT, Sha256::new, hash).await?;
            let Some((_, hasher)) = read else { return Ok(Some(format!("{file}: no such object"))) };
            if let Some(problem) = judge(file, hasher.finalize().into(), *registry_hash, &listed) {
                return Ok(Some(problem));
            }
        }
        Ok(None)
    }
}
