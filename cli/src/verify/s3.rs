//! Verifying an S3 store by what S3 keeps: one HEAD per object (`x-amz-checksum-mode`) gives
//! its CRC64NVME, its SHA-256 when the uploader sent one, and an ETag that may be its MD5;
//! these are compared with the expected checksums, and no byte is read. An object nothing can
//! be compared with is read (in ranges fetched several at once, streamed through SHA-256) only
//! with `--read-missing`; otherwise it is named as unchecked.

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tessera_engine::grid::{TileId, YearRange};

use super::tile::{Expectations, FileExpected, Found, TileFiles, Verdict};
use super::{Check, TileVerdict};
use crate::bucket::Bucket;

/// Bytes of one ranged GET.
pub const RANGE: u64 = 8 << 20;
/// Ranges of one object in flight at once.
const RANGES_IN_FLIGHT: usize = 4;

/// Checks tiles of an S3 store, `tiles` at once.
pub struct BucketCheck<'a> {
    pub bucket: &'a Bucket,
    pub years: YearRange,
    pub expected: &'a Expectations<'a>,
    pub tiles: usize,
    /// Read the objects a HEAD cannot settle.
    pub read_missing: bool,
}

impl Check for BucketCheck<'_> {
    fn check(&self, ids: &[TileId]) -> Result<Vec<TileVerdict>> {
        let checks = futures::stream::iter(ids.iter().copied())
            .map(|id| async move { self.judge(id).await })
            .buffer_unordered(self.tiles.max(1))
            .try_filter_map(|judged| async move { Ok(judged) });
        self.bucket.block_on(checks.try_collect())
    }
}

impl BucketCheck<'_> {
    /// The verdict on each of a tile's objects. An object that cannot be reached after the
    /// retries is an error, not damage: the run stops and resumes from its last save.
    async fn judge(&self, id: TileId) -> Result<Option<TileVerdict>> {
        let Some(tile) = self.expected.tile(id, self.years) else { return Ok(None) };
        let mut listed: Option<String> = None;
        let mut verdicts = Vec::with_capacity(2);
        for file in &tile.files {
            let key = format!("{}/{}", tile.folder, file.name);
            let verdict = match self.bucket.head_checksums(&key).await? {
                None => Verdict::Damaged(format!("{}: no such object", file.name)),
                Some(meta) => {
                    if file.needs_listing(&meta) && listed.is_none() {
                        listed = Some(self.listing(&tile).await?);
                    }
                    match file.judge(&Found::Metadata(meta), listed.as_deref().unwrap_or_default()) {
                        Verdict::Unchecked if self.read_missing => self.read(&tile, file, &mut listed).await?,
                        verdict => verdict,
                    }
                }
            };
            verdicts.push((key, verdict));
        }
        Ok(Some(TileVerdict { id, verdicts }))
    }

    /// Reads the object whole through SHA-256 and judges that.
    async fn read(&self, tile: &TileFiles, file: &FileExpected, listed: &mut Option<String>) -> Result<Verdict> {
        if listed.is_none() {
            *listed = Some(self.listing(tile).await?);
        }
        let key = format!("{}/{}", tile.folder, file.name);
        let hash = |hasher: &mut Sha256, bytes: &[u8]| hasher.update(bytes);
        let read = self.bucket.read_in_ranges(&key, RANGE, RANGES_IN_FLIGHT, Sha256::new, hash).await?;
        let Some((_, hasher)) = read else { return Ok(Verdict::Damaged(format!("{}: no such object", file.name))) };
        Ok(file.judge(&Found::Read(hasher.finalize().into()), listed.as_deref().unwrap_or_default()))
    }

    /// The tile's `SHA256` file, empty when it has none.
    async fn listing(&self, tile: &TileFiles) -> Result<String> {
        let sums = format!("{}/SHA256", tile.folder);
        let append = |listed: &mut Vec<u8>, bytes: &[u8]| listed.extend_from_slice(bytes);
        let listed = self.bucket.read_in_ranges(&sums, RANGE, 1, Vec::new, append).await?;
        Ok(String::from_utf8_lossy(listed.as_ref().map_or(&[][..], |(_, bytes)| bytes)).into_owned())
    }
}
