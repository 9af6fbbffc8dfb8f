//! Item Search: the parameters (GET query strings and POST bodies, checked once at the
//! boundary) and their evaluation as bitmap operations over the registry.
//!
//! Items are ordered by year (ascending, or descending for `sortby=-datetime`) and by tile id
//! within a year. A page is found by clipping the search's id ranges to what lies after (or
//! before) the token's tile and walking them in 64K-id chunks until `limit + 1` items are found:
//! the work is proportional to the page, never to the number of matches, which come from
//! bitmap cardinalities.

use std::hash::Hash;

use serde_json::Value;
use tessera_engine::bitmap::kernels;
use tessera_engine::bitmap::sink::{FnSink, Ids};
use tessera_engine::grid::{Bbox, CELLS_PER_YEAR, COLS, IdRange, Tile, TileId, Year, push_merged};
use xxhash_rust::xxh3::Xxh3;

use crate::catalog::{Catalog, TileSet};
use crate::datetime::Interval;
use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::geometry::{self, Spans};
use crate::token::{Direction, Token};

/// Ids of one year: a year's index is `id / IDS_PER_YEAR`.
const IDS_PER_YEAR: u32 = CELLS_PER_YEAR;

/// The default page size.
pub const DEFAULT_LIMIT: usize = 10;
/// The largest page; larger requests are clamped to it, as the STAC API requires.
pub const MAX_LIMIT: usize = 10_000;
/// The most item ids one search may name.
pub const MAX_IDS: usize = 10_000;
/// The most collections one search may name: more than the years any inventory holds.
pub const MAX_COLLECTIONS: usize = 100;
/// The most sort terms one search may give (items sort by their time alone).
pub const MAX_SORT_TERMS: usize = 8;

/// A checked search.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub bbox: Option<Bbox>,
    pub intersects: Option<Intersects>,
    pub datetime: Option<Interval>,
    pub ids: Option<Vec<String>>,
    pub collections: Option<Vec<String>>,
    pub limit: usize,
    /// Years newest first (`sortby=-datetime`).
    pub descending: bool,
    pub fields: Option<Fields>,
    pub token: Option<String>,
}

/// A search's `intersects`: the GeoJSON as given, until [`Search::rasterise`] puts it on the
/// grid. That can take a while, so it is done on the blocking pool, not while parsing.
#[derive(Debug, Clone)]
pub enum Intersects {
    Given(Value),
    Rasterised(Spans),
}

/// Where a search may take its parameters from: `/search` takes them all, an items page of one
/// collection takes no `collections`, `ids` or `intersects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Search,
    Items,
}

impl Endpoint {
    fn accepts(self, name: &str) -> bool {
        const COMMON: &[&str] = &["bbox", "datetime", "limit", "sortby", "fields", "token"];
        COMMON.contains(&name) || (self == Endpoint::Search && ["intersects", "ids", "collections"].contains(&name))
    }

    fn names(self) -> &'static str {
        match self {
            Endpoint::Search => "bbox, intersects, datetime, ids, collections, limit, sortby, fields, token",
            Endpoint::Items => "bbox, datetime, limit, sortby, fields, token",
        }
    }
}

impl Search {
    /// Parses a GET query string. Lists are comma-separated; unknown and repeated parameters
    /// are errors, so a typo never silently widens a search.
    pub fn from_query(query: &str, endpoint: Endpoint) -> Result<Search> {
        let mut search = Search { limit: DEFAULT_LIMIT, ..Search::default() };
        let pairs = crate::query::pairs(query)?;
        for (at, (name, value)) in pairs.iter().enumerate() {
            if !endpoint.accepts(name) {
                return Err(Error::bad(format!(
                    "unknown parameter `{name}`; this endpoint takes {}",
                    endpoint.names()
                )));
            }
            // Every name before this one was accepted and given once: at most nine to compare.
            if pairs[..at].iter().any(|(earlier, _)| earlier == name) {
                return Err(Error::bad(format!("parameter `{name}` is given twice")));
            }
            search.set_text(name, value)?;
        }
        search.check()
    }

    /// Parses a POST body (a JSON object with the same members, lists as arrays).
    pub fn from_body(body: &Value) -> Result<Search> {
        let object = body.as_object().ok_or_else(|| Error::bad("the search body must be a JSON object"))?;
        let mut search = Search { limit: DEFAULT_LIMIT, ..Search::default() };
        for (name, value) in object {
            if !Endpoint::Search.accepts(name) {
                return Err(Error::bad(format!(
                    "unknown member `{name}`; a search takes {}",
                    Endpoint::Search.names()
                )));
            }
            if value.is_null() && name != "fields" {
                continue;
            }
            search.set_json(name, value)?;
        }
        search.check()
    }

    fn set_text(&mut self, name: &str, value: &str) -> Result<()> {
        match name {
            "bbox" => self.bbox = Some(parse_bbox_text(value)?),
            "intersects" => {
                let geometry: Value = serde_json::from_str(value)
                    .map_err(|err| Error::bad(format!("intersects is not GeoJSON: {err}")))?;
                self.intersects = Some(Intersects::Given(geometry));
            }
            "datetime" => self.datetime = Some(Interval::parse(value).map_err(Error::BadRequest)?),
            "ids" => self.ids = Some(split_list(value)),
            "collections" => self.collections = Some(split_list(value)),
            "limit" => self.limit = parse_limit(value.parse::<i64>().ok(), value)?,
            "sortby" => self.descending = parse_sortby(split_list(value).iter().map(|s| sort_term_text(s)))?,
            "fields" => self.fields = Some(Fields::from_text(&split_list(value))?),
            "token" => self.token = Some(value.to_owned()),
            _ => unreachable!("names are checked by Endpoint::accepts"),
        }
        Ok(())
    }

    fn set_json(&mut self, name: &str, value: &Value) -> Result<()> {
        match name {
            "bbox" => {
                let numbers: Option<Vec<f64>> = value.as_array().and_then(|a| a.iter().map(Value::as_f64).collect());
                let numbers =
                    numbers.ok_or_else(|| Error::bad(format!("bbox `{value}` must be an array of numbers")))?;
                self.bbox = Some(bbox_from_numbers(&numbers, &value.to_string())?);
            }
            "intersects" => self.intersects = Some(Intersects::Given(value.clone())),
            "datetime" => {
                let text = value.as_str().ok_or_else(|| Error::bad(format!("datetime `{value}` must be a string")))?;
                self.datetime = Some(Interval::parse(text).map_err(Error::BadRequest)?);
            }
            "ids" => self.ids = Some(string_list(value, "ids", false)?),
            "collections" => self.collections = Some(string_list(value, "collections", true)?),
            "limit" => self.limit = parse_limit(value.as_i64(), &value.to_string())?,
            "sortby" => self.descending = parse_sortby(sort_terms_json(value)?.into_iter())?,
            "fields" => self.fields = Some(Fields::from_json(value)?),
            "token" => {
                let text = value.as_str().ok_or_else(|| Error::bad(format!("token `{value}` must be a string")))?;
                self.token = Some(text.to_owned());
            }
            _ => unreachable!("names are checked by Endpoint::accepts"),
        }
        Ok(())
    }

    fn check(self) -> Result<Search> {
        at_most("ids", self.ids.as_deref(), MAX_IDS)?;
        at_most("collections", self.collections.as_deref(), MAX_COLLECTIONS)?;
        if self.bbox.is_some() && self.intersects.is_some() {
            return Err(Error::bad("bbox and intersects cannot be used together: give one of them"));
        }
        Ok(self)
    }

    /// Whether answering takes more than a small page over a box: a geometry, a page of more
    /// than a hundred items, more than a hundred ids, or fields to filter (each item parsed).
    pub fn is_heavy(&self) -> bool {
        self.intersects.is_some()
            || self.limit > 100
            || self.ids.as_ref().is_some_and(|ids| ids.len() > 100)
            || self.fields.is_some()
    }

    /// Rasterises the `intersects` geometry onto the grid, if there is one still to do.
    pub fn rasterise(&mut self) -> Result<()> {
        if let Some(Intersects::Given(geometry)) = &self.intersects {
            self.intersects = Some(Intersects::Rasterised(rasterise(geometry)?));
        }
        Ok(())
    }

    /// The geometry's cells, once rasterised.
    fn spans(&self) -> Option<&Spans> {
        match &self.intersects {
            Some(Intersects::Rasterised(spans)) => Some(spans),
            _ => None,
        }
    }

    /// A hash of everything that decides which items match and in what order (not the page
    /// size or the fields): what a token is bound to. The geometry must be rasterised.
    ///
    /// Hashed field by field, each behind a tag, lists with their lengths (formatting the search
    /// to text first took 7% of the server's time on small searches).
    pub fn fingerprint(&self) -> u64 {
        debug_assert!(!matches!(self.intersects, Some(Intersects::Given(_))), "fingerprinted before rasterised");
        let mut hasher = Xxh3::new();
        if let Some(bbox) = &self.bbox {
            hasher.update(b"b");
            bbox.hash(&mut hasher);
        }
        if let Some(spans) = self.spans() {
            hasher.update(b"g");
            hasher.update(&geometry::fingerprint(spans).to_le_bytes());
        }
        if let Some(datetime) = &self.datetime {
            hasher.update(b"d");
            for bound in datetime.fingerprint() {
                hasher.update(&bound.to_le_bytes());
            }
        }
        for (tag, list) in [(b"i", &self.ids), (b"c", &self.collections)] {
            if let Some(list) = list {
                hasher.update(tag);
                hasher.update(&(list.len() as u64).to_le_bytes());
                for entry in list {
                    hasher.update(&(entry.len() as u64).to_le_bytes());
                    hasher.update(entry.as_bytes());
                }
            }
        }
        hasher.update(if self.descending { b"-" } else { b"+" });
        hasher.digest()
    }
}

fn rasterise(geometry: &Value) -> Result<Spans> {
    geometry::rasterise(geometry).map_err(|why| Error::bad(format!("intersects is not a usable geometry: {why}")))
}

/// A list a client sent, refused past `limit` entries.
fn at_most(what: &'static str, list: Option<&[String]>, limit: usize) -> Result<()> {
    match list {
        Some(list) if list.len() > limit => Err(Error::TooMany { what, got: list.len(), limit }),
        _ => Ok(()),
    }
}

fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn string_list(value: &Value, name: &str, bare_string_too: bool) -> Result<Vec<String>> {
    if bare_string_too && let Some(one) = value.as_str() {
        return Ok(vec![one.to_owned()]);
    }
    let strings: Option<Vec<String>> =
        value.as_array().and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect());
    strings.ok_or_else(|| Error::bad(format!("{name} `{value}` must be an array of strings")))
}

fn parse_bbox_text(text: &str) -> Result<Bbox> {
    let numbers: Option<Vec<f64>> = text.split(',').map(|n| n.trim().parse().ok()).collect();
    let numbers = numbers.ok_or_else(|| Error::bad(format!("bbox `{text}` must be 4 or 6 comma-separated numbers")))?;
    bbox_from_numbers(&numbers, text)
}

/// A 2D box from 4 numbers, or from 6 (`minx, miny, minz, maxx, maxy, maxz`, heights ignored).
fn bbox_from_numbers(numbers: &[f64], shown: &str) -> Result<Bbox> {
    let [west, south, east, north] = match *numbers {
        [w, s, e, n] => [w, s, e, n],
        [w, s, _, e, n, _] => [w, s, e, n],
        _ => return Err(Error::bad(format!("bbox `{shown}` must have 4 or 6 numbers, not {}", numbers.len()))),
    };
    Bbox::new(west, south, east, north).map_err(|err| Error::bad(err.to_string()))
}

fn parse_limit(value: Option<i64>, shown: &str) -> Result<usize> {
    match value {
        Some(limit) if limit >= 1 => Ok((limit as u64).min(MAX_LIMIT as u64) as usize),
        _ => Err(Error::bad(format!(
            "limit `{shown}` must be an integer of at least 1 (at most {MAX_LIMIT} are returned)"
        ))),
    }
}

/// `+field`, `-field` or `field` (a `+` that arrived as a space counts as `+`).
fn sort_term_text(term: &str) -> (String, bool) {
    match term.strip_prefix('-') {
        Some(field) => (field.to_owned(), true),
        None => (term.trim_start_matches([' ', '+']).to_owned(), false),
    }
}

fn sort_terms_json(value: &Value) -> Result<Vec<(String, bool)>> {
    let terms = value.as_array().ok_or_else(|| Error::bad(format!("sortby `{value}` must be an array")))?;
    terms
        .iter()
        .map(|term| {
            let field = term.get("field").and_then(Value::as_str);
            let direction = term.get("direction").and_then(Value::as_str).unwrap_or("asc");
            match (field, direction) {
                (Some(field), "asc") => Ok((field.to_owned(), false)),
                (Some(field), "desc") => Ok((field.to_owned(), true)),
                _ => Err(Error::bad(format!("sortby term `{term}` needs a `field` and a direction `asc` or `desc`"))),
            }
        })
        .collect()
}

/// Items can be sorted by their time (all three time properties order the same way).
fn parse_sortby(terms: impl ExactSizeIterator<Item = (String, bool)>) -> Result<bool> {
    if terms.len() > MAX_SORT_TERMS {
        return Err(Error::TooMany { what: "sortby", got: terms.len(), limit: MAX_SORT_TERMS });
    }
    let mut descending = None;
    for (field, desc) in terms {
        let name = field.strip_prefix("properties.").unwrap_or(&field);
        if !["datetime", "start_datetime", "end_datetime"].contains(&name) {
            return Err(Error::bad(format!("cannot sort by `{field}`: items sort by datetime only")));
        }
        descending.get_or_insert(desc);
    }
    Ok(descending.unwrap_or(false))
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Registry tiles, in result order.
    pub tiles: Vec<TileId>,
    /// Every item the search matches, across all pages.
    pub matched: u64,
    /// The token tile and direction of the next and previous pages, when there are such pages.
    pub next: Option<Token>,
    pub prev: Option<Token>,
}

/// The years a search covers, in result order, each with its id ranges.
struct Plan {
    /// Each year's index (from the inventory's first year) and its ranges.
    blocks: Vec<(u32, Vec<IdRange>)>,
}

impl Plan {
    fn new(catalog: &Catalog, search: &Search) -> Result<Plan> {
        let grid = catalog.years();
        let mut years: Vec<Year> = grid
            .iter()
            .filter(|&year| search.datetime.is_none_or(|interval| interval.meets_year(year)))
            .filter(|&year| {
                let named = |name: &String| crate::catalog::year_of_collection(name) == Some(year);
                search.collections.as_ref().is_none_or(|names| names.iter().any(named))
            })
            .collect();
        if search.descending {
            years.reverse();
        }
        if matches!(search.intersects, Some(Intersects::Given(_))) {
            // Searching as if there were no geometry would answer every tile.
            return Err(Error::Config("a search ran before its geometry was rasterised".into()));
        }
        // The cells a search covers are the same in every year: found once, then shifted.
        let cells = match (&search.bbox, search.spans()) {
            (Some(bbox), _) => Some(bbox.id_ranges(grid, &[grid.first()])?),
            (None, Some(spans)) => Some(spans_to_ranges(spans, 0)),
            (None, None) => None,
        };
        let mut blocks = Vec::with_capacity(years.len());
        for year in years {
            let year_ids = grid.year_ids(year)?;
            let ranges = match &cells {
                Some(cells) => {
                    cells.iter().map(|r| IdRange { lo: r.lo + year_ids.lo, hi: r.hi + year_ids.lo }).collect()
                }
                None => vec![year_ids],
            };
            blocks.push((year_ids.lo / IDS_PER_YEAR, ranges));
        }
        Ok(Plan { blocks })
    }

    /// The position of `tile`'s year in result order (past the end when it has none).
    fn rank(&self, tile: u32) -> usize {
        let year_index = tile / IDS_PER_YEAR;
        self.blocks.iter().position(|&(index, _)| index == year_index).unwrap_or(self.blocks.len())
    }

    fn contains(&self, tile: u32) -> bool {
        self.blocks.iter().any(|(_, ranges)| {
            let at = ranges.partition_point(|r| r.hi < tile);
            ranges.get(at).is_some_and(|r| r.lo <= tile)
        })
    }
}

fn spans_to_ranges(spans: &Spans, year_base: u32) -> Vec<IdRange> {
    let mut ranges = Vec::with_capacity(spans.len());
    for &(row, lo, hi) in spans {
        let start = year_base + row * COLS;
        push_merged(&mut ranges, IdRange { lo: start + lo, hi: start + hi });
    }
    ranges
}

/// Evaluates `search` at `token` (already verified) into one page.
pub fn run(catalog: &Catalog, search: &Search, token: Option<Token>) -> Result<Page> {
    let Some(registry) = catalog.registry() else {
        return Ok(Page { tiles: Vec::new(), matched: 0, next: None, prev: None });
    };
    let plan = Plan::new(catalog, search)?;
    if let Some(ids) = &search.ids {
        return Ok(page_of_ids(catalog, &plan, ids, search.limit, token));
    }
    let matched = plan.blocks.iter().map(|(_, ranges)| kernels::and_ranges_count(registry, ranges)).sum();
    let limit = search.limit;
    let (tiles, next, prev) = match token {
        None => forward(&plan, registry, None, limit, false),
        Some(Token { direction: Direction::Next, tile }) => forward(&plan, registry, Some(tile), limit, true),
        Some(Token { direction: Direction::Prev, tile }) => backward(&plan, registry, tile, limit),
    };
    Ok(Page { tiles, matched, next, prev })
}

type Found = (Vec<TileId>, Option<Token>, Option<Token>);

fn forward(plan: &Plan, registry: &TileSet, after: Option<u32>, limit: usize, has_prev: bool) -> Found {
    let start_rank = after.map_or(0, |tile| plan.rank(tile));
    let mut found: Vec<u32> = Vec::with_capacity(limit + 1);
    'blocks: for (rank, (_, ranges)) in plan.blocks.iter().enumerate().skip(start_rank) {
        for range in ranges {
            let lo = match after {
                Some(tile) if rank == start_rank => range.lo.max(tile.saturating_add(1)),
                _ => range.lo,
            };
            if lo > range.hi {
                continue;
            }
            collect_forward(registry, IdRange { lo, hi: range.hi }, limit + 1, &mut found);
            if found.len() > limit {
                break 'blocks;
            }
        }
    }
    let next = (found.len() > limit).then(|| Token { direction: Direction::Next, tile: found[limit - 1] });
    found.truncate(limit);
    let prev = match (has_prev, found.first()) {
        (true, Some(&first)) => Some(Token { direction: Direction::Prev, tile: first }),
        _ => None,
    };
    (found.into_iter().map(TileId).collect(), next, prev)
}

fn backward(plan: &Plan, registry: &TileSet, before: u32, limit: usize) -> Found {
    let start_rank = plan.rank(before);
    let mut found: Vec<u32> = Vec::with_capacity(limit + 1);
    let blocks = plan.blocks.iter().enumerate().take(start_rank + 1).rev();
    'blocks: for (rank, (_, ranges)) in blocks {
        for range in ranges.iter().rev() {
            let hi = if rank == start_rank { range.hi.min(before.saturating_sub(1)) } else { range.hi };
            if before == 0 && rank == start_rank || hi < range.lo {
                continue;
            }
            collect_backward(registry, IdRange { lo: range.lo, hi }, limit + 1, &mut found);
            if found.len() > limit {
                break 'blocks;
            }
        }
    }
    let prev = (found.len() > limit).then(|| Token { direction: Direction::Prev, tile: found[limit - 1] });
    found.truncate(limit);
    found.reverse();
    let next = found.last().map(|&last| Token { direction: Direction::Next, tile: last });
    (found.into_iter().map(TileId).collect(), next, prev)
}

/// Appends the registry's ids in `range`, ascending, until `found` holds `want`.
fn collect_forward(registry: &TileSet, range: IdRange, want: usize, found: &mut Vec<u32>) {
    let mut lo = range.lo;
    loop {
        let hi = range.hi.min(lo | 0xFFFF);
        let mut sink = FnSink(|first: u32, last: u32| {
            let room = want.saturating_sub(found.len());
            found.extend((first..=last).take(room));
        });
        kernels::and_ranges(registry, &[IdRange { lo, hi }], &mut sink);
        if found.len() >= want || hi == range.hi {
            return;
        }
        lo = hi + 1;
    }
}

/// Appends the registry's ids in `range`, descending, until `found` holds `want`.
fn collect_backward(registry: &TileSet, range: IdRange, want: usize, found: &mut Vec<u32>) {
    let mut hi = range.hi;
    loop {
        let lo = range.lo.max(hi & !0xFFFF);
        let mut chunk = Ids::default();
        kernels::and_ranges(registry, &[IdRange { lo, hi }], &mut chunk);
        let room = want - found.len();
        found.extend(chunk.into_inner().into_iter().rev().take(room));
        if found.len() >= want || lo == range.lo {
            return;
        }
        hi = lo - 1;
    }
}

/// A search by item ids: the ids that parse, exist and pass every other filter, in result order.
fn page_of_ids(catalog: &Catalog, plan: &Plan, ids: &[String], limit: usize, token: Option<Token>) -> Page {
    let grid = catalog.years();
    let mut tiles: Vec<u32> = ids
        .iter()
        .filter_map(|id| Tile::parse_item_id(id).ok())
        .filter_map(|tile| grid.id(tile).ok())
        .map(|id| id.0)
        .filter(|&id| plan.contains(id) && catalog.registry().is_some_and(|r| r.contains(id)))
        .collect();
    tiles.sort_by_key(|&id| (plan.rank(id), id));
    tiles.dedup();
    let matched = tiles.len() as u64;
    let key = |id: u32| (plan.rank(id), id);
    let (start, end) = match token {
        None => (0, limit.min(tiles.len())),
        Some(Token { direction: Direction::Next, tile }) => {
            let start = tiles.partition_point(|&id| key(id) <= key(tile));
            (start, (start + limit).min(tiles.len()))
        }
        Some(Token { direction: Direction::Prev, tile }) => {
            let end = tiles.partition_point(|&id| key(id) < key(tile));
            (end.saturating_sub(limit), end)
        }
    };
    let page = &tiles[start..end];
    let next = (end < tiles.len() && !page.is_empty())
        .then(|| Token { direction: Direction::Next, tile: page[page.len() - 1] });
    let prev = (start > 0 && !page.is_empty()).then(|| Token { direction: Direction::Prev, tile: page[0] });
    Page { tiles: page.iter().copied().map(TileId).collect(), matched, next, prev }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_clamped_to_the_maximum_and_must_be_positive() {
        assert_eq!(Search::from_query("limit=100000", Endpoint::Search).unwrap().limit, MAX_LIMIT);
        assert_eq!(Search::from_query("", Endpoint::Search).unwrap().limit, DEFAULT_LIMIT);
        assert!(Search::from_query("limit=0", Endpoint::Search).is_err());
    }

    #[test]
    fn sortby_accepts_signs_spaces_and_properties_prefixes() {
        for (query, descending) in [
            ("sortby=-properties.datetime", true),
            ("sortby=%2Bdatetime", false),
            ("sortby=+datetime", false),
            ("sortby=datetime", false),
        ] {
            assert_eq!(Search::from_query(query, Endpoint::Search).unwrap().descending, descending, "{query}");
        }
        let body = serde_json::json!({"sortby": [{"field": "properties.datetime", "direction": "desc"}], "collections": "geotessera-2024"});
        let search = Search::from_body(&body).unwrap();
        assert!(search.descending);
        assert_eq!(search.collections, Some(vec!["geotessera-2024".to_owned()]));
    }
}
