//! `tessera record`: idempotent, durable, and safe under `kill -9` at any moment.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Output;

use std::time::Duration;

use common::{demo, missing, spawn};

fn tessera(inventory: &Path, args: &[&str], stdin: &[u8]) -> Output {
    common::run(inventory, args, stdin)
}

#[test]
fn recording_is_idempotent_and_needs_no_rebuild() {
    let (_temp, dir) = demo();
    let before = missing(&dir, "scaleway");
    let (copied, rest) = before.split_at(before.len() / 2);
    let input = copied.join("\n");
    let first = tessera(&dir, &["record", "scaleway"], input.as_bytes());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains(&format!("recorded {} tiles", copied.len())), "{stderr}");
    let again = tessera(&dir, &["record", "scaleway"], input.as_bytes());
    assert!(String::from_utf8_lossy(&again.stderr).contains("recorded 0 tiles"));
    let status = tessera(&dir, &["diff", "okavango", "scaleway"], b"");
    assert!(!String::from_utf8_lossy(&status.stderr).contains("rebuilt"), "the index was kept up to date");
    assert_eq!(missing(&dir, "scaleway"), rest);
    let compact = tessera(&dir, &["record", "scaleway", "--compact-after", "0"], rest.join("\n").as_bytes());
    assert!(String::from_utf8_lossy(&compact.stderr).contains("folded into the manifest"));
    assert!(missing(&dir, "scaleway").is_empty());
    // The compacted journal starts again: a 20-byte header of a new generation, no records.
    assert_eq!(std::fs::metadata(dir.join("stores/scaleway.journal")).map(|m| m.len()).ok(), Some(20));
}

#[test]
fn a_failed_copy_is_not_recorded() {
    let (_temp, dir) = demo();
    let before = missing(&dir, "scaleway");
    let log = format!(
        "cp \"/src/{a}/*\" \"/dst/{a}/\"\nERROR \"cp /src/{b}/* /dst/{b}/\": no object found\n",
        a = before[0],
        b = before[1]
    );
    assert!(tessera(&dir, &["record", "scaleway"], log.as_bytes()).status.success());
    assert_eq!(missing(&dir, "scaleway"), before[1..]);
}

/// Kills `tessera record` at varied moments, many times: every run that exited on its own was
/// acknowledged and its tiles must be present; no run may leave a file that fails to open.
#[test]
fn record_survives_kill_during_append_and_compaction() {
    let (_temp, dir) = demo();
    // s3 lacks nothing of okavango in the demo: record into an emptied s3.
    let emptied = tessera(&dir, &["scan", "s3", "-"], b"");
    assert!(emptied.status.success());
    let all = missing(&dir, "s3");
    assert!(all.len() > 1000, "{} tiles to record", all.len());
    let mut acknowledged: Vec<String> = Vec::new();
    let mut killed = 0;
    for (round, batch) in all.chunks(all.len() / 24 + 1).enumerate() {
        let mut child = spawn(&dir, &["record", "s3", "--compact-after", "300"]);
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(batch.join("\n").as_bytes()).expect("write");
        drop(stdin);
        // 0, 0.5, 1, 2 ... 64 ms: early kills land in start-up, later ones in the append, the
        // index rewrite or a compaction, the last ones after the run has finished.
        std::thread::sleep(Duration::from_micros([0, 500, 1000, 2000, 4000, 8000, 16000, 64000][round % 8]));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.success() {
            acknowledged.extend(batch.iter().cloned());
        } else {
            killed += 1;
        }
        let open = tessera(&dir, &["status", "--json"], b"");
        assert!(open.status.success(), "round {round}: {}", String::from_utf8_lossy(&open.stderr));
        let still_missing = missing(&dir, "s3");
        for key in &acknowledged {
            assert!(still_missing.binary_search_by(|k| cmp_keys(k, key)).is_err(), "round {round}: {key} lost");
        }
    }
    assert!(killed > 0 && !acknowledged.is_empty(), "{killed} runs killed: the delays no longer bracket a run");
    let finish = tessera(&dir, &["record", "s3"], all.join("\n").as_bytes());
    assert!(finish.status.success());
    assert!(missing(&dir, "s3").is_empty());
}

/// Keys sort by tile id, which is year, then row (lat), then column (lon).
fn cmp_keys(a: &str, b: &str) -> std::cmp::Ordering {
    let id = |key: &str| {
        let tile = tessera_engine::grid::Tile::parse_key(key).expect("key");
        tessera_engine::grid::DEFAULT_YEARS.id(tile).expect("id")
    };
    id(a).cmp(&id(b))
}
