//! The diff engine is exact: every kernel agrees with `croaring` and `roaring` on random
//! bitmaps that mix array, bitset and run containers under both cookies, on the
//! RoaringFormatSpec sample files, and it never panics on damaged bytes.

use croaring::{Bitmap, Portable};
use proptest::prelude::*;
use roaring::RoaringBitmap;
use tessera_engine::bitmap::{RoaringView, encode_ranges, kernels, sink};
use tessera_engine::grid::IdRange;

const WITHOUT_RUNS: &[u8] = include_bytes!("data/bitmapwithoutruns.bin");
const WITH_RUNS: &[u8] = include_bytes!("data/bitmapwithruns.bin");

fn spec_values() -> Vec<u32> {
    (0..100).map(|i| i * 1000).chain((100_000..200_000).map(|i| i * 3)).chain(700_000..800_000).collect()
}

#[test]
fn reads_the_format_spec_sample_files() {
    for bytes in [WITHOUT_RUNS, WITH_RUNS] {
        let view = RoaringView::open(bytes).unwrap();
        view.validate().unwrap();
        assert_eq!(view.to_vec(), spec_values());
        assert_eq!(view.cardinality(), spec_values().len() as u64);
    }
    let kinds: Vec<_> = RoaringView::open(WITH_RUNS).unwrap().containers().iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&tessera_engine::bitmap::Kind::Run));
}

#[test]
fn sample_files_diff_like_croaring() {
    let (a, b) = (RoaringView::open(WITH_RUNS).unwrap(), RoaringView::open(WITHOUT_RUNS).unwrap());
    assert_eq!(kernels::andnot_count(&a, &b), 0);
    let shifted: RoaringBitmap = spec_values().iter().map(|v| v + 1).collect();
    let shifted = portable(&shifted, true);
    let c = RoaringView::open(&shifted[..]).unwrap();
    check_pair(&a, &c);
    check_pair(&c, &b);
}

/// One container's worth of values under `key`: sparse (array), dense (bitset) or runs.
fn container(key: u32) -> impl Strategy<Value = Vec<u32>> {
    let base = key << 16;
    prop_oneof![
        prop::collection::vec(0u32..65536, 1..300),
        prop::collection::vec(0u32..65536, 5000..9000),
        prop::collection::vec((0u32..65536, 1u32..3000), 1..40)
            .prop_map(|runs| runs.into_iter().flat_map(|(s, l)| s..(s + l).min(65536)).collect()),
    ]
    .prop_map(move |values| values.into_iter().map(|v| base + v).collect())
}

fn bitmap() -> impl Strategy<Value = RoaringBitmap> {
    prop::collection::btree_set(0u32..12, 1..7)
        .prop_flat_map(|keys| keys.into_iter().map(container).collect::<Vec<_>>())
        .prop_map(|parts| parts.into_iter().flatten().collect())
}

#[derive(Debug, Clone)]
enum Edit {
    Remove(u32),
    Insert(u32),
    RemoveRange(u32, u32),
    InsertRange(u32, u32),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u32..12 << 16).prop_map(Edit::Remove),
        (0u32..12 << 16).prop_map(Edit::Insert),
        (0u32..12 << 16, 1u32..5000).prop_map(|(s, l)| Edit::RemoveRange(s, s + l)),
        (0u32..12 << 16, 1u32..5000).prop_map(|(s, l)| Edit::InsertRange(s, s + l)),
    ]
}

/// `a` and a `b` that is either a mirror of `a` with edits (the common case) or unrelated.
fn pair() -> impl Strategy<Value = (RoaringBitmap, RoaringBitmap, bool, bool)> {
    (bitmap(), prop::collection::vec(edit(), 0..60), bitmap(), 0u8..10, any::<bool>(), any::<bool>()).prop_map(
        |(a, edits, other, mode, runs_a, runs_b)| {
            let b = if mode < 6 { apply(&a, &edits) } else { other };
            (a, b, runs_a || mode < 7, runs_b || mode < 7)
        },
    )
}

fn apply(a: &RoaringBitmap, edits: &[Edit]) -> RoaringBitmap {
    let mut b = a.clone();
    for edit in edits {
        match *edit {
            Edit::Remove(v) => _ = b.remove(v),
            Edit::Insert(v) => _ = b.insert(v),
            Edit::RemoveRange(lo, hi) => _ = b.remove_range(lo..hi),
            Edit::InsertRange(lo, hi) => _ = b.insert_range(lo..hi),
        }
    }
    b
}

fn portable(bitmap: &RoaringBitmap, runs: bool) -> Vec<u8> {
    let mut bitmap = bitmap.clone();
    if runs {
        bitmap.optimize();
    } else {
        bitmap.remove_run_compression();
    }
    let mut bytes = Vec::new();
    bitmap.serialize_into(&mut bytes).unwrap();
    bytes
}

fn expand(ranges: &[IdRange]) -> Vec<u32> {
    ranges.iter().flat_map(|r| r.lo..=r.hi).collect()
}

/// Checks every kernel over `a`, `b` against croaring and roaring.
fn check_pair(a: &RoaringView<impl AsRef<[u8]>>, b: &RoaringView<impl AsRef<[u8]>>) {
    let ca = Bitmap::try_deserialize::<Portable>(a.bytes()).unwrap();
    let cb = Bitmap::try_deserialize::<Portable>(b.bytes()).unwrap();
    let ra = RoaringBitmap::deserialize_from(a.bytes()).unwrap();
    let rb = RoaringBitmap::deserialize_from(b.bytes()).unwrap();

    let expected = ca.andnot(&cb).to_vec();
    assert_eq!(expected, (&ra - &rb).into_iter().collect::<Vec<_>>(), "the oracles disagree");
    assert_eq!(kernels::andnot_ids(a, b), expected);
    assert_eq!(kernels::andnot_count(a, b), ca.andnot_cardinality(&cb));
    let ranges = kernels::andnot_ranges(a, b);
    assert!(ranges.windows(2).all(|w| w[0].hi + 1 < w[1].lo), "ranges are not maximal and sorted");
    assert_eq!(expand(&ranges), expected);
    let written = Bitmap::try_deserialize::<Portable>(&encode_ranges(&ranges)).unwrap();
    assert_eq!(written, ca.andnot(&cb));

    let mut both = sink::Ids::default();
    kernels::and(a, b, &mut both);
    assert_eq!(both.into_inner(), ca.and(&cb).to_vec());
    assert_eq!(a.to_vec(), ca.to_vec());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn kernels_match_croaring_and_roaring((a, b, runs_a, runs_b) in pair()) {
        let (bytes_a, bytes_b) = (portable(&a, runs_a), portable(&b, runs_b));
        let (view_a, view_b) = (RoaringView::open(&bytes_a[..]).unwrap(), RoaringView::open(&bytes_b[..]).unwrap());
        view_a.validate().unwrap();
        check_pair(&view_a, &view_b);
        check_pair(&view_b, &view_a);
    }

    #[test]
    fn and_ranges_matches_a_brute_force_filter(
        (a, _, runs, _) in pair(),
        cuts in prop::collection::btree_set(0u32..(13 << 16), 0..40),
    ) {
        let bytes = portable(&a, runs);
        let view = RoaringView::open(&bytes[..]).unwrap();
        let cuts: Vec<u32> = cuts.into_iter().collect();
        let ranges: Vec<IdRange> = cuts.chunks_exact(2).map(|c| IdRange { lo: c[0], hi: c[1] }).collect();
        let inside = |v: &u32| ranges.iter().any(|r| (r.lo..=r.hi).contains(v));
        let expected: Vec<u32> = a.iter().filter(inside).collect();
        let mut ids = sink::Ids::default();
        kernels::and_ranges(&view, &ranges, &mut ids);
        prop_assert_eq!(ids.into_inner(), expected.clone());
        prop_assert_eq!(kernels::and_ranges_count(&view, &ranges), expected.len() as u64);
        let mut clipped = sink::Clip::new(&ranges, sink::Ids::default());
        view.for_each_range(|lo, hi| sink::Sink::range(&mut clipped, lo, hi));
        prop_assert_eq!(clipped.into_inner().into_inner(), expected);
    }

    /// Damaged bytes: an error at open, or a view whose kernels finish without panicking.
    #[test]
    fn damaged_bytes_never_panic((a, b, runs_a, runs_b) in pair(), flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)) {
        let (mut bytes_a, bytes_b) = (portable(&a, runs_a), portable(&b, runs_b));
        for (at, mask) in flips {
            let at = at.index(bytes_a.len());
            bytes_a[at] ^= mask;
        }
        let view_b = RoaringView::open(&bytes_b[..]).unwrap();
        if let Ok(view_a) = RoaringView::open(&bytes_a[..]) {
            let _ = view_a.validate();
            let _ = kernels::andnot_ids(&view_a, &view_b);
            let _ = kernels::andnot_ids(&view_b, &view_a);
            let _ = kernels::andnot_count(&view_a, &view_b);
            let _ = kernels::and_ranges_count(&view_a, &[IdRange { lo: 5, hi: 900_000 }]);
            let _ = view_a.to_vec();
        }
        for cut in [0, 1, 4, 7, bytes_b.len() / 2, bytes_b.len() - 1] {
            prop_assert!(RoaringView::open(&bytes_b[..cut.min(bytes_b.len() - 1)]).is_err());
        }
    }
}
