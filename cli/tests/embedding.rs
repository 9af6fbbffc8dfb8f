//! What a program embedding the engine learns from an open inventory: what opening it did or
//! found, as values (`Notice`) the command words for its user; and whether its files have
//! changed since (what `tessera serve` reloads on).

mod common;

use tessera_engine::inventory::Inventory;
use tessera_engine::{IndexProblem, Notice};

#[test]
fn opening_reports_what_it_rebuilt_and_found_as_values() {
    let (_temp, dir) = common::demo();
    assert_eq!(Inventory::open(&dir).expect("opens").notices(), &[], "a fresh inventory has nothing to say");

    // A damaged index, opened read-only: rebuilt in memory, the file left as it is.
    let index = dir.join("stores/scaleway.tbm");
    let mut damaged = std::fs::read(&index).expect("the index");
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    std::fs::write(&index, &damaged).expect("damaged");
    let inventory = Inventory::open_read_only(&dir).expect("opens read-only");
    match inventory.notices() {
        [Notice::Rebuilt { path, problem: IndexProblem::Corrupt(_), in_memory: true }] => assert_eq!(path, &index),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&index).expect("the index"), damaged, "a read-only open writes nothing");

    // Opened to write: rebuilt on disk, and then there is nothing more to say.
    let inventory = Inventory::open(&dir).expect("opens");
    assert!(
        matches!(inventory.notices(), [Notice::Rebuilt { in_memory: false, problem: IndexProblem::Corrupt(_), .. }]),
        "{:?}",
        inventory.notices()
    );
    assert_eq!(Inventory::open(&dir).expect("opens").notices(), &[]);

    // No registry: the engine says so; the command also says what to run.
    std::fs::remove_file(dir.join("registry.parquet")).expect("removed");
    let inventory = Inventory::open(&dir).expect("opens");
    assert!(inventory.notices().iter().any(|notice| matches!(notice, Notice::NoRegistry { .. })));
    let status = common::run(&dir, &["status"], b"");
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(said.contains("import one with `tessera import FILE`"), "{said}");
}

#[test]
fn an_open_inventory_knows_when_a_writer_changed_its_files() {
    let (_temp, dir) = common::demo();
    let inventory = Inventory::open_read_only(&dir).expect("opens");
    assert!(!inventory.changed(), "nothing has changed yet");
    let lacking = common::missing(&dir, "scaleway");
    let recorded = common::run(&dir, &["record", "scaleway"], format!("{}\n", lacking[0]).as_bytes());
    assert!(recorded.status.success());
    assert!(inventory.changed(), "a record changes the store's journal");
    let reopened = Inventory::open_read_only(&dir).expect("opens again");
    assert!(!reopened.changed());
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").expect("an empty listing");
    let scanned = common::run(&dir, &["scan", "s3", empty.to_str().expect("utf-8")], b"");
    assert!(scanned.status.success());
    assert!(reopened.changed(), "a scan rewrites the store's manifest");
}
