//! Arbitrary bytes through the zero-copy reader and the kernels: never a panic, never an
//! out-of-bounds read; and whenever the bytes pass the full content check, every kernel agrees
//! with roaring-rs on them.
//!
//! Run (cargo-fuzz needs nightly flags; `RUSTC_BOOTSTRAP=1` lets the stable toolchain take them):
//! `cd engine/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run view -- -max_total_time=600 -max_len=70000`

#![no_main]

use libfuzzer_sys::fuzz_target;
use roaring::RoaringBitmap;
use tessera_engine::bitmap::{RoaringView, kernels};
use tessera_engine::grid::IdRange;

fuzz_target!(|bytes: &[u8]| {
    let Ok(view) = RoaringView::open(bytes) else { return };
    let mut other: RoaringBitmap = (0..70_000).chain(200_000..200_100).collect();
    other.optimize();
    let mut other_bytes = Vec::new();
    other.serialize_into(&mut other_bytes).unwrap();
    let other_view = RoaringView::open(&other_bytes[..]).unwrap();

    let forward = kernels::andnot_ids(&view, &other_view);
    let backward = kernels::andnot_ids(&other_view, &view);
    let count = kernels::andnot_count(&view, &other_view);
    let clipped = kernels::and_ranges_count(&view, &[IdRange { lo: 3, hi: 199_999 }]);

    if view.validate().is_ok() {
        let parsed = RoaringBitmap::deserialize_from(bytes).expect("valid bytes parse in roaring too");
        assert_eq!(forward, (&parsed - &other).into_iter().collect::<Vec<_>>());
        assert_eq!(backward, (&other - &parsed).into_iter().collect::<Vec<_>>());
        assert_eq!(count, forward.len() as u64);
        assert_eq!(clipped, parsed.range_cardinality(3..=199_999));
        assert_eq!(view.to_vec(), parsed.into_iter().collect::<Vec<_>>());
    }
});
