//! Arbitrary bytes as a filter, in both CQL2 encodings, through the parsers, the compiler and
//! the plan over the small demo: an answer or a `BadQuery`, never a panic or another error
//! (`tessera_fixtures::filter_input`, which CI runs bounded as a property test).
//!
//! Run: `cd engine/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run filter -- -max_total_time=600 -max_len=4096`

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_engine::details::Details;
use tessera_engine::inventory::Inventory;
use tessera_fixtures::filter_input::{exercise_filter, small_demo};

fn demo() -> &'static (tempfile::TempDir, Inventory, Option<Details>) {
    static DEMO: OnceLock<(tempfile::TempDir, Inventory, Option<Details>)> = OnceLock::new();
    DEMO.get_or_init(small_demo)
}

fuzz_target!(|bytes: &[u8]| {
    let (_, inventory, details) = demo();
    exercise_filter(inventory, details.as_ref(), bytes);
});
