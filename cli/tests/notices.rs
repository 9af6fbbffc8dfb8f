//! What opening an inventory did or found reaches the caller as values (`Notice`), which the
//! command words for its user.

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
