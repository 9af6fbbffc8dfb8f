//! `tessera publish DEST` writes the map's coverage as static files: each store's tiles per
//! year and the gap layers, counting what `tessera status` and `tessera diff` count; a second
//! publish with nothing changed writes nothing, and one after a record rewrites only the
//! files of that year.

mod common;

use std::path::Path;

use tessera_engine::RoaringView;

fn cells(file: &Path) -> u64 {
    let bytes = std::fs::read(file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    RoaringView::open(bytes).expect("a portable Roaring bitmap").cardinality()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn published_coverage_counts_what_status_and_diff_count_and_a_republish_writes_only_changes() {
    let (temp, dir) = common::demo();
    let site = temp.path().join("site");
    let publish = common::run(&dir, &["publish", site.to_str().expect("utf-8")], b"");
    assert!(publish.status.success(), "{}", stderr(&publish));

    let status = common::run(&dir, &["status", "--json"], b"");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    let mut checked = 0;
    for store in status["stores"].as_array().expect("stores") {
        let name = store["name"].as_str().expect("a name");
        for (year, count) in store["years"].as_object().expect("years") {
            let count = count.as_u64().expect("a count");
            assert_eq!(cells(&site.join(format!("coverage/{name}/{year}.bin"))), count, "{name} {year}");
            checked += 1;
        }
    }
    assert!(checked > 3, "every store's years were checked");
    let gap = common::run(&dir, &["diff", "okavango", "scaleway", "--year", "2024", "--count"], b"");
    let gap: u64 = String::from_utf8_lossy(&gap.stdout).trim().parse().expect("a count");
    assert!(gap > 0, "the demo's mirror lacks tiles");
    assert_eq!(cells(&site.join("coverage/okavango/scaleway/2024.bin")), gap);
    let lacking = common::run(&dir, &["diff", "registry", "okavango", "--year", "2024", "--count"], b"");
    let lacking: u64 = String::from_utf8_lossy(&lacking.stdout).trim().parse().expect("a count");
    assert_eq!(cells(&site.join("coverage/registry/okavango/2024.bin")), lacking);

    let again = common::run(&dir, &["publish", site.to_str().expect("utf-8")], b"");
    assert!(stderr(&again).contains("wrote 0 files of"), "{}", stderr(&again));

    // One tile the mirror lacked, recorded: the files of 2024 that count it change, no other.
    let tile = common::missing(&dir, "scaleway").into_iter().find(|key| key.starts_with("2024/")).expect("a 2024 gap");
    let record = common::run(&dir, &["record", "scaleway"], tile.as_bytes());
    assert!(record.status.success(), "{}", stderr(&record));
    let planned = common::run(&dir, &["publish", site.to_str().expect("utf-8"), "--dry-run"], b"");
    let mut would: Vec<String> = String::from_utf8_lossy(&planned.stdout).lines().map(str::to_owned).collect();
    would.sort();
    assert_eq!(
        would,
        ["coverage/okavango/scaleway/2024.bin", "coverage/registry/scaleway/2024.bin", "coverage/scaleway/2024.bin"]
    );
    let after = common::run(&dir, &["publish", site.to_str().expect("utf-8")], b"");
    assert!(stderr(&after).contains("wrote 3 files of"), "{}", stderr(&after));
    assert_eq!(cells(&site.join("coverage/okavango/scaleway/2024.bin")), gap - 1);
}
