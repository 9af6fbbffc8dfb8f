//! The Aggregation extension: counts of a search's matches by year, by collection, by store and
//! by 1- or 10-degree cell, computed by the engine from bitmaps (no item is rendered).

use serde_json::{Value, json};
use tessera_engine::query::Aggregates;

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

/// Answers the aggregations `search` asks for (its geometry rasterised).
pub fn answer(catalog: &Catalog, search: &Search, visit: &Visit) -> Result<Value> {
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
    let plan = catalog.plan(&search.query(catalog)?)?;
    let mut stopped = None;
    let mut keep_going = || visit.check().map_err(|err| stopped = Some(err)).is_ok();
    let counts = match plan.aggregate(&grids, &mut keep_going) {
        Ok(counts) => counts,
        Err(err) => return Err(stopped.unwrap_or(err.into())),
    };
    let aggregations: Vec<Value> = names.iter().map(|name| render(name, &counts, &grids)).collect();
    let base = catalog.base();
    Ok(json!({
        "type": "AggregationCollection",
        "aggregations": aggregations,
        "links": [
            {"rel": "root", "href": format!("{base}/"), "type": "application/json"},
        ],
    }))
}

fn render(name: &str, counts: &Aggregates, grids: &[u32]) -> Value {
    let buckets = |pairs: Vec<(String, u64)>| -> Value {
        let buckets: Vec<Value> = pairs
            .into_iter()
            .filter(|(_, frequency)| *frequency > 0)
            .map(|(key, frequency)| json!({"key": key, "data_type": "frequency_distribution", "frequency": frequency}))
            .collect();
        json!({"name": name, "data_type": "frequency_distribution", "overflow": 0, "buckets": buckets})
    };
    match name {
        "total_count" => json!({"name": name, "data_type": "integer", "value": counts.total}),
        "datetime_frequency" => {
            buckets(counts.years.iter().map(|(year, n)| (format!("{year}-01-01T00:00:00.000Z"), *n)).collect())
        }
        "collection_frequency" => buckets(counts.years.iter().map(|(year, n)| (collection_id(*year), *n)).collect()),
        "tessera:stores_frequency" => buckets(counts.stores.clone()),
        grid => {
            let size = if grid == "grid_code_1deg_frequency" { 10 } else { 100 };
            let at = grids.iter().position(|&s| s == size).unwrap_or(0);
            let cells = counts.grids.get(at).map(|(_, cells)| cells.iter()).into_iter().flatten();
            buckets(cells.map(|(&(row, col), &n)| (cell_bbox(row, col, size), n)).collect())
        }
    }
}

/// A coarse cell (`size` 0.1-degree cells a side) as `west,south,east,north` in degrees.
fn cell_bbox(row: u32, col: u32, size: u32) -> String {
    let degrees =
        |index: u32, origin: i64| (i64::from(index * size) / 10 - origin, i64::from((index + 1) * size) / 10 - origin);
    let (west, east) = degrees(col, 180);
    let (south, north) = degrees(row, 90);
    format!("{west},{south},{east},{north}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_keys_are_the_cells_as_boxes() {
        assert_eq!(cell_bbox(0, 0, 10), "-180,-90,-179,-89");
        assert_eq!(cell_bbox(139, 180, 10), "0,49,1,50");
        assert_eq!(cell_bbox(17, 35, 100), "170,80,180,90");
    }
}
