//! [`Plan`]: a compiled query evaluated over the registry, one Roaring key at a time.
//!
//! Results are the registry's tiles (what exists) that the query matches, ordered by year (in
//! the query's order) and by id within a year. The plan's years are its *segments*: each
//! year's id range. A page walks the segments from a token's tile until it has enough; a count
//! or an aggregation walks them all. A plan of ids, boxes and years alone (no stores, no
//! tests) is a list of id ranges, answered by the range kernels without expanding any key.

use std::collections::BTreeMap;

use super::compile::{Check, Comparison, Compiler, Node, Subject, Test, Value};
use super::{Area, Query, queryables};
use crate::bitmap::RoaringView;
use crate::bitmap::block::Block;
use crate::bitmap::kernels;
use crate::bitmap::sink::FnSink;
use crate::details::Details;
use crate::error::{Error, Result};
use crate::grid::{CELLS_PER_YEAR, COLS, IdRange, ROWS, TileId, Year, YearRange, push_merged};
use crate::inventory::{Inventory, Store, TileSet};

/// A query ready to answer: its years in result order, its set part and its per-tile part.
#[derive(Debug)]
pub struct Plan<'i> {
    inventory: &'i Inventory,
    details: Option<&'i Details>,
    /// Each year's ids, in result order.
    segments: Vec<(Year, IdRange)>,
    /// What a set can answer.
    sets: Node,
    /// What must be tested tile by tile, among the tiles `sets` lets through.
    tests: Option<Node>,
}

/// Counts of a plan's matches by year, by store and by coarse grid cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Every match.
    pub total: u64,
    /// Matches per year, in the plan's order (years without a match included).
    pub years: Vec<(Year, u64)>,
    /// Matches each store holds, in the inventory's store order (when asked).
    pub stores: Vec<(String, u64)>,
    /// For each coarse cell size asked (in 0.1-degree cells a side), its cell counts.
    pub grids: Vec<(u32, CellCounts)>,
}

/// What an aggregation counts besides the total and the years.
#[derive(Debug, Clone, Copy, Default)]
pub struct AggregateBy<'a> {
    /// The matches each store holds.
    pub stores: bool,
    /// Coarse cell sizes to count matches in (in 0.1-degree cells a side: 10 is one degree).
    pub grids: &'a [u32],
}

/// Matches per coarse cell `(row, col)`, counted from the south-west corner of the world.
pub type CellCounts = BTreeMap<(u32, u32), u64>;

impl<'i> Plan<'i> {
    pub(super) fn new(inventory: &'i Inventory, details: Option<&'i Details>, query: &Query) -> Result<Plan<'i>> {
        let grid = inventory.years();
        let mut years: Vec<Year> = match &query.years {
            Some(years) => years.iter().copied().filter(|&year| grid.contains(year)).collect(),
            None => grid.iter().collect(),
        };
        years.sort_unstable();
        years.dedup();
        if query.descending {
            years.reverse();
        }
        let segments = years.into_iter().map(|year| Ok((year, grid.year_ids(year)?))).collect::<Result<_>>()?;
        let mut parts = Vec::new();
        match &query.area {
            Some(Area::Bbox(bbox)) => parts.push(Node::Cells(bbox.id_ranges(one_year(), &[one_year().first()])?)),
            Some(Area::Cells(spans)) => parts.push(Node::Cells(spans_to_cells(spans))),
            None => {}
        }
        if let Some(ids) = &query.ids {
            let mut sorted: Vec<u32> = ids.iter().map(|id| id.0).collect();
            sorted.sort_unstable();
            sorted.dedup();
            let mut ranges = Vec::with_capacity(sorted.len());
            sorted.into_iter().for_each(|id| push_merged(&mut ranges, IdRange { lo: id, hi: id }));
            parts.push(Node::Ids(ranges));
        }
        if let Some(filter) = &query.filter {
            let compiler = Compiler { queryables: queryables(inventory), years: grid };
            parts.push(compiler.compile(filter, false)?);
        }
        let (sets, tests) = split(Node::and(parts));
        Ok(Plan { inventory, details, segments, sets, tests })
    }

    fn registry(&self) -> Option<&'i TileSet> {
        self.inventory.registry()
    }

    /// How many tiles match. `keep_going` is asked between keys; when it says no, the count
    /// stops with [`Error::Stopped`].
    pub fn count(&self, keep_going: &mut dyn FnMut() -> bool) -> Result<u64> {
        let mut total = 0;
        for &(_, segment) in &self.segments {
            total += self.count_in(segment, keep_going)?;
        }
        Ok(total)
    }

    /// How many tiles of `segment` (one year's ids) match.
    fn count_in(&self, segment: IdRange, keep_going: &mut dyn FnMut() -> bool) -> Result<u64> {
        let Some(registry) = self.registry() else { return Ok(0) };
        if let Some((view, ranges)) = self.as_ranges(segment) {
            return Ok(view.count(&ranges));
        }
        let year_base = segment.lo - segment.lo % CELLS_PER_YEAR;
        let mut total = 0;
        for key in (segment.lo >> 16) as u16..=(segment.hi >> 16) as u16 {
            if !keep_going() {
                return Err(Error::Stopped);
            }
            let window = key_window(key, segment);
            total += match (self.known(&self.sets, key, year_base), &self.tests) {
                (Some(false), _) => 0,
                // Every listed tile of the key matches: the container counts them.
                (Some(true), None) => kernels::and_ranges_count(registry, &[window]),
                _ => self.matches_in(key, window, year_base).map_or(0, |block| block.count()),
            };
        }
        Ok(total)
    }

    /// Up to `want` matching tiles in result order, from the first (or from just after
    /// `after`, a tile of one of the plan's years).
    pub fn forward(
        &self,
        after: Option<TileId>,
        want: usize,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<TileId>> {
        let mut found = Vec::with_capacity(want.min(10_000));
        let start = match after {
            None => 0,
            Some(tile) => match self.segment_of(tile) {
                Some(at) => at,
                None => return Ok(found),
            },
        };
        for &(_, segment) in &self.segments[start..] {
            let lo = match after {
                Some(tile) if segment.lo <= tile.0 && tile.0 <= segment.hi => tile.0.saturating_add(1),
                _ => segment.lo,
            };
            if lo > segment.hi {
                continue;
            }
            let window = IdRange { lo, hi: segment.hi };
            match self.as_ranges(window) {
                Some((view, ranges)) => view.collect(&ranges, want, &mut found),
                None => self.each_block(segment, window, true, keep_going, |base, block| {
                    let room = want - found.len();
                    found.extend(block.iter().take(room).map(|low| TileId(base | u32::from(low))));
                    found.len() < want
                })?,
            }
            if found.len() >= want {
                break;
            }
        }
        Ok(found)
    }

    /// Up to `want` matching tiles just before `before` in result order, nearest first.
    pub fn backward(&self, before: TileId, want: usize, keep_going: &mut dyn FnMut() -> bool) -> Result<Vec<TileId>> {
        let mut found = Vec::with_capacity(want.min(10_000));
        let Some(at) = self.segment_of(before) else { return Ok(found) };
        for &(_, segment) in self.segments[..=at].iter().rev() {
            let hi = if segment.lo <= before.0 && before.0 <= segment.hi {
                match before.0.checked_sub(1) {
                    Some(hi) if hi >= segment.lo => hi,
                    _ => continue,
                }
            } else {
                segment.hi
            };
            let window = IdRange { lo: segment.lo, hi };
            match self.as_ranges(window) {
                Some((view, ranges)) => view.collect_back(&ranges, want, &mut found),
                None => self.each_block(segment, window, false, keep_going, |base, block| {
                    let room = want - found.len();
                    found.extend(block.iter().rev().take(room).map(|low| TileId(base | u32::from(low))));
                    found.len() < want
                })?,
            }
            if found.len() >= want {
                break;
            }
        }
        Ok(found)
    }

    /// Whether `tile` is a match (it exists, and the query holds of it).
    pub fn matches(&self, tile: TileId) -> bool {
        self.segment_of(tile).is_some()
            && self.registry().is_some_and(|registry| registry.contains(tile.0))
            && self.holds(&self.sets, tile.0)
            && self.tests.as_ref().is_none_or(|tests| self.holds(tests, tile.0))
    }

    /// Counts of the matches by year, and by store and per coarse cell as `by` asks.
    pub fn aggregate(&self, by: &AggregateBy, keep_going: &mut dyn FnMut() -> bool) -> Result<Aggregates> {
        let stores = self.inventory.stores();
        let mut grids: Vec<CoarseCounts> = by.grids.iter().map(|&size| CoarseCounts::new(size)).collect();
        let mut totals = Aggregates::default();
        if by.stores {
            totals.stores = stores.iter().map(|store| (store.config.name.clone(), 0)).collect();
        }
        for &(year, segment) in &self.segments {
            // Years alone are counted by containers; stores and cells need each key's matches.
            let in_year = if !by.stores && grids.is_empty() {
                self.count_in(segment, keep_going)?
            } else if !by.stores && self.tests.is_none() {
                self.count_cells(segment, &mut grids, keep_going)?
            } else {
                let mut in_year = 0;
                self.each_block(segment, segment, true, keep_going, |base, block| {
                    in_year += block.count();
                    let key = (base >> 16) as u16;
                    for (store, (_, count)) in stores.iter().zip(&mut totals.stores) {
                        *count += held_count(store, key, block);
                    }
                    // A key may start before the year: its matches never do.
                    let cell = |low: u16| base + u32::from(low) - (segment.lo - segment.lo % CELLS_PER_YEAR);
                    for grid in &mut grids {
                        block.for_each_run(|lo, hi| grid.add_run(cell(lo), cell(hi)));
                    }
                    true
                })?;
                in_year
            };
            totals.total += in_year;
            totals.years.push((year, in_year));
        }
        totals.grids = grids.into_iter().map(CoarseCounts::into_cells).collect();
        Ok(totals)
    }

    /// The matches of `segment` (one year's ids), counted into `grids` and in all. A key whose
    /// every listed tile matches is read as the registry's runs in place, not as a block.
    fn count_cells(
        &self,
        segment: IdRange,
        grids: &mut [CoarseCounts],
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<u64> {
        let Some(registry) = self.registry() else { return Ok(0) };
        let year_base = segment.lo - segment.lo % CELLS_PER_YEAR;
        let mut total = 0;
        for key in (segment.lo >> 16) as u16..=(segment.hi >> 16) as u16 {
            if !keep_going() {
                return Err(Error::Stopped);
            }
            let window = key_window(key, segment);
            let base = u32::from(key) << 16;
            // A key may start before the year: its matches never do.
            let cell = |low: u16| base + u32::from(low) - year_base;
            let add = |lo: u16, hi: u16| {
                total += u64::from(hi - lo) + 1;
                for grid in grids.iter_mut() {
                    grid.add_run(cell(lo), cell(hi));
                }
            };
            match self.known(&self.sets, key, year_base) {
                Some(false) => {}
                Some(true) => {
                    let (from, to) = ((window.lo - base) as u16, (window.hi - base) as u16);
                    Block::for_each_run_of(registry, key, from, to, add);
                }
                None => {
                    if let Some(block) = self.matches_in(key, window, year_base) {
                        block.for_each_run(add);
                    }
                }
            }
        }
        Ok(total)
    }

    /// The matches among key `key`'s ids in `window`, or `None` when there are none.
    fn matches_in(&self, key: u16, window: IdRange, year_base: u32) -> Option<Block> {
        if self.known(&self.sets, key, year_base) == Some(false) {
            return None;
        }
        // Listed tiles a near copy lacks are few: start from them when a term asks for them.
        let mut block = match self.terms().iter().find_map(|node| self.lacking_term(node)) {
            Some(lacking) => Block::of_view(lacking, key)?,
            None => Block::of_view(self.registry()?, key)?,
        };
        let base = u32::from(key) << 16;
        if window.lo > base || window.hi < base | 0xFFFF {
            block.and(&Block::of_ranges(key, &[window]));
        }
        self.narrow(&self.sets, key, year_base, &mut block, true);
        if let Some(tests) = &self.tests {
            self.keep_passing(tests, base, &mut block);
        }
        (!block.is_empty()).then_some(block)
    }

    /// What can be said of `node` over key `key`'s listed tiles without reading them:
    /// `Some(false)` when none matches, `Some(true)` when all do.
    fn known(&self, node: &Node, key: u16, year_base: u32) -> Option<bool> {
        match node {
            Node::All => Some(true),
            Node::Nothing => Some(false),
            Node::Store(index) => {
                let store = &self.inventory.stores()[*index];
                match store.lacking_listed() {
                    // A near copy holds every listed tile of a key where it lacks none.
                    Some(lacking) if lacking.container_with_key(key).is_none() => Some(true),
                    _ if store.tiles.container_with_key(key).is_none() => Some(false),
                    _ => None,
                }
            }
            Node::Ids(ranges) => (!touches(ranges, key, 0, u32::MAX)).then_some(false),
            Node::Cells(cells) => (!touches(cells, key, year_base, year_base + CELLS_PER_YEAR - 1)).then_some(false),
            Node::Not(inner) => self.known(inner, key, year_base).map(|all| !all),
            Node::And(nodes) => self.known_of_each(nodes, key, year_base, false),
            Node::Or(nodes) => self.known_of_each(nodes, key, year_base, true),
            Node::Test(_) => None,
        }
    }

    /// [`Plan::known`] of an `AND` (`decisive` false) or an `OR` (`decisive` true) of `nodes`:
    /// `decisive` as soon as one node is known to be it, the other value when every node is
    /// known to be that, and `None` otherwise.
    fn known_of_each(&self, nodes: &[Node], key: u16, year_base: u32, decisive: bool) -> Option<bool> {
        let mut each = Some(!decisive);
        for node in nodes {
            match self.known(node, key, year_base) {
                Some(value) if value == decisive => return Some(decisive),
                Some(_) => {}
                None => each = None,
            }
        }
        each
    }

    /// The index of the segment holding `tile`.
    fn segment_of(&self, tile: TileId) -> Option<usize> {
        self.segments.iter().position(|&(_, segment)| segment.lo <= tile.0 && tile.0 <= segment.hi)
    }

    /// The plan inside `window` as id ranges of one bitmap, when it is that simple: ranges of
    /// the registry (ids, boxes, years alone), or of a near copy's lacking tiles (`NOT
    /// a_contains(tessera:stores, ...)`, with ids, boxes and years). The range kernels answer
    /// those without expanding a key.
    fn as_ranges(&self, window: IdRange) -> Option<(Ranged<'_>, Vec<IdRange>)> {
        if self.tests.is_some() {
            return None;
        }
        let year_base = window.lo - window.lo % CELLS_PER_YEAR;
        if let Some(ranges) = ranges_of(&self.sets, window, year_base) {
            return Some((Ranged::Registry(self.registry()?), ranges));
        }
        let terms = self.terms();
        let (at, lacking) = terms.iter().enumerate().find_map(|(at, node)| Some((at, self.lacking_term(node)?)))?;
        let mut ranges = vec![window];
        for (_, node) in terms.iter().enumerate().filter(|&(other, _)| other != at) {
            ranges = intersect(&ranges, &ranges_of(node, window, year_base)?);
        }
        Some((Ranged::Lacking(lacking), ranges))
    }

    /// The conjuncts of the set part.
    fn terms(&self) -> &[Node] {
        match &self.sets {
            Node::And(nodes) => nodes,
            one => std::slice::from_ref(one),
        }
    }

    /// The lacking tiles of a near copy, when `node` is `NOT` that store's membership: a
    /// bitmap of a few thousand tiles that are all listed.
    fn lacking_term(&self, node: &Node) -> Option<&RoaringView<Vec<u8>>> {
        match node {
            Node::Not(inner) => match **inner {
                Node::Store(index) => self.inventory.stores()[index].lacking_listed(),
                _ => None,
            },
            _ => None,
        }
    }

    /// Calls `each` with every key's matches inside `window` (a part of `segment`), keys in
    /// increasing or decreasing order, until it returns false.
    fn each_block(
        &self,
        segment: IdRange,
        window: IdRange,
        ascending: bool,
        keep_going: &mut dyn FnMut() -> bool,
        mut each: impl FnMut(u32, &Block) -> bool,
    ) -> Result<()> {
        let year_base = segment.lo - segment.lo % CELLS_PER_YEAR;
        let keys = (window.lo >> 16) as u16..=(window.hi >> 16) as u16;
        let mut visit = |key: u16| -> Result<bool> {
            if !keep_going() {
                return Err(Error::Stopped);
            }
            Ok(match self.matches_in(key, key_window(key, window), year_base) {
                Some(block) => each(u32::from(key) << 16, &block),
                None => true,
            })
        };
        if ascending {
            for key in keys {
                if !visit(key)? {
                    break;
                }
            }
        } else {
            for key in keys.rev() {
                if !visit(key)? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Keeps the ids of `block` (key `key`, in the year starting at `year_base`) that `node`
    /// holds. When `listed`, the block holds registry tiles only, and a near copy's membership
    /// is read from the few tiles it lacks instead of its whole index.
    fn narrow(&self, node: &Node, key: u16, year_base: u32, block: &mut Block, listed: bool) {
        if block.is_empty() {
            return;
        }
        let lacking = |index: usize| self.inventory.stores()[index].lacking_listed().filter(|_| listed);
        match node {
            Node::All => {}
            Node::And(nodes) => nodes.iter().for_each(|node| self.narrow(node, key, year_base, block, listed)),
            Node::Store(index) if let Some(lacking) = lacking(*index) => {
                if let Some(lacks) = Block::of_view(lacking, key) {
                    block.and_not(&lacks);
                }
            }
            Node::Not(inner)
                if let Node::Store(index) = **inner
                    && let Some(lacking) = lacking(index) =>
            {
                match Block::of_view(lacking, key) {
                    Some(lacks) => block.and(&lacks),
                    None => *block = Block::empty(),
                }
            }
            Node::Not(inner) => block.and_not(&self.block(inner, key, year_base)),
            other => block.and(&self.block(other, key, year_base)),
        }
    }

    /// The ids of key `key` (in the year starting at `year_base`) that `node` holds.
    fn block(&self, node: &Node, key: u16, year_base: u32) -> Block {
        match node {
            Node::All => Block::full(),
            Node::Nothing | Node::Test(_) => Block::empty(),
            Node::Store(index) => {
                let tiles = &self.inventory.stores()[*index].tiles;
                Block::of_view(tiles, key).unwrap_or_else(Block::empty)
            }
            Node::Ids(ranges) => Block::of_ranges(key, ranges),
            Node::Cells(cells) => cells_block(cells, key, year_base),
            Node::Not(inner) => {
                let mut block = self.block(inner, key, year_base);
                block.not();
                block
            }
            Node::And(nodes) => {
                let mut block = Block::full();
                nodes.iter().for_each(|node| self.narrow(node, key, year_base, &mut block, false));
                block
            }
            Node::Or(nodes) => {
                let mut block = Block::empty();
                nodes.iter().for_each(|node| block.or(&self.block(node, key, year_base)));
                block
            }
        }
    }

    /// Clears the ids of `block` that fail `tests`.
    fn keep_passing(&self, tests: &Node, base: u32, block: &mut Block) {
        let failing: Vec<u16> = block.iter().filter(|&low| !self.holds(tests, base | u32::from(low))).collect();
        for low in failing {
            block.remove(low);
        }
    }

    /// Whether `node` holds of tile `id`.
    fn holds(&self, node: &Node, id: u32) -> bool {
        match node {
            Node::All => true,
            Node::Nothing => false,
            Node::Store(index) => self.inventory.stores()[*index].tiles.contains(id),
            Node::Ids(ranges) => in_ranges(ranges, id),
            Node::Cells(cells) => in_ranges(cells, id % CELLS_PER_YEAR),
            Node::Not(inner) => !self.holds(inner, id),
            Node::And(nodes) => nodes.iter().all(|node| self.holds(node, id)),
            Node::Or(nodes) => nodes.iter().any(|node| self.holds(node, id)),
            Node::Test(test) => self.passes(test, id),
        }
    }

    /// Whether `test` holds of tile `id`; a value that is unknown passes neither way.
    fn passes(&self, test: &Test, id: u32) -> bool {
        let value = match test.subject {
            Subject::Bytes => self.bytes(id).map(|bytes| Value::Number(bytes as f64)),
            subject => self.text(subject, id).map(Value::Text),
        };
        let outcome = match (&test.check, value) {
            (Check::IsNull, value) => Some(value.is_none()),
            (_, None) => None,
            (Check::Compare(comparison, wanted), Some(value)) => Some(compare(&value, *comparison, wanted)),
            (Check::Like(pattern), Some(Value::Text(text))) => like::Like::<true>::like(text.as_str(), pattern).ok(),
            (Check::Like(_), Some(Value::Number(_))) => None,
            (Check::Between(low, high), Some(value)) => Some(*low <= value && value <= *high),
            (Check::In(values), Some(value)) => Some(values.contains(&value)),
        };
        outcome.is_some_and(|holds| holds != test.negated)
    }

    /// The text of an id-like property of tile `id`.
    fn text(&self, subject: Subject, id: u32) -> Option<String> {
        let tile = self.inventory.years().tile(TileId(id)).ok()?;
        Some(match subject {
            Subject::GridCode => format!("TESSERA-{}", tile.cell.name()),
            _ => tile.item_id().to_string(),
        })
    }

    /// The bytes of tile `id`'s two `.npy` files, when the registry gives both.
    fn bytes(&self, id: u32) -> Option<u64> {
        let position = self.registry()?.position(id)?;
        let details = self.details?.get(position)?;
        Some(details.file_size? + details.scales_size?)
    }
}

/// `value <comparison> wanted`, as CQL2 orders strings (by code point) and numbers.
fn compare(value: &Value, comparison: Comparison, wanted: &Value) -> bool {
    match comparison {
        Comparison::Equal => value == wanted,
        Comparison::NotEqual => value != wanted,
        Comparison::Less => value < wanted,
        Comparison::LessOrEqual => value <= wanted,
        Comparison::Greater => value > wanted,
        Comparison::GreaterOrEqual => value >= wanted,
    }
}

/// Separates what sets answer from what needs a test per tile: the conjuncts without tests
/// narrow the candidates, and the rest is tested on those alone.
fn split(node: Node) -> (Node, Option<Node>) {
    if node.is_set() {
        return (node, None);
    }
    match node {
        Node::And(nodes) => {
            let (sets, tests): (Vec<Node>, Vec<Node>) = nodes.into_iter().partition(Node::is_set);
            (Node::and(sets), Some(Node::and(tests)))
        }
        tests => (Node::All, Some(tests)),
    }
}

/// `node` inside `window` (ids of the year starting at `year_base`) as sorted id ranges, when
/// it is made of ids, cells and intersections of them only.
fn ranges_of(node: &Node, window: IdRange, year_base: u32) -> Option<Vec<IdRange>> {
    match node {
        Node::All => Some(vec![window]),
        Node::Nothing => Some(Vec::new()),
        Node::Ids(ranges) => Some(clip(ranges, window, 0)),
        Node::Cells(cells) => Some(clip(cells, window, year_base)),
        Node::And(nodes) => nodes
            .iter()
            .try_fold(vec![window], |ranges, node| Some(intersect(&ranges, &ranges_of(node, window, year_base)?))),
        _ => None,
    }
}

/// `ranges` shifted by `offset`, clipped to `window`.
fn clip(ranges: &[IdRange], window: IdRange, offset: u32) -> Vec<IdRange> {
    let first = ranges.partition_point(|range| u64::from(range.hi) + u64::from(offset) < u64::from(window.lo));
    ranges[first..]
        .iter()
        .map(|range| (u64::from(range.lo) + u64::from(offset), u64::from(range.hi) + u64::from(offset)))
        .take_while(|&(lo, _)| lo <= u64::from(window.hi))
        .map(|(lo, hi)| IdRange { lo: (lo as u32).max(window.lo), hi: (hi.min(u64::from(window.hi))) as u32 })
        .collect()
}

/// The ids in both sorted range lists.
fn intersect(a: &[IdRange], b: &[IdRange]) -> Vec<IdRange> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].lo.max(b[j].lo), a[i].hi.min(b[j].hi));
        if lo <= hi {
            out.push(IdRange { lo, hi });
        }
        if a[i].hi < b[j].hi { i += 1 } else { j += 1 }
    }
    out
}

fn in_ranges(ranges: &[IdRange], id: u32) -> bool {
    let at = ranges.partition_point(|range| range.hi < id);
    ranges.get(at).is_some_and(|range| range.lo <= id)
}

/// The ids of key `key` that `cells` select in the year starting at `year_base`.
fn cells_block(cells: &[IdRange], key: u16, year_base: u32) -> Block {
    let base = u32::from(key) << 16;
    let window = IdRange { lo: base.max(year_base), hi: (base | 0xFFFF).min(year_base + CELLS_PER_YEAR - 1) };
    Block::of_ranges(key, &clip(cells, window, year_base))
}

/// How many of `block`'s matches (key `key`, listed tiles) `store` holds.
fn held_count(store: &Store, key: u16, block: &Block) -> u64 {
    match store.lacking_listed() {
        // Matches are listed tiles: a near copy holds those it does not lack.
        Some(lacking) => block.count() - common_count(lacking, key, block),
        None => common_count(&store.tiles, key, block),
    }
}

/// How many of `block`'s ids (key `key`) `view` holds.
fn common_count<B: AsRef<[u8]>>(view: &RoaringView<B>, key: u16, block: &Block) -> u64 {
    Block::of_view(view, key).map_or(0, |mut other| {
        other.and(block);
        other.count()
    })
}

/// Matches per coarse cell of one size, dense over the world while counting (a map would
/// cost an insertion per run piece).
struct CoarseCounts {
    /// 0.1-degree cells a side.
    size: u32,
    /// Coarse cells per row.
    cols: u32,
    /// The coarse column of each grid column, and the first coarse cell of each grid row's
    /// coarse row: a table, not a division, per run piece.
    coarse_col: Vec<u32>,
    coarse_row_start: Vec<u32>,
    /// A coarse cell holds at most 100 x 100 cells a year: u32 counts any number of years
    /// (and halves the memory a request clears).
    counts: Vec<u32>,
}

impl CoarseCounts {
    fn new(size: u32) -> CoarseCounts {
        let size = size.max(1);
        let cols = COLS.div_ceil(size);
        CoarseCounts {
            size,
            cols,
            coarse_col: (0..COLS).map(|col| col / size).collect(),
            coarse_row_start: (0..ROWS).map(|row| row / size * cols).collect(),
            counts: vec![0; (cols * ROWS.div_ceil(size)) as usize],
        }
    }

    /// Adds the cells `cell..=last` (of one year), row by row, and within a row coarse cell by
    /// coarse cell.
    fn add_run(&mut self, mut cell: u32, last: u32) {
        while cell <= last {
            let (row, col) = (cell / COLS, cell % COLS);
            let row_last = (row * COLS + COLS - 1).min(last);
            let row_start = self.coarse_row_start[row as usize];
            let mut coarse = self.coarse_col[col as usize];
            // The last cell of the coarse cell in this row.
            let mut edge = row * COLS + (coarse + 1) * self.size - 1;
            loop {
                let end = edge.min(row_last);
                self.counts[(row_start + coarse) as usize] += end - cell + 1;
                if end == row_last {
                    break;
                }
                cell = end + 1;
                coarse += 1;
                edge += self.size;
            }
            cell = row_last + 1;
        }
    }

    fn into_cells(self) -> (u32, CellCounts) {
        let cols = self.cols;
        let cells = (0u32..)
            .zip(self.counts)
            .filter(|&(_, count)| count > 0)
            .map(|(at, count)| ((at / cols, at % cols), u64::from(count)))
            .collect();
        (self.size, cells)
    }
}

/// Whether sorted `ranges`, shifted by `offset` and clipped to `..=limit`, touch key `key`.
fn touches(ranges: &[IdRange], key: u16, offset: u32, limit: u32) -> bool {
    let (low, high) = (u32::from(key) << 16, (u32::from(key) << 16) | 0xFFFF);
    let (low, high) = (low.max(offset), high.min(limit));
    if low > high {
        return false;
    }
    let (low, high) = (low - offset, high - offset);
    let at = ranges.partition_point(|range| range.hi < low);
    ranges.get(at).is_some_and(|range| range.lo <= high)
}

/// The part of `window` in key `key`.
fn key_window(key: u16, window: IdRange) -> IdRange {
    let base = u32::from(key) << 16;
    IdRange { lo: window.lo.max(base), hi: window.hi.min(base | 0xFFFF) }
}

/// The bitmap a plan of ranges reads: the registry, or a near copy's lacking tiles (which the
/// registry lists, by definition).
#[derive(Debug, Clone, Copy)]
enum Ranged<'a> {
    Registry(&'a TileSet),
    Lacking(&'a RoaringView<Vec<u8>>),
}

impl Ranged<'_> {
    fn count(self, ranges: &[IdRange]) -> u64 {
        match self {
            Ranged::Registry(view) => kernels::and_ranges_count(view, ranges),
            Ranged::Lacking(view) => kernels::and_ranges_count(view, ranges),
        }
    }

    fn collect(self, ranges: &[IdRange], want: usize, found: &mut Vec<TileId>) {
        match self {
            Ranged::Registry(view) => collect_ranges(view, ranges, want, found),
            Ranged::Lacking(view) => collect_ranges(view, ranges, want, found),
        }
    }

    fn collect_back(self, ranges: &[IdRange], want: usize, found: &mut Vec<TileId>) {
        match self {
            Ranged::Registry(view) => collect_ranges_back(view, ranges, want, found),
            Ranged::Lacking(view) => collect_ranges_back(view, ranges, want, found),
        }
    }
}

/// Appends `view`'s ids in `ranges`, ascending, until `found` holds `want`.
fn collect_ranges<B: AsRef<[u8]>>(view: &RoaringView<B>, ranges: &[IdRange], want: usize, found: &mut Vec<TileId>) {
    for range in ranges {
        let mut lo = range.lo;
        loop {
            // A key at a time, so a page never expands more of a wide range than it returns.
            let hi = range.hi.min(lo | 0xFFFF);
            let mut sink = FnSink(|first: u32, last: u32| {
                let room = want.saturating_sub(found.len());
                found.extend((first..=last).take(room).map(TileId));
            });
            kernels::and_ranges(view, &[IdRange { lo, hi }], &mut sink);
            if found.len() >= want {
                return;
            }
            if hi == range.hi {
                break;
            }
            lo = hi + 1;
        }
    }
}

/// Appends `view`'s ids in `ranges`, descending, until `found` holds `want`.
fn collect_ranges_back<B: AsRef<[u8]>>(
    view: &RoaringView<B>,
    ranges: &[IdRange],
    want: usize,
    found: &mut Vec<TileId>,
) {
    for range in ranges.iter().rev() {
        let mut hi = range.hi;
        loop {
            let lo = range.lo.max(hi & !0xFFFF);
            let mut chunk = Vec::new();
            let mut sink = FnSink(|first: u32, last: u32| chunk.extend(first..=last));
            kernels::and_ranges(view, &[IdRange { lo, hi }], &mut sink);
            let room = want.saturating_sub(found.len());
            found.extend(chunk.into_iter().rev().take(room).map(TileId));
            if found.len() >= want {
                return;
            }
            if lo == range.lo {
                break;
            }
            hi = lo - 1;
        }
    }
}

/// A geometry's cells as sorted cell ranges (ids of the first year).
pub(super) fn spans_to_cells(spans: &super::geometry::Spans) -> Vec<IdRange> {
    let mut ranges = Vec::with_capacity(spans.len());
    for &(row, lo, hi) in spans {
        let start = row * COLS;
        push_merged(&mut ranges, IdRange { lo: start + lo, hi: start + hi });
    }
    ranges
}

/// A range of one year, whose ids are cell indexes.
fn one_year() -> YearRange {
    YearRange::new(2000, 2000).expect("one year is a valid range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_counts_equal_counting_cell_by_cell() {
        let runs = [
            (0, 0),
            (5, COLS + 5),
            (COLS - 3, 3 * COLS + 12),
            (123_456, 130_000),
            (CELLS_PER_YEAR - 20, CELLS_PER_YEAR - 1),
        ];
        // 7 does not divide the grid: the last coarse column and row are narrower.
        for size in [1, 7, 10, 100] {
            let mut counted = CoarseCounts::new(size);
            let mut one_by_one = CellCounts::new();
            for (lo, hi) in runs {
                counted.add_run(lo, hi);
                for cell in lo..=hi {
                    *one_by_one.entry((cell / COLS / size, cell % COLS / size)).or_default() += 1;
                }
            }
            assert_eq!(counted.into_cells(), (size, one_by_one), "size {size}");
        }
    }
}
