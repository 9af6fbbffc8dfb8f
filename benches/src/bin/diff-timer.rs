//! Times tessera's in-process diff for the peer harness (`benches/peers/run.sh`) and prints
//! one JSON object: median microseconds per call for opening the inventory, the count-only
//! diff and the materialised diff (ranges, as `tessera diff` takes them), over the same
//! parquet data the peers read. The calls are the CLI's: `Inventory::missing_count` and
//! `Inventory::missing` (from the stores' deltas where they have them); then the kernels
//! alone on the two indexes (`kernel_count_us`, `kernel_ids_us`).
//!
//! Usage: `diff-timer INVENTORY SOURCE TARGET`

use std::hint::black_box;
use std::time::Instant;

use tessera_engine::bitmap::kernels;
use tessera_engine::inventory::{Filter, Inventory};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    eprintln!("machine: {}", tessera_benches::machine());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, source, target] = &args[..] else {
        return Err("usage: diff-timer INVENTORY SOURCE TARGET".into());
    };
    let open_us = median_us(|| black_box(Inventory::open(dir).map(|i| i.stores().len())).is_ok());
    let inventory = Inventory::open(dir)?;
    let everywhere = Filter::default();
    let count = inventory.missing_count(source, target, &everywhere)?;
    let count_us = median_us(|| inventory.missing_count(black_box(source), target, &everywhere).is_ok_and(|n| n > 0));
    let ranges_us =
        median_us(|| inventory.missing(black_box(source), target, &everywhere).is_ok_and(|ranges| !ranges.is_empty()));
    // The kernels alone on the two indexes, as a store without a delta is diffed (and as the
    // browser's build of them is timed in benches/wasm).
    let (a, b) = (inventory.tiles(source)?, inventory.tiles(target)?);
    let kernel_count_us = median_us(|| black_box(kernels::andnot_count(black_box(a), b)) > 0);
    let kernel_ids_us = median_us(|| !black_box(kernels::andnot_ids(black_box(a), b)).is_empty());
    println!(
        r#"{{"missing": {count}, "open_us": {open_us:.1}, "count_us": {count_us:.1}, "ranges_us": {ranges_us:.1}, "kernel_count_us": {kernel_count_us:.1}, "kernel_ids_us": {kernel_ids_us:.1}}}"#
    );
    Ok(())
}

/// Median over 11 batches of the microseconds per call; each batch lasts at least 20 ms.
fn median_us(mut call: impl FnMut() -> bool) -> f64 {
    let mut per_batch = 1u32;
    loop {
        let started = Instant::now();
        (0..per_batch).for_each(|_| _ = black_box(call()));
        if started.elapsed().as_millis() >= 20 {
            break;
        }
        per_batch *= 2;
    }
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let started = Instant::now();
            (0..per_batch).for_each(|_| _ = black_box(call()));
            started.elapsed().as_secs_f64() * 1e6 / f64::from(per_batch)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
