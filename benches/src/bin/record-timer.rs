//! Times `tessera record` of 250-tile batches into a 3.8M-tile store (journal append + index
//! rewrite) against what the seed did for every batch: rewriting the whole manifest.
//!
//! Usage: `record-timer [INVENTORY]` (default `target/bench-demo`; only its `tessera.toml` and
//! the okavango and scaleway manifests are copied into a temporary inventory).

use std::fs;
use std::path::Path;
use std::time::Instant;

use tessera_engine::grid::TileId;
use tessera_engine::inventory::{COMPACT_AFTER_ROWS, Filter, Inventory};
use tessera_engine::journal;
use tessera_engine::manifest::ManifestRow;
use tessera_engine::store::{Listing, Scope, Taken};

const BATCH: usize = 250;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("machine: {}", tessera_benches::machine());
    let source = std::env::args().nth(1).unwrap_or_else(|| "target/bench-demo".to_owned());
    let temp = tempfile_dir()?;
    copy_inventory(Path::new(&source), &temp)?;
    let inventory = Inventory::open(&temp)?;
    let missing = inventory.missing("okavango", "scaleway", &Filter::default())?;
    let ids: Vec<TileId> = missing.iter().flat_map(|r| r.lo..=r.hi).map(TileId).collect();
    drop(inventory);

    let mut batch_ms = Vec::new();
    for batch in ids.chunks(BATCH) {
        let rows: Vec<ManifestRow> =
            batch.iter().map(|&id| ManifestRow { id, file_size: None, scales_size: None }).collect();
        let started = Instant::now();
        let mut inventory = Inventory::open(&temp)?;
        let recorded = inventory.record("scaleway", &rows, COMPACT_AFTER_ROWS)?;
        batch_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(recorded.added, batch.len());
    }
    let mut inventory = Inventory::open(&temp)?;
    assert_eq!(inventory.missing_count("okavango", "scaleway", &Filter::default())?, 0);
    let rows = inventory.rows("scaleway")?;
    let mut rewrite_ms = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let started_after = inventory.journal_end("scaleway")?;
        let taken = Taken::ByTheScan(journal::now_ns());
        let listing = Listing { rows: &rows, scope: &Scope::default(), started_after, taken, merge: false };
        inventory.replace("scaleway", &listing)?;
        rewrite_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (record, rewrite) = (median(&mut batch_ms), median(&mut rewrite_ms));
    println!("{} batches of {BATCH} tiles recorded into a store of {} tiles", batch_ms.len(), rows.len());
    println!("record one batch (open + journal append + fsync + index rewrite): median {record:.2} ms");
    println!("rewrite the whole manifest and index (what the seed did per batch): median {rewrite:.1} ms");
    println!("ratio: {:.0}x", rewrite / record);
    fs::remove_dir_all(&temp)?;
    Ok(())
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tessera-record-timer-{}", std::process::id()));
    fs::create_dir_all(dir.join("stores"))?;
    Ok(dir)
}

fn copy_inventory(from: &Path, to: &Path) -> std::io::Result<()> {
    let config = fs::read_to_string(from.join("tessera.toml"))?;
    fs::write(to.join("tessera.toml"), config)?;
    for store in ["okavango", "scaleway"] {
        fs::copy(from.join(format!("stores/{store}.parquet")), to.join(format!("stores/{store}.parquet")))?;
    }
    Ok(())
}
