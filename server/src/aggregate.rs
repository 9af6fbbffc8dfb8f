//! The Aggregation extension: counts of a search's matches by year, by collection, by store and
//! by 1- or 10-degree cell, computed by the engine from bitmaps (no item is rendered).

use serde::Serialize;
use serde_json::{Value, json};
use tessera_engine::query::{AggregateBy, Aggregates};

use crate::budget::Visit;
use crate::catalog::{Catalog, collection_id};
use crate::error::{Error, Result};
use crate::search::Search;

/// Every aggregation offered: name, data type, and what it counts.
pub const OFFERED: &[(&str, &str, &str)] = &[
    ("total_count", "integer", "Every matching tile"),
    ("datetime_frequency", "frequency_distribution", "Matching tiles per year"),
    ("collection_frequency", "frequency_distribution", "Matching tiles per collection"),
    ("tessera:stores_frequency", "frequency_distribution", "Matching tiles each store holds"),
    (
        "grid_code_1deg_frequency",
        "frequency_distribution",
        "Matching tiles per 1-degree cell; each key is the cell as a bbox",
    ),
    (
        "grid_code_10deg_frequency",
        "frequency_distribution",
        "Matching tiles per 10-degree cell; each key is the cell as a bbox",
    ),
];

/// What is computed when a request names no aggregation.
const DEFAULT: &[&str] = &["total_count", "datetime_frequency", "tessera:stores_frequency"];

/// `/aggregations`: the aggregations offered.
pub fn offered(base: &str) -> Value {
    let aggregations: Vec<Value> = OFFERED
        .iter()
        .map(|(name, data_type, title)| json!({"name": name, "data_type": data_type, "title": title}))
        .collect();
    json!({
        "type": "AggregationCollection",
        "aggregations": aggregations,
        "links": [
            {"rel": "root", "href": format!("{base}/"), "type": "application/json"},
            {"rel": "self", "href": format!("{base}/aggregations"), "type": "application/json"},
        ],
    })
}

/// Answers the aggregations `search` asks for (its geometry rasterised), as a JSON body.
pub fn answer(catalog: &Catalog, search: &Search, visit: &Visit) -> Result<Vec<u8>> {
    let names: Vec<&str> = match &search.aggregations {
        Some(names) if !names.is_empty() => names.iter().map(String::as_str).collect(),
        _ => DEFAULT.to_vec(),
    };
    if let Some(unknown) = names.iter().find(|name| !OFFERED.iter().any(|(offered, ..)| offered == *name)) {
        let offered: Vec<&str> = OFFERED.iter().map(|(name, ..)| *name).collect();
        return Err(Error::bad(format!("no aggregation `{unknown}`; offered: {}", offered.join(", "))));
    }
    let grids: Vec<u32> = [("grid_code_1deg_frequency", 10), ("grid_code_10deg_frequency", 100)]
        .into_iter()
        .filter(|(name, _)| names.contains(name))
        .map(|(_, size)| size)
        .collect();
    let by = AggregateBy { stores: names.contains(&"tessera:stores_frequency"), grids: &grids };
    let plan = catalog.plan(&search.query(catalog)?)?;
    let mut stopped = None;
    let counts = plan.aggregate(&by, &mut visit.keep_going(&mut stopped));
    let counts = match (counts, stopped) {
        (Ok(counts), _) => counts,
        (Err(_), Some(why)) => return Err(why),
        (Err(err), None) => return Err(err.into()),
    };
    let root = json!({"rel": "root", "href": format!("{}/", catalog.base()), "type": "application/json"});
    let collection = Collection {
        kind: "AggregationCollection",
        aggregations: names.iter().map(|name| aggregation(name, &counts)).collect(),
        links: vec![root],
    };
    // Typed, not a `Value`, and sized up front: a 1-degree grid is thousands of buckets.
    let buckets: usize = collection.aggregations.iter().map(|a| a.buckets.as_ref().map_or(0, Vec::len)).sum();
    let mut body = Vec::with_capacity(512 + 80 * buckets);
    serde_json::to_writer(&mut body, &collection).expect("aggregations serialise: every key is a string");
    Ok(body)
}

/// The response body.
#[derive(Serialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    aggregations: Vec<Aggregation<'a>>,
    links: Vec<Value>,
}

/// One aggregation: a `value` (integers) or `buckets` (frequency distributions).
#[derive(Serialize)]
struct Aggregation<'a> {
    name: &'a str,
    data_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overflow: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buckets: Option<Vec<Bucket>>,
}

#[derive(Serialize)]
struct Bucket {
    key: String,
    data_type: &'static str,
    frequency: u64,
}

fn aggregation<'a>(name: &'a str, counts: &Aggregates) -> Aggregation<'a> {
    let frequencies = |pairs: &mut dyn Iterator<Item = (String, u64)>| {
        let buckets = pairs
            .filter(|(_, frequency)| *frequency > 0)
            .map(|(key, frequency)| Bucket { key, data_type: FREQUENCY, frequency })
            .collect();
        Aggregation { name, data_type: FREQUENCY, value: None, overflow: Some(0), buckets: Some(buckets) }
    };
    match name {
        "total_count" => {
            Aggregation { name, data_type: "integer", value: Some(counts.total), overflow: None, buckets: None }
        }
        "datetime_frequency" => {
            frequencies(&mut counts.years.iter().map(|(year, n)| (format!("{year}-01-01T00:00:00.000Z"), *n)))
        }
        "collection_frequency" => frequencies(&mut counts.years.iter().map(|(year, n)| (collection_id(*year), *n))),
        "tessera:stores_frequency" => frequencies(&mut counts.stores.iter().cloned()),
        grid => {
            let size = if grid == "grid_code_1deg_frequency" { 10 } else { 100 };
            let cells =
                counts.grids.iter().find(|(of, _)| *of == size).map(|(_, cells)| cells.iter()).into_iter().flatten();
            frequencies(&mut cells.map(|(&(row, col), &n)| (cell_bbox(row, col, size), n)))
        }
    }
}

const FREQUENCY: &str = "frequency_distribution";

/// A coarse cell (`size` 0.1-degree cells a side) as `west,south,east,north` in degrees,
/// written digit by digit: thousands of keys a request, and `format!` was a tenth of its time.
fn cell_bbox(row: u32, col: u32, size: u32) -> String {
    let degrees = |index: u32, origin: i64| i64::from(index * size) / 10 - origin;
    let corners = [degrees(col, 180), degrees(row, 90), degrees(col + 1, 180), degrees(row + 1, 90)];
    let mut key = String::with_capacity(20);
    for (at, corner) in corners.into_iter().enumerate() {
        if at > 0 {
            key.push(',');
        }
        push_integer(&mut key, corner);
    }
    key
}

fn push_integer(text: &mut String, value: i64) {
    if value < 0 {
        text.push('-');
    }
    let mut digits = [0u8; 20];
    let mut rest = value.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    digits[at..].iter().for_each(|&digit| text.push(char::from(digit)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_keys_are_the_cells_as_boxes() {
        assert_eq!(cell_bbox(0, 0, 10), "-180,-90,-179,-89");
        assert_eq!(cell_bbox(139, 180, 10), "0,49,1,50");
        assert_eq!(cell_bbox(17, 35, 100), "170,80,180,90");
        assert_eq!(cell_bbox(89, 179, 10), "-1,-1,0,0");
        assert_eq!(cell_bbox(0, 0, 100), "-180,-90,-170,-80");
    }
}
