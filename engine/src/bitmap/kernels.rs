//! Set kernels over [`RoaringView`]s: `a andnot b` (what a mirror is missing), `a and b`, and
//! `a and ranges` (a bbox or a year), each into any [`Sink`] (a count, ranges, ids).
//!
//! The hot path is run container minus run container, because run-optimised store bitmaps are
//! almost all run containers and mirrors are near copies of the primary. Most run words of
//! the two sides are then byte-equal, so [`andnot_runs`] compares raw run words 32 bytes at a
//! time and does set logic only where they differ; containers whose bytes are equal are skipped
//! whole. Every other container pairing expands to 8 KiB bitsets, which is rare and cheap.
//!
//! None of this reads out of bounds or panics on bytes that only passed the structural checks
//! of [`RoaringView::open`]: run ends are clamped to 65535, and all indexing is checked.
//!
//! ```
//! use tessera_engine::bitmap::{kernels, RoaringView};
//!
//! fn portable(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
//!     let mut bitmap: roaring::RoaringBitmap = values.into_iter().collect();
//!     bitmap.optimize();
//!     let mut bytes = Vec::new();
//!     bitmap.serialize_into(&mut bytes).unwrap();
//!     bytes
//! }
//! let primary = RoaringView::open(portable(0..1000)).unwrap();
//! let mirror = RoaringView::open(portable((0..1000).filter(|id| id % 100 != 7))).unwrap();
//! assert_eq!(kernels::andnot_count(&primary, &mirror), 10);
//! assert_eq!(kernels::andnot_ids(&primary, &mirror)[..2], [7, 107]);
//! ```

use super::sink::{Count, Ids, Ranges, Sink};
use super::{BITSET_BYTES, Container, Kind, RoaringView, run_end, run_start};
use crate::grid::IdRange;

/// Words in a bitset container.
const WORDS: usize = BITSET_BYTES / 8;

/// Values of `a` that are not in `b`, in increasing order, into `sink`.
pub fn andnot<A, B, S>(a: &RoaringView<A>, b: &RoaringView<B>, sink: &mut S)
where
    A: AsRef<[u8]>,
    B: AsRef<[u8]>,
    S: Sink,
{
    let b_containers = b.containers();
    let mut j = 0;
    for ca in a.containers() {
        j += b_containers[j..].partition_point(|cb| cb.key < ca.key);
        let pa = a.payload(ca);
        match b_containers.get(j).filter(|cb| cb.key == ca.key) {
            Some(cb) => {
                let pb = b.payload(cb);
                // Byte-equal containers of the same kind hold the same values: nothing is missing.
                if ca.kind == cb.kind && pa == pb {
                    continue;
                }
                andnot_container(ca, pa, cb, pb, sink);
            }
            None => emit_whole(ca, pa, sink),
        }
    }
}

/// Values of `a` that are also in `b`, in increasing order, into `sink`.
pub fn and<A, B, S>(a: &RoaringView<A>, b: &RoaringView<B>, sink: &mut S)
where
    A: AsRef<[u8]>,
    B: AsRef<[u8]>,
    S: Sink,
{
    let b_containers = b.containers();
    let mut j = 0;
    for ca in a.containers() {
        j += b_containers[j..].partition_point(|cb| cb.key < ca.key);
        let Some(cb) = b_containers.get(j).filter(|cb| cb.key == ca.key) else { continue };
        let (pa, pb) = (a.payload(ca), b.payload(cb));
        if ca.kind == cb.kind && pa == pb {
            emit_whole(ca, pa, sink);
        } else if ca.kind == Kind::Run && cb.kind == Kind::Run {
            and_runs(ca.base(), pa, pb, sink);
        } else {
            let (bits_a, bits_b) = (to_bitset(ca, pa), to_bitset(cb, pb));
            emit_words(ca.base(), &bits_a, &bits_b, |x, y| x & y, sink);
        }
    }
}

/// Values of `a` inside sorted, disjoint inclusive `ranges` (a bbox's rows, a year), into `sink`.
pub fn and_ranges<A: AsRef<[u8]>, S: Sink>(a: &RoaringView<A>, ranges: &[IdRange], sink: &mut S) {
    let containers = a.containers();
    let mut first = 0;
    for range in ranges {
        let (key_lo, key_hi) = (range.lo >> 16, range.hi >> 16);
        first += containers[first..].partition_point(|c| u32::from(c.key) < key_lo);
        for container in containers[first..].iter().take_while(|c| u32::from(c.key) <= key_hi) {
            let key = u32::from(container.key);
            let lo = if key == key_lo { range.lo & 0xFFFF } else { 0 };
            let hi = if key == key_hi { range.hi & 0xFFFF } else { 0xFFFF };
            let payload = a.payload(container);
            if lo == 0 && hi == 0xFFFF {
                emit_whole(container, payload, sink);
            } else {
                clip_container(container, payload, lo, hi, sink);
            }
        }
    }
}

/// How many values of `a` are not in `b`.
pub fn andnot_count<A: AsRef<[u8]>, B: AsRef<[u8]>>(a: &RoaringView<A>, b: &RoaringView<B>) -> u64 {
    let mut count = Count::default();
    andnot(a, b, &mut count);
    count.0
}

/// The values of `a` not in `b`, as maximal inclusive ranges.
pub fn andnot_ranges<A: AsRef<[u8]>, B: AsRef<[u8]>>(a: &RoaringView<A>, b: &RoaringView<B>) -> Vec<IdRange> {
    let mut ranges = Ranges::default();
    andnot(a, b, &mut ranges);
    ranges.0
}

/// The values of `a` not in `b`.
pub fn andnot_ids<A: AsRef<[u8]>, B: AsRef<[u8]>>(a: &RoaringView<A>, b: &RoaringView<B>) -> Vec<u32> {
    let mut ids = Ids::default();
    andnot(a, b, &mut ids);
    ids.into_inner()
}

/// How many values of `a` lie inside `ranges`.
pub fn and_ranges_count<A: AsRef<[u8]>>(a: &RoaringView<A>, ranges: &[IdRange]) -> u64 {
    let mut count = Count::default();
    and_ranges(a, ranges, &mut count);
    count.0
}

/// Sends a whole container: as a count when that is all the sink wants.
#[inline]
fn emit_whole<S: Sink>(container: &Container, payload: &[u8], sink: &mut S) {
    if S::COUNT_ONLY {
        sink.count(u64::from(container.cardinality));
    } else {
        emit_container(container, payload, sink);
    }
}

/// Sends every value of one container, in increasing order.
pub(crate) fn emit_container<S: Sink>(container: &Container, payload: &[u8], sink: &mut S) {
    clip_container(container, payload, 0, 0xFFFF, sink);
}

/// Sends the values of one container that lie in `[lo, hi]` (low 16 bits).
fn clip_container<S: Sink>(container: &Container, payload: &[u8], lo: u32, hi: u32, sink: &mut S) {
    let base = container.base();
    match container.kind {
        Kind::Array => {
            let (values, _) = payload.as_chunks::<2>();
            let value = |v: &[u8; 2]| u32::from(u16::from_le_bytes(*v));
            let from = values.partition_point(|v| value(v) < lo);
            let inside = values[from..].iter().take_while(|v| value(v) <= hi);
            if S::COUNT_ONLY {
                sink.count(inside.count() as u64);
            } else {
                inside.for_each(|v| sink.range(base + value(v), base + value(v)));
            }
        }
        Kind::Run => {
            let (runs, _) = payload.as_chunks::<4>();
            let from = runs.partition_point(|run| run_end(run) < lo);
            for run in runs[from..].iter().take_while(|run| run_start(run) <= hi) {
                let (start, end) = (run_start(run).max(lo), run_end(run).min(hi));
                if start <= end {
                    sink.range(base + start, base + end);
                }
            }
        }
        Kind::Bitset => {
            let (words, _) = payload.as_chunks::<8>();
            let (first, last) = ((lo / 64) as usize, (hi / 64) as usize);
            for (index, word) in words.iter().enumerate().take(last + 1).skip(first) {
                let mut bits = u64::from_le_bytes(*word);
                if index == first {
                    bits &= u64::MAX << (lo % 64);
                }
                if index == last {
                    bits &= u64::MAX >> (63 - hi % 64);
                }
                if bits != 0 {
                    sink.bits(base + 64 * index as u32, bits);
                }
            }
        }
    }
}

fn andnot_container<S: Sink>(ca: &Container, pa: &[u8], cb: &Container, pb: &[u8], sink: &mut S) {
    let base = ca.base();
    match (ca.kind, cb.kind) {
        (Kind::Run, Kind::Run) => andnot_runs(base, pa, pb, sink),
        (Kind::Array, _) => {
            let bits_b = to_bitset(cb, pb);
            let (values, _) = pa.as_chunks::<2>();
            for value in values.iter().map(|v| u16::from_le_bytes(*v)) {
                if bits_b[usize::from(value / 64)] & (1 << (value % 64)) == 0 {
                    sink.range(base + u32::from(value), base + u32::from(value));
                }
            }
        }
        _ => {
            let (bits_a, bits_b) = (to_bitset(ca, pa), to_bitset(cb, pb));
            emit_words(base, &bits_a, &bits_b, |x, y| x & !y, sink);
        }
    }
}

fn emit_words<S: Sink>(base: u32, a: &[u64; WORDS], b: &[u64; WORDS], op: impl Fn(u64, u64) -> u64, sink: &mut S) {
    for (index, (&x, &y)) in a.iter().zip(b).enumerate() {
        let word = op(x, y);
        if word != 0 {
            sink.bits(base + 64 * index as u32, word);
        }
    }
}

/// Expands any container into 1024 words.
fn to_bitset(container: &Container, payload: &[u8]) -> [u64; WORDS] {
    let mut words = [0u64; WORDS];
    match container.kind {
        Kind::Bitset => {
            let (source, _) = payload.as_chunks::<8>();
            for (word, bytes) in words.iter_mut().zip(source) {
                *word = u64::from_le_bytes(*bytes);
            }
        }
        Kind::Array => {
            let (values, _) = payload.as_chunks::<2>();
            for value in values.iter().map(|v| u16::from_le_bytes(*v)) {
                words[usize::from(value / 64)] |= 1 << (value % 64);
            }
        }
        Kind::Run => {
            let (runs, _) = payload.as_chunks::<4>();
            for run in runs {
                set_range(&mut words, run_start(run), run_end(run));
            }
        }
    }
    words
}

/// Sets bits `start..=end` (both at most 65535).
fn set_range(words: &mut [u64; WORDS], start: u32, end: u32) {
    if start > end {
        return;
    }
    let (first, last) = ((start / 64) as usize, (end / 64) as usize);
    let head = u64::MAX << (start % 64);
    let tail = u64::MAX >> (63 - end % 64);
    if first == last {
        words[first] |= head & tail;
        return;
    }
    words[first] |= head;
    words[first + 1..last].fill(u64::MAX);
    words[last] |= tail;
}

/// Run container `a` minus run container `b`: the eq-skip kernel.
///
/// State: `a[i]` is the current run of `a`, of which `cur..=end(a[i])` is still undecided;
/// every run of `b` before `j` ends before `cur`. Whenever `a[i]` and `b[j]` are the same bytes,
/// `a[i]` is wholly covered, so both advance without set logic; `equal_prefix` does that for
/// long stretches at memory speed. At a mismatch one general merge step runs, and the scan
/// resumes as soon as the words agree again. Written for speed: this is the diff hot path.
fn andnot_runs<S: Sink>(base: u32, a: &[u8], b: &[u8], sink: &mut S) {
    let (a_runs, _) = a.as_chunks::<4>();
    let (b_runs, _) = b.as_chunks::<4>();
    let (mut i, mut j) = (0, 0);
    'scan: loop {
        let equal = equal_prefix(&a[4 * i.min(a_runs.len())..], &b[4 * j.min(b_runs.len())..]);
        i += equal;
        j += equal;
        let Some(run) = a_runs.get(i) else { return };
        let mut cur = run_start(run);
        loop {
            let a_end = run_end(&a_runs[i]);
            let Some(b_run) = b_runs.get(j) else {
                emit_rest(base, cur, a_end, &a_runs[i + 1..], sink);
                return;
            };
            let (b_start, b_end) = (run_start(b_run), run_end(b_run));
            if b_end < cur {
                j += 1;
                continue;
            }
            if b_start > a_end {
                sink.range(base + cur, base + a_end);
            } else {
                if b_start > cur {
                    sink.range(base + cur, base + b_start - 1);
                }
                if b_end < a_end {
                    // `b[j]` ends inside `a[i]`: the rest of `a[i]` is still undecided.
                    cur = b_end + 1;
                    j += 1;
                    continue;
                }
                j += usize::from(b_end == a_end);
            }
            i += 1;
            let Some(next) = a_runs.get(i) else { return };
            if b_runs.get(j) == Some(next) {
                continue 'scan;
            }
            cur = run_start(next);
        }
    }
}

fn emit_rest<S: Sink>(base: u32, cur: u32, end: u32, rest: &[[u8; 4]], sink: &mut S) {
    if cur <= end {
        sink.range(base + cur, base + end);
    }
    for run in rest {
        sink.range(base + run_start(run), base + run_end(run));
    }
}

/// Run container `a` and run container `b`: a classic merge, with equal words copied through.
fn and_runs<S: Sink>(base: u32, a: &[u8], b: &[u8], sink: &mut S) {
    let (a_runs, _) = a.as_chunks::<4>();
    let (b_runs, _) = b.as_chunks::<4>();
    let (mut i, mut j) = (0, 0);
    while let (Some(ra), Some(rb)) = (a_runs.get(i), b_runs.get(j)) {
        let (a_start, a_end, b_start, b_end) = (run_start(ra), run_end(ra), run_start(rb), run_end(rb));
        let (lo, hi) = (a_start.max(b_start), a_end.min(b_end));
        if lo <= hi {
            sink.range(base + lo, base + hi);
        }
        i += usize::from(a_end <= b_end);
        j += usize::from(b_end <= a_end);
    }
}

/// How many leading 4-byte run words of `a` and `b` are equal, compared 32 bytes at a time.
#[inline]
fn equal_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let (a_blocks, a_tail) = a.as_chunks::<32>();
    let (b_blocks, b_tail) = b.as_chunks::<32>();
    for (block, (x, y)) in a_blocks.iter().zip(b_blocks).enumerate() {
        let diff = [0, 1, 2, 3].map(|k| word(x, k) ^ word(y, k));
        if diff != [0; 4] {
            let k = diff.iter().position(|&d| d != 0).unwrap_or(0);
            let byte = 32 * block + 8 * k + (diff[k].trailing_zeros() / 8) as usize;
            return byte / 4;
        }
    }
    let done = 32 * a_blocks.len();
    let tail = a_tail.iter().zip(b_tail).take_while(|(x, y)| x == y).count();
    (done + tail) / 4
}

#[inline(always)]
fn word(block: &[u8; 32], k: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&block[8 * k..8 * k + 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_prefix_counts_whole_runs() {
        let a: Vec<u8> = (0..100u8).collect();
        let mut b = a.clone();
        assert_eq!(equal_prefix(&a, &b), 25);
        b[41] ^= 1;
        assert_eq!(equal_prefix(&a, &b), 10);
        b[1] ^= 1;
        assert_eq!(equal_prefix(&a, &b), 0);
        assert_eq!(equal_prefix(&a[..7], &a[..9]), 1);
    }

    #[test]
    fn set_range_fills_words_exactly() {
        let mut words = [0u64; WORDS];
        set_range(&mut words, 3, 130);
        assert_eq!(words[0], u64::MAX << 3);
        assert_eq!(words[1], u64::MAX);
        assert_eq!(words[2], 0b111);
        assert_eq!(words.iter().map(|w| w.count_ones()).sum::<u32>(), 128);
    }
}
