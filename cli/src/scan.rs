//! `tessera scan STORE [LISTING...|-]`: a store's manifest and index from listing text.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::num::NonZeroU64;
use std::path::Path;

use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use tessera_engine::inventory::{self, Inventory};
use tessera_engine::listing::{Problem, ScanReport, ScannedTile, Scanner};
use tessera_engine::manifest::ManifestRow;
use tessera_engine::store::{Listing, Replaced, Scope};

use crate::args::ScanArgs;
use crate::open_inventory;

pub fn run(dir: &Path, args: &ScanArgs) -> Result<()> {
    let mut inventory = open_inventory(dir)?;
    let store = inventory.store(&args.store)?.config.name.clone();
    let mut scanner = Scanner::new(inventory.years(), args.year);
    let inputs = if args.listings.is_empty() { vec!["-".to_owned()] } else { args.listings.clone() };
    let listed_at = listed_at(&inputs);
    for input in &inputs {
        scanner.start_input();
        read_input(input, &mut scanner).with_context(|| format!("cannot read listing {input}"))?;
    }
    let (tiles, report) = scanner.finish();
    let mismatches = size_mismatches(&inventory, &tiles)?;
    print_report(&report, mismatches);
    if args.strict {
        refuse_problems(&report, mismatches)?;
    }
    let rows = rows_of(&tiles);
    let scope = Scope { years: args.year.into_iter().collect(), prefix: args.prefix.clone() };
    let listing = Listing { rows: &rows, scope: &scope, listed_at, merge: args.merge };
    let replaced = inventory.replace(&store, &listing)?;
    eprintln!("tessera: wrote {store}: {}", describe(&replaced, &scope, args.merge));
    Ok(())
}

/// When the listings were taken: the earliest birth time of the listing files (a file is
/// created as its lister starts writing), or now for standard input (it is being listed).
fn listed_at(inputs: &[String]) -> i64 {
    let now = tessera_engine::journal::now_ns();
    let born = |input: &String| -> Option<i64> {
        let meta = std::fs::metadata(input).ok()?;
        let time = meta.created().or_else(|_| meta.modified()).ok()?;
        Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i64)
    };
    inputs
        .iter()
        .map(|input| if input == "-" { Some(now) } else { born(input) })
        .map(|at| at.unwrap_or(now))
        .min()
        .unwrap_or(now)
}

/// `3799980 tiles held; 12 dropped in 2024 (no longer listed); 5 records kept ...`
fn describe(replaced: &Replaced, scope: &Scope, merge: bool) -> String {
    let mut parts = vec![format!("{} tiles held", replaced.held)];
    if !scope.is_all() && !merge {
        let years: Vec<String> = scope.years.iter().map(ToString::to_string).collect();
        let mut within = years.join(",");
        if let Some(prefix) = &scope.prefix {
            within = if within.is_empty() { format!("prefix {prefix}") } else { format!("{within}, prefix {prefix}") };
        }
        parts.push(format!("{} dropped in scope ({within}): no longer listed", replaced.dropped));
    }
    if replaced.outside > 0 {
        parts.push(format!("{} listed tiles outside the scope ignored", replaced.outside));
    }
    if replaced.kept_records > 0 {
        parts.push(format!("{} records made since the listing was taken kept", replaced.kept_records));
    }
    parts.join("; ")
}

/// Feeds one input (a file, or `-` for stdin; gzip detected by its magic bytes) to `scanner`,
/// with a progress bar on a terminal (indicatif draws nothing when stderr is not one).
fn read_input(input: &str, scanner: &mut Scanner) -> Result<()> {
    let (raw, total): (Box<dyn Read>, Option<u64>) = if input == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(input)?;
        let len = file.metadata().ok().map(|meta| meta.len());
        (Box::new(file), len)
    };
    let progress = progress_bar(input, total);
    let mut buffered = BufReader::with_capacity(1 << 20, progress.wrap_read(raw));
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    };
    feed_lines(reader, scanner)?;
    progress.finish_and_clear();
    Ok(())
}

fn progress_bar(input: &str, total: Option<u64>) -> ProgressBar {
    let name = if input == "-" { "stdin" } else { input };
    let (bar, template) = match total {
        Some(len) => (ProgressBar::new(len), "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"),
        None => (ProgressBar::new_spinner(), "{spinner} {msg} {bytes} {bytes_per_sec}"),
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(format!("scanning {name}"));
    bar
}

/// Splits a stream into lines without allocating per line: whole lines are handed over from
/// the reader's buffer; only a line that straddles two buffers is copied.
fn feed_lines(mut reader: impl BufRead, scanner: &mut Scanner) -> Result<()> {
    let mut straddling = Vec::new();
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let mut consumed = 0;
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if straddling.is_empty() {
                scanner.line(&rest[..end]);
            } else {
                straddling.extend_from_slice(&rest[..end]);
                scanner.line(&straddling);
                straddling.clear();
            }
            consumed += end + 1;
            rest = &rest[end + 1..];
        }
        straddling.extend_from_slice(rest);
        consumed += rest.len();
        reader.consume(consumed);
    }
    if !straddling.is_empty() {
        scanner.line(&straddling);
    }
    Ok(())
}

/// Present tiles whose listed sizes differ from the registry's.
fn size_mismatches(inventory: &Inventory, tiles: &[ScannedTile]) -> Result<u64> {
    let path = inventory.dir().join(inventory::REGISTRY_FILE);
    if !path.exists() {
        return Ok(0);
    }
    let (registry, _) = tessera_engine::registry::read_registry(&path, inventory.years(), Default::default())?;
    let mut mismatches = 0;
    for tile in tiles {
        let Ok(at) = registry.ids.binary_search(&tile.id) else { continue };
        let differs = |seen: Option<u64>, expected: &Option<Vec<u64>>| matches!((seen, expected), (Some(seen), Some(sizes)) if sizes[at] != seen);
        if differs(tile.file_size.map(NonZeroU64::get), &registry.file_size)
            || differs(tile.scales_size.map(NonZeroU64::get), &registry.scales_size)
        {
            mismatches += 1;
        }
    }
    Ok(mismatches)
}

fn print_report(report: &ScanReport, mismatches: u64) {
    eprintln!(
        "tessera: scanned {} lines: {} tiles present, {} partial tiles, {} sizes differ from the registry",
        report.lines, report.present_tiles, report.partial_tiles, mismatches
    );
    for (what, problem) in problems(report) {
        if let Some(line) = problem.first_line {
            eprintln!("tessera: note: {} {what} (first at line {line})", problem.count);
        }
    }
}

fn problems(report: &ScanReport) -> [(&'static str, Problem); 4] {
    [
        ("unreadable lines", report.unreadable),
        ("zero-size tile files", report.zero_size),
        ("misfiled .npy names", report.misfiled),
        ("files that are not tile files", report.other_files),
    ]
}

fn refuse_problems(report: &ScanReport, mismatches: u64) -> Result<()> {
    if let Some((what, problem)) = problems(report).into_iter().find(|(_, p)| p.count > 0) {
        let line = problem.first_line.unwrap_or_default();
        bail!("--strict: {} {what}, the first at line {line}; nothing was written", problem.count);
    }
    if report.partial_tiles > 0 || mismatches > 0 {
        bail!("--strict: {} partial tiles, {mismatches} size mismatches; nothing was written", report.partial_tiles);
    }
    Ok(())
}

fn rows_of(tiles: &[ScannedTile]) -> Vec<ManifestRow> {
    let row = |t: &ScannedTile| ManifestRow {
        id: t.id,
        file_size: t.file_size.map(NonZeroU64::get),
        scales_size: t.scales_size.map(NonZeroU64::get),
    };
    tiles.iter().map(row).collect()
}
