//! Collection search (`GET /collections?bbox=&datetime=&q=&limit=&offset=`), for STAC Browser's
//! and pystac-client's. A year's collection matches when its year meets `datetime`, one of its
//! tiles lies in `bbox` (the registry's bitmap answers, not the extent's rectangle, which spans
//! the world), and one of `q`'s comma-separated terms is in its id, title, description or
//! keywords (any case).

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tessera_engine::grid::Bbox;
use tessera_engine::query::{Area, Query};

use crate::catalog::{Catalog, collection_id};
use crate::datetime::Interval;
use crate::error::{Error, Result};

/// The parameters this search takes.
const PARAMETERS: &str = "bbox, datetime, q, limit, offset";

/// Collections a page holds when `limit` is not given: every year of a grid of up to 15.
const DEFAULT_LIMIT: usize = 100;

/// A parsed collection search.
#[derive(Debug, Default)]
pub struct CollectionSearch {
    bbox: Option<Bbox>,
    datetime: Option<Interval>,
    /// Lowercased free-text terms; a collection matches one of them.
    terms: Vec<String>,
    limit: Option<usize>,
    offset: usize,
}

impl CollectionSearch {
    /// Parses a GET query string; unknown and repeated parameters are errors.
    pub fn from_query(query: &str) -> Result<CollectionSearch> {
        let mut search = CollectionSearch::default();
        let pairs = crate::query::pairs(query)?;
        for (at, (name, value)) in pairs.iter().enumerate() {
            if pairs[..at].iter().any(|(earlier, _)| earlier == name) {
                return Err(Error::bad(format!("parameter `{name}` is given twice")));
            }
            match name.as_ref() {
                "bbox" => search.bbox = Some(crate::search::parse_bbox_text(value)?),
                "datetime" => search.datetime = Some(Interval::parse(value).map_err(Error::BadRequest)?),
                "q" => {
                    search.terms =
                        value.split(',').map(|term| term.trim().to_lowercase()).filter(|t| !t.is_empty()).collect()
                }
                "limit" => search.limit = Some(count(value, "limit", 1)?),
                "offset" => search.offset = count(value, "offset", 0)?,
                other => {
                    return Err(Error::bad(format!("unknown parameter `{other}`; /collections takes {PARAMETERS}")));
                }
            }
        }
        Ok(search)
    }

    /// The matching collections, one page, with `numberMatched`, `numberReturned` and a `next`
    /// link while more remain.
    pub fn answer(&self, catalog: &Catalog, query: &str) -> Result<String> {
        let mut matched = Vec::new();
        for year in catalog.years().iter() {
            if !self.datetime.is_none_or(|interval| interval.meets_year(year)) {
                continue;
            }
            let Some(doc) = catalog.collection(&collection_id(year)) else { continue };
            if self.has_tiles_in_bbox(catalog, year)? && self.mentions_a_term(doc)? {
                matched.push(doc);
            }
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let page: Vec<&RawValue> = matched
            .iter()
            .skip(self.offset)
            .take(limit)
            .map(|doc| serde_json::from_slice(doc))
            .collect::<std::result::Result<_, _>>()
            .map_err(|err| Error::Config(format!("a rendered collection is not JSON: {err}")))?;
        let base = catalog.base();
        let mut links = vec![
            json!({"rel": "self", "href": format!("{base}/collections{}", with_query(query)), "type": "application/json"}),
            json!({"rel": "root", "href": format!("{base}/"), "type": "application/json"}),
        ];
        if self.offset + page.len() < matched.len() {
            let next = next_query(query, self.offset + page.len());
            links
                .push(json!({"rel": "next", "href": format!("{base}/collections?{next}"), "type": "application/json"}));
        }
        let body = json!({
            "collections": page,
            "links": links,
            "numberMatched": matched.len(),
            "numberReturned": page.len(),
        });
        Ok(body.to_string())
    }

    fn has_tiles_in_bbox(&self, catalog: &Catalog, year: tessera_engine::grid::Year) -> Result<bool> {
        let Some(bbox) = self.bbox else { return Ok(true) };
        let query = Query { years: Some(vec![year]), area: Some(Area::Bbox(bbox)), ..Query::default() };
        // One year's box: a count of container ranges, never stopped.
        Ok(catalog.plan(&query)?.count(&mut || true)? > 0)
    }

    fn mentions_a_term(&self, doc: &[u8]) -> Result<bool> {
        if self.terms.is_empty() {
            return Ok(true);
        }
        let doc: Value = serde_json::from_slice(doc)
            .map_err(|err| Error::Config(format!("a rendered collection is not JSON: {err}")))?;
        let mut texts: Vec<String> = ["id", "title", "description"]
            .iter()
            .filter_map(|name| doc[name].as_str().map(str::to_lowercase))
            .collect();
        texts
            .extend(doc["keywords"].as_array().into_iter().flatten().filter_map(|k| k.as_str().map(str::to_lowercase)));
        Ok(self.terms.iter().any(|term| texts.iter().any(|text| text.contains(term.as_str()))))
    }
}

/// A non-negative whole number of at least `least`.
fn count(value: &str, name: &str, least: usize) -> Result<usize> {
    value
        .parse::<usize>()
        .ok()
        .filter(|&n| n >= least)
        .ok_or_else(|| Error::bad(format!("{name} `{value}` must be a whole number of at least {least}")))
}

fn with_query(query: &str) -> String {
    if query.is_empty() { String::new() } else { format!("?{query}") }
}

/// `query` with its `offset` set to `offset`.
fn next_query(query: &str, offset: usize) -> String {
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|part| !part.is_empty() && !crate::query::names(part, "offset"))
        .map(str::to_owned)
        .collect();
    parts.push(format!("offset={offset}"));
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_replaces_the_offset_and_keeps_the_rest() {
        assert_eq!(next_query("q=sentinel&offset=2&limit=2", 4), "q=sentinel&limit=2&offset=4");
        assert_eq!(next_query("", 10), "offset=10");
    }

    #[test]
    fn parameters_are_checked() {
        assert!(CollectionSearch::from_query("limit=0").is_err());
        assert!(CollectionSearch::from_query("q=a&q=b").is_err());
        assert!(CollectionSearch::from_query("filter=x").is_err());
        let search = CollectionSearch::from_query("q=Sentinel,%20embeddings&offset=3").unwrap();
        assert_eq!(search.terms, ["sentinel", "embeddings"]);
        assert_eq!(search.offset, 3);
    }
}
