//! Where kernel results go: a count, id ranges, ids, or a filter in front of any of them.
//!
//! Kernels call a [`Sink`] with results in increasing order, so every sink can append or
//! coalesce without searching. Sinks are generic parameters, so each kernel is compiled once
//! per sink and a count never pays for building ranges.

use super::ones_between;
use crate::grid::IdRange;

/// Receives a kernel's result in increasing order.
pub trait Sink {
    /// True when only [`Sink::count`] matters: kernels then pass whole containers as counts.
    const COUNT_ONLY: bool = false;

    /// The inclusive range `[lo, hi]` is in the result.
    fn range(&mut self, lo: u32, hi: u32);

    /// The set bits of `word` are in the result, bit `k` standing for `base + k`.
    #[inline]
    fn bits(&mut self, base: u32, mut word: u64) {
        while word != 0 {
            let first = word.trailing_zeros();
            let ones = (word >> first).trailing_ones();
            self.range(base + first, base + first + ones - 1);
            if first + ones == 64 {
                break;
            }
            word &= !(((1u64 << ones) - 1) << first);
        }
    }

    /// `n` values are in the result (only called when [`Sink::COUNT_ONLY`]).
    #[inline]
    fn count(&mut self, _n: u64) {}
}

/// Counts values.
#[derive(Debug, Default, Clone, Copy)]
pub struct Count(pub u64);

impl Sink for Count {
    const COUNT_ONLY: bool = true;

    #[inline]
    fn range(&mut self, lo: u32, hi: u32) {
        self.0 += u64::from(hi - lo) + 1;
    }

    #[inline]
    fn bits(&mut self, _base: u32, word: u64) {
        self.0 += u64::from(word.count_ones());
    }

    #[inline]
    fn count(&mut self, n: u64) {
        self.0 += n;
    }
}

/// Collects maximal inclusive ranges, joining ranges that touch.
#[derive(Debug, Default, Clone)]
pub struct Ranges(pub Vec<IdRange>);

impl Sink for Ranges {
    #[inline]
    fn range(&mut self, lo: u32, hi: u32) {
        match self.0.last_mut() {
            Some(last) if last.hi.checked_add(1) == Some(lo) => last.hi = hi,
            _ => self.0.push(IdRange { lo, hi }),
        }
    }
}

/// Collects every value.
#[derive(Debug, Default, Clone)]
pub struct Ids(Vec<u32>);

impl Ids {
    /// The collected values, in increasing order.
    pub fn into_inner(self) -> Vec<u32> {
        self.0
    }
}

impl Sink for Ids {
    #[inline]
    fn range(&mut self, lo: u32, hi: u32) {
        self.0.extend(lo..=hi);
    }

    #[inline]
    fn bits(&mut self, base: u32, mut word: u64) {
        while word != 0 {
            self.0.push(base + word.trailing_zeros());
            word &= word - 1;
        }
    }
}

/// Calls a closure with each range.
pub struct FnSink<F>(pub F);

impl<F> std::fmt::Debug for FnSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSink")
    }
}

impl<F: FnMut(u32, u32)> Sink for FnSink<F> {
    #[inline]
    fn range(&mut self, lo: u32, hi: u32) {
        (self.0)(lo, hi)
    }
}

/// Passes on only the parts of the result inside sorted, disjoint `filter` ranges (a bbox, a
/// year). The result arrives in increasing order, so the filter is walked once, forwards.
#[derive(Debug)]
pub struct Clip<'f, S> {
    filter: &'f [IdRange],
    next: usize,
    inner: S,
}

impl<'f, S: Sink> Clip<'f, S> {
    /// Forwards to `inner` only the parts of the result inside `filter`, which must be sorted
    /// and disjoint.
    pub fn new(filter: &'f [IdRange], inner: S) -> Clip<'f, S> {
        Clip { filter, next: 0, inner }
    }

    /// The inner sink, holding the clipped result.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Sink> Sink for Clip<'_, S> {
    fn range(&mut self, lo: u32, hi: u32) {
        while self.filter.get(self.next).is_some_and(|f| f.hi < lo) {
            self.next += 1;
        }
        for f in self.filter[self.next..].iter().take_while(|f| f.lo <= hi) {
            self.inner.range(lo.max(f.lo), hi.min(f.hi));
        }
    }

    /// Masks the word to the filter's bits in it. A bitset container touched by a box's rows
    /// sends all its 1,024 words, most of them wholly outside the box: splitting each into
    /// ranges to clip them took half of a box's count on the 97.2M-tile planet.
    fn bits(&mut self, base: u32, word: u64) {
        let last = base.saturating_add(63);
        while self.filter.get(self.next).is_some_and(|f| f.hi < base) {
            self.next += 1;
        }
        let mut inside = 0u64;
        for f in self.filter[self.next..].iter().take_while(|f| f.lo <= last) {
            inside |= ones_between(f.lo.max(base) - base, f.hi.min(last) - base);
        }
        if word & inside != 0 {
            self.inner.bits(base, word & inside);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_split_into_maximal_ranges() {
        let mut ranges = Ranges::default();
        ranges.bits(64, 0b1110_0110 | (1 << 63));
        let got: Vec<_> = ranges.0.iter().map(|r| (r.lo, r.hi)).collect();
        assert_eq!(got, vec![(65, 66), (69, 71), (127, 127)]);
        let mut all = Ranges::default();
        all.bits(0, u64::MAX);
        assert_eq!(all.0, vec![IdRange { lo: 0, hi: 63 }]);
    }

    /// Words and ranges clipped by a filter give exactly the ids a plain set clipping keeps.
    #[test]
    fn clipped_words_keep_exactly_the_filters_ids() {
        let filter = [
            IdRange { lo: 3, hi: 3 },
            IdRange { lo: 60, hi: 70 },
            IdRange { lo: 100, hi: 191 },
            IdRange { lo: 250, hi: 254 },
            IdRange { lo: 320, hi: 383 },
        ];
        let keep = |id: u32| filter.iter().any(|f| (f.lo..=f.hi).contains(&id));
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200 {
            let mut clip = Clip::new(&filter, Ranges::default());
            let mut expected = Vec::new();
            for base in (0..448).step_by(64) {
                // xorshift: words from empty to full, every shape between.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let word = match base / 64 % 3 {
                    0 => state,
                    1 => state & (state >> 3),
                    _ => u64::MAX,
                };
                clip.bits(base, word);
                expected
                    .extend((0..64).filter(|bit| word >> bit & 1 == 1).map(|bit| base + bit).filter(|&id| keep(id)));
            }
            let got: Vec<u32> = clip.into_inner().0.iter().flat_map(|r| r.lo..=r.hi).collect();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn clip_keeps_only_the_filter() {
        let filter = [IdRange { lo: 10, hi: 20 }, IdRange { lo: 30, hi: 40 }];
        let mut clip = Clip::new(&filter, Ranges::default());
        clip.range(0, 12);
        clip.range(15, 35);
        clip.bits(64, u64::MAX);
        let got: Vec<_> = clip.into_inner().0.iter().map(|r| (r.lo, r.hi)).collect();
        assert_eq!(got, vec![(10, 12), (15, 20), (30, 35)]);
    }
}
