//! Confirming an upload by checksum: after `s5cmd` reports a tile's objects copied, a HEAD of
//! each (`x-amz-checksum-mode`) must show the checksum recorded for the source's file (S3's
//! CRC64NVME, a SHA-256, or an ETag that is an MD5), or the tile is not recorded. Where the
//! source was never hashed, or S3 keeps no checksum that can be compared, the sizes s5cmd
//! reported confirm the copy, as before.

use anyhow::Result;
use futures::StreamExt;
use tessera_engine::checksums::{Checksums, TileSums};
use tessera_engine::grid::{TileId, YearRange};

use super::copy::Outcome;
use crate::bucket::Bucket;
use crate::hash::data_files;
use crate::verify::tile::{FileExpected, Found, Verdict};

/// HEADs in flight at once for one chunk.
const HEADS_AT_ONCE: usize = 16;

/// The target's client and the checksums recorded for the source's files.
pub struct ByChecksum<'a> {
    pub bucket: &'a Bucket,
    /// Each hashed store's recorded checksums, the source's first.
    pub recorded: &'a [Checksums],
    pub years: YearRange,
}

impl std::fmt::Debug for ByChecksum<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByChecksum").field("recorded", &self.recorded.len()).finish_non_exhaustive()
    }
}

impl ByChecksum<'_> {
    /// Moves the copied tiles whose objects contradict their recorded checksums to the failed
    /// ones; returns how many copied tiles a checksum confirmed.
    pub fn confirm(&self, outcome: &mut Outcome) -> Result<usize> {
        let checks = futures::stream::iter(outcome.copied.iter().map(|row| row.id))
            .filter_map(|id| async move { self.recorded.iter().find_map(|sums| sums.get(id)) })
            .map(|sums| async move { self.judge(sums).await.map(|verdict| (sums.id, verdict)) })
            .buffer_unordered(HEADS_AT_ONCE)
            .collect::<Vec<_>>();
        let mut confirmed = 0;
        let mut contradicted: Vec<(TileId, String)> = Vec::new();
        for judged in self.bucket.block_on(checks) {
            match judged? {
                (_, Some(Ok(()))) => confirmed += 1,
                (id, Some(Err(problem))) => contradicted.push((id, problem)),
                (_, None) => {}
            }
        }
        if !contradicted.is_empty() {
            let bad = |id: &TileId| contradicted.iter().any(|(other, _)| other == id);
            outcome.copied.retain(|row| !bad(&row.id));
            outcome.differ.retain(|(id, _)| !bad(id));
            outcome.failed.extend(contradicted);
        }
        Ok(confirmed)
    }

    /// `Some(Ok)` when every object matches a recorded checksum, `Some(Err)` naming the first
    /// that does not, `None` when S3 keeps nothing to compare with.
    async fn judge(&self, sums: TileSums) -> Result<Option<std::result::Result<(), String>>> {
        let Some(files) = data_files(self.years, sums.id) else { return Ok(None) };
        let mut all_confirmed = true;
        for (path, recorded) in files.iter().zip(sums.files) {
            let key = path.to_string_lossy().replace('\\', "/");
            let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            let file = FileExpected { name, registry_sha256: None, recorded: Some(recorded) };
            let verdict = match self.bucket.head_checksums(&key).await? {
                None => Verdict::Damaged(format!("{key}: not at the target after the copy")),
                Some(meta) => file.judge(&Found::Metadata(meta), ""),
            };
            match verdict {
                Verdict::Intact(_) => {}
                Verdict::Unchecked => all_confirmed = false,
                Verdict::Damaged(problem) => {
                    return Ok(Some(Err(format!("uploaded, but {problem}: the source's file or the copy is damaged"))));
                }
            }
        }
        Ok(all_confirmed.then_some(Ok(())))
    }
}
