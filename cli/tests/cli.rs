//! The real `tessera` binary on a small demo inventory in a temporary directory.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::demo;

use serde_json::Value;
use tessera_engine::grid::{Bbox, DEFAULT_YEARS, Tile};

fn tessera(inventory: &Path, args: &[&str]) -> Output {
    common::run(inventory, args, b"")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file below `dir` with its bytes, to prove a failed command changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walk(dir) {
        files.push((entry.clone(), fs::read(&entry).expect("readable")));
    }
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() { paths.extend(walk(&path)) } else { paths.push(path) }
    }
    paths
}

fn assert_one_line_error(output: &Output, expected: &[&str]) {
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(output));
    let message = stderr(output);
    let first = message.lines().next().unwrap_or_default();
    for part in expected {
        assert!(first.contains(part), "`{part}` not in the first line of: {message}");
    }
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn status_json_agrees_with_diff_and_per_year_counts() {
    let (_temp, dir) = demo();
    let status: Value = serde_json::from_str(&stdout(&tessera(&dir, &["status", "--json"]))).expect("json");
    let stores = status["stores"].as_array().expect("stores");
    let names: Vec<&str> = stores.iter().map(|s| s["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["okavango", "s3", "scaleway"]);
    assert_eq!(stores[0]["role"], "primary");
    assert_eq!(stores[0]["tiles"], status["registry"]["tiles"]);
    for store in stores {
        let per_year: u64 = store["years"].as_object().expect("years").values().map(|n| n.as_u64().unwrap_or(0)).sum();
        assert_eq!(Some(per_year), store["tiles"].as_u64());
    }
    assert!(stores[1]["not_in_registry"].as_u64() > Some(0), "s3 holds tiles the registry lacks");

    let missing = status["missing"].as_array().expect("missing");
    let pair = missing.iter().find(|m| m["source"] == "okavango" && m["target"] == "scaleway").expect("pair");
    let count = stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--count"]));
    assert_eq!(count.trim().parse::<u64>().ok(), pair["tiles"].as_u64());
    let keys = stdout(&tessera(&dir, &["diff", "okavango", "scaleway"]));
    assert_eq!(Some(keys.lines().count() as u64), pair["tiles"].as_u64());
    assert!(pair["tiles"].as_u64() > Some(0));
}

#[test]
fn status_in_a_box_counts_what_diff_lists_there() {
    let (_temp, dir) = demo();
    // An empty store: what a store holds in the box is what `diff STORE empty --bbox` lists.
    let mut config = fs::read_to_string(dir.join("tessera.toml")).expect("config");
    config.push_str("\n[[stores]]\nname = \"empty\"\nrole = \"mirror\"\npublic_url = \"https://example.org\"\nstorage = \"/nowhere\"\n");
    fs::write(dir.join("tessera.toml"), config).expect("config written");
    for bbox in ["0,45,10,55", "170,-50,-170,10"] {
        let status: Value =
            serde_json::from_str(&stdout(&tessera(&dir, &["status", "--json", "--bbox", bbox]))).expect("json");
        assert_eq!(status["bbox"], bbox);
        for store in status["stores"].as_array().expect("stores") {
            let name = store["name"].as_str().expect("name");
            let held = stdout(&tessera(&dir, &["diff", name, "empty", "--bbox", bbox, "--year", "2024"]));
            assert_eq!(store["years"]["2024"].as_u64(), Some(held.lines().count() as u64), "{name} in {bbox}");
            let everywhere = stdout(&tessera(&dir, &["diff", name, "empty", "--bbox", bbox]));
            assert_eq!(store["tiles"].as_u64(), Some(everywhere.lines().count() as u64), "{name} in {bbox}");
        }
        assert!(status["stores"][0]["tiles"].as_u64() > Some(0), "the demo has tiles in {bbox}");
        for pair in status["missing"].as_array().expect("missing") {
            let (source, target) = (pair["source"].as_str().expect("source"), pair["target"].as_str().expect("target"));
            let count = stdout(&tessera(&dir, &["diff", source, target, "--bbox", bbox, "--count"]));
            assert_eq!(count.trim().parse::<u64>().ok(), pair["tiles"].as_u64(), "{source} -> {target} in {bbox}");
        }
    }
    let text = stdout(&tessera(&dir, &["status", "--bbox", "0,45,10,55"]));
    assert!(text.contains("Only tiles overlapping 0,45,10,55"), "{text}");
    let bad = tessera(&dir, &["status", "--bbox", "0,45,10"]);
    assert_one_line_error(&bad, &["0,45,10"]);
}

#[test]
fn diff_prints_sorted_keys_inside_the_filters() {
    let (_temp, dir) = demo();
    let all = stdout(&tessera(&dir, &["diff", "okavango", "scaleway"]));
    let ids: Vec<u32> =
        all.lines().map(|key| DEFAULT_YEARS.id(Tile::parse_key(key).expect("a key")).expect("in range").0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "keys are sorted by id and unique");

    let bbox_text = "-180,-90,20.5,90";
    let bbox = Bbox::parse(bbox_text).expect("bbox");
    let filtered =
        stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--year", "2021,2024", "--bbox", bbox_text]));
    let expected: Vec<&str> = all
        .lines()
        .filter(|key| {
            let tile = Tile::parse_key(key).expect("a key");
            [2021, 2024].contains(&tile.year) && bbox.contains_cell(tile.cell)
        })
        .collect();
    assert_eq!(filtered.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn select_and_diff_filter_agree_with_diff_and_status() {
    let (_temp, dir) = demo();
    let diff = stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--year", "2024"]));
    // What okavango holds and scaleway lacks, as a filter: the diff's tiles the registry lists.
    let gap =
        "NOT a_contains(tessera:stores, ('scaleway')) AND a_contains(tessera:stores, ('okavango')) AND year = 2024";
    let selected = stdout(&tessera(&dir, &["select", gap]));
    let listed = stdout(&tessera(&dir, &["select", "year = 2024"]));
    let expected: Vec<&str> = diff.lines().filter(|key| listed.lines().any(|l| l == *key)).collect();
    assert_eq!(selected.lines().collect::<Vec<_>>(), expected);
    assert!(!expected.is_empty());
    let count = stdout(&tessera(&dir, &["select", gap, "--count"]));
    assert_eq!(count.trim(), expected.len().to_string());
    // The same through `diff --filter`, and a box narrows both alike.
    let boxed = "s_intersects(geometry, BBOX(-180, -90, 20.5, 90))";
    let filtered = stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--year", "2024", "--filter", boxed]));
    let bbox = Bbox::parse("-180,-90,20.5,90").expect("bbox");
    let in_box: Vec<&str> =
        expected.iter().copied().filter(|key| bbox.contains_cell(Tile::parse_key(key).unwrap().cell)).collect();
    assert_eq!(filtered.lines().collect::<Vec<_>>(), in_box);
    // Item ids, and a JSON filter.
    let ids = stdout(&tessera(&dir, &["select", "id = '2024_grid_0.85_49.95'", "--ids"]));
    assert_eq!(ids.trim(), "2024_grid_0.85_49.95");
    let json = r#"{"op": "=", "args": [{"property": "grid:code"}, "TESSERA-grid_0.85_49.95"]}"#;
    assert_eq!(stdout(&tessera(&dir, &["select", json, "--count"])).trim(), "9");
    // A bad filter is one clear line naming what is wrong.
    assert_one_line_error(&tessera(&dir, &["select", "tessera:store IS NULL"]), &["did you mean `tessera:stores`"]);
    assert_one_line_error(&tessera(&dir, &["select", "year ="]), &["not valid CQL2-text"]);
}

#[test]
fn a_gap_as_a_stac_url_selects_what_diff_lists() {
    let (_temp, dir) = demo();
    for (source, target) in [("okavango", "scaleway"), ("registry", "scaleway")] {
        let args = ["diff", source, target, "--year", "2024", "--bbox", "-180,-90,20.5,90"];
        let url = stdout(&tessera(&dir, &[&args[..], &["--stac-url", "http://tessera.test/api/"]].concat()));
        let url = url.trim();
        assert!(url.starts_with("http://tessera.test/api/search?collections=geotessera-2024&bbox="), "{url}");
        let filter = percent_decoded(url.split("filter=").nth(1).expect("a filter"));
        // The URL's filter, with its year and box, selects the registry tiles diff lists.
        let whole = format!("({filter}) AND year = 2024 AND s_intersects(geometry, BBOX(-180, -90, 20.5, 90))");
        let selected = stdout(&tessera(&dir, &["select", &whole]));
        let listed = stdout(&tessera(&dir, &["select", "year = 2024"]));
        let diff = stdout(&tessera(&dir, &args));
        let expected: Vec<&str> = diff.lines().filter(|key| listed.lines().any(|l| l == *key)).collect();
        assert!(!expected.is_empty(), "{source} -> {target}");
        assert_eq!(selected.lines().collect::<Vec<_>>(), expected, "{source} -> {target}");
    }
    let json = r#"{"op": "=", "args": [{"property": "year"}, 2024]}"#;
    let refused = tessera(&dir, &["diff", "okavango", "scaleway", "--filter", json, "--stac-url", "http://x"]);
    assert_one_line_error(&refused, &["CQL2-text"]);
}

/// `text` with its `%XX` escapes decoded.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            decoded.push(u8::from_str_radix(&text[at + 1..at + 3], 16).expect("hex"));
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(decoded).expect("UTF-8")
}

#[test]
fn bad_arguments_give_one_clear_line() {
    let (_temp, dir) = demo();
    let before = snapshot(&dir);
    let unknown = tessera(&dir, &["diff", "okavango", "nope"]);
    assert_one_line_error(&unknown, &["unknown store `nope`", "okavango, s3, scaleway"]);
    let polar = tessera(&dir, &["diff", "okavango", "s3", "--bbox", "0,0,10,91"]);
    assert_one_line_error(&polar, &["bbox", "latitudes must lie in -90..=90"]);
    let year = tessera(&dir, &["diff", "okavango", "s3", "--year", "2031"]);
    assert_one_line_error(&year, &["2031", "2017..=2025"]);
    let nowhere = tessera(&dir.join("missing"), &["status"]);
    assert_one_line_error(&nowhere, &["not a tessera inventory", "tessera init"]);
    assert_eq!(snapshot(&dir), before, "a failed command changed the inventory");
}

#[test]
fn damaged_indexes_are_rebuilt_and_say_why() {
    let (_temp, dir) = demo();
    let expected = stdout(&tessera(&dir, &["status", "--json"]));
    let index = dir.join("stores/scaleway.tbm");
    let good = fs::read(&index).expect("index exists");

    fs::write(&index, &good[..good.len() / 2]).expect("truncate");
    let truncated = tessera(&dir, &["status", "--json"]);
    assert_eq!(stdout(&truncated), expected);
    assert!(
        stderr(&truncated).contains("rebuilt") && stderr(&truncated).contains("truncated"),
        "{}",
        stderr(&truncated)
    );
    assert_eq!(fs::read(&index).expect("rebuilt"), good);

    let mut flipped = good.clone();
    let middle = flipped.len() - 100;
    flipped[middle] ^= 0x04;
    fs::write(&index, &flipped).expect("flip");
    let corrupt = tessera(&dir, &["status", "--json"]);
    assert_eq!(stdout(&corrupt), expected);
    assert!(stderr(&corrupt).contains("checksum"), "{}", stderr(&corrupt));

    fs::write(&index, b"this is not an index").expect("foreign");
    let foreign = tessera(&dir, &["status", "--json"]);
    assert_eq!(stdout(&foreign), expected);
    assert!(stderr(&foreign).contains("magic") || stderr(&foreign).contains("truncated"), "{}", stderr(&foreign));

    let tmp_files: Vec<_> = walk(&dir).into_iter().filter(|p| p.to_string_lossy().contains(".tmp-")).collect();
    assert!(tmp_files.is_empty(), "temporary files left: {tmp_files:?}");
}

#[test]
fn a_stale_index_is_rebuilt_from_its_manifest() {
    let (_temp, dir) = demo();
    let expected = stdout(&tessera(&dir, &["status", "--json"]));
    // Replace scaleway's manifest with okavango's: the old index no longer describes it.
    fs::copy(dir.join("stores/okavango.parquet"), dir.join("stores/scaleway.parquet")).expect("copy");
    let after = tessera(&dir, &["diff", "okavango", "scaleway", "--count"]);
    assert_eq!(stdout(&after).trim(), "0");
    assert!(stderr(&after).contains("stale"), "{}", stderr(&after));
    assert_ne!(stdout(&tessera(&dir, &["status", "--json"])), expected);
}

/// Writes a parquet file with the given int columns (all of the same length).
fn write_parquet(path: &Path, columns: Vec<(&str, arrow_array::ArrayRef)>) {
    let batch = arrow_array::RecordBatch::try_from_iter(columns).expect("a batch");
    let file = fs::File::create(path).expect("create");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[test]
fn a_registry_without_a_required_column_is_refused_and_nothing_changes() {
    use std::sync::Arc;
    let (_temp, dir) = demo();
    let registry = dir.join("registry.parquet");
    let lon: arrow_array::ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![0.85, 0.95]));
    let lat: arrow_array::ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![49.95, 49.95]));
    write_parquet(&registry, vec![("lon", lon), ("lat", lat)]);
    let before = snapshot(&dir);
    let refused = tessera(&dir, &["status"]);
    assert_one_line_error(&refused, &["registry.parquet", "`year`"]);
    assert_eq!(snapshot(&dir), before, "the failed rebuild changed files");
}

#[test]
fn duplicate_manifest_rows_are_reported_and_counted_once() {
    use std::sync::Arc;
    let (_temp, dir) = demo();
    let years: arrow_array::ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![2024, 2024, 2024]));
    let lon: arrow_array::ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![85, 95, 85]));
    let lat: arrow_array::ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![4995, 4995, 4995]));
    write_parquet(&dir.join("stores/scaleway.parquet"), vec![("year", years), ("lon_i", lon), ("lat_i", lat)]);
    let status = tessera(&dir, &["status", "--json"]);
    let json: Value = serde_json::from_str(&stdout(&status)).expect("json");
    assert_eq!(json["stores"][2]["tiles"], 2);
    assert!(stderr(&status).contains("duplicate"), "{}", stderr(&status));
}

#[test]
fn an_empty_inventory_is_created_imported_and_checked() {
    let (_temp, demo_dir) = demo();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("inv");
    let stores =
        ["--store", "okavango=primary,/data/v1,https://dl2/v1", "--store", "s3=mirror,s3://bucket/v1,https://s3/v1"];
    let init = tessera(&dir, &[&["init"][..], &stores].concat());
    assert!(init.status.success(), "{}", stderr(&init));
    let again = tessera(&dir, &[&["init"][..], &stores].concat());
    assert_one_line_error(&again, &["already exists"]);
    let import = tessera(&dir, &["import", demo_dir.join("registry.parquet").to_str().expect("utf-8")]);
    assert!(import.status.success() && stderr(&import).contains("imported 5127 tiles"), "{}", stderr(&import));
    // The importer indexes sizes and hashes, so a read-only server need not build them.
    assert!(dir.join("registry.details").is_file(), "import leaves registry.details");
    let listed: Value = serde_json::from_str(&stdout(&tessera(&dir, &["stores", "--json"]))).expect("json");
    assert_eq!(listed[1]["storage"], "s3://bucket/v1");
    assert_eq!(listed[0]["tiles"], 0);
    let status: Value = serde_json::from_str(&stdout(&tessera(&dir, &["status", "--json"]))).expect("json");
    assert!(status["registry"]["tiles"].as_u64() > Some(1000));
    assert_eq!(tessera(&dir, &["check"]).status.code(), Some(0));
    // The demo's s3 holds tiles its registry lacks: a warning, an error only with --strict.
    let check = tessera(&demo_dir, &["check", "s3"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("that the registry does not list (a warning"));
    assert_eq!(tessera(&demo_dir, &["check", "s3", "--strict"]).status.code(), Some(1));
}

#[test]
fn check_lists_every_tile_of_a_kind_as_keys_on_stdout() {
    let (_temp, dir) = demo();
    let listed = tessera(&dir, &["check", "--list", "not-in-registry"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let keys = stdout(&listed);
    // The report moved to stderr; stdout holds only keys, each one s3's and not the registry's.
    assert!(stderr(&listed).contains("=== Data Quality Check ==="));
    let registry_keys = stdout(&tessera(&dir, &["diff", "s3", "registry"]));
    assert_eq!(keys, registry_keys);
    assert_eq!(keys.lines().count(), 6, "the small demo's s3 holds six tiles outside the registry");
    for key in keys.lines() {
        Tile::parse_key(key).expect("a copy-list key");
    }
}

#[test]
fn the_registry_is_a_source_for_diff_and_status() {
    let (_temp, dir) = demo();
    assert_eq!(stdout(&tessera(&dir, &["diff", "registry", "okavango", "--count"])).trim(), "0");
    // The primary loses what scaleway lacks: the registry still lists those tiles.
    let ingest = tessera(&dir, &["ingest", "okavango", dir.join("stores/scaleway.parquet").to_str().expect("utf-8")]);
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    let gone = stdout(&tessera(&dir, &["diff", "registry", "okavango"]));
    assert_eq!(gone, stdout(&tessera(&dir, &["diff", "registry", "scaleway"])));
    let gone: Vec<&str> = gone.lines().collect();
    assert!(gone.len() > 10, "{gone:?}");

    let text = stdout(&tessera(&dir, &["status"]));
    assert!(text.contains(&format!("  registry -> okavango: {} missing\n", gone.len())), "{text}");
    let json: Value = serde_json::from_str(&stdout(&tessera(&dir, &["status", "--json"]))).expect("json");
    let pair = json["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .find(|m| m["source"] == "registry" && m["target"] == "okavango");
    assert_eq!(pair.expect("a registry line")["tiles"], gone.len());

    // The registry holds no files: its copy list says which store can fill the gap.
    let refused = tessera(&dir, &["diff", "registry", "okavango", "--emit-copylist"]);
    assert_one_line_error(
        &refused,
        &["holds no files", &format!("s3 holds {}", gone.len()), "tessera sync s3 okavango"],
    );
    assert_eq!(
        stdout(&tessera(&dir, &["diff", "registry", "okavango", "--format", "keys"])).lines().count(),
        gone.len()
    );
    assert_one_line_error(&tessera(&dir, &["diff", "okavango", "nowhere"]), &["unknown store `nowhere`"]);
}

#[test]
fn a_store_may_not_be_called_registry() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("inv");
    let init = tessera(&dir, &["init", "--store", "registry=primary,/data/v1,https://dl/v1"]);
    assert_one_line_error(&init, &["`registry` is reserved"]);
    let init = tessera(&dir, &["init", "--store", "a=primary,gs://bucket/v1,https://dl/v1"]);
    assert_one_line_error(&init, &["store `a`", "storage `gs://bucket/v1` is invalid"]);
}

#[test]
fn copy_lists_follow_the_pair_of_storages_and_refuse_a_tool_that_cannot_copy() {
    let (_temp, dir) = demo();
    // The demo's okavango and scaleway are directories, s3 a bucket.
    let keys = stdout(&tessera(&dir, &["diff", "okavango", "scaleway"]));
    assert_eq!(stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--emit-copylist"])), keys, "an rsync list");
    assert_eq!(stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--format", "rsync"])), keys);
    let first = keys.lines().next().expect("scaleway lacks tiles");
    let cp = stdout(&tessera(&dir, &["diff", "okavango", "scaleway", "--format", "cp"]));
    assert_eq!(
        cp.lines().next(),
        Some(&*format!(
            "mkdir -p '/mnt/cephfs/tessera/v1/global_0.1_degree_representation'/{year} && cp -a '/data/tessera/v1/global_0.1_degree_representation'/{first} '/mnt/cephfs/tessera/v1/global_0.1_degree_representation'/{year}/",
            year = &first[..4]
        ))
    );
    let s5cmd = stdout(&tessera(&dir, &["diff", "s3", "okavango", "--emit-copylist"]));
    assert!(s5cmd.starts_with("cp \"s3://tessera-embeddings/v1/global_0.1_degree_representation/20"), "{s5cmd}");
    assert_eq!(s5cmd.lines().count(), 6);
    let refused = tessera(&dir, &["diff", "okavango", "scaleway", "--format", "s5cmd"]);
    assert_one_line_error(&refused, &["--format s5cmd", "refuses two local paths", "tools that can: rsync, cp"]);
    let refused = tessera(&dir, &["diff", "s3", "scaleway", "--format", "cp"]);
    assert_one_line_error(&refused, &["--format cp", "tools that can: s5cmd"]);
}

#[test]
fn sync_refuses_storage_that_is_not_here_and_a_tool_that_is_not_installed() {
    let (_temp, dir) = demo();
    // The demo's storages are paths of GeoTessera's machines: a dry run plans, a sync refuses.
    let plan = stdout(&tessera(&dir, &["sync", "okavango", "scaleway", "--dry-run"]));
    assert!(plan.contains("with rsync (directory to directory)"), "{plan}");
    let before = snapshot(&dir);
    let refused = tessera(&dir, &["sync", "okavango", "scaleway"]);
    assert_one_line_error(
        &refused,
        &["okavango's storage /data/tessera", "not a directory here", "nothing was copied"],
    );
    assert_eq!(snapshot(&dir), before, "a refused sync wrote nothing");

    // Storages that are here, and no rsync on PATH: one line naming the tool.
    let temp = tempfile::tempdir().expect("temp dir");
    let toml = fs::read_to_string(dir.join("tessera.toml")).expect("config");
    let toml = toml
        .replace("/data/tessera/v1/global_0.1_degree_representation", &temp.path().display().to_string())
        .replace("/mnt/cephfs/tessera/v1/global_0.1_degree_representation", &temp.path().display().to_string());
    fs::write(dir.join("tessera.toml"), toml).expect("config");
    let output = common::spawn_with_path(&dir, &["sync", "okavango", "scaleway", "--year", "2024"], "/nonexistent");
    assert_one_line_error(&output, &["cannot run rsync (is it installed?)"]);
}

#[test]
fn sync_from_the_registry_names_the_stores_that_hold_the_tiles() {
    let (_temp, dir) = demo();
    let refused = tessera(&dir, &["sync", "registry", "scaleway", "--dry-run"]);
    assert_one_line_error(
        &refused,
        &["holds no files", "okavango holds", "s3 holds", "tessera sync okavango scaleway"],
    );
    let refused = tessera(&dir, &["sync", "okavango", "scaleway", "--tool", "s5cmd", "--dry-run"]);
    assert_one_line_error(&refused, &["--tool s5cmd", "tools that can: rsync, cp"]);
}

#[test]
fn serve_without_a_registry_says_how_to_import_one() {
    use std::io::{BufRead, BufReader};
    let (_temp, dir) = common::demo();
    for file in ["registry.parquet", "registry.tbm", "registry.details"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    let mut server = common::spawn(&dir, &["serve", "--listen", "127.0.0.1:0", "--web", "/nonexistent"]);
    let stderr = server.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let said = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains("there is no registry") => break line,
            Ok(line) => seen.push(line),
            Err(_) => break String::new(),
        }
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(said.contains("tessera import FILE"), "the server said {said:?} after {seen:?}");
    assert!(!said.contains('\u{1b}'), "colour codes in a log that is not a terminal: {said:?}");
}
