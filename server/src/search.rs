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
use tessera_engine::grid::{Bbox, Tile, TileId, Year};
use tessera_engine::query::{self, Area, Expr, Query};
use xxhash_rust::xxh3::Xxh3;

use crate::budget::Visit;
use crate::catalog::Catalog;
use crate::datetime::Interval;
use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::token::{Direction, Token};
use tessera_engine::query::geometry::{self, Spans};

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

/// A POST body: its members as the client wrote them. Held as text, not as a tree of values, so
/// that a large geometry is parsed once (by the search) while the body's text is kept for the
/// next page's link: a tree of JSON values costs 80 bytes a number.
pub type Body = indexmap::IndexMap<String, Box<serde_json::value::RawValue>>;

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
    /// The CQL2 filter, parsed.
    pub filter: Option<Filter>,
    /// The aggregations asked of `/aggregate`.
    pub aggregations: Option<Vec<String>>,
    /// The filter as sent, until [`Search::check`] parses it in its language.
    given_filter: Option<Value>,
    filter_lang: Option<String>,
}

/// A parsed CQL2 filter and its canonical CQL2-JSON (what a token is bound to).
#[derive(Debug, Clone)]
pub struct Filter {
    pub expr: Expr,
    pub canonical: String,
}

/// The names `filter-crs` may give: the filter's coordinates are longitude, latitude in WGS 84.
const FILTER_CRS: &[&str] = &[
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "EPSG:4326",
];

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
    /// `/aggregate`: a search's filters and the aggregations asked.
    Aggregate,
}

impl Endpoint {
    fn accepts(self, name: &str) -> bool {
        const FILTERS: &[&str] = &["bbox", "datetime", "filter", "filter-lang", "filter-crs"];
        const PAGES: &[&str] = &["limit", "sortby", "fields", "token"];
        const EVERYWHERE: &[&str] = &["intersects", "ids", "collections"];
        FILTERS.contains(&name)
            || match self {
                Endpoint::Search => PAGES.contains(&name) || EVERYWHERE.contains(&name),
                Endpoint::Items => PAGES.contains(&name),
                Endpoint::Aggregate => EVERYWHERE.contains(&name) || name == "aggregations",
            }
    }

    fn names(self) -> &'static str {
        match self {
            Endpoint::Search => {
                "bbox, intersects, datetime, ids, collections, filter, filter-lang, filter-crs, limit, sortby, fields, token"
            }
            Endpoint::Items => "bbox, datetime, filter, filter-lang, filter-crs, limit, sortby, fields, token",
            Endpoint::Aggregate => {
                "aggregations, bbox, intersects, datetime, ids, collections, filter, filter-lang, filter-crs"
            }
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
    pub fn from_body(body: &Body, endpoint: Endpoint) -> Result<Search> {
        let mut search = Search { limit: DEFAULT_LIMIT, ..Search::default() };
        for (name, raw) in body {
            if !endpoint.accepts(name) {
                return Err(Error::bad(format!("unknown member `{name}`; this endpoint takes {}", endpoint.names())));
            }
            let value: Value = serde_json::from_str(raw.get())
                .map_err(|err| Error::bad(format!("member `{name}` of the body is not JSON: {err}")))?;
            match value {
                Value::Null if name != "fields" => {}
                // The one member that may be large: moved, not copied.
                geometry if name == "intersects" => search.intersects = Some(Intersects::Given(geometry)),
                value => search.set_json(name, &value)?,
            }
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
            "filter" => self.given_filter = Some(Value::String(value.to_owned())),
            "aggregations" => self.aggregations = Some(split_list(value)),
            "filter-lang" => self.filter_lang = Some(value.to_owned()),
            "filter-crs" => check_filter_crs(value)?,
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
            "filter" => self.given_filter = Some(value.clone()),
            "aggregations" => self.aggregations = Some(string_list(value, "aggregations", true)?),
            "filter-lang" | "filter-crs" => {
                let text = value.as_str().ok_or_else(|| Error::bad(format!("{name} `{value}` must be a string")))?;
                match name {
                    "filter-lang" => self.filter_lang = Some(text.to_owned()),
                    _ => check_filter_crs(text)?,
                }
            }
            _ => unreachable!("names are checked by Endpoint::accepts"),
        }
        Ok(())
    }

    fn check(mut self) -> Result<Search> {
        self.filter = parse_filter(self.given_filter.take(), self.filter_lang.take())?;
        at_most("ids", self.ids.as_deref(), MAX_IDS)?;
        at_most("collections", self.collections.as_deref(), MAX_COLLECTIONS)?;
        if self.bbox.is_some() && self.intersects.is_some() {
            return Err(Error::bad("bbox and intersects cannot be used together: give one of them"));
        }
        Ok(self)
    }

    /// Whether answering takes more than a small page over a box: a geometry, a filter, a page
    /// of more than a hundred items, more than a hundred ids, or fields to filter (each item
    /// parsed).
    pub fn is_heavy(&self) -> bool {
        self.intersects.is_some()
            || self.filter.is_some()
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
        if let Some(filter) = &self.filter {
            hasher.update(b"f");
            hasher.update(&(filter.canonical.len() as u64).to_le_bytes());
            hasher.update(filter.canonical.as_bytes());
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

/// The filter in its language: `cql2-text` (a string; the GET default) or `cql2-json` (an object,
/// or its JSON text; the POST default).
fn parse_filter(given: Option<Value>, lang: Option<String>) -> Result<Option<Filter>> {
    let Some(given) = given else {
        return match lang {
            Some(_) => Err(Error::bad("filter-lang is given without a filter")),
            None => Ok(None),
        };
    };
    let lang = lang.as_deref().unwrap_or(if given.is_string() { "cql2-text" } else { "cql2-json" });
    let expr = match (lang, &given) {
        ("cql2-text", Value::String(text)) => query::parse_text(text)?,
        ("cql2-json", Value::String(text)) => query::parse_json(text)?,
        ("cql2-json", object) => query::parse_json(&object.to_string())?,
        ("cql2-text", other) => return Err(Error::bad(format!("a cql2-text filter is a string, not `{other}`"))),
        (other, _) => {
            return Err(Error::bad(format!("filter-lang `{other}` is not known: use cql2-text or cql2-json")));
        }
    };
    let canonical = expr.to_json().map_err(|err| Error::bad(format!("the filter cannot be written back: {err}")))?;
    Ok(Some(Filter { expr, canonical }))
}

fn check_filter_crs(crs: &str) -> Result<()> {
    if FILTER_CRS.contains(&crs) {
        return Ok(());
    }
    Err(Error::bad(format!("filter-crs `{crs}` is not supported: filters are in longitude, latitude (CRS84)")))
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

pub(crate) fn parse_bbox_text(text: &str) -> Result<Bbox> {
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

impl Search {
    /// The search as the engine's query: STAC's names (collections, datetimes, item ids) made
    /// years and tiles. The geometry must be rasterised.
    pub fn query(&self, catalog: &Catalog) -> Result<Query> {
        let grid = catalog.years();
        let years: Vec<Year> = grid
            .iter()
            .filter(|&year| self.datetime.is_none_or(|interval| interval.meets_year(year)))
            .filter(|&year| {
                let named = |name: &String| crate::catalog::year_of_collection(name) == Some(year);
                self.collections.as_ref().is_none_or(|names| names.iter().any(named))
            })
            .collect();
        let area = match (&self.bbox, &self.intersects) {
            (Some(bbox), _) => Some(Area::Bbox(*bbox)),
            (None, Some(Intersects::Rasterised(spans))) => Some(Area::Cells(spans.clone())),
            // Searching as if there were no geometry would answer every tile.
            (None, Some(Intersects::Given(_))) => {
                return Err(Error::Config("a search ran before its geometry was rasterised".into()));
            }
            (None, None) => None,
        };
        // Ids that name no tile of the grid match nothing.
        let ids = self.ids.as_ref().map(|ids| {
            ids.iter().filter_map(|id| Tile::parse_item_id(id).ok()).filter_map(|tile| grid.id(tile).ok()).collect()
        });
        Ok(Query {
            years: Some(years),
            area,
            ids,
            filter: self.filter.as_ref().map(|filter| filter.expr.clone()),
            descending: self.descending,
        })
    }
}

/// Evaluates `search` at `token` (already verified) into one page; `visit` may stop the work.
pub fn run(catalog: &Catalog, search: &Search, token: Option<Token>, visit: &Visit) -> Result<Page> {
    let query = search.query(catalog)?;
    let plan = catalog.plan(&query)?;
    let mut stopped = None;
    let page = page_of(&plan, search.limit, token, &mut visit.keep_going(&mut stopped));
    match (page, stopped) {
        (Ok(page), _) => Ok(page),
        (Err(_), Some(why)) => Err(why),
        (Err(err), None) => Err(err.into()),
    }
}

fn page_of(
    plan: &query::Plan,
    limit: usize,
    token: Option<Token>,
    keep_going: &mut dyn FnMut() -> bool,
) -> tessera_engine::Result<Page> {
    let matched = plan.count(keep_going)?;
    let token_of = |direction, tile: TileId| Token { direction, tile: tile.0 };
    let (tiles, next, prev) = match token {
        None | Some(Token { direction: Direction::Next, .. }) => {
            let after = token.map(|token| TileId(token.tile));
            let mut found = plan.forward(after, limit + 1, keep_going)?;
            let next = (found.len() > limit).then(|| token_of(Direction::Next, found[limit - 1]));
            found.truncate(limit);
            let prev = found.first().filter(|_| after.is_some()).map(|&first| token_of(Direction::Prev, first));
            (found, next, prev)
        }
        Some(Token { direction: Direction::Prev, tile }) => {
            let mut found = plan.backward(TileId(tile), limit + 1, keep_going)?;
            let prev = (found.len() > limit).then(|| token_of(Direction::Prev, found[limit - 1]));
            found.truncate(limit);
            found.reverse();
            let next = found.last().map(|&last| token_of(Direction::Next, last));
            (found, next, prev)
        }
    };
    Ok(Page { tiles, matched, next, prev })
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
        let body =
            r#"{"sortby": [{"field": "properties.datetime", "direction": "desc"}], "collections": "geotessera-2024"}"#;
        let search = Search::from_body(&serde_json::from_str(body).unwrap(), Endpoint::Search).unwrap();
        assert!(search.descending);
        assert_eq!(search.collections, Some(vec!["geotessera-2024".to_owned()]));
    }
}
