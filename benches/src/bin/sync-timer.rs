//! `tessera sync --dry-run` timed as a user runs it: the whole process, spawn to exit, on the
//! full demo (okavango -> scaleway: 9,184 tiles), interleaved round by round with two floors
//! run the same way: `tessera diff --count` (open the inventory, one count kernel) and
//! `tessera status`. The target is a dry run under 50 ms.
//!
//! Usage: `sync-timer [TESSERA [INVENTORY]]`, defaults `target/release/tessera` and
//! `target/bench-demo` (generated if missing). The first dry run after an import builds the
//! registry's details (sizes and hashes by tile, once); it is timed apart, before the rounds.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tessera_fixtures::{DemoSpec, write_demo};

const ROUNDS: usize = 31;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("machine: {}", tessera_benches::machine());
    let mut args = std::env::args().skip(1);
    let tessera = args.next().unwrap_or_else(|| "target/release/tessera".to_owned());
    let dir = args.next().unwrap_or_else(|| "target/bench-demo".to_owned());
    if !Path::new(&dir).join("tessera.toml").exists() {
        eprintln!("generating the full demo in {dir} ...");
        write_demo(Path::new(&dir), &DemoSpec::default())?;
    }
    let details = Path::new(&dir).join("registry.details");
    let cold = if details.exists() { None } else { Some(time(&tessera, &dir, &DRY_RUN)?) };
    let commands: [(&str, &[&str]); 3] = [
        ("sync --dry-run", &DRY_RUN),
        ("diff --count", &["diff", "okavango", "scaleway", "--count"]),
        ("status", &["status"]),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); commands.len()];
    for _ in 0..ROUNDS {
        for (k, (_, args)) in commands.iter().enumerate() {
            times[k].push(time(&tessera, &dir, args)?);
        }
    }
    println!("whole processes on {dir}, {ROUNDS} rounds interleaved (min / median / max):");
    times.iter_mut().for_each(|runs| runs.sort());
    let median = |k: usize| times[k][ROUNDS / 2];
    for (k, (name, _)) in commands.iter().enumerate() {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  tessera {name:<15} {:6.1} / {:6.1} / {:6.1} ms",
            ms(times[k][0]),
            ms(median(k)),
            ms(times[k][ROUNDS - 1])
        );
    }
    println!(
        "sync --dry-run: {:.1}x diff --count, {:.1}x status (target: under 50 ms: {})",
        median(0).as_secs_f64() / median(1).as_secs_f64(),
        median(0).as_secs_f64() / median(2).as_secs_f64(),
        if median(0) < Duration::from_millis(50) { "met" } else { "NOT met" }
    );
    if let Some(cold) = cold {
        println!("the first dry run, which built registry.details: {:.2} s", cold.as_secs_f64());
    }
    Ok(())
}

const DRY_RUN: [&str; 4] = ["sync", "okavango", "scaleway", "--dry-run"];

/// Runs `tessera --inventory DIR ARGS` to the end and returns how long it took.
fn time(tessera: &str, dir: &str, args: &[&str]) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let output = Command::new(tessera).arg("--inventory").arg(dir).args(args).output()?;
    let took = started.elapsed();
    if !output.status.success() {
        return Err(format!("tessera {args:?} failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(took)
}
