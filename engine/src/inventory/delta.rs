//! A store's differences from the registry, `stores/NAME.delta`: the tiles the registry lists
//! that the store lacks, and the tiles it holds that the registry does not list.
//!
//! Why: stores are near copies of the registry, so a diff of two stores by their indexes walks
//! every run of both (some 100k on the demo) to find a few thousand differences, and the cost
//! of a walk is set by the differences' mispredicted branches, not by the runs
//! (`benches/results/`). Written as the registry `R` less `missing` plus `extra`, a store pair's
//! diff is `A - B = (missing_B - missing_A) + (extra_A - extra_B)`: the first part lies inside
//! `R`, the second outside it, so the two never meet. Work in proportion to the differences.
//!
//! A delta is derived from two indexes and identified by both (their payload checksums and
//! cardinalities), so it is exact or unused: after any change to either, or when the file fails
//! its checks, it is built again (two kernel passes) and written by a holder of the store's
//! lock (without `fsync`: a delta torn by a crash fails its checks), or kept in memory. A store
//! that is no near copy (a scattered share of the registry) gets a file saying so, and its
//! diffs go through the kernels. The layout is in `docs/FORMAT.md`.

use std::fs;
use std::path::Path;
use std::sync::LazyLock;

use xxhash_rust::xxh3::xxh3_64;

use super::{TileSet, andnot_filtered};
use crate::bitmap::RoaringView;
use crate::bitmap::kernels;
use crate::bitmap::sink::{Count, Ranges, Sink};
use crate::fsutil;
use crate::grid::IdRange;

const MAGIC: [u8; 8] = *b"\x89TDF\r\n\x1a\n";
const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 64;
/// A store is a near copy of the registry when they differ in at most this share of their
/// tiles (one in 16); otherwise its diffs go through the kernels.
const NEAR_COPY_SHARE: u64 = 16;
/// A delta is kept when its bitmaps take at most this share of the store's index (a quarter):
/// past it, a diff through the delta saves little over the kernels.
const KEEP_BELOW_SHARE: usize = 4;

/// What a delta was derived from: an index's payload checksum and cardinality, both from its
/// verified header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub checksum: u64,
    pub cardinality: u64,
}

/// A store's tiles as the registry's, less `missing`, plus `extra`.
#[derive(Debug)]
pub(crate) struct Delta {
    /// Tiles the registry lists and the store lacks.
    pub missing: RoaringView<Vec<u8>>,
    /// Tiles the store holds and the registry does not list.
    pub extra: RoaringView<Vec<u8>>,
}

/// The registry's own delta: nothing missing, nothing extra.
pub(crate) static REGISTRY_DELTA: LazyLock<Delta> = LazyLock::new(|| {
    let none = || RoaringView::open(crate::bitmap::encode_ranges(&[])).expect("an empty bitmap is valid");
    Delta { missing: none(), extra: none() }
});

/// The two sides of a delta file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Basis {
    pub registry: Identity,
    pub store: Identity,
}

/// Who may write a delta that had to be built.
#[derive(Debug, Clone, Copy)]
pub(super) enum Writing<'a> {
    /// Nobody: a read-only inventory.
    Never,
    /// Whoever takes the store's lock at this path without waiting (a reader).
    IfUnlocked(&'a Path),
    /// The caller, who holds the store's lock (a writer).
    LockHeld,
}

/// The delta at `path` if it was derived from `basis`; otherwise built from the two sets, and
/// written as `writing` allows. `None` when the store is no near copy of the registry. Never
/// fails: a delta that cannot be read or written leaves the kernels to answer, as exactly.
pub(super) fn open_or_build(
    path: &Path,
    writing: Writing<'_>,
    basis: Basis,
    registry: &TileSet,
    store: &TileSet,
) -> Option<Delta> {
    if let Some(opened) = open(path, basis) {
        return opened;
    }
    let guard = match writing {
        Writing::IfUnlocked(lock) => super::open::try_lock(lock),
        Writing::Never | Writing::LockHeld => None,
    };
    let built = build(registry, store);
    if guard.is_some() || matches!(writing, Writing::LockHeld) {
        let _ = fsutil::write_unsynced(path, &encode(basis, built.as_ref()));
    }
    built
}

/// The delta of `store`, or `None` when it would not pay.
fn build<R: AsRef<[u8]>, S: AsRef<[u8]>>(registry: &RoaringView<R>, store: &RoaringView<S>) -> Option<Delta> {
    let (held, listed) = (store.cardinality(), registry.cardinality());
    let limit = held.max(listed) / NEAR_COPY_SHARE;
    if held.abs_diff(listed) > limit {
        return None;
    }
    let missing = differences(registry, store, limit)?;
    let extra = differences(store, registry, limit - missing.tiles)?;
    let portable = |part: Capped| crate::bitmap::encode_ranges(&part.ranges.0);
    let (missing, extra) = (portable(missing), portable(extra));
    if (missing.len() + extra.len()) * KEEP_BELOW_SHARE > store.bytes().len() {
        return None;
    }
    let view = |bytes| RoaringView::open(bytes).expect("encode_ranges writes valid portable bitmaps");
    Some(Delta { missing: view(missing), extra: view(extra) })
}

/// `a - b`, or `None` once it holds more than `limit` tiles.
fn differences<A: AsRef<[u8]>, B: AsRef<[u8]>>(a: &RoaringView<A>, b: &RoaringView<B>, limit: u64) -> Option<Capped> {
    let mut part = Capped { ranges: Ranges::default(), tiles: 0, limit };
    kernels::andnot(a, b, &mut part);
    (part.tiles <= limit).then_some(part)
}

/// Collects ranges until they hold more than `limit` tiles, then only counts: a store that is
/// no near copy (half the registry in bitsets: 24M ranges on the planet) is told apart at the
/// speed of a count, and nothing of it is kept.
struct Capped {
    ranges: Ranges,
    tiles: u64,
    limit: u64,
}

impl Sink for Capped {
    fn range(&mut self, lo: u32, hi: u32) {
        self.tiles += u64::from(hi - lo) + 1;
        if self.tiles <= self.limit {
            self.ranges.range(lo, hi);
        }
    }

    fn bits(&mut self, base: u32, word: u64) {
        let ones = u64::from(word.count_ones());
        self.tiles += ones;
        if self.tiles <= self.limit {
            self.ranges.bits(base, word);
        }
    }
}

/// A delta file: its header, then the two portable bitmaps (none for a store that is no near
/// copy).
fn encode(basis: Basis, delta: Option<&Delta>) -> Vec<u8> {
    let (missing, extra) = delta.map_or((&[][..], &[][..]), |d| (d.missing.bytes(), d.extra.bytes()));
    let mut bytes = vec![0u8; HEADER_LEN];
    bytes.extend_from_slice(missing);
    bytes.extend_from_slice(extra);
    let checksum = xxh3_64(&bytes[HEADER_LEN..]);
    bytes[0..8].copy_from_slice(&MAGIC);
    bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    bytes[12..16].copy_from_slice(&u32::from(delta.is_some()).to_le_bytes());
    let fields = [
        basis.registry.checksum,
        basis.registry.cardinality,
        basis.store.checksum,
        basis.store.cardinality,
        missing.len() as u64,
        checksum,
    ];
    for (at, field) in (16..).step_by(8).zip(fields) {
        bytes[at..at + 8].copy_from_slice(&field.to_le_bytes());
    }
    bytes
}

/// The delta file at `path`, if it is whole and was derived from `basis`: `Some(None)` when it
/// says the store is no near copy, `None` when it cannot be used.
fn open(path: &Path, basis: Basis) -> Option<Option<Delta>> {
    let bytes = fs::read(path).ok()?;
    decode(bytes, basis)
}

fn decode(bytes: Vec<u8>, basis: Basis) -> Option<Option<Delta>> {
    let header = bytes.get(..HEADER_LEN)?;
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or_default());
    let identity = |at: usize| Identity { checksum: u64_at(at), cardinality: u64_at(at + 8) };
    let layout_known = header[0..8] == MAGIC && u16_at(8) == FORMAT_VERSION && usize::from(u16_at(10)) == HEADER_LEN;
    if !layout_known || (Basis { registry: identity(16), store: identity(32) }) != basis {
        return None;
    }
    let payload = &bytes[HEADER_LEN..];
    if xxh3_64(payload) != u64_at(56) {
        return None;
    }
    match u32_at(12) {
        0 if payload.is_empty() => return Some(None),
        1 => {}
        _ => return None,
    }
    let missing_len = usize::try_from(u64_at(48)).ok().filter(|len| *len <= payload.len())?;
    let missing = RoaringView::open(payload[..missing_len].to_vec()).ok()?;
    let extra = RoaringView::open(payload[missing_len..].to_vec()).ok()?;
    // The one relation a delta must keep with what it was derived from.
    let holds = basis.registry.cardinality + extra.cardinality();
    (holds.checked_sub(missing.cardinality()) == Some(basis.store.cardinality))
        .then_some(Some(Delta { missing, extra }))
}

/// Tiles of `a` not in `b`, the two given as deltas from one registry, inside `ranges` (all
/// tiles when `None`), into `sink`.
pub(crate) fn andnot<S: Sink>(a: &Delta, b: &Delta, ranges: Option<&[IdRange]>, mut sink: S) -> S {
    if a.extra.is_empty() {
        return andnot_filtered(&b.missing, &a.missing, ranges, sink);
    }
    if S::COUNT_ONLY {
        let inside = andnot_filtered(&b.missing, &a.missing, ranges, Count::default()).0;
        let outside = andnot_filtered(&a.extra, &b.extra, ranges, Count::default()).0;
        sink.count(inside + outside);
        return sink;
    }
    // Disjoint parts (inside the registry, outside it), put back into increasing order.
    let mut parts = andnot_filtered(&b.missing, &a.missing, ranges, Ranges::default()).0;
    parts.extend(andnot_filtered(&a.extra, &b.extra, ranges, Ranges::default()).0);
    parts.sort_unstable_by_key(|range| range.lo);
    for IdRange { lo, hi } in parts {
        sink.range(lo, hi);
    }
    sink
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ids: &[u32]) -> RoaringView<Vec<u8>> {
        let ranges: Vec<IdRange> = ids.iter().map(|&id| IdRange { lo: id, hi: id }).collect();
        RoaringView::open(crate::bitmap::encode_ranges(&ranges)).expect("valid")
    }

    fn sample() -> (Basis, Delta) {
        let basis = Basis {
            registry: Identity { checksum: 0xAB, cardinality: 1000 },
            store: Identity { checksum: 0xCD, cardinality: 1000 - 3 + 2 },
        };
        (basis, Delta { missing: view(&[5, 70_000, 900_000]), extra: view(&[4_000_000, 4_000_001]) })
    }

    #[test]
    fn a_delta_reads_back_only_for_the_indexes_it_was_derived_from() {
        let (basis, delta) = sample();
        let bytes = encode(basis, Some(&delta));
        let read = decode(bytes.clone(), basis).expect("usable").expect("kept");
        assert_eq!(read.missing.to_vec(), [5, 70_000, 900_000]);
        assert_eq!(read.extra.to_vec(), [4_000_000, 4_000_001]);
        let other_store = Basis { store: Identity { checksum: 0xCE, ..basis.store }, ..basis };
        assert!(decode(bytes.clone(), other_store).is_none(), "another store index");
        let other_registry = Basis { registry: Identity { checksum: 0xAC, ..basis.registry }, ..basis };
        assert!(decode(bytes, other_registry).is_none(), "another registry index");
    }

    #[test]
    fn a_damaged_or_inconsistent_delta_is_not_used() {
        let (basis, delta) = sample();
        let good = encode(basis, Some(&delta));
        for at in [0, 8, 10, 12, HEADER_LEN, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            assert!(decode(bad, basis).is_none(), "a flipped bit at byte {at}");
        }
        assert!(decode(good[..good.len() - 1].to_vec(), basis).is_none(), "truncated");
        assert!(decode(good[..HEADER_LEN - 1].to_vec(), basis).is_none(), "a short header");
        // Checksums agree but the counts do not add up: the store would hold 998, not 999.
        let wrong = Basis { store: Identity { cardinality: 998, ..basis.store }, ..basis };
        assert!(decode(encode(wrong, Some(&delta)), wrong).is_none());
    }

    #[test]
    fn only_a_near_copy_gets_a_delta_and_it_is_exact() {
        let registry: Vec<u32> = (0..400_000).step_by(2).collect();
        let scattered: Vec<u32> = registry.iter().copied().filter(|id| id % 1000 != 0).collect();
        let registry = view(&registry);
        let delta = build(&registry, &view(&[&scattered[..], &[1_000_001, 1_000_003]].concat())).expect("near");
        assert_eq!(delta.missing.to_vec(), (0..400_000).step_by(1000).collect::<Vec<u32>>());
        assert_eq!(delta.extra.to_vec(), [1_000_001, 1_000_003]);
        // As many tiles as the registry, but a quarter of them elsewhere.
        let shifted: Vec<u32> = (100_000..500_000).step_by(2).collect();
        assert!(build(&registry, &view(&shifted)).is_none(), "the same count, other tiles");
        let half: Vec<u32> = (0..400_000).step_by(4).collect();
        assert!(build(&registry, &view(&half)).is_none(), "half of it");
    }

    #[test]
    fn a_store_that_is_no_near_copy_reads_back_as_such() {
        let (basis, _) = sample();
        assert!(matches!(decode(encode(basis, None), basis), Some(None)));
    }

    #[test]
    fn diffs_of_deltas_are_the_diffs_of_the_sets_they_stand_for() {
        // Registry 0..100; a lacks 3 and 50 and holds 200; b lacks 50 and 60 and holds 200, 300.
        let (a, b) = (
            Delta { missing: view(&[3, 50]), extra: view(&[200]) },
            Delta { missing: view(&[50, 60]), extra: view(&[200, 300]) },
        );
        let ranges = |sink: Ranges| sink.0.iter().flat_map(|r| r.lo..=r.hi).collect::<Vec<_>>();
        assert_eq!(ranges(andnot(&a, &b, None, Ranges::default())), [60]);
        assert_eq!(ranges(andnot(&b, &a, None, Ranges::default())), [3, 300]);
        assert_eq!(andnot(&b, &a, None, Count::default()).0, 2);
        let box_ = [IdRange { lo: 250, hi: 400 }];
        assert_eq!(ranges(andnot(&b, &a, Some(&box_), Ranges::default())), [300]);
        assert_eq!(andnot(&b, &a, Some(&box_), Count::default()).0, 1);
        let registry = &*REGISTRY_DELTA;
        assert_eq!(ranges(andnot(registry, &a, None, Ranges::default())), [3, 50]);
        assert_eq!(ranges(andnot(&b, registry, None, Ranges::default())), [200, 300]);
    }
}
