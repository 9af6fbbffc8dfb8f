//! Listing-parse throughput: an `s5cmd ls` listing of every file of the full demo's okavango
//! store (3 lines a tile, about 11.4M lines), parsed by the engine's scanner on one thread.
//!
//! Usage: `scan-timer [INVENTORY]` (default `target/bench-demo`). Prints MB/s and lines/s
//! (median of 5 runs), the target being at least 2 GB/s and 20 M lines/s, and then times the
//! shell pipelines people use instead on the same listing, from a file in the page cache: `awk`
//! summing bytes per tile, and `cut | sort -u` for the set of tiles alone (one run each).

use std::io::Write;
use std::time::Instant;

use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::inventory::Inventory;
use tessera_engine::listing::Scanner;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "target/bench-demo".to_owned());
    let inventory = Inventory::open(&dir)?;
    let listing = s5cmd_listing(&inventory)?;
    let lines = listing.iter().filter(|&&b| b == b'\n').count();
    let (mut seconds, mut parse_seconds) = (Vec::new(), Vec::new());
    let mut present = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let mut scanner = Scanner::new(inventory.years(), None);
        scanner.text(&listing);
        let parsed = started.elapsed().as_secs_f64();
        let (tiles, _) = scanner.finish();
        seconds.push(started.elapsed().as_secs_f64());
        parse_seconds.push(parsed);
        present = tiles.len();
    }
    seconds.sort_by(f64::total_cmp);
    parse_seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let parse = parse_seconds[parse_seconds.len() / 2];
    println!("{lines} lines, {:.1} MB, {present} tiles present", listing.len() as f64 / 1e6);
    println!(
        "parse + gather + sort: {:.0} ms: {:.0} MB/s, {:.1} M lines/s",
        median * 1e3,
        listing.len() as f64 / 1e6 / median,
        lines as f64 / 1e6 / median
    );
    println!(
        "of which line parsing {:.0} ms ({:.1} M lines/s), gathering and sorting tiles {:.0} ms",
        parse * 1e3,
        lines as f64 / 1e6 / parse,
        (median - parse) * 1e3
    );
    shell_peers(&listing, median)?;
    Ok(())
}

/// Times the usual shell pipelines on the same listing and prints tessera's ratio to each.
fn shell_peers(listing: &[u8], ours: f64) -> std::io::Result<()> {
    let path = std::env::temp_dir().join(format!("tessera-scan-timer-{}.txt", std::process::id()));
    std::fs::write(&path, listing)?;
    let file = path.display();
    let pipelines = [
        (
            "awk, bytes per tile",
            format!("awk '{{split($4,p,\"/\"); s[p[1]\"/\"p[2]]+=$3}} END {{print length(s)}}' {file}"),
        ),
        ("cut | sort -u, tiles only", format!("cut -c40- {file} | cut -d/ -f1,2 | sort -u | wc -l")),
    ];
    for (name, script) in pipelines {
        let started = Instant::now();
        let output = std::process::Command::new("sh").arg("-c").arg(&script).output()?;
        let seconds = started.elapsed().as_secs_f64();
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let rate = listing.len() as f64 / 1e6 / seconds;
        println!(
            "{name}: {:.0} ms ({rate:.0} MB/s, {answer} tiles): tessera is {:.1}x faster",
            seconds * 1e3,
            seconds / ours
        );
    }
    std::fs::remove_file(&path)
}

/// Every file of okavango's tiles as `s5cmd ls 's3://bucket/v1/global_0.1_degree_representation/*'`
/// prints it: keys relative to the wildcard, sizes right-aligned in 12 columns.
fn s5cmd_listing(inventory: &Inventory) -> std::io::Result<Vec<u8>> {
    let writer = KeyWriter::new(inventory.years());
    let mut out = Vec::with_capacity(1 << 30);
    let mut key = Vec::new();
    for id in inventory.store("okavango").map_err(std::io::Error::other)?.tiles.to_vec() {
        key.clear();
        writer.push(&mut key, id, KeyStyle::Key);
        let key = std::str::from_utf8(&key).map_err(std::io::Error::other)?;
        let name = &key[5..];
        // s5cmd's own layout: `%19s %2s %-1s %12s  %s` (research/formats.md).
        for (size, file) in
            [(179, "SHA256".to_owned()), (108527232, format!("{name}.npy")), (3391600, format!("{name}_scales.npy"))]
        {
            writeln!(out, "2026/04/09 21:34:55 {:>2} {:<1} {size:>12}  {key}/{file}", "", "")?;
        }
    }
    Ok(out)
}
