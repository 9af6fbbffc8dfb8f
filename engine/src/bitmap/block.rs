//! [`Block`]: the 65,536 ids of one Roaring key as a plain bitset, the unit a query plan is
//! evaluated in. Any container (array, bitset, runs) or id range expands into a block in a few
//! hundred nanoseconds, and `and`, `or`, `not` and counts are then word loops the compiler
//! vectorises: a plan of any shape costs the same per key, and a page or a count walks only
//! the keys it needs.

use super::{BITSET_BYTES, Container, Kind, RoaringView, run_end, run_start};
use crate::grid::IdRange;

/// Words in a block.
const WORDS: usize = BITSET_BYTES / 8;

/// The ids `key << 16 ..= key << 16 | 0xFFFF`, one bit each.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    words: Box<[u64; WORDS]>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block").field("count", &self.count()).finish()
    }
}

impl Block {
    /// A block with no id.
    pub fn empty() -> Block {
        Block { words: Box::new([0; WORDS]) }
    }

    /// A block with every id.
    pub fn full() -> Block {
        Block { words: Box::new([u64::MAX; WORDS]) }
    }

    /// The ids of `key` that `ranges` (sorted, disjoint) cover.
    pub fn of_ranges(key: u16, ranges: &[IdRange]) -> Block {
        let mut block = Block::empty();
        let (low, high) = (u32::from(key) << 16, u32::from(key) << 16 | 0xFFFF);
        let first = ranges.partition_point(|range| range.hi < low);
        for range in ranges[first..].iter().take_while(|range| range.lo <= high) {
            block.insert_range(range.lo.max(low) as u16, range.hi.min(high) as u16);
        }
        block
    }

    /// The values of `key`'s container in `view`, or `None` when it has none.
    pub fn of_view<B: AsRef<[u8]>>(view: &RoaringView<B>, key: u16) -> Option<Block> {
        let container = view.container_with_key(key)?;
        Some(Block::of_container(container, view.payload(container)))
    }

    /// Calls `each(lo, hi)` with the runs of key `key`'s values in `view` that lie in
    /// `from..=to`, in increasing order. Run and array containers are read in place: a walk
    /// that needs only the runs (counts per cell) skips expanding the block.
    pub fn for_each_run_of<B: AsRef<[u8]>>(
        view: &RoaringView<B>,
        key: u16,
        from: u16,
        to: u16,
        mut each: impl FnMut(u16, u16),
    ) {
        let Some(container) = view.container_with_key(key) else { return };
        let payload = view.payload(container);
        let mut clipped = |lo: u32, hi: u32| {
            let (lo, hi) = (lo.max(u32::from(from)), hi.min(u32::from(to)));
            if lo <= hi {
                each(lo as u16, hi as u16);
            }
        };
        match container.kind {
            Kind::Run => payload.as_chunks::<4>().0.iter().for_each(|run| clipped(run_start(run), run_end(run))),
            Kind::Array => {
                let mut run: Option<(u32, u32)> = None;
                for value in payload.as_chunks::<2>().0.iter().map(|v| u32::from(u16::from_le_bytes(*v))) {
                    run = match run {
                        Some((lo, hi)) if value == hi + 1 => Some((lo, value)),
                        Some((lo, hi)) => {
                            clipped(lo, hi);
                            Some((value, value))
                        }
                        None => Some((value, value)),
                    };
                }
                if let Some((lo, hi)) = run {
                    clipped(lo, hi);
                }
            }
            Kind::Bitset => {
                Block::of_container(container, payload).for_each_run(|lo, hi| clipped(u32::from(lo), u32::from(hi)))
            }
        }
    }

    /// A container's values.
    fn of_container(container: &Container, payload: &[u8]) -> Block {
        let mut block = Block::empty();
        match container.kind {
            Kind::Array => {
                for value in payload.as_chunks::<2>().0 {
                    let value = u16::from_le_bytes(*value);
                    block.words[usize::from(value / 64)] |= 1 << (value % 64);
                }
            }
            Kind::Bitset => {
                for (word, bytes) in block.words.iter_mut().zip(payload.as_chunks::<8>().0) {
                    *word = u64::from_le_bytes(*bytes);
                }
            }
            Kind::Run => {
                for run in payload.as_chunks::<4>().0 {
                    block.insert_range(run_start(run) as u16, run_end(run) as u16);
                }
            }
        }
        block
    }

    /// Sets the bits `lo..=hi`.
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        if lo > hi {
            return;
        }
        let (first, last) = (usize::from(lo / 64), usize::from(hi / 64));
        let head = u64::MAX << (lo % 64);
        let tail = u64::MAX >> (63 - hi % 64);
        if first == last {
            self.words[first] |= head & tail;
            return;
        }
        self.words[first] |= head;
        self.words[first + 1..last].fill(u64::MAX);
        self.words[last] |= tail;
    }

    /// Clears the bit `low`.
    pub fn remove(&mut self, low: u16) {
        self.words[usize::from(low / 64)] &= !(1 << (low % 64));
    }

    /// Calls `each` with every maximal run `lo..=hi` of held ids, ascending.
    pub fn for_each_run(&self, mut each: impl FnMut(u16, u16)) {
        let mut start: Option<usize> = None;
        for (at, &word) in self.words.iter().enumerate() {
            // Most words are all out of a run or all in one: nothing changes there.
            if word == if start.is_some() { u64::MAX } else { 0 } {
                continue;
            }
            let mut bit = 0;
            while bit < 64 {
                // Skip to the next change: a run of ones when inside a run, of zeros outside.
                let rest = word >> bit;
                let same = if start.is_some() { (!rest).trailing_zeros() } else { rest.trailing_zeros() };
                bit += same.min(64 - bit);
                if bit < 64 {
                    let here = at * 64 + bit as usize;
                    match start.take() {
                        Some(lo) => each(lo as u16, (here - 1) as u16),
                        None => start = Some(here),
                    }
                }
            }
        }
        if let Some(lo) = start {
            each(lo as u16, u16::MAX);
        }
    }

    /// Whether the block holds `low`.
    pub fn contains(&self, low: u16) -> bool {
        self.words[usize::from(low / 64)] & (1 << (low % 64)) != 0
    }

    /// Keeps the ids `other` holds too.
    pub fn and(&mut self, other: &Block) {
        self.words.iter_mut().zip(other.words.iter()).for_each(|(a, b)| *a &= b);
    }

    /// Adds the ids of `other`.
    pub fn or(&mut self, other: &Block) {
        self.words.iter_mut().zip(other.words.iter()).for_each(|(a, b)| *a |= b);
    }

    /// Keeps the ids `other` lacks.
    pub fn and_not(&mut self, other: &Block) {
        self.words.iter_mut().zip(other.words.iter()).for_each(|(a, b)| *a &= !b);
    }

    /// Swaps held and lacking ids.
    pub fn not(&mut self) {
        self.words.iter_mut().for_each(|word| *word = !*word);
    }

    /// Number of ids held.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|word| u64::from(word.count_ones())).sum()
    }

    /// Number of ids held in `lo..=hi`.
    pub fn count_between(&self, lo: u16, hi: u16) -> u64 {
        let mut mask = Block::empty();
        mask.insert_range(lo, hi);
        self.words.iter().zip(mask.words.iter()).map(|(a, m)| u64::from((a & m).count_ones())).sum()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }

    /// The low 16 bits of every id held, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u16> + '_ {
        self.words.iter().enumerate().flat_map(|(at, &word)| Bits(word).map(move |bit| (at * 64) as u16 + bit))
    }
}

/// The set bits of one word, from either end.
struct Bits(u64);

impl Iterator for Bits {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        (self.0 != 0).then(|| {
            let bit = self.0.trailing_zeros() as u16;
            self.0 &= self.0 - 1;
            bit
        })
    }
}

impl DoubleEndedIterator for Bits {
    fn next_back(&mut self) -> Option<u16> {
        (self.0 != 0).then(|| {
            let bit = 63 - self.0.leading_zeros() as u16;
            self.0 &= !(1 << bit);
            bit
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portable(values: impl IntoIterator<Item = u32>) -> RoaringView<Vec<u8>> {
        let mut bitmap: roaring::RoaringBitmap = values.into_iter().collect();
        bitmap.optimize();
        let mut bytes = Vec::new();
        bitmap.serialize_into(&mut bytes).expect("a Vec takes any write");
        RoaringView::open(bytes).expect("roaring writes the portable format")
    }

    #[test]
    fn every_container_kind_expands_to_its_values() {
        let runs: Vec<u32> = (65536 + 10..65536 + 5000).collect();
        let array: Vec<u32> = (0..3000).map(|n| n * 7).collect();
        let bitset: Vec<u32> = (2 * 65536..3 * 65536).filter(|n| n % 3 == 0).collect();
        let all: Vec<u32> = array.iter().chain(&runs).chain(&bitset).copied().collect();
        let view = portable(all.clone());
        let mut seen = Vec::new();
        for key in 0..4u16 {
            if let Some(block) = Block::of_view(&view, key) {
                seen.extend(block.iter().map(|low| u32::from(key) << 16 | u32::from(low)));
            }
        }
        assert_eq!(seen, all);
        assert!(Block::of_view(&view, 3).is_none());
        // Runs read in place equal the expanded block's, clipped alike.
        for key in 0..4u16 {
            for (from, to) in [(0, u16::MAX), (15, 4000), (20_000, 20_001)] {
                let mut in_place = Vec::new();
                Block::for_each_run_of(&view, key, from, to, |lo, hi| in_place.push((lo, hi)));
                let mut expanded = Vec::new();
                if let Some(mut block) = Block::of_view(&view, key) {
                    block.and(&Block::of_ranges(0, &[IdRange { lo: u32::from(from), hi: u32::from(to) }]));
                    block.for_each_run(|lo, hi| expanded.push((lo, hi)));
                }
                assert_eq!(in_place, expanded, "key {key}, {from}..={to}");
            }
        }
    }

    #[test]
    fn ranges_clip_to_the_key_and_iterate_both_ways() {
        let ranges = [IdRange { lo: 5, hi: 70 }, IdRange { lo: 65530, hi: 65540 }];
        let block = Block::of_ranges(0, &ranges);
        assert_eq!(block.count(), 66 + 6);
        assert_eq!(block.iter().next(), Some(5));
        assert_eq!(block.iter().next_back(), Some(65535));
        assert_eq!(Block::of_ranges(1, &ranges).iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(block.count_between(60, 65531), 11 + 2);
        let mut runs = Vec::new();
        block.for_each_run(|lo, hi| runs.push((lo, hi)));
        assert_eq!(runs, [(5, 70), (65530, 65535)]);
        // Runs over whole words, starting and ending at word edges.
        let edges = [(0, 63), (128, 255), (300, 300), (320, 1000), (1023, 1024)];
        let mut block = Block::empty();
        edges.iter().for_each(|&(lo, hi)| block.insert_range(lo, hi));
        let mut runs = Vec::new();
        block.for_each_run(|lo, hi| runs.push((lo, hi)));
        assert_eq!(runs, edges);
    }

    #[test]
    fn set_operations_match_their_definitions() {
        let a = Block::of_ranges(0, &[IdRange { lo: 0, hi: 99 }]);
        let b = Block::of_ranges(0, &[IdRange { lo: 50, hi: 149 }]);
        let mut and = a.clone();
        and.and(&b);
        let mut or = a.clone();
        or.or(&b);
        let mut minus = a.clone();
        minus.and_not(&b);
        let mut not = a.clone();
        not.not();
        assert_eq!((and.count(), or.count(), minus.count(), not.count()), (50, 150, 50, 65536 - 100));
        assert!(Block::empty().is_empty() && Block::full().count() == 65536);
        let mut runs = Vec::new();
        Block::full().for_each_run(|lo, hi| runs.push((lo, hi)));
        assert_eq!(runs, [(0, 65535)]);
        let mut gaps = minus.clone();
        gaps.remove(10);
        gaps.insert_range(63, 64);
        runs.clear();
        gaps.for_each_run(|lo, hi| runs.push((lo, hi)));
        assert_eq!(runs, [(0, 9), (11, 49), (63, 64)]);
    }
}
