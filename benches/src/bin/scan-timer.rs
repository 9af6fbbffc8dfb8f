//! `tessera scan` on an `s5cmd ls` listing of every file of the full demo's okavango store (3
//! lines a tile, about 11.4M lines, 930 MB), timed two ways:
//!
//! - the whole process, as users run it: `tessera scan okavango LISTING --timings`, spawn to
//!   exit, manifest and index written, into a copy of the inventory; with where the time went;
//! - the kernel in this process: `Scanner::feed`, the entry point the command uses, on all
//!   cores and on one.
//!
//! Then the shell pipelines people use instead, on the same file in the page cache: `awk`
//! summing bytes per tile, and `cut | sort -u` for the set of tiles alone.
//!
//! Usage: `scan-timer [TESSERA [INVENTORY]]`, defaults `target/release/tessera` and
//! `target/bench-demo`. The listing is written once to `target/bench-scan/listing.txt`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::inventory::Inventory;
use tessera_engine::listing::Scanner;

const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("machine: {}", tessera_benches::machine());
    let mut args = std::env::args().skip(1);
    let tessera = args.next().unwrap_or_else(|| "target/release/tessera".to_owned());
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/bench-demo".to_owned()));
    let work = PathBuf::from("target/bench-scan");
    fs::create_dir_all(&work)?;
    let inventory = Inventory::open(&dir)?;
    let listing_path = work.join("listing.txt");
    if !listing_path.exists() {
        fs::write(&listing_path, s5cmd_listing(&inventory)?)?;
    }
    let listing = fs::read(&listing_path)?;
    let (megabytes, lines) = (listing.len() as f64 / 1e6, listing.iter().filter(|&&b| b == b'\n').count());
    println!("{lines} lines, {megabytes:.1} MB");

    let whole = whole_process(&tessera, &dir, &work, &listing_path)?;
    println!(
        "whole `tessera scan` process: median {:.0} ms of {RUNS}: {:.0} MB/s (target 1,500 MB/s)",
        whole * 1e3,
        megabytes / whole
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for threads in [threads, 1] {
        let kernel = kernel(&inventory, &listing, threads);
        println!(
            "kernel, Scanner::feed on {threads} thread(s) + finish: median {:.0} ms: {:.0} MB/s, {:.1} M lines/s",
            kernel * 1e3,
            megabytes / kernel,
            lines as f64 / 1e6 / kernel
        );
    }
    shell_peers(&listing_path, listing.len(), whole)?;
    Ok(())
}

/// Median seconds of the whole command, spawn to exit, into a fresh copy of the inventory
/// each run; prints each run's `--timings` line.
fn whole_process(tessera: &str, dir: &Path, work: &Path, listing: &Path) -> Result<f64, Box<dyn std::error::Error>> {
    let mut seconds = Vec::new();
    for _ in 0..RUNS {
        let copy = work.join("inventory");
        let _ = fs::remove_dir_all(&copy);
        copy_inventory(dir, &copy)?;
        let started = Instant::now();
        let output = Command::new(tessera)
            .arg("--inventory")
            .arg(&copy)
            .args(["scan", "okavango", "--timings"])
            .arg(listing)
            .output()?;
        seconds.push(started.elapsed().as_secs_f64());
        let said = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("tessera scan failed: {said}").into());
        }
        if let Some(line) = said.lines().find(|line| line.contains("timings:")) {
            println!("  {}", line.trim_start_matches("tessera: "));
        }
    }
    seconds.sort_by(f64::total_cmp);
    Ok(seconds[RUNS / 2])
}

/// The inventory's files (not the journals or locks of a previous run) into `to`, with their
/// modification times, so that the derived files (indexes, details) stay valid as they are in
/// the inventory a user scans into.
fn copy_inventory(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to.join("stores"))?;
    for name in ["tessera.toml", "registry.parquet", "registry.tbm", "registry.details"] {
        if from.join(name).exists() {
            copy_with_mtime(&from.join(name), &to.join(name))?;
        }
    }
    for entry in fs::read_dir(from.join("stores"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "parquet" || ext == "tbm") {
            copy_with_mtime(&path, &to.join("stores").join(path.file_name().unwrap_or_default()))?;
        }
    }
    Ok(())
}

fn copy_with_mtime(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::copy(from, to)?;
    let modified = fs::metadata(from)?.modified()?;
    fs::File::options().write(true).open(to)?.set_modified(modified)
}

/// Median seconds for `Scanner::feed` over the whole listing, then `finish`.
fn kernel(inventory: &Inventory, listing: &[u8], threads: usize) -> f64 {
    let mut seconds = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut scanner = Scanner::new(inventory.years(), None);
        scanner.feed(listing, threads);
        let (tiles, _) = scanner.finish();
        seconds.push(started.elapsed().as_secs_f64());
        assert!(!tiles.is_empty());
    }
    seconds.sort_by(f64::total_cmp);
    seconds[RUNS / 2]
}

/// Times the usual shell pipelines on the same file and prints tessera's ratio to each.
fn shell_peers(path: &Path, len: usize, ours: f64) -> std::io::Result<()> {
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
        let output = Command::new("sh").arg("-c").arg(&script).output()?;
        let seconds = started.elapsed().as_secs_f64();
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let rate = len as f64 / 1e6 / seconds;
        println!(
            "{name}: {:.0} ms ({rate:.0} MB/s, {answer} tiles): the whole tessera scan is {:.1}x faster",
            seconds * 1e3,
            seconds / ours
        );
    }
    Ok(())
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
