//! STAC items and item collections, written straight into a byte buffer.
//!
//! This is the hot path of every search: items are rendered by hand, not through serde, from
//! integers (coordinates are whole hundredths of a degree, so no float is ever formatted) and
//! strings checked to need no escaping when the catalog was loaded (URLs, store names, ids).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tessera_engine::details::TileDetails;
use tessera_engine::grid::{Tile, TileId};

use crate::catalog::{Catalog, NPY_TYPE, STAC_VERSION, collection_id};

const EXTENSIONS: &str = concat!(
    "[\"https://stac-extensions.github.io/file/v2.1.0/schema.json\",",
    "\"https://stac-extensions.github.io/storage/v2.0.0/schema.json\",",
    "\"https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json\",",
    "\"https://stac-extensions.github.io/grid/v1.1.0/schema.json\"]"
);

/// Appends the item of registry tile `id` (which must be on the grid) to `out`.
pub fn item(out: &mut String, catalog: &Catalog, id: TileId) {
    let Ok(tile) = catalog.years().tile(id) else { return };
    let details = catalog.details(id).unwrap_or_default();
    let base = catalog.base();
    let year = tile.year;
    let collection = collection_id(year);
    let item_id = tile.item_id();
    let [w, s, e, n] = footprint(tile);
    let _ = write!(
        out,
        "{{\"type\":\"Feature\",\"stac_version\":\"{STAC_VERSION}\",\"stac_extensions\":{EXTENSIONS},\
         \"id\":\"{item_id}\",\"collection\":\"{collection}\",\
         \"geometry\":{{\"type\":\"Polygon\",\"coordinates\":[[[{w},{s}],[{e},{s}],[{e},{n}],[{w},{n}],[{w},{s}]]]}},\
         \"bbox\":[{w},{s},{e},{n}],\
         \"properties\":{{\"datetime\":\"{year}-01-01T00:00:00Z\",\"start_datetime\":\"{year}-01-01T00:00:00Z\",\
         \"end_datetime\":\"{year}-12-31T23:59:59Z\",\"grid:code\":\"TESSERA-{cell}\",",
        cell = tile.cell.name(),
    );
    let holders: Vec<usize> = (0..catalog.stores().len()).filter(|&s| catalog.holds(s, id)).collect();
    let home = home_store(catalog, &holders);
    out.push_str("\"tessera:stores\":[");
    for (n, &store) in holders.iter().enumerate() {
        let _ = write!(out, "{}\"{}\"", comma(n), catalog.stores()[store].name);
    }
    out.push_str("],\"storage:schemes\":{");
    let referenced = std::iter::once(home).chain(holders.iter().copied().filter(|&s| s != home));
    for (n, store) in referenced.enumerate() {
        let _ = write!(out, "{}{}", comma(n), catalog.stores()[store].scheme);
    }
    let _ = write!(
        out,
        "}}}},\"links\":[\
         {{\"rel\":\"self\",\"href\":\"{base}/collections/{collection}/items/{item_id}\",\"type\":\"application/geo+json\"}},\
         {{\"rel\":\"parent\",\"href\":\"{base}/collections/{collection}\",\"type\":\"application/json\"}},\
         {{\"rel\":\"collection\",\"href\":\"{base}/collections/{collection}\",\"type\":\"application/json\"}},\
         {{\"rel\":\"root\",\"href\":\"{base}/\",\"type\":\"application/json\"}}],\"assets\":{{"
    );
    let name = tile.cell.name();
    let files = [
        ("embeddings", format!("{name}.npy"), NPY_TYPE, "data", details.file_size, details.hash),
        ("scales", format!("{name}_scales.npy"), NPY_TYPE, "data", details.scales_size, details.scales_hash),
    ];
    for (key, file, media_type, role, size, hash) in &files {
        asset(out, catalog, tile, (&holders, home), (key, file, media_type, role), *size, hash.as_ref());
        out.push(',');
    }
    let (size, hash) = checksums_file(tile, &details);
    asset(out, catalog, tile, (&holders, home), ("checksums", "SHA256", "text/plain", "metadata"), size, hash.as_ref());
    out.push_str("}}");
}

/// The store an asset's `href` points at: the primary when it holds the tile, else the first
/// store that does, else the primary (where the tile should be).
fn home_store(catalog: &Catalog, holders: &[usize]) -> usize {
    if holders.contains(&catalog.primary()) {
        catalog.primary()
    } else {
        holders.first().copied().unwrap_or(catalog.primary())
    }
}

fn asset(
    out: &mut String,
    catalog: &Catalog,
    tile: Tile,
    (holders, home): (&[usize], usize),
    (key, file, media_type, role): (&str, &str, &str, &str),
    size: Option<u64>,
    sha256: Option<&[u8; 32]>,
) {
    let stores = catalog.stores();
    let folder = tile.key();
    let _ = write!(
        out,
        "\"{key}\":{{\"href\":\"{}/{folder}/{file}\",\"type\":\"{media_type}\",\"roles\":[\"{role}\"]",
        stores[home].href
    );
    if let Some(size) = size {
        let _ = write!(out, ",\"file:size\":{size}");
    }
    if let Some(sha256) = sha256 {
        out.push_str(",\"file:checksum\":\"1220");
        push_hex(out, sha256);
        out.push('"');
    }
    let _ = write!(out, ",\"storage:refs\":[\"{0}\"],\"alternate:name\":\"{0}\",\"alternate\":{{", stores[home].name);
    for (n, &store) in holders.iter().filter(|&&s| s != home).enumerate() {
        let store = &stores[store];
        let _ = write!(
            out,
            "{}\"{1}\":{{\"href\":\"{2}/{folder}/{file}\",\"storage:refs\":[\"{1}\"]}}",
            comma(n),
            store.name,
            store.href
        );
    }
    out.push_str("}}");
}

/// The tile's `SHA256` file is `sha256sum` output for its two `.npy` files, sorted by name,
/// so its size and its own SHA-256 follow from the registry's hashes.
fn checksums_file(tile: Tile, details: &TileDetails) -> (Option<u64>, Option<[u8; 32]>) {
    let (Some(hash), Some(scales_hash)) = (details.hash, details.scales_hash) else { return (None, None) };
    let mut text = String::with_capacity(192);
    let name = tile.cell.name();
    push_hex(&mut text, &hash);
    let _ = writeln!(text, "  {name}.npy");
    push_hex(&mut text, &scales_hash);
    let _ = writeln!(text, "  {name}_scales.npy");
    (Some(text.len() as u64), Some(Sha256::digest(text.as_bytes()).into()))
}

/// West, south, east, north of a tile's footprint, as JSON numbers (centre +/- 0.05 degrees).
fn footprint(tile: Tile) -> [Centi; 4] {
    let (lon, lat) = (tile.cell.lon_centi(), tile.cell.lat_centi());
    [Centi(lon - 5), Centi(lat - 5), Centi(lon + 5), Centi(lat + 5)]
}

/// Hundredths of a degree written as the shortest decimal: 80 -> `0.8`, -5 -> `-0.05`, 18000 -> `180`.
struct Centi(i32);

impl std::fmt::Display for Centi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let (whole, frac) = (self.0.unsigned_abs() / 100, self.0.unsigned_abs() % 100);
        match frac {
            0 => write!(f, "{sign}{whole}"),
            f10 if f10 % 10 == 0 => write!(f, "{sign}{whole}.{}", f10 / 10),
            _ => write!(f, "{sign}{whole}.{frac:02}"),
        }
    }
}

fn comma(n: usize) -> &'static str {
    if n == 0 { "" } else { "," }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &byte in bytes {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 15)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centi_is_the_shortest_decimal() {
        let shown: Vec<String> = [80, -5, 18000, 4995, -17995, 0, 105, -100].map(|c| Centi(c).to_string()).into();
        assert_eq!(shown, ["0.8", "-0.05", "180", "49.95", "-179.95", "0", "1.05", "-1"]);
    }
}
