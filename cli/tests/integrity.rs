//! A store's integrity against its writers: records made while a listing is taken and
//! scanned, a crash between a scan's steps, a damaged journal, drift caught by a scoped
//! rescan, and a registry whose years run past the inventory's.

mod common;

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{demo, missing, run, spawn};

fn ok(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let output = run(dir, args, stdin);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "tessera {args:?} failed: {stderr}");
    stderr
}

fn status_line(output: &Output) -> (Option<i32>, String) {
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A `find -printf '%s %p\n'` listing of `keys` with whole tiles, as a store at `/data` would print it.
fn find_listing(keys: &[String]) -> String {
    let mut text = String::new();
    for key in keys {
        let name = key.rsplit('/').next().expect("a key");
        for (size, file) in
            [(179, "SHA256".to_owned()), (9984, format!("{name}.npy")), (436, format!("{name}_scales.npy"))]
        {
            text.push_str(&format!("{size} /data/{key}/{file}\n"));
        }
    }
    text
}

#[test]
fn a_record_made_while_a_scan_reads_its_listing_is_kept() {
    let (_temp, dir) = demo();
    let gaps = missing(&dir, "scaleway");
    let recorded = &gaps[..5];
    // scaleway's listing, taken before the record: it lacks the gaps.
    let listing = scaleway_listing(&dir);
    let mut scan = spawn(&dir, &["scan", "scaleway", "-"]);
    let mut stdin = scan.stdin.take().expect("stdin");
    stdin.write_all(&listing.as_bytes()[..listing.len() / 2]).expect("half the listing");
    std::thread::sleep(Duration::from_millis(200));
    // While the scan reads: five tiles are copied and recorded.
    ok(&dir, &["record", "scaleway"], recorded.join("\n").as_bytes());
    assert_eq!(missing(&dir, "scaleway").len(), gaps.len() - 5);
    stdin.write_all(&listing.as_bytes()[listing.len() / 2..]).expect("the rest");
    drop(stdin);
    let output = scan.wait_with_output().expect("the scan ends");
    let (code, said) = status_line(&output);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("5 records made since the listing was taken kept"), "{said}");
    assert_eq!(missing(&dir, "scaleway").len(), gaps.len() - 5, "the five acknowledged records survive the scan");
}

/// The listing scaleway's own tiles make (whole tiles at /data).
fn scaleway_listing(dir: &Path) -> String {
    let gaps: HashSet<String> = missing(dir, "scaleway").into_iter().collect();
    let held: Vec<String> = registry_keys(dir).into_iter().filter(|key| !gaps.contains(key)).collect();
    find_listing(&held)
}

/// The registry's tiles as keys, in id order: `diff registry` against an emptied store.
fn registry_keys(dir: &Path) -> Vec<String> {
    let temp = tempfile::tempdir().expect("temp dir");
    let copy = temp.path().join("copy");
    copy_dir(dir, &copy);
    ok(&copy, &["scan", "s3", "-"], b"");
    let output = run(&copy, &["diff", "registry", "s3"], b"");
    String::from_utf8(output.stdout).expect("utf-8").lines().map(str::to_owned).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp runs");
    assert!(status.success());
}

#[test]
fn a_tile_recorded_before_a_listing_that_lacks_it_stays_gone_after_a_crash_mid_scan() {
    let (_temp, dir) = demo();
    let gaps = missing(&dir, "scaleway");
    let vanished = gaps[0].clone();
    ok(&dir, &["record", "scaleway"], vanished.as_bytes());
    assert!(!missing(&dir, "scaleway").contains(&vanished));
    // The tile vanishes from the store; a listing taken afterwards lacks it.
    let journal = dir.join("stores/scaleway.journal");
    let before_scan = fs::read(&journal).expect("a journal");
    std::thread::sleep(Duration::from_millis(20));
    ok(&dir, &["scan", "scaleway", "-"], scaleway_listing_without(&dir, &vanished).as_bytes());
    assert!(missing(&dir, "scaleway").contains(&vanished), "the listing's truth: the tile is gone");
    // A crash between writing the manifest and anything after it leaves the journal as it
    // was before the scan: its old frames must not bring the tile back.
    fs::write(&journal, &before_scan).expect("the journal as a crash would leave it");
    fs::remove_file(dir.join("stores/scaleway.tbm")).expect("the index goes stale too");
    assert!(missing(&dir, "scaleway").contains(&vanished), "the vanished tile came back from old records");
}

/// scaleway's listing as it is now (records included), without `gone`.
fn scaleway_listing_without(dir: &Path, gone: &str) -> String {
    let lacking: HashSet<String> = missing(dir, "scaleway").into_iter().collect();
    let held: Vec<String> =
        registry_keys(dir).into_iter().filter(|key| key != gone && !lacking.contains(key)).collect();
    find_listing(&held)
}

/// The demo with three tiles recorded in scaleway, one frame each, then a byte of the first
/// frame's first entry flipped on disk; returns the gaps before, the journal and its bytes.
fn three_records_the_first_damaged() -> (tempfile::TempDir, PathBuf, Vec<String>, PathBuf, Vec<u8>) {
    let (temp, dir) = demo();
    let gaps = missing(&dir, "scaleway");
    for key in &gaps[..3] {
        ok(&dir, &["record", "scaleway"], key.as_bytes());
    }
    let journal = dir.join("stores/scaleway.journal");
    let mut bytes = fs::read(&journal).expect("a journal");
    let first_frame = bytes.windows(3).position(|magic| magic == b"TJR").expect("a frame");
    bytes[first_frame + 17] ^= 0x40;
    fs::write(&journal, &bytes).expect("damage");
    (temp, dir, gaps, journal, bytes)
}

#[test]
fn a_damaged_journal_frame_is_an_error_and_nothing_is_cut() {
    let (_temp, dir, gaps, journal, bytes) = three_records_the_first_damaged();
    // The index goes stale.
    fs::remove_file(dir.join("stores/scaleway.tbm")).expect("remove the index");
    let (code, said) = status_line(&run(&dir, &["diff", "okavango", "scaleway", "--count"], b""));
    assert_eq!(code, Some(2), "no silent answer from a damaged journal: {said}");
    assert!(said.contains("scaleway.journal is damaged at byte") && said.contains("tessera repair"), "{said}");
    let (code, said) = status_line(&run(&dir, &["record", "scaleway"], gaps[3].as_bytes()));
    assert_eq!(code, Some(2), "{said}");
    assert_eq!(fs::read(&journal).expect("the journal"), bytes, "nothing was cut");

    // The index was removed with the damage: nothing can tell what the damaged frame held.
    let said = ok(&dir, &["repair", "scaleway"], b"");
    assert!(said.contains("2 records kept, 0 restored from the index, 1 lost"), "{said}");
    assert!(said.contains("44 damaged bytes"), "{said}");
    let aside: Vec<_> = fs::read_dir(dir.join("stores"))
        .expect("stores")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("scaleway.journal.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(fs::read(aside[0].path()).expect("aside"), bytes, "the damaged journal is kept whole");
    let now = missing(&dir, "scaleway");
    assert!(now.contains(&gaps[0]) && !now.contains(&gaps[1]) && !now.contains(&gaps[2]), "{:?}", &now[..3]);
    ok(&dir, &["record", "scaleway"], gaps[3].as_bytes());
}

#[test]
fn repair_restores_the_records_of_a_damaged_frame_from_the_verified_index() {
    // The index, built from the journal whole, stays.
    let (_temp, dir, gaps, _, _) = three_records_the_first_damaged();

    let said = ok(&dir, &["repair", "scaleway"], b"");
    assert!(said.contains("2 records kept, 1 restored from the index, 0 lost"), "{said}");
    let now = missing(&dir, "scaleway");
    assert!(gaps[..3].iter().all(|key| !now.contains(key)), "all three records are held: {:?}", &now[..3]);
    assert_eq!(now.len(), gaps.len() - 3);
    // The repaired journal is whole: a fresh index built from it agrees, and records go on.
    fs::remove_file(dir.join("stores/scaleway.tbm")).expect("remove the index");
    assert_eq!(missing(&dir, "scaleway"), now);
    ok(&dir, &["record", "scaleway"], gaps[3].as_bytes());
}

/// Sets the time the last frame of the journal at `path` says it was appended at (what a
/// clock that read `appended_at` then would have written) and its checksum to match.
fn restamp_last_frame(path: &Path, appended_at: i64) {
    let mut bytes = fs::read(path).expect("a journal");
    // Header "TJH2" (20 bytes), then frames "TJR2" | count | appended_at | entries | xxh3.
    assert_eq!(&bytes[..4], b"TJH2", "a journal with a header");
    let (mut at, mut last) = (20, None);
    while at < bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"TJR2");
        let count = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        last = Some((at, 16 + 20 * count));
        at += 16 + 20 * count + 8;
    }
    let (start, body) = last.expect("a frame");
    bytes[start + 8..start + 16].copy_from_slice(&appended_at.to_le_bytes());
    let checksum = xxhash_rust::xxh3::xxh3_64(&bytes[start..start + body]);
    bytes[start + body..start + body + 8].copy_from_slice(&checksum.to_le_bytes());
    fs::write(path, &bytes).expect("restamped");
}

fn now_ns() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    since.as_nanos() as i64
}

const HOUR_NS: i64 = 3_600_000_000_000;

#[test]
fn a_scan_supersedes_an_earlier_record_though_the_clock_stepped_back_between_them() {
    let (_temp, dir) = demo();
    let gaps = missing(&dir, "scaleway");
    let vanished = gaps[0].clone();
    ok(&dir, &["record", "scaleway"], vanished.as_bytes());
    // The clock was an hour fast when the record was made, and has been stepped back since.
    restamp_last_frame(&dir.join("stores/scaleway.journal"), now_ns() + HOUR_NS);
    // The tile vanishes from the store; a listing piped into a scan afterwards lacks it.
    let listing = scaleway_listing_without(&dir, &vanished);
    let said = ok(&dir, &["scan", "scaleway", "-"], listing.as_bytes());
    assert!(!said.contains("records made since the listing was taken kept"), "{said}");
    assert!(missing(&dir, "scaleway").contains(&vanished), "the record made before the scan outlived it");
}

#[test]
fn a_removal_made_during_a_scan_survives_it_though_the_clock_stepped_back() {
    let (_temp, dir) = demo();
    let listing = scaleway_listing(&dir);
    let gaps: HashSet<String> = missing(&dir, "scaleway").into_iter().collect();
    let damaged = registry_keys(&dir).into_iter().find(|key| !gaps.contains(key)).expect("a tile scaleway holds");
    let mut scan = spawn(&dir, &["scan", "scaleway", "-"]);
    let mut stdin = scan.stdin.take().expect("stdin");
    stdin.write_all(&listing.as_bytes()[..listing.len() / 2]).expect("half the listing");
    std::thread::sleep(Duration::from_millis(200));
    // While the scan reads: `verify` finds a copy damaged and removes it, with the clock
    // stepped back an hour since the scan started.
    let id = tessera_engine::grid::DEFAULT_YEARS
        .id(tessera_engine::grid::Tile::parse_key(&damaged).expect("a key"))
        .expect("an id");
    let mut inventory = tessera_engine::Inventory::open(&dir).expect("the inventory");
    assert_eq!(inventory.remove("scaleway", &[id]).expect("removed"), 1);
    restamp_last_frame(&dir.join("stores/scaleway.journal"), now_ns() - HOUR_NS);
    stdin.write_all(&listing.as_bytes()[listing.len() / 2..]).expect("the rest");
    drop(stdin);
    let (code, said) = status_line(&scan.wait_with_output().expect("the scan ends"));
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("1 records made since the listing was taken kept"), "{said}");
    assert!(missing(&dir, "scaleway").contains(&damaged), "the listing undid the later removal");
}

#[test]
fn a_scoped_rescan_drops_the_vanished_tile_and_leaves_the_rest() {
    let (_temp, dir) = demo();
    let all = registry_keys(&dir);
    let lacking = missing(&dir, "scaleway");
    let gaps: HashSet<&String> = lacking.iter().collect();
    let held: Vec<String> = all.iter().filter(|key| !gaps.contains(key)).cloned().collect();
    let of_2024: Vec<String> = held.iter().filter(|key| key.starts_with("2024/")).cloned().collect();
    let vanished = of_2024[of_2024.len() / 2].clone();
    // A listing made inside the 2024 folder: keys without the year, one tile gone.
    let listing: String = find_listing(&of_2024.iter().filter(|key| **key != vanished).cloned().collect::<Vec<_>>())
        .replace("/data/2024/", "/data/");
    let said = ok(&dir, &["scan", "scaleway", "--year", "2024"], listing.as_bytes());
    assert!(said.contains("1 dropped in scope (2024)"), "{said}");
    let mut expected = lacking.clone();
    expected.push(vanished.clone());
    expected.sort_by_key(|key| {
        tessera_engine::grid::DEFAULT_YEARS.id(tessera_engine::grid::Tile::parse_key(key).unwrap()).unwrap()
    });
    assert_eq!(missing(&dir, "scaleway"), expected, "only the vanished 2024 tile is new");

    // A prefix within the year: a listing of `2024/grid_1*` that lacks one of those tiles.
    let shard: Vec<String> =
        of_2024.iter().filter(|key| key.starts_with("2024/grid_1") && **key != vanished).cloned().collect();
    let gone = shard[0].clone();
    let said = ok(&dir, &["scan", "scaleway", "--prefix", "2024/grid_1"], find_listing(&shard[1..]).as_bytes());
    assert!(said.contains("1 dropped in scope (prefix 2024/grid_1)"), "{said}");
    let now = missing(&dir, "scaleway");
    assert_eq!(now.len(), expected.len() + 1);
    assert!(now.contains(&gone));
    // --merge only adds: the vanished tiles come back when listed, nothing else is dropped.
    let said = ok(&dir, &["scan", "scaleway", "--merge"], find_listing(&[gone.clone(), vanished.clone()]).as_bytes());
    assert!(!said.contains("dropped"), "{said}");
    assert_eq!(missing(&dir, "scaleway"), lacking);
}

#[test]
fn a_registry_running_past_the_last_year_extends_the_inventory() {
    let (temp, dir) = demo();
    let count = String::from_utf8(run(&dir, &["diff", "okavango", "scaleway", "--count"], b"").stdout).expect("utf-8");
    // The registry gains a year: 2026, one tile.
    let registry = temp.path().join("registry-2026.parquet");
    write_registry_with_extra_year(&dir.join("registry.parquet"), &registry, 2026);
    let said = ok(&dir, &["import", registry.to_str().expect("utf-8")], b"");
    assert!(said.contains("the inventory's years are now 2017..=2026"), "{said}");
    let config = fs::read_to_string(dir.join("tessera.toml")).expect("config");
    assert!(config.contains("last = 2026") && config.starts_with("# A tessera inventory"), "{config}");
    assert_eq!(
        String::from_utf8(run(&dir, &["diff", "okavango", "scaleway", "--count"], b"").stdout).expect("utf-8"),
        count
    );
    assert_eq!(ok(&dir, &["diff", "registry", "okavango"], b""), "", "stderr is quiet: no index was rebuilt");
    let lacking = String::from_utf8(run(&dir, &["diff", "registry", "okavango"], b"").stdout).expect("utf-8");
    assert_eq!(lacking, "2026/grid_0.85_49.95\n");
    // A year before the first is refused, naming what to do.
    let early = temp.path().join("registry-2016.parquet");
    write_registry_with_extra_year(&dir.join("registry.parquet"), &early, 2016);
    let (code, said) = status_line(&run(&dir, &["import", early.to_str().expect("utf-8")], b""));
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("tiles of 2016, before this inventory's first year 2017") && said.contains("--years 2016.."),
        "{said}"
    );
}

/// Copies the registry at `from` to `to` with one more row: `grid_0.85_49.95` in `year`.
fn write_registry_with_extra_year(from: &Path, to: &Path, year: i64) {
    use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(from).expect("open")).expect("parquet");
    let batches: Vec<RecordBatch> = reader.build().expect("reader").map(|b| b.expect("batch")).collect();
    let schema = batches[0].schema();
    let first = &batches[0];
    // The new row: the first row's columns, with the year, lon and lat replaced.
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(k, field)| -> ArrayRef {
            match field.name().as_str() {
                "year" => std::sync::Arc::new(Int64Array::from(vec![year])),
                "lon" => std::sync::Arc::new(Float64Array::from(vec![0.85])),
                "lat" => std::sync::Arc::new(Float64Array::from(vec![49.95])),
                "lon_i" => std::sync::Arc::new(Int32Array::from(vec![85])),
                "lat_i" => std::sync::Arc::new(Int32Array::from(vec![4995])),
                _ => first.column(k).slice(0, 1),
            }
        })
        .collect();
    let extra = RecordBatch::try_new(schema.clone(), columns).expect("a row");
    assert_eq!(extra.column(0).len(), 1);
    let mut writer = ArrowWriter::try_new(fs::File::create(to).expect("create"), schema, None).expect("writer");
    for batch in batches.iter().chain([&extra]) {
        writer.write(batch).expect("write");
    }
    writer.close().expect("close");
}

#[test]
fn a_record_folded_by_a_compaction_while_a_listing_is_taken_survives_its_scan() {
    let (_temp, dir) = demo();
    let gaps = missing(&dir, "scaleway");
    // scaleway's listing, written to a file before the records: it lacks the gaps.
    let listing = dir.join("scaleway-listing.txt");
    fs::write(&listing, scaleway_listing(&dir)).expect("the listing");
    std::thread::sleep(Duration::from_millis(20));
    // Then tiles are copied and recorded, and a compaction folds the records into the manifest.
    ok(&dir, &["record", "scaleway"], gaps[..3].join("\n").as_bytes());
    ok(&dir, &["record", "scaleway", "--compact-after", "1"], gaps[3..5].join("\n").as_bytes());
    assert_eq!(missing(&dir, "scaleway").len(), gaps.len() - 5);
    let said = ok(&dir, &["scan", "scaleway", listing.to_str().expect("utf-8")], b"");
    assert_eq!(missing(&dir, "scaleway").len(), gaps.len() - 5, "the records survive the older listing: {said}");
    // Two compactions later the records of the first are gone from every journal: a listing
    // taken before them can no longer be applied, and is refused rather than drop them.
    let stale = dir.join("stale-listing.txt");
    fs::write(&stale, scaleway_listing(&dir)).expect("the listing");
    std::thread::sleep(Duration::from_millis(20));
    ok(&dir, &["record", "scaleway", "--compact-after", "0"], gaps[5..6].join("\n").as_bytes());
    ok(&dir, &["record", "scaleway", "--compact-after", "0"], gaps[6..7].join("\n").as_bytes());
    let refused = run(&dir, &["scan", "scaleway", stale.to_str().expect("utf-8")], b"");
    let (code, said) = status_line(&refused);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("was taken before") && said.contains("list the store again"), "{said}");
    assert_eq!(missing(&dir, "scaleway").len(), gaps.len() - 7, "nothing changed");
}
