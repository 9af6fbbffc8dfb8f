//! STAC items and item collections, written straight into a byte buffer.
//!
//! This is the hot path of every search: items are rendered by hand, not through serde, from
//! integers (coordinates are whole hundredths of a degree, so no float is ever formatted) and
//! strings checked to need no escaping when the catalog was loaded (URLs, store names, ids).

use sha2::{Digest, Sha256};
use tessera_engine::details::TileDetails;
use tessera_engine::grid::{Tile, TileId};

use crate::catalog::{Catalog, NPY_TYPE, STAC_VERSION};

const EXTENSIONS: &str = concat!(
    "[\"https://stac-extensions.github.io/file/v2.1.0/schema.json\",",
    "\"https://stac-extensions.github.io/storage/v2.0.0/schema.json\",",
    "\"https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json\",",
    "\"https://stac-extensions.github.io/grid/v1.1.0/schema.json\"]"
);

/// Appends the item of registry tile `id` (which must be on the grid) to `out`.
///
/// Written with `push_str` on purpose: `write!` and its formatting machinery took 40% of a
/// search's CPU time. Every per-tile string (name, key, item id) is built once.
pub fn item(out: &mut String, catalog: &Catalog, id: TileId) {
    let Ok(tile) = catalog.years().tile(id) else { return };
    let details = catalog.details(id).unwrap_or_default();
    let names = Names::of(tile);
    let (base, year) = (catalog.base(), names.year());
    let mut json = Json(out);
    json.s("{\"type\":\"Feature\",\"stac_version\":\"").s(STAC_VERSION).s("\",\"stac_extensions\":").s(EXTENSIONS);
    json.s(",\"id\":\"").s(&names.item_id).s("\",\"collection\":\"geotessera-").s(year).s("\",");
    footprint(&mut json, tile);
    json.s(",\"properties\":{\"datetime\":\"").s(year).s("-01-01T00:00:00Z\",\"start_datetime\":\"").s(year);
    json.s("-01-01T00:00:00Z\",\"end_datetime\":\"").s(year).s("-12-31T23:59:59Z\",\"grid:code\":\"TESSERA-");
    json.s(names.name()).s("\",\"tessera:stores\":[");
    let holders = Holders::of(catalog, id);
    for (n, store) in holders.iter().enumerate() {
        json.s(comma(n)).s("\"").s(&catalog.stores()[store].name).s("\"");
    }
    json.s("],\"storage:schemes\":{");
    let referenced = std::iter::once(holders.home).chain(holders.iter().filter(|&s| s != holders.home));
    for (n, store) in referenced.enumerate() {
        json.s(comma(n)).s(&catalog.stores()[store].scheme);
    }
    let collection = |json: &mut Json| {
        json.s(base).s("/collections/geotessera-").s(year);
    };
    json.s("}},\"links\":[{\"rel\":\"self\",\"href\":\"");
    collection(&mut json);
    json.s("/items/").s(&names.item_id).s("\",\"type\":\"application/geo+json\"},{\"rel\":\"parent\",\"href\":\"");
    collection(&mut json);
    json.s("\",\"type\":\"application/json\"},{\"rel\":\"collection\",\"href\":\"");
    collection(&mut json);
    json.s("\",\"type\":\"application/json\"},{\"rel\":\"root\",\"href\":\"").s(base);
    json.s("/\",\"type\":\"application/json\"}],\"assets\":{");
    let files = [
        (
            Asset { key: "embeddings", suffix: ".npy", media_type: NPY_TYPE, role: "data" },
            details.file_size,
            details.hash,
        ),
        (
            Asset { key: "scales", suffix: "_scales.npy", media_type: NPY_TYPE, role: "data" },
            details.scales_size,
            details.scales_hash,
        ),
    ];
    let stores = (catalog, &holders);
    for (asset, size, hash) in &files {
        write_asset(&mut json, stores, &names, asset, *size, hash.as_ref());
        json.s(",");
    }
    let (size, hash) = checksums_file(names.name(), &details);
    let checksums = Asset { key: "checksums", suffix: "", media_type: "text/plain", role: "metadata" };
    write_asset(&mut json, stores, &names, &checksums, size, hash.as_ref());
    json.s("}}");
}

/// The strings of one tile, built once per item (two allocations).
struct Names {
    /// `2024/grid_0.85_49.95`: the folder; the year and the name are slices of it.
    key: String,
    /// Where the name starts in `key`.
    name_at: usize,
    /// `2024_grid_0.85_49.95`
    item_id: String,
}

impl Names {
    fn of(tile: Tile) -> Names {
        let key = tile.key().to_string();
        let name_at = key.find('/').map_or(0, |slash| slash + 1);
        let item_id = key.replacen('/', "_", 1);
        Names { key, name_at, item_id }
    }

    fn year(&self) -> &str {
        &self.key[..self.name_at.saturating_sub(1)]
    }

    /// `grid_0.85_49.95`
    fn name(&self) -> &str {
        &self.key[self.name_at..]
    }
}

/// The stores that hold a tile, as a bit set (a catalog has at most 64 stores), and the one
/// its hrefs point at.
struct Holders {
    bits: u64,
    home: usize,
}

impl Holders {
    fn of(catalog: &Catalog, id: TileId) -> Holders {
        let bits =
            (0..catalog.stores().len().min(64)).filter(|&s| catalog.holds(s, id)).fold(0u64, |bits, s| bits | 1 << s);
        // The primary when it holds the tile, else the first store that does, else the
        // primary (where the tile should be).
        let primary = catalog.primary();
        let home = if bits & (1 << primary) != 0 || bits == 0 { primary } else { bits.trailing_zeros() as usize };
        Holders { bits, home }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..64).filter(|&s| self.bits & (1 << s) != 0)
    }
}

/// One file of a tile.
struct Asset {
    key: &'static str,
    /// What follows the tile name in the file name; empty for the `SHA256` file.
    suffix: &'static str,
    media_type: &'static str,
    role: &'static str,
}

/// Appends to a `String` without the formatting machinery.
struct Json<'o>(&'o mut String);

impl Json<'_> {
    fn s(&mut self, text: &str) -> &mut Self {
        self.0.push_str(text);
        self
    }

    fn u64(&mut self, value: u64) -> &mut Self {
        self.0.push_str(itoa::Buffer::new().format(value));
        self
    }

    /// Hundredths of a degree as the shortest decimal: 80 -> `0.8`, -5 -> `-0.05`, 18000 -> `180`.
    fn centi(&mut self, centi: i32) -> &mut Self {
        if centi < 0 {
            self.0.push('-');
        }
        let (whole, frac) = (centi.unsigned_abs() / 100, centi.unsigned_abs() % 100);
        self.0.push_str(itoa::Buffer::new().format(whole));
        if frac != 0 {
            self.0.push('.');
            self.0.push(char::from(b'0' + (frac / 10) as u8));
            if frac % 10 != 0 {
                self.0.push(char::from(b'0' + (frac % 10) as u8));
            }
        }
        self
    }
}

fn write_asset(
    json: &mut Json,
    (catalog, holders): (&Catalog, &Holders),
    names: &Names,
    asset: &Asset,
    size: Option<u64>,
    sha256: Option<&[u8; 32]>,
) {
    let stores = catalog.stores();
    let file = |json: &mut Json, store: usize| {
        json.s(&stores[store].href).s("/").s(&names.key).s("/");
        if asset.suffix.is_empty() {
            json.s("SHA256")
        } else {
            json.s(names.name()).s(asset.suffix)
        };
    };
    json.s("\"").s(asset.key).s("\":{\"href\":\"");
    file(json, holders.home);
    json.s("\",\"type\":\"").s(asset.media_type).s("\",\"roles\":[\"").s(asset.role).s("\"]");
    if let Some(size) = size {
        json.s(",\"file:size\":").u64(size);
    }
    if let Some(sha256) = sha256 {
        json.s(",\"file:checksum\":\"1220");
        push_hex(json.0, sha256);
        json.s("\"");
    }
    let home_name = &stores[holders.home].name;
    json.s(",\"storage:refs\":[\"").s(home_name).s("\"],\"alternate:name\":\"").s(home_name).s("\",\"alternate\":{");
    for (n, store) in holders.iter().filter(|&s| s != holders.home).enumerate() {
        let name = &stores[store].name;
        json.s(comma(n)).s("\"").s(name).s("\":{\"href\":\"");
        file(json, store);
        json.s("\",\"storage:refs\":[\"").s(name).s("\"]}");
    }
    json.s("}}");
}

/// The tile's `SHA256` file is `sha256sum` output for its two `.npy` files, sorted by name,
/// so its size and its own SHA-256 follow from the registry's hashes.
fn checksums_file(name: &str, details: &TileDetails) -> (Option<u64>, Option<[u8; 32]>) {
    let (Some(hash), Some(scales_hash)) = (details.hash, details.scales_hash) else { return (None, None) };
    let mut text = String::with_capacity(192);
    for (hash, suffix) in [(hash, ".npy\n"), (scales_hash, "_scales.npy\n")] {
        push_hex(&mut text, &hash);
        text.push_str("  ");
        text.push_str(name);
        text.push_str(suffix);
    }
    (Some(text.len() as u64), Some(Sha256::digest(text.as_bytes()).into()))
}

/// The tile's `geometry` and `bbox`: its centre +/- 0.05 degrees.
fn footprint(json: &mut Json, tile: Tile) {
    let (lon, lat) = (tile.cell.lon_centi(), tile.cell.lat_centi());
    let (w, s, e, n) = (lon - 5, lat - 5, lon + 5, lat + 5);
    json.s("\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[");
    for (i, (x, y)) in [(w, s), (e, s), (e, n), (w, n), (w, s)].into_iter().enumerate() {
        json.s(comma(i)).s("[").centi(x).s(",").centi(y).s("]");
    }
    json.s("]]},\"bbox\":[").centi(w).s(",").centi(s).s(",").centi(e).s(",").centi(n).s("]");
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
        let shown: Vec<String> = [80, -5, 18000, 4995, -17995, 0, 105, -100]
            .map(|c| {
                let mut out = String::new();
                Json(&mut out).centi(c);
                out
            })
            .into();
        assert_eq!(shown, ["0.8", "-0.05", "180", "49.95", "-179.95", "0", "1.05", "-1"]);
    }
}
