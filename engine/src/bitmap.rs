//! A zero-copy reader of the portable Roaring format (RoaringFormatSpec) over any byte slice.
//!
//! [`RoaringView::open`] checks the structure in O(containers): the cookie, the descriptive
//! header, the offset header (offsets must equal the sequential positions), that every
//! container lies inside the bytes and that no bytes trail the last one. It builds a small
//! directory (key, kind, cardinality, byte range per container; ~700 entries for a 3.8M-tile
//! store) and a table from key to container, and never copies or decodes the payload. The set
//! kernels in [`crate::bitmap::kernels`] read the little-endian words in place.
//!
//! Contents (array order, run bounds, bitset popcounts) are checked by
//! [`RoaringView::validate`], which is O(bytes): do it once per file, or trust a checksum that
//! covers the bytes. Kernels never panic or read out of bounds on content that passed only the
//! structural checks; they may then give a wrong answer, which is why index files carry a checksum.
//!
//! ```
//! use tessera_engine::bitmap::RoaringView;
//!
//! let mut bitmap = roaring::RoaringBitmap::from_iter([1u32, 2, 3, 100_000]);
//! bitmap.optimize();
//! let mut bytes = Vec::new();
//! bitmap.serialize_into(&mut bytes).unwrap();
//! let view = RoaringView::open(bytes).unwrap();
//! assert_eq!(view.cardinality(), 4);
//! assert!(view.contains(100_000));
//! ```

pub mod block;
pub mod kernels;
pub mod sink;

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Cookie of a bitmap with run containers; the high 16 bits hold `containers - 1`.
const SERIAL_COOKIE: u32 = 12347;
/// Cookie of a bitmap without run containers; a `u32` container count follows.
const SERIAL_COOKIE_NO_RUNCONTAINER: u32 = 12346;
/// With the run cookie and fewer containers than this, there is no offset header.
const NO_OFFSET_THRESHOLD: usize = 4;
/// Containers with more values than this are bitsets (unless they are runs).
const ARRAY_MAX: u32 = 4096;
/// Bytes of a bitset container: 65536 bits.
pub(crate) const BITSET_BYTES: usize = 8192;

/// How a container stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sorted `u16` values.
    Array,
    /// 1024 little-endian `u64` words.
    Bitset,
    /// Sorted `(start, length - 1)` pairs of `u16`.
    Run,
}

/// Where one container sits in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container {
    /// The high 16 bits shared by every value in the container.
    pub key: u16,
    /// How the values are stored: a sorted array, a bitset or runs.
    pub kind: Kind,
    /// Number of values, 1..=65536, from the descriptive header.
    pub cardinality: u32,
    /// Byte offset of the values (for runs, of the first run, after the run count).
    start: u32,
    /// Byte length of the values.
    len: u32,
}

impl Container {
    /// The first id this container can hold.
    pub fn base(&self) -> u32 {
        u32::from(self.key) << 16
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// A portable Roaring bitmap read in place from `B` (a memory map, a `Vec<u8>`, a `&[u8]`).
pub struct RoaringView<B> {
    bytes: B,
    containers: Vec<Container>,
    /// Values in the containers before each one: what [`RoaringView::position`] starts from.
    values_before: Vec<u64>,
    /// For each bitset or run container, once a position in it has been asked: the values
    /// before every [`RANK_STEP`]-th word or run, so a position sums at most that many.
    rank_steps: Vec<OnceLock<Box<[u32]>>>,
    /// The index of each key's container (`NO_CONTAINER` when it has none), for keys up to the
    /// last: finding a value's container is one load, not a binary search whose every step
    /// is a branch the processor cannot foresee (a search page asks forty of them).
    by_key: Vec<u32>,
    cardinality: u64,
}

/// A key without a container in [`RoaringView`]'s table.
const NO_CONTAINER: u32 = u32::MAX;

/// Words of a bitset (or runs) summed at most by [`RoaringView::position`] past its rank steps:
/// a page of search results asks the position of each item, and summing up to 1024 words
/// each time took a sixth of the time spent rendering items.
const RANK_STEP: usize = 64;

impl<B: AsRef<[u8]>> fmt::Debug for RoaringView<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoaringView")
            .field("bytes", &self.bytes.as_ref().len())
            .field("containers", &self.containers.len())
            .field("cardinality", &self.cardinality)
            .finish()
    }
}

impl<B: AsRef<[u8]>> RoaringView<B> {
    /// Opens `bytes` after the structural checks described in the module docs.
    pub fn open(bytes: B) -> Result<RoaringView<B>> {
        let containers = read_directory(bytes.as_ref())?;
        let mut cardinality = 0;
        let values_before = containers
            .iter()
            .map(|c| {
                let before = cardinality;
                cardinality += u64::from(c.cardinality);
                before
            })
            .collect();
        let rank_steps = containers.iter().map(|_| OnceLock::new()).collect();
        let mut by_key = vec![NO_CONTAINER; containers.last().map_or(0, |c| usize::from(c.key) + 1)];
        for (index, container) in containers.iter().enumerate() {
            by_key[usize::from(container.key)] = index as u32;
        }
        Ok(RoaringView { bytes, containers, values_before, rank_steps, by_key, cardinality })
    }

    /// The index of the container that would hold `value`, if there is one.
    /// The container of the values whose high 16 bits are `key`, if there is one.
    pub fn container_with_key(&self, key: u16) -> Option<&Container> {
        self.container_of(u32::from(key) << 16).map(|index| &self.containers[index])
    }

    fn container_of(&self, value: u32) -> Option<usize> {
        let index = *self.by_key.get((value >> 16) as usize)?;
        (index != NO_CONTAINER).then_some(index as usize)
    }

    /// Number of values, from the headers (O(1)).
    pub fn cardinality(&self) -> u64 {
        self.cardinality
    }

    /// True when the bitmap holds no values (O(1)).
    pub fn is_empty(&self) -> bool {
        self.cardinality == 0
    }

    /// The container directory, sorted by key.
    pub fn containers(&self) -> &[Container] {
        &self.containers
    }

    /// The serialized bytes, exactly as opened.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The raw bytes of a container's values.
    pub fn payload(&self, container: &Container) -> &[u8] {
        // Every range was checked against the length of these same bytes in `open`.
        self.bytes.as_ref().get(container.range()).unwrap_or_default()
    }

    /// Whether `value` is in the bitmap: one load to find its container, then a search in it.
    pub fn contains(&self, value: u32) -> bool {
        let Some(index) = self.container_of(value) else {
            return false;
        };
        let container = &self.containers[index];
        let low = value as u16;
        let payload = self.payload(container);
        match container.kind {
            Kind::Array => {
                let (values, _) = payload.as_chunks::<2>();
                values.binary_search_by_key(&low, |v| u16::from_le_bytes(*v)).is_ok()
            }
            Kind::Bitset => {
                let byte = payload.get(usize::from(low / 8)).copied().unwrap_or(0);
                byte & (1 << (low % 8)) != 0
            }
            Kind::Run => {
                let (runs, _) = payload.as_chunks::<4>();
                let after = runs.partition_point(|run| run_start(run) <= u32::from(low));
                after > 0 && run_end(&runs[after - 1]) >= u32::from(low)
            }
        }
    }

    /// The position of `value` among the bitmap's values in increasing order (its rank from 0),
    /// or `None` when it is absent. O(log container size) plus a sum of at most 64 words or runs,
    /// after the container's first position has counted its steps once: row `n` of a table
    /// sorted like the bitmap belongs to the value at position `n`.
    pub fn position(&self, value: u32) -> Option<u64> {
        let index = self.container_of(value)?;
        let container = &self.containers[index];
        let low = value as u16;
        let payload = self.payload(container);
        let within = match container.kind {
            Kind::Array => {
                let (values, _) = payload.as_chunks::<2>();
                values.binary_search_by_key(&low, |v| u16::from_le_bytes(*v)).ok()? as u64
            }
            Kind::Bitset => {
                let (words, _) = payload.as_chunks::<8>();
                let at = usize::from(low / 64);
                let word = u64::from_le_bytes(*words.get(at)?);
                if word & (1 << (low % 64)) == 0 {
                    return None;
                }
                let steps = self.rank_steps(index, || bitset_steps(words));
                let step = at / RANK_STEP;
                let below: u64 =
                    words[step * RANK_STEP..at].iter().map(|w| u64::from(u64::from_le_bytes(*w).count_ones())).sum();
                u64::from(steps[step]) + below + u64::from((word & ((1u64 << (low % 64)) - 1)).count_ones())
            }
            Kind::Run => {
                let (runs, _) = payload.as_chunks::<4>();
                let after = runs.partition_point(|run| run_start(run) <= u32::from(low));
                let run = runs.get(after.checked_sub(1)?)?;
                if run_end(run) < u32::from(low) {
                    return None;
                }
                let steps = self.rank_steps(index, || run_steps(runs));
                let step = (after - 1) / RANK_STEP;
                let before: u64 = runs[step * RANK_STEP..after - 1].iter().map(|r| u64::from(run_length(r))).sum();
                u64::from(steps[step]) + before + u64::from(u32::from(low) - run_start(run))
            }
        };
        Some(self.values_before[index] + within)
    }

    /// Container `index`'s rank steps, counted by `count` the first time they are asked.
    fn rank_steps(&self, index: usize, count: impl FnOnce() -> Box<[u32]>) -> &[u32] {
        self.rank_steps[index].get_or_init(count)
    }

    /// Calls `each` with every maximal range `[lo, hi]` of values, in increasing order.
    pub fn for_each_range(&self, each: impl FnMut(u32, u32)) {
        let mut sink = sink::FnSink(each);
        for container in &self.containers {
            kernels::emit_container(container, self.payload(container), &mut sink);
        }
    }

    /// Every value, in increasing order (allocates one `u32` per value).
    pub fn to_vec(&self) -> Vec<u32> {
        let mut ids = sink::Ids::default();
        for container in &self.containers {
            kernels::emit_container(container, self.payload(container), &mut ids);
        }
        ids.into_inner()
    }

    /// Checks the contents, O(bytes): arrays strictly increasing, runs sorted and disjoint and
    /// inside 0..=65535, every container's cardinality equal to its header's.
    pub fn validate(&self) -> Result<()> {
        for container in &self.containers {
            let corrupt = |reason| Error::CorruptBitmap { offset: container.start as usize, reason };
            let payload = self.payload(container);
            let counted = match container.kind {
                Kind::Array => validate_array(payload).ok_or(corrupt("array values are not strictly increasing"))?,
                Kind::Run => validate_runs(payload).ok_or(corrupt("runs overlap, are unsorted or pass 65535"))?,
                Kind::Bitset => payload.iter().map(|b| u64::from(b.count_ones())).sum(),
            };
            if counted != u64::from(container.cardinality) {
                return Err(corrupt("a container's values disagree with its header's cardinality"));
            }
        }
        Ok(())
    }
}

/// Serialises sorted, disjoint id ranges as a run-optimised portable bitmap: a kernel result
/// handed to another program or sent over HTTP.
pub fn encode_ranges(ranges: &[crate::grid::IdRange]) -> Vec<u8> {
    let mut bitmap = roaring::RoaringBitmap::new();
    for range in ranges {
        bitmap.insert_range(range.lo..=range.hi);
    }
    bitmap.optimize();
    let mut bytes = Vec::with_capacity(bitmap.serialized_size());
    bitmap.serialize_into(&mut bytes).expect("writing to a Vec cannot fail");
    bytes
}

/// The values before every [`RANK_STEP`]-th word of a bitset.
fn bitset_steps(words: &[[u8; 8]]) -> Box<[u32]> {
    let mut before = 0u32;
    words
        .chunks(RANK_STEP)
        .map(|step| {
            let at = before;
            before += step.iter().map(|w| u64::from_le_bytes(*w).count_ones()).sum::<u32>();
            at
        })
        .collect()
}

/// The values before every [`RANK_STEP`]-th run.
fn run_steps(runs: &[[u8; 4]]) -> Box<[u32]> {
    let mut before = 0u32;
    runs.chunks(RANK_STEP)
        .map(|step| {
            let at = before;
            before += step.iter().map(run_length).sum::<u32>();
            at
        })
        .collect()
}

/// The number of values a run holds.
fn run_length(run: &[u8; 4]) -> u32 {
    run_end(run) - run_start(run) + 1
}

/// The bits `lo..=hi` of a word set (`lo <= hi < 64`).
#[inline(always)]
pub(crate) fn ones_between(lo: u32, hi: u32) -> u64 {
    (u64::MAX >> (63 - hi)) & (u64::MAX << lo)
}

/// First value of a run word.
#[inline(always)]
pub(crate) fn run_start(run: &[u8; 4]) -> u32 {
    u32::from(u16::from_le_bytes([run[0], run[1]]))
}

/// Last value of a run word, clamped to 65535 so corrupt lengths never index past a container.
#[inline(always)]
pub(crate) fn run_end(run: &[u8; 4]) -> u32 {
    (run_start(run) + u32::from(u16::from_le_bytes([run[2], run[3]]))).min(0xFFFF)
}

fn validate_array(payload: &[u8]) -> Option<u64> {
    let (values, _) = payload.as_chunks::<2>();
    let increasing = values.windows(2).all(|pair| u16::from_le_bytes(pair[0]) < u16::from_le_bytes(pair[1]));
    increasing.then_some(values.len() as u64)
}

fn validate_runs(payload: &[u8]) -> Option<u64> {
    let (runs, _) = payload.as_chunks::<4>();
    let mut next_free = 0u32;
    let mut count = 0u64;
    for run in runs {
        let (start, length) = (run_start(run), u32::from(u16::from_le_bytes([run[2], run[3]])));
        if start < next_free || start + length > 0xFFFF {
            return None;
        }
        next_free = start + length + 1;
        count += u64::from(length) + 1;
    }
    Some(count)
}

/// Little-endian reads with the byte offset in every error.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Result<u16> {
        let word = self.bytes.get(at..at + 2).ok_or(truncated(at))?;
        Ok(u16::from_le_bytes([word[0], word[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32> {
        let word = self.bytes.get(at..at + 4).ok_or(truncated(at))?;
        Ok(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
    }
}

fn truncated(offset: usize) -> Error {
    Error::CorruptBitmap { offset, reason: "the bytes end inside the bitmap" }
}

/// The cookie: container count, whether there is a run-flag bitset, and where the header starts.
struct Cookie {
    containers: usize,
    run_flags: Option<usize>,
    header: usize,
}

fn read_cookie(reader: &Reader) -> Result<Cookie> {
    let cookie = reader.u32(0)?;
    if cookie & 0xFFFF == SERIAL_COOKIE {
        let containers = (cookie >> 16) as usize + 1;
        let flag_bytes = containers.div_ceil(8);
        Ok(Cookie { containers, run_flags: Some(4), header: 4 + flag_bytes })
    } else if cookie == SERIAL_COOKIE_NO_RUNCONTAINER {
        let containers = reader.u32(4)? as usize;
        if containers > 1 << 16 {
            return Err(Error::CorruptBitmap { offset: 4, reason: "more than 65536 containers" });
        }
        Ok(Cookie { containers, run_flags: None, header: 8 })
    } else {
        Err(Error::CorruptBitmap { offset: 0, reason: "not a portable Roaring bitmap (unknown cookie)" })
    }
}

/// Reads the directory in one pass over the header arrays. Written for speed: this runs every
/// time a view opens (~700 containers for a 3.8M-tile store, a few microseconds).
fn read_directory(bytes: &[u8]) -> Result<Vec<Container>> {
    let reader = Reader { bytes };
    let cookie = read_cookie(&reader)?;
    let n = cookie.containers;
    let has_offsets = cookie.run_flags.is_none() || n >= NO_OFFSET_THRESHOLD;
    let offsets_at = cookie.header + 4 * n;
    let data_at = offsets_at + if has_offsets { 4 * n } else { 0 };
    let header = bytes.get(cookie.header..offsets_at).ok_or(truncated(bytes.len()))?;
    let offsets = if has_offsets { bytes.get(offsets_at..data_at).ok_or(truncated(bytes.len()))? } else { &[] };
    let flags = match cookie.run_flags {
        Some(at) => bytes.get(at..cookie.header).ok_or(truncated(bytes.len()))?,
        None => &[],
    };
    let (descriptions, _) = header.as_chunks::<4>();
    let (offsets, _) = offsets.as_chunks::<4>();

    let mut containers = Vec::with_capacity(n);
    let mut position = data_at;
    let mut previous_key = None;
    for (i, description) in descriptions.iter().enumerate() {
        let key = u16::from_le_bytes([description[0], description[1]]);
        let cardinality = u32::from(u16::from_le_bytes([description[2], description[3]])) + 1;
        if previous_key.is_some_and(|previous| previous >= key) {
            return Err(Error::CorruptBitmap {
                offset: cookie.header + 4 * i,
                reason: "container keys are not increasing",
            });
        }
        previous_key = Some(key);
        if offsets.get(i).is_some_and(|offset| u32::from_le_bytes(*offset) as usize != position) {
            return Err(Error::CorruptBitmap {
                offset: offsets_at + 4 * i,
                reason: "a container offset is not where the previous container ends",
            });
        }
        let is_run = flags.get(i / 8).is_some_and(|byte| byte & (1 << (i % 8)) != 0);
        let container = read_container(&reader, key, cardinality, is_run, position)?;
        position = (container.start + container.len) as usize;
        containers.push(container);
    }
    if position != bytes.len() {
        return Err(Error::CorruptBitmap { offset: position, reason: "bytes trail the last container" });
    }
    Ok(containers)
}

#[inline]
fn read_container(reader: &Reader, key: u16, cardinality: u32, is_run: bool, at: usize) -> Result<Container> {
    let (kind, start, len) = if is_run {
        let runs = usize::from(reader.u16(at)?);
        (Kind::Run, at + 2, 4 * runs)
    } else if cardinality <= ARRAY_MAX {
        (Kind::Array, at, 2 * cardinality as usize)
    } else {
        (Kind::Bitset, at, BITSET_BYTES)
    };
    let end = start + len;
    if end > reader.bytes.len() || end > u32::MAX as usize {
        return Err(truncated(at));
    }
    Ok(Container { key, kind, cardinality, start: start as u32, len: len as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use roaring::RoaringBitmap;

    fn portable(values: impl IntoIterator<Item = u32>, runs: bool) -> Vec<u8> {
        let mut bitmap: RoaringBitmap = values.into_iter().collect();
        if runs {
            bitmap.optimize();
        }
        let mut bytes = Vec::new();
        bitmap.serialize_into(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn reads_every_container_kind_with_both_cookies() {
        let values: Vec<u32> = (0..100).chain(70_000..80_000).chain((200_000..260_000).step_by(3)).collect();
        for runs in [false, true] {
            let view = RoaringView::open(portable(values.clone(), runs)).unwrap();
            view.validate().unwrap();
            assert_eq!(view.to_vec(), values);
            assert!(view.contains(70_500) && !view.contains(80_000) && view.contains(200_003));
        }
    }

    #[test]
    fn position_is_the_rank_in_every_container_kind() {
        // An array, a bitset, a bitset (or runs), and a container of 650 runs: past the rank
        // steps of bitsets and runs.
        let many_runs = (330_000..395_000).filter(|v| v % 100 < 50);
        let values: Vec<u32> =
            (0..100).chain(70_000..80_000).chain((200_000..260_000).step_by(3)).chain(many_runs).collect();
        for runs in [false, true] {
            let view = RoaringView::open(portable(values.clone(), runs)).unwrap();
            for (rank, &value) in values.iter().enumerate() {
                assert_eq!(view.position(value), Some(rank as u64), "value {value}");
            }
            for absent in [100, 69_999, 80_000, 200_001, 259_999, 330_050, 394_999, 1 << 30] {
                assert_eq!(view.position(absent), None, "value {absent}");
            }
        }
    }

    #[test]
    fn empty_bitmap_opens() {
        let view = RoaringView::open(portable([], true)).unwrap();
        assert!(view.is_empty() && view.containers().is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = portable((0..5000).chain(100_000..100_010).chain(300_000..360_000), true);
        for cut in 0..bytes.len() {
            assert!(RoaringView::open(&bytes[..cut]).is_err(), "cut at {cut} opened");
        }
    }

    #[test]
    fn trailing_bytes_and_bad_cookies_are_errors() {
        let mut bytes = portable(0..10, true);
        bytes.push(0);
        assert!(RoaringView::open(&bytes).unwrap_err().to_string().contains("trail"));
        assert!(RoaringView::open(b"TSRB\0\0\0\0").unwrap_err().to_string().contains("cookie"));
    }
}
