//! `verify --dry-run`: what a run would request and read, and what the requests cost at S3's
//! list prices, before anything is sent.

use indicatif::HumanBytes;
use tessera_engine::grid::{TileId, YearRange};

use super::s3::RANGE;
use super::tile::Expectations;
use crate::text::counted;

/// S3 Standard's list price of GET and HEAD requests (us-east-1), in dollars per 1,000.
const DOLLARS_PER_1000_GETS: f64 = 0.0004;

/// What a run over `ids` would do, from the sizes and checksums the inventory knows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub tiles: u64,
    pub files: u64,
    /// Files with a recorded CRC64NVME, SHA-256 and size: a HEAD settles each.
    pub recorded: u64,
    /// Ranged GETs and bytes to read every file that has no recorded checksum.
    pub gets_unrecorded: u64,
    pub bytes_unrecorded: u64,
    /// Ranged GETs and bytes of every file: what a read of the whole store costs.
    pub gets: u64,
    pub bytes: u64,
}

impl Plan {
    pub fn of(ids: &[TileId], years: YearRange, expected: &Expectations) -> Plan {
        let mut plan = Plan::default();
        let sizes = |at: usize| {
            let size = |column: &Option<Vec<u64>>| column.as_ref().map_or(0, |sizes| sizes[at]);
            [size(&expected.registry.file_size), size(&expected.registry.scales_size)]
        };
        for &id in ids {
            let (Some(tile), Ok(at)) = (expected.tile(id, years), expected.registry.ids.binary_search(&id)) else {
                continue;
            };
            plan.tiles += 1;
            for (file, registry_size) in tile.files.iter().zip(sizes(at)) {
                plan.files += 1;
                let size = file.recorded.map_or(registry_size, |sums| sums.size);
                plan.bytes += size;
                plan.gets += size.div_ceil(RANGE).max(1);
                if file.recorded.is_some() {
                    plan.recorded += 1;
                } else {
                    plan.gets_unrecorded += size.div_ceil(RANGE).max(1);
                    plan.bytes_unrecorded += size;
                }
            }
        }
        plan
    }
}

/// Prints the plan of a run over `ids` of `store`.
pub fn print(store: &str, ids: &[TileId], years: YearRange, expected: &Expectations, s3: bool, read_missing: bool) {
    let plan = Plan::of(ids, years, expected);
    let cost = |requests: u64| requests as f64 / 1000.0 * DOLLARS_PER_1000_GETS;
    println!("verify {store}: {} ({})", counted(plan.tiles, "tile", "tiles"), counted(plan.files, "file", "files"));
    if !s3 {
        println!(
            "  reads {} of {} on this machine; no requests",
            HumanBytes(plan.bytes),
            counted(plan.files, "file", "files")
        );
        return;
    }
    println!("  HEAD requests: {} (${:.4} at ${DOLLARS_PER_1000_GETS} per 1,000)", plan.files, cost(plan.files));
    println!("  files with recorded checksums (settled by their HEAD): {}", plan.recorded);
    let unrecorded = plan.files - plan.recorded;
    if read_missing {
        println!(
            "  --read-missing: at most {} ranged GETs reading {} (${:.4}), for the {} no HEAD can settle",
            plan.gets_unrecorded,
            HumanBytes(plan.bytes_unrecorded),
            cost(plan.gets_unrecorded),
            counted(unrecorded, "file", "files")
        );
    } else {
        println!(
            "  GET requests: 0; {} without recorded checksums are checked only if S3 keeps a SHA-256 of them \
             (else named as unchecked; --read-missing reads them: {})",
            counted(unrecorded, "file", "files"),
            HumanBytes(plan.bytes_unrecorded)
        );
    }
    println!(
        "  reading the whole store instead: {} ranged GETs, {} (${:.4} in requests, plus transfer out of the region)",
        plan.gets,
        HumanBytes(plan.bytes),
        cost(plan.gets)
    );
}
