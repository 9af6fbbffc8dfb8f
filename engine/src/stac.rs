//! STAC names the server, the CLI and the map share: a year's collection, and a store's gap as
//! a CQL2 filter and a search path, so a gap seen on the map or listed by `tessera diff` can be
//! taken to pystac-client, QGIS or a notebook as it is.

use crate::grid::Year;

/// The item property listing the stores that hold a tile.
pub const STORES_PROPERTY: &str = "tessera:stores";

/// The collection of one year's tiles.
pub fn collection_id(year: Year) -> String {
    format!("geotessera-{year}")
}

/// CQL2-text selecting the registry's tiles that `source` holds and `target` lacks; with no
/// source (the registry), every registry tile `target` lacks.
pub fn gap_filter(source: Option<&str>, target: &str) -> String {
    let lacks = format!("NOT a_contains(\"{STORES_PROPERTY}\", {})", text_literal(target));
    match source {
        Some(source) => format!("{lacks} AND a_contains(\"{STORES_PROPERTY}\", {})", text_literal(source)),
        None => lacks,
    }
}

/// The `/search` path (below the API's root) for the items a CQL2-text `filter` selects in
/// `years` (every year when empty) and in `bbox` (`west,south,east,north`) when given.
pub fn search_path(filter: &str, years: &[Year], bbox: Option<&str>) -> String {
    let mut path = String::from("/search?");
    if !years.is_empty() {
        let collections: Vec<String> = years.iter().map(|&year| collection_id(year)).collect();
        path.push_str(&format!("collections={}&", encode_component(&collections.join(","))));
    }
    if let Some(bbox) = bbox {
        path.push_str(&format!("bbox={}&", encode_component(bbox)));
    }
    path.push_str(&format!("filter-lang=cql2-text&filter={}", encode_component(filter)));
    path
}

/// `text` as a CQL2 character literal: quoted, quotes doubled.
fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `text` percent-encoded for a query value: every byte but the unreserved ones (RFC 3986).
fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_a_filter_and_a_search_path() {
        assert_eq!(
            gap_filter(Some("okavango"), "scaleway"),
            r#"NOT a_contains("tessera:stores", 'scaleway') AND a_contains("tessera:stores", 'okavango')"#
        );
        assert_eq!(gap_filter(None, "it's"), r#"NOT a_contains("tessera:stores", 'it''s')"#);
        assert_eq!(
            search_path("NOT x", &[2024, 2025], Some("-10,40,0,50")),
            "/search?collections=geotessera-2024%2Cgeotessera-2025&bbox=-10%2C40%2C0%2C50&filter-lang=cql2-text&filter=NOT%20x"
        );
        assert_eq!(search_path("x", &[], None), "/search?filter-lang=cql2-text&filter=x");
    }
}
