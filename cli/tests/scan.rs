//! `tessera scan` on listings of the small demo's tiles, in the shapes the real tools print.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Output;

use common::demo;

use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::inventory::Inventory;
use tessera_engine::registry::{ReadOptions, read_registry};

fn tessera(inventory: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::run(inventory, args, stdin.unwrap_or_default())
}

/// The okavango tiles as `(key, embeddings size, scales size)`, every `skip`-th one left out.
fn tiles(dir: &Path, skip: usize) -> (Vec<(String, u64, u64)>, Vec<String>) {
    let inventory = Inventory::open(dir).expect("opens");
    let (registry, _) =
        read_registry(&dir.join("registry.parquet"), inventory.years(), ReadOptions::default()).unwrap();
    let writer = KeyWriter::new(inventory.years());
    let (mut kept, mut left_out) = (Vec::new(), Vec::new());
    for (n, id) in registry.ids.iter().enumerate() {
        let mut key = Vec::new();
        writer.push(&mut key, id.0, KeyStyle::Key);
        let key = String::from_utf8(key).expect("ascii");
        let sizes = (registry.file_size.as_ref().unwrap()[n], registry.scales_size.as_ref().unwrap()[n]);
        if skip != usize::MAX && n % skip == 3 { left_out.push(key) } else { kept.push((key, sizes.0, sizes.1)) }
    }
    (kept, left_out)
}

fn name_of(key: &str) -> &str {
    key.split('/').nth(1).expect("a key has a folder")
}

fn find_listing(tiles: &[(String, u64, u64)]) -> String {
    let mut out = String::new();
    for (key, embeddings, scales) in tiles {
        let name = name_of(key);
        out += &format!("{embeddings} /data/tessera/v1/global_0.1_degree_representation/{key}/{name}.npy\n");
        out += &format!("{scales} /data/tessera/v1/global_0.1_degree_representation/{key}/{name}_scales.npy\n");
        out += &format!("179 /data/tessera/v1/global_0.1_degree_representation/{key}/SHA256\n");
    }
    out
}

fn s5cmd_listing(tiles: &[(String, u64, u64)]) -> String {
    let mut out = String::from("                                  DIR  2017/\r\n");
    for (key, embeddings, scales) in tiles {
        let name = name_of(key);
        out += &format!("2026/11/24 21:20:14 {:>12}  {key}/{name}.npy\r\n", embeddings);
        out += &format!("2026/11/24 21:20:14 {:>12}  {key}/{name}_scales.npy\r\n", scales);
    }
    out
}

fn diff_keys(dir: &Path, target: &str) -> Vec<String> {
    common::missing(dir, target)
}

fn diff_keys_from(dir: &Path, source: &str, target: &str) -> Vec<String> {
    let output = tessera(dir, &["diff", source, target], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").lines().map(str::to_owned).collect()
}

#[test]
fn a_find_listing_on_stdin_becomes_the_manifest() {
    let (_temp, dir) = demo();
    let (kept, left_out) = tiles(&dir, 50);
    let scan = tessera(&dir, &["scan", "scaleway"], Some(find_listing(&kept).as_bytes()));
    let stderr = String::from_utf8_lossy(&scan.stderr);
    assert!(scan.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{} tiles present", kept.len())), "{stderr}");
    assert_eq!(diff_keys(&dir, "scaleway"), left_out);
}

#[test]
fn gzip_s5cmd_listings_with_crlf_are_read_and_merged() {
    let (_temp, dir) = demo();
    let (kept, left_out) = tiles(&dir, 20);
    let (first, second) = kept.split_at(kept.len() / 2);
    let listing = dir.join("part1.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(s5cmd_listing(first).as_bytes()).unwrap();
    fs::write(&listing, gz.finish().unwrap()).unwrap();
    assert!(tessera(&dir, &["scan", "s3", listing.to_str().unwrap()], None).status.success());
    let merged = tessera(&dir, &["scan", "s3", "--merge", "-"], Some(s5cmd_listing(second).as_bytes()));
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert_eq!(diff_keys(&dir, "s3"), left_out);
}

#[test]
fn a_truncated_gzip_stream_fails_and_writes_nothing() {
    let (_temp, dir) = demo();
    let (kept, _) = tiles(&dir, 20);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(find_listing(&kept).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let listing = dir.join("cut.gz");
    fs::write(&listing, &bytes[..bytes.len() / 2]).unwrap();
    let manifest = fs::read(dir.join("stores/s3.parquet")).unwrap();
    let scan = tessera(&dir, &["scan", "s3", listing.to_str().unwrap()], None);
    assert_eq!(scan.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&scan.stderr).contains("cut.gz"));
    assert_eq!(fs::read(dir.join("stores/s3.parquet")).unwrap(), manifest);
}

#[test]
fn strict_names_the_first_offending_line() {
    let (_temp, dir) = demo();
    let (kept, _) = tiles(&dir, 20);
    let mut listing = find_listing(&kept[..5]);
    listing.insert_str(0, "179 /data/2024/grid_0.85_49.95/SHA256\nthis is garbage\n");
    let scan = tessera(&dir, &["scan", "scaleway", "--strict"], Some(listing.as_bytes()));
    let stderr = String::from_utf8_lossy(&scan.stderr);
    assert_eq!(scan.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2") && stderr.contains("unreadable"), "{stderr}");
    let lenient = tessera(&dir, &["scan", "scaleway"], Some(listing.as_bytes()));
    assert!(lenient.status.success());
    assert_eq!(diff_keys(&dir, "scaleway").len(), kept.len() + tiles(&dir, 20).1.len() - 5);
}

#[test]
fn copy_lists_in_every_format_name_exactly_the_missing_tiles() {
    let (_temp, dir) = demo();
    let keys = diff_keys(&dir, "scaleway");
    let run = |format: &str| {
        let output = tessera(&dir, &["diff", "okavango", "scaleway", "--emit-copylist", "--format", format], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };
    assert_eq!(run("keys").lines().collect::<Vec<_>>(), keys);
    // Two directories: an rsync --files-from list is the keys; cp lines name each key once.
    assert_eq!(run("rsync").lines().collect::<Vec<_>>(), keys);
    let src = "/data/tessera/v1/global_0.1_degree_representation";
    let dst = "/mnt/cephfs/tessera/v1/global_0.1_degree_representation";
    let expected: Vec<String> =
        keys.iter().map(|k| format!("mkdir -p '{dst}'/{y} && cp -a '{src}'/{k} '{dst}'/{y}/", y = &k[..4])).collect();
    assert_eq!(run("cp").lines().collect::<Vec<_>>(), expected);
    // From the bucket: s5cmd lines, for every tile scaleway lacks of s3's.
    let from_s3 = tessera(&dir, &["diff", "s3", "scaleway", "--format", "s5cmd"], None);
    let s3_keys = diff_keys_from(&dir, "s3", "scaleway");
    let bucket = "s3://tessera-embeddings/v1/global_0.1_degree_representation";
    let expected: Vec<String> = s3_keys.iter().map(|k| format!("cp \"{bucket}/{k}/*\" \"{dst}/{k}/\"")).collect();
    assert_eq!(String::from_utf8_lossy(&from_s3.stdout).lines().collect::<Vec<_>>(), expected);
    assert!(s3_keys.len() > keys.len(), "s3 also holds tiles the registry lacks");
    let json: Vec<serde_json::Value> = run("json").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(json.iter().map(|v| v["key"].as_str().unwrap_or_default()).collect::<Vec<_>>(), keys);
    let first = &json[0];
    assert_eq!(first["item_id"], keys[0].replace('/', "_"));
    assert_eq!(first["hash"].as_str().map(str::len), Some(64));
    assert!(first["file_size"].as_u64() > Some(0) && first["bbox"].as_array().map(Vec::len) == Some(4));
}

#[test]
fn stale_adds_tiles_whose_sizes_differ() {
    let (_temp, dir) = demo();
    let (mut all, _) = tiles(&dir, usize::MAX);
    all[7].1 -= 1000; // a truncated embeddings file on the target
    let scan = tessera(&dir, &["scan", "s3"], Some(find_listing(&all).as_bytes()));
    assert!(String::from_utf8_lossy(&scan.stderr).contains("1 tile whose sizes differ from the registry"));
    assert!(diff_keys(&dir, "s3").is_empty());
    let stale = tessera(&dir, &["diff", "okavango", "s3", "--stale"], None);
    assert_eq!(String::from_utf8_lossy(&stale.stdout).lines().collect::<Vec<_>>(), [all[7].0.as_str()]);
}

/// The copy lists of the small demo's 2021 gaps in scaleway (from okavango, and from s3 for
/// s5cmd, which refuses two directories), against checked-in golden files
/// (rewrite them after an intended change with `TESSERA_UPDATE_GOLDEN=1`).
#[test]
fn copy_lists_match_their_golden_files() {
    let (_temp, dir) = demo();
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for format in ["s5cmd", "rsync", "cp", "keys", "json"] {
        // s5cmd needs S3 on a side: from the bucket; the others between the two directories.
        let source = if format == "s5cmd" { "s3" } else { "okavango" };
        let args = ["diff", source, "scaleway", "--year", "2021", "--emit-copylist", "--format", format];
        let output = tessera(&dir, &args, None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let golden = golden_dir.join(format!("copylist-{format}.golden"));
        if std::env::var_os("TESSERA_UPDATE_GOLDEN").is_some() {
            fs::write(&golden, &output.stdout).expect("write golden");
        }
        let expected = fs::read(&golden).unwrap_or_else(|_| panic!("{} is missing", golden.display()));
        assert_eq!(String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&expected), "{format}");
    }
}

#[test]
fn a_listing_file_rewritten_in_place_supersedes_the_records_made_before_it() {
    let (_temp, dir) = demo();
    let lacking = diff_keys_from(&dir, "okavango", "scaleway");
    let (first, second) = (&lacking[0], &lacking[1]);
    // The daily habit: one listing file, rewritten in place (`s5cmd ls > listing.txt`), so its
    // birth stays the first day's.
    let recorded = tessera(&dir, &["record", "scaleway"], Some(format!("{first}\n").as_bytes()));
    assert!(recorded.status.success());
    std::thread::sleep(std::time::Duration::from_millis(50));
    let listing = dir.join("listing.txt");
    fs::write(&listing, "").expect("the first listing, taken after the first record");
    let prefix = format!("--prefix={first}");
    let scanned = tessera(&dir, &["scan", "scaleway", &prefix, listing.to_str().expect("utf-8")], None);
    assert!(scanned.status.success(), "{}", String::from_utf8_lossy(&scanned.stderr));
    // A day later: the second tile is recorded, then found gone by a listing written after it
    // into the same file.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let recorded = tessera(&dir, &["record", "scaleway"], Some(format!("{second}\n").as_bytes()));
    assert!(recorded.status.success());
    std::thread::sleep(std::time::Duration::from_millis(50));
    fs::OpenOptions::new().write(true).truncate(true).open(&listing).expect("rewritten in place");
    let prefix = format!("--prefix={second}");
    let scanned = tessera(&dir, &["scan", "scaleway", &prefix, listing.to_str().expect("utf-8")], None);
    assert!(scanned.status.success(), "{}", String::from_utf8_lossy(&scanned.stderr));
    let lacking_now = diff_keys_from(&dir, "okavango", "scaleway");
    assert!(lacking_now.contains(second), "the listing taken after the record supersedes it");
    assert!(lacking_now.contains(first), "and the first listing the first record, as before");
}

/// Writes the tiles as folders of sparse files under `root`, the way a store holds them.
fn materialise(root: &Path, tiles: &[(String, u64, u64)]) {
    for (key, embeddings, scales) in tiles {
        let (folder, name) = (root.join(key), name_of(key));
        fs::create_dir_all(&folder).unwrap();
        for (file, size) in [(format!("{name}.npy"), *embeddings), (format!("{name}_scales.npy"), *scales)] {
            fs::File::create(folder.join(file)).unwrap().set_len(size).unwrap();
        }
    }
}

#[test]
fn listing_a_directory_store_itself_equals_scanning_what_find_prints() {
    let (temp, listed) = demo();
    let tree = temp.path().join("tree");
    let (kept, mut expected) = tiles(&listed, 7);
    materialise(&tree, &kept);
    // A tile without its scales, one with empty scales, and a stray file: none is present.
    let (partial, empty) = (&kept[10].0, &kept[20].0);
    fs::remove_file(tree.join(partial).join(format!("{}_scales.npy", name_of(partial)))).unwrap();
    fs::File::create(tree.join(empty).join(format!("{}_scales.npy", name_of(empty)))).unwrap();
    fs::write(tree.join("2024").join("notes.txt"), "hello").unwrap();
    expected.extend([partial.clone(), empty.clone()]);
    expected.sort();
    let config = listed.join("tessera.toml");
    let text = fs::read_to_string(&config).unwrap();
    let text = text.replace("/mnt/cephfs/tessera/v1/global_0.1_degree_representation", tree.to_str().unwrap());
    fs::write(&config, text).unwrap();
    let found = temp.path().join("found");
    let copied = std::process::Command::new("cp").arg("-a").arg(&listed).arg(&found).status().unwrap();
    assert!(copied.success());

    let saved = temp.path().join("listing.gz");
    let args = ["scan", "scaleway", "--list", "--threads", "3", "--save-listing", saved.to_str().unwrap()];
    let walk = tessera(&listed, &args, None);
    assert!(walk.status.success(), "{}", String::from_utf8_lossy(&walk.stderr));
    let find = std::process::Command::new("find").arg(&tree).args(["-type", "f", "-printf", "%s %p\\n"]).output();
    let find = find.expect("GNU find runs");
    let scan = tessera(&found, &["scan", "scaleway", "-"], Some(&find.stdout));
    assert!(scan.status.success(), "{}", String::from_utf8_lossy(&scan.stderr));

    let mut lacking = diff_keys_from(&listed, "registry", "scaleway");
    lacking.sort();
    assert_eq!(lacking, expected, "what the walk found");
    assert_eq!(diff_keys_from(&found, "registry", "scaleway"), diff_keys_from(&listed, "registry", "scaleway"));
    let report = String::from_utf8_lossy(&walk.stderr);
    assert!(report.contains(&format!("listed {} tile folders", kept.len())), "{report}");

    // The saved listing scans to the same store.
    let again = tessera(&found, &["scan", "scaleway", saved.to_str().unwrap()], None);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(diff_keys_from(&found, "registry", "scaleway"), diff_keys_from(&listed, "registry", "scaleway"));

    // With --year only that year's folder is walked, and only that year replaced.
    let year = tessera(&found, &["scan", "scaleway", "--list", "--year", "2024"], None);
    assert!(year.status.success(), "{}", String::from_utf8_lossy(&year.stderr));
    let in_2024 = kept.iter().filter(|(key, _, _)| key.starts_with("2024/")).count();
    let report = String::from_utf8_lossy(&year.stderr);
    assert!(report.contains(&format!("listed {in_2024} tile folders")), "{report}");
    assert_eq!(diff_keys_from(&found, "registry", "scaleway"), diff_keys_from(&listed, "registry", "scaleway"));

    // With --prefix only the tile folders it names are walked.
    let sharded = tessera(&found, &["scan", "scaleway", "--list", "--prefix", "2024/grid_1"], None);
    assert!(sharded.status.success(), "{}", String::from_utf8_lossy(&sharded.stderr));
    let in_shard = kept.iter().filter(|(key, _, _)| key.starts_with("2024/grid_1")).count();
    let report = String::from_utf8_lossy(&sharded.stderr);
    assert!(in_shard > 0 && report.contains(&format!("listed {in_shard} tile folders")), "{report}");
    assert_eq!(diff_keys_from(&found, "registry", "scaleway"), diff_keys_from(&listed, "registry", "scaleway"));
}

/// A listing with `partial` tiles lacking their scales file and `differing` tiles whose
/// embeddings file is 1,000 bytes short, scanned into s3 with `--report`: stderr and report.
fn scan_with_findings(dir: &Path, partial: usize, differing: usize) -> (String, String, Vec<String>, Vec<String>) {
    let (mut all, _) = tiles(dir, usize::MAX);
    let lacking: Vec<String> = all[..partial].iter().map(|(key, _, _)| key.clone()).collect();
    let short: Vec<String> = all[partial..partial + differing].iter().map(|(key, _, _)| key.clone()).collect();
    for tile in &mut all[partial..partial + differing] {
        tile.1 -= 1000;
    }
    let listing = find_listing(&all);
    let scales_of_lacking =
        |line: &&str| lacking.iter().any(|key| line.ends_with(&format!("{key}/{}_scales.npy", name_of(key))));
    let listing: String =
        listing.lines().filter(|line| !scales_of_lacking(line)).map(|line| format!("{line}\n")).collect();
    let report = dir.join("report.txt");
    let scan = tessera(dir, &["scan", "s3", "--report", report.to_str().unwrap()], Some(listing.as_bytes()));
    let stderr = String::from_utf8_lossy(&scan.stderr).into_owned();
    assert!(scan.status.success(), "{stderr}");
    (stderr, fs::read_to_string(&report).expect("the report"), lacking, short)
}

#[test]
fn scan_names_partial_tiles_and_sizes_that_differ_the_first_ten_on_stderr_all_in_the_report() {
    let (_temp, dir) = demo();
    let (stderr, report, lacking, short) = scan_with_findings(&dir, 1, 1);
    assert!(stderr.contains(", 1 partial tile, 1 tile whose sizes differ from the registry"), "{stderr}");
    let key = &lacking[0];
    let partial = format!("partial {key}: lacks {}_scales.npy (not listed, or listed empty)", name_of(key));
    let (all, _) = tiles(&dir, usize::MAX);
    let (_, embeddings, scales) = all.iter().find(|(k, _, _)| k == &short[0]).expect("a registry tile");
    let differs = format!(
        "differs {}: listed {} + {scales} bytes, the registry says {embeddings} + {scales}",
        short[0],
        embeddings - 1000
    );
    assert!(stderr.contains(&format!("tessera: {partial}\n")), "{stderr}");
    assert!(stderr.contains(&format!("tessera: {differs}\n")), "{stderr}");
    assert_eq!(report, format!("{partial}\n{differs}\n"));

    let (stderr, report, lacking, short) = scan_with_findings(&dir, 12, 13);
    assert!(stderr.contains(", 12 partial tiles, 13 tiles whose sizes differ from the registry"), "{stderr}");
    let named = |kind: &str| stderr.lines().filter(|line| line.starts_with(&format!("tessera: {kind} "))).count();
    assert_eq!((named("partial"), named("differs")), (10, 10), "{stderr}");
    let report_path = dir.join("report.txt");
    for more in [2, 3] {
        let line = format!("tessera: ... and {more} more (all in {})", report_path.display());
        assert!(stderr.contains(&line), "{line} in {stderr}");
    }
    let in_report = |kind: &str| -> Vec<String> {
        let mut keys: Vec<String> = report
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{kind} "))?.split(':').next().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    };
    let sorted = |mut keys: Vec<String>| {
        keys.sort();
        keys
    };
    assert_eq!(in_report("partial"), sorted(lacking));
    assert_eq!(in_report("differs"), sorted(short));
}
