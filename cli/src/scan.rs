//! `tessera scan STORE [LISTING...|-]`: a store's manifest and index from listing text.

mod findings;

use std::fs::File;
use std::io::{self, Read, Write};
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use indicatif::{ProgressBar, ProgressStyle};

use tessera_engine::copylist::KeyWriter;
use tessera_engine::inventory::Inventory;
use tessera_engine::listing::{Problem, ScanReport, ScannedTile, Scanner, list_local};
use tessera_engine::store::{Listing, Replaced, Scope, Taken};
use tessera_engine::{Storage, YearRange};

use crate::args::ScanArgs;
use crate::bucket::Bucket;
use crate::open_inventory;
use crate::text::counted;
use findings::{Findings, SizeMismatch};

pub fn run(dir: &Path, args: &ScanArgs) -> Result<()> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let mut inventory = open_inventory(dir)?;
    let store = inventory.store(&args.store)?.config.name.clone();
    let mut scanner = Scanner::new(inventory.years(), args.year);
    // Before anything is listed or read: records appended from here on are kept over the
    // listing, whether or not it shows their tiles.
    let started_after = inventory.journal_end(&store)?;
    let mut findings = Findings::new(KeyWriter::new(inventory.years()), args.report.as_deref())?;
    let taken = if args.list {
        let now = tessera_engine::journal::now_ns();
        let storage = inventory.store(&store)?.config.storage()?;
        // Only what the scan replaces is walked: --year's folder, --prefix's tile folders.
        let scope = Scope { years: args.year.into_iter().collect(), prefix: args.prefix.clone() };
        list_store(&storage, inventory.years(), &scope, args, &mut scanner, &mut findings, &mut timings)?;
        Taken::ByTheScan(now)
    } else {
        let inputs = if args.listings.is_empty() { vec!["-".to_owned()] } else { args.listings.clone() };
        let previous = inventory.store_state(&store)?.provenance.listed_at;
        let taken = taken(&inputs, previous);
        for input in &inputs {
            scanner.start_input();
            read_input(input, &mut scanner, &mut timings).with_context(|| format!("cannot read listing {input}"))?;
        }
        taken
    };
    let gathering = Instant::now();
    let (tiles, report) = scanner.finish();
    timings.gather = gathering.elapsed();
    let checking = Instant::now();
    let mismatches = size_mismatches(&inventory, &tiles)?;
    timings.size_check = checking.elapsed();
    let links = findings.links();
    print_report(&report, mismatches.len() as u64, links);
    findings.finish(&report.partial_tiles, &mismatches)?;
    if args.strict {
        refuse_problems(&report, mismatches.len() as u64, links)?;
    }
    let scope = Scope { years: args.year.into_iter().collect(), prefix: args.prefix.clone() };
    let listing = Listing { rows: &tiles, scope: &scope, started_after, taken, merge: args.merge };
    let replaced = inventory.replace(&store, &listing)?;
    eprintln!("tessera: wrote {store}: {}", describe(&replaced, &scope, args.merge));
    if args.timings {
        timings.manifest = replaced.timings.manifest;
        timings.index = replaced.timings.index;
        timings.print(started.elapsed());
    }
    Ok(())
}

/// `scan --list`: lists the store itself (a walk of its directory, or S3 list requests) and
/// feeds what it finds to `scanner` as it comes, with a progress spinner, and saves the
/// listing when asked. A walk's links go to `findings`.
fn list_store(
    storage: &Storage,
    years: YearRange,
    scope: &Scope,
    args: &ScanArgs,
    scanner: &mut Scanner,
    findings: &mut Findings,
    timings: &mut Timings,
) -> Result<()> {
    let mut saved = match &args.save_listing {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(GzEncoder::new(io::BufWriter::new(file), Compression::fast()))
        }
        None => None,
    };
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut write_error = None;
    let mut parse = Duration::ZERO;
    let listing = Instant::now();
    scanner.start_input();
    let mut feed = |lines: &[u8]| {
        let parsing = Instant::now();
        scanner.feed(lines, cpus);
        parse += parsing.elapsed();
        if let Some(out) = saved.as_mut()
            && let Err(err) = out.write_all(lines)
        {
            write_error.get_or_insert(err);
        }
    };
    let summary = match storage {
        Storage::Local(root) => walk_directory(Path::new(root), years, scope, args, &mut feed, findings)?,
        Storage::S3(url) => list_bucket(url, years, scope, args, &mut feed)?,
    };
    // The listing runs while blocks are parsed: --timings shows the wait for it as the read.
    timings.parse += parse;
    timings.read += listing.elapsed().saturating_sub(parse);
    if let Some(err) = write_error {
        return Err(err).context("cannot write the saved listing");
    }
    if let (Some(out), Some(path)) = (saved, &args.save_listing) {
        out.finish().and_then(|mut file| file.flush()).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("tessera: saved the listing to {}", path.display());
    }
    eprintln!("tessera: listed {summary} in {:.1} s", listing.elapsed().as_secs_f64());
    Ok(())
}

/// Walks a directory store with `--threads` workers; returns what was listed, in words. Links
/// are not listed but noted in `findings`.
fn walk_directory(
    root: &Path,
    years: YearRange,
    scope: &Scope,
    args: &ScanArgs,
    feed: &mut impl FnMut(&[u8]),
    findings: &mut Findings,
) -> Result<String> {
    if !root.is_dir() {
        bail!("the store's storage {} is not a directory on this machine", root.display());
    }
    let threads = args.threads.unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(2, |n| n.get()));
    let progress = spinner(&root.display().to_string(), "tile folders");
    let link = |link| findings.link(link);
    let folders = list_local(root, years, scope, threads, feed, link, |listed| progress.set_position(listed as u64))?;
    progress.finish_and_clear();
    Ok(format!("{folders} tile folders under {}", root.display()))
}

/// Lists an S3 store with `--threads` requests in flight; returns what was listed, in words.
fn list_bucket(
    url: &str,
    years: YearRange,
    scope: &Scope,
    args: &ScanArgs,
    feed: &mut impl FnMut(&[u8]),
) -> Result<String> {
    let bucket = Bucket::open(url, args.s3.settings(args.threads))?;
    let progress = spinner(url, "objects");
    let listed = bucket.list(years, scope, feed, |objects| progress.set_position(objects))?;
    progress.finish_and_clear();
    Ok(format!("{} objects under {url} ({} requests over {} key ranges)", listed.objects, listed.pages, listed.ranges))
}

fn spinner(place: &str, unit: &str) -> ProgressBar {
    let progress = ProgressBar::new_spinner();
    let template = format!("{{spinner}} listing {{msg}}: {{pos}} {unit} {{per_sec}}");
    progress.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
    progress.set_message(place.to_owned());
    progress
}

/// Where a scan's time went, for `--timings`.
#[derive(Debug, Default)]
struct Timings {
    /// Waiting for input bytes (a file, a pipe, gzip).
    read: Duration,
    /// Parsing lines into tiles, on every core.
    parse: Duration,
    /// Joining and sorting the tiles found.
    gather: Duration,
    /// Comparing sizes with the registry's.
    size_check: Duration,
    /// Writing the manifest (under the store's lock).
    manifest: Duration,
    /// Writing the index.
    index: Duration,
}

impl Timings {
    fn print(&self, total: Duration) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let parts = [
            ("read", self.read),
            ("parse", self.parse),
            ("gather", self.gather),
            ("size check", self.size_check),
            ("manifest", self.manifest),
            ("index", self.index),
        ];
        let counted: Duration = parts.iter().map(|(_, d)| *d).sum();
        let listed: Vec<String> = parts.iter().map(|(name, d)| format!("{name} {:.0} ms", ms(*d))).collect();
        eprintln!(
            "tessera: timings: {}, other {:.0} ms; total {:.0} ms",
            listed.join(", "),
            ms(total.saturating_sub(counted)),
            ms(total)
        );
    }
}

/// When the listings were taken: by the scan for standard input alone (it is being listed as
/// the scan reads it), else before the scan, at the earliest birth time of the listing files
/// (a file is created as its lister starts writing); see [`Taken`] for what that birth bounds.
///
/// A file born before the store's previous listing was taken has been rewritten since (a
/// daily `s5cmd ls > listing.txt` keeps the first day's birth): its birth says nothing of when
/// this listing began, and taking it would keep every record made since over the listing. Its
/// last change is taken instead: records made while it was written are then dropped, and at
/// worst copied again.
fn taken(inputs: &[String], previous: Option<i64>) -> Taken {
    let now = tessera_engine::journal::now_ns();
    let nanos = |time: std::time::SystemTime| -> Option<i64> {
        Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i64)
    };
    let born = |input: &String| -> Option<i64> {
        let meta = std::fs::metadata(input).ok()?;
        let modified = meta.modified().ok().and_then(nanos);
        match meta.created().ok().and_then(nanos) {
            Some(born) if previous.is_none_or(|previous| born > previous) => Some(born),
            _ => modified,
        }
    };
    let files = inputs.iter().filter(|input| *input != "-");
    match files.map(|input| born(input).unwrap_or(now)).min() {
        Some(born) => Taken::BeforeTheScan(born),
        None => Taken::ByTheScan(now),
    }
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

/// Bytes read and parsed at a time: each thread's part of a block is many MB, and the
/// block's memory stays bounded whatever the listing's size.
const BLOCK: usize = 64 << 20;

/// Feeds one input (a file, or `-` for stdin; gzip detected by its magic bytes) to `scanner`
/// in blocks of whole lines, each parsed on every core, with a progress bar on a terminal
/// (indicatif draws nothing when stderr is not one).
fn read_input(input: &str, scanner: &mut Scanner, timings: &mut Timings) -> Result<()> {
    if input != "-" && !is_gzip(input)? {
        return feed_mapped(input, scanner, timings);
    }
    let (raw, total): (Box<dyn Read + Send>, Option<u64>) = if input == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(input)?;
        let len = file.metadata().ok().map(|meta| meta.len());
        (Box::new(file), len)
    };
    let progress = progress_bar(input, total);
    let mut raw = progress.wrap_read(raw);
    let mut magic = [0u8; 2];
    let read = read_full(&mut raw, &mut magic)?;
    let start = io::Cursor::new(magic[..read].to_vec());
    let reader: Box<dyn Read + Send> = if magic[..read] == [0x1f, 0x8b] {
        Box::new(MultiGzDecoder::new(start.chain(raw)))
    } else {
        Box::new(start.chain(raw))
    };
    feed_blocks(reader, scanner, timings)?;
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

fn is_gzip(path: &str) -> Result<bool> {
    let mut magic = [0u8; 2];
    let read = read_full(&mut File::open(path)?, &mut magic)?;
    Ok(magic[..read] == [0x1f, 0x8b])
}

/// Feeds a plain listing file in place, mapped rather than copied, a block of whole lines at a
/// time (on every core), with a progress bar.
fn feed_mapped(path: &str, scanner: &mut Scanner, timings: &mut Timings) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mapped = tessera_engine::listing::map_file(Path::new(path))?;
    let mut rest = mapped.bytes();
    let progress = progress_bar(path, Some(rest.len() as u64));
    let parsing = Instant::now();
    while !rest.is_empty() {
        let aim = rest.len().min(BLOCK);
        let whole = match aim == rest.len() {
            true => aim,
            false => memchr::memchr(b'\n', &rest[aim..]).map_or(rest.len(), |at| aim + at + 1),
        };
        scanner.feed(&rest[..whole], threads);
        progress.inc(whole as u64);
        rest = &rest[whole..];
    }
    timings.parse += parsing.elapsed();
    progress.finish_and_clear();
    Ok(())
}

/// Fills `buffer` from `reader` as far as it goes; returns the bytes read (short only at the end).
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Reads `reader` a block at a time on a thread of its own and feeds each block's whole lines
/// to `scanner` meanwhile (two blocks take turns), carrying a line cut by a block's end over
/// to the next. `timings.read` is the time the parser waited for input.
fn feed_blocks(reader: impl Read + Send, scanner: &mut Scanner, timings: &mut Timings) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (full, filled) = mpsc::sync_channel::<(Vec<u8>, usize)>(1);
    let (empty, emptied) = mpsc::channel::<Vec<u8>>();
    for _ in 0..2 {
        empty.send(vec![0u8; BLOCK]).expect("the channel is open");
    }
    std::thread::scope(|scope| -> Result<()> {
        let reading = scope.spawn(move || read_blocks(reader, &emptied, &full));
        loop {
            let waiting = Instant::now();
            let Ok((block, whole)) = filled.recv() else { break };
            timings.read += waiting.elapsed();
            let parsing = Instant::now();
            scanner.feed(&block[..whole], threads);
            timings.parse += parsing.elapsed();
            // The reader may have stopped at an error: then nobody takes the block back.
            let _ = empty.send(block);
        }
        drop(empty);
        reading.join().map_err(|_| anyhow::anyhow!("the listing reader panicked"))??;
        Ok(())
    })
}

/// The reading side of [`feed_blocks`]: fills the blocks it is given and hands each back with
/// the length of its whole lines.
fn read_blocks(
    mut reader: impl Read,
    emptied: &mpsc::Receiver<Vec<u8>>,
    full: &mpsc::SyncSender<(Vec<u8>, usize)>,
) -> io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    while let Ok(mut block) = emptied.recv() {
        if block.len() < carry.len() + BLOCK / 2 {
            block.resize(carry.len() + BLOCK, 0);
        }
        block[..carry.len()].copy_from_slice(&carry);
        let filled = carry.len() + read_full(&mut reader, &mut block[carry.len()..])?;
        let at_end = filled < block.len();
        let whole = match at_end {
            true => filled,
            // A line longer than a block is read as it comes, in block-sized pieces.
            false => memchr::memrchr(b'\n', &block[..filled]).map_or(filled, |at| at + 1),
        };
        carry.clear();
        carry.extend_from_slice(&block[whole..filled]);
        if full.send((block, whole)).is_err() || at_end {
            return Ok(());
        }
    }
    Ok(())
}

/// Present tiles whose listed sizes differ from the registry's, from its memory-mapped
/// details: the tiles and the registry's ids are both sorted, so the rows are read in order.
fn size_mismatches(inventory: &Inventory, tiles: &[ScannedTile]) -> Result<Vec<SizeMismatch>> {
    let Some(registry) = inventory.registry() else { return Ok(Vec::new()) };
    let (details, built) = inventory.registry_details()?;
    if let Some(notice) = built {
        eprintln!("tessera: note: {}", crate::word(&notice));
    }
    let ids = registry.to_vec();
    let mut mismatches = Vec::new();
    let mut at = 0;
    for tile in tiles {
        // Both lists are sorted and nearly the same: step, do not search.
        while ids.get(at).is_some_and(|&id| id < tile.id.0) {
            at += 1;
        }
        if ids.get(at) != Some(&tile.id.0) {
            continue;
        }
        let Some(expected) = details.get(at as u64) else { continue };
        let differs = |seen: Option<NonZeroU64>, want: Option<u64>| matches!((seen, want), (Some(seen), Some(want)) if seen.get() != want);
        if differs(tile.file_size, expected.file_size) || differs(tile.scales_size, expected.scales_size) {
            mismatches.push(SizeMismatch {
                id: tile.id,
                listed: (tile.file_size, tile.scales_size),
                registry: (expected.file_size, expected.scales_size),
            });
        }
    }
    Ok(mismatches)
}

/// `scanned 12 lines: 3 tiles present, 1 partial tile, 1 tile whose sizes differ ...`, then a
/// note for each kind of line that could not be counted, and for the links a walk met.
fn print_report(report: &ScanReport, mismatches: u64, links: u64) {
    eprintln!(
        "tessera: scanned {}: {}, {}, {}",
        counted(report.lines, "line", "lines"),
        counted(report.present_tiles, "tile present", "tiles present"),
        counted(report.partial_tiles.len() as u64, "partial tile", "partial tiles"),
        differing(mismatches)
    );
    for ((one, many), problem) in problems(report) {
        if let Some(line) = problem.first_line {
            eprintln!("tessera: note: {} (first at line {line})", counted(problem.count, one, many));
        }
    }
    if links > 0 {
        let links = counted(links, "symbolic link", "symbolic links");
        eprintln!("tessera: note: {links} not counted: a link is never a tile file (see `tessera scan --help`)");
    }
}

fn differing(mismatches: u64) -> String {
    let tiles = counted(mismatches, "tile whose sizes differ", "tiles whose sizes differ");
    format!("{tiles} from the registry")
}

/// Each kind of line a scan cannot count, as one and as many.
fn problems(report: &ScanReport) -> [((&'static str, &'static str), Problem); 4] {
    [
        (("unreadable line", "unreadable lines"), report.unreadable),
        (("zero-size tile file", "zero-size tile files"), report.zero_size),
        (("misfiled .npy name", "misfiled .npy names"), report.misfiled),
        (("file that is not a tile file", "files that are not tile files"), report.other_files),
    ]
}

fn refuse_problems(report: &ScanReport, mismatches: u64, links: u64) -> Result<()> {
    if let Some(((one, many), problem)) = problems(report).into_iter().find(|(_, p)| p.count > 0) {
        let line = problem.first_line.unwrap_or_default();
        bail!("--strict: {}, the first at line {line}; nothing was written", counted(problem.count, one, many));
    }
    if links > 0 {
        bail!("--strict: {}; nothing was written", counted(links, "symbolic link", "symbolic links"));
    }
    let partial = report.partial_tiles.len() as u64;
    if partial > 0 || mismatches > 0 {
        let partial = counted(partial, "partial tile", "partial tiles");
        bail!("--strict: {partial}, {}; nothing was written", differing(mismatches));
    }
    Ok(())
}
