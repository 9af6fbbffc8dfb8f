//! STAC items and item collections, written straight into a byte buffer.
//!
//! This is the hot path of every search: items are rendered by hand, not through serde, from
//! integers (coordinates are whole hundredths of a degree, so no float is ever formatted) and
//! strings checked to need no escaping when the catalog was loaded (URLs, store names, ids).

use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use tessera_engine::copylist::{KeyStyle, KeyWriter};

use tessera_engine::grid::{COLS, ROWS, Tile, TileId, YearRange};

use crate::catalog::{Catalog, NPY_TYPE, STAC_VERSION};
use crate::hex;

const EXTENSIONS: &str = concat!(
    "[\"https://stac-extensions.github.io/file/v2.1.0/schema.json\",",
    "\"https://stac-extensions.github.io/storage/v2.0.0/schema.json\",",
    "\"https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json\",",
    "\"https://stac-extensions.github.io/grid/v1.1.0/schema.json\"]"
);

/// Appends the item of registry tile `id` (which must be on the grid) to `out`.
pub fn item(out: &mut String, catalog: &Catalog, templates: &Templates, id: TileId) {
    Items::new(catalog, templates).push(out, id);
}

/// Renders items from templates: everything in an item but its tile's own values (id, names,
/// coordinates, sizes, checksums) depends only on its year and on which stores hold it, so it
/// is laid out once per (year, stores) and replayed for each item of a page.
///
/// Written for speed on purpose: formatting with `write!` took 40% of a search's CPU time,
/// and one `push_str` per JSON fragment still took a quarter. A replay is a few dozen copies.
pub struct Items<'c> {
    catalog: &'c Catalog,
    templates: &'c Templates,
    /// Templates made for this page when the catalog keeps none (more than 8 stores).
    local: Vec<((u16, u64), Template)>,
    /// The current tile's values, in buffers reused from item to item.
    values: Values,
}

impl<'c> Items<'c> {
    pub fn new(catalog: &'c Catalog, templates: &'c Templates) -> Items<'c> {
        Items { catalog, templates, local: Vec::new(), values: Values::new() }
    }

    /// Appends the item of registry tile `id` (which must be on the grid) to `out`.
    pub fn push(&mut self, out: &mut String, id: TileId) {
        let catalog = self.catalog;
        let Ok(tile) = catalog.years().tile(id) else { return };
        let holders = Holders::of(catalog, id);
        self.values.fill(catalog, id, tile);
        let make = || {
            let mut template = Template::default();
            layout(&mut template, catalog, tile.year, &holders);
            template
        };
        if let Some(slot) = self.templates.slot(catalog.years(), tile.year, holders.bits) {
            slot.get_or_init(make).replay(out, &self.values);
            return;
        }
        let shape = (tile.year, holders.bits);
        let at = match self.local.iter().position(|(key, _)| *key == shape) {
            Some(at) => at,
            None => {
                self.local.push((shape, make()));
                self.local.len() - 1
            }
        };
        self.local[at].1.replay(out, &self.values);
    }
}

/// The item templates of a catalog, one per (year, set of stores), made on first use and kept
/// for the snapshot's life: at most 9 years x 256 sets for up to 8 stores.
#[derive(Debug, Default)]
pub struct Templates {
    slots: Vec<OnceLock<Template>>,
    stores: usize,
}

impl Templates {
    pub fn new(years: YearRange, stores: usize) -> Templates {
        let slots = if stores <= 8 {
            (0..years.len() as usize * (1 << stores)).map(|_| OnceLock::new()).collect()
        } else {
            Vec::new()
        };
        Templates { slots, stores }
    }

    fn slot(&self, years: YearRange, year: u16, holders: u64) -> Option<&OnceLock<Template>> {
        let year_index = usize::from(year.checked_sub(years.first())?);
        self.slots.get(year_index * (1 << self.stores) + holders as usize)
    }
}

/// The parts of an item that differ from tile to tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ItemId,
    /// `grid_0.85_49.95`
    Name,
    /// `2024/grid_0.85_49.95`
    Key,
    /// `"geometry":{...},"bbox":[...]`
    Footprint,
    Size(usize),
    Checksum(usize),
    /// `,"tessera:bytes":N` when the registry gives both `.npy` sizes.
    Bytes,
}

/// Static text with holes, in order.
#[derive(Debug, Default)]
pub struct Template {
    pieces: Vec<(String, Option<Var>)>,
}

impl Template {
    fn s(&mut self, text: &str) -> &mut Self {
        match self.pieces.last_mut() {
            Some((last, None)) => last.push_str(text),
            _ => self.pieces.push((text.to_owned(), None)),
        }
        self
    }

    fn var(&mut self, var: Var) -> &mut Self {
        match self.pieces.last_mut() {
            Some((_, slot @ None)) => *slot = Some(var),
            _ => self.pieces.push((String::new(), Some(var))),
        }
        self
    }

    fn replay(&self, out: &mut String, values: &Values) {
        for (text, var) in &self.pieces {
            out.push_str(text);
            match var {
                None => {}
                Some(Var::ItemId) => out.push_str(&values.names.item_id),
                Some(Var::Name) => out.push_str(values.names.name()),
                Some(Var::Key) => out.push_str(&values.names.key),
                Some(Var::Footprint) => out.push_str(&values.footprint),
                Some(Var::Size(n)) => {
                    if let Some(size) = values.sizes[*n] {
                        out.push_str(",\"file:size\":");
                        out.push_str(itoa::Buffer::new().format(size));
                    }
                }
                Some(Var::Bytes) => {
                    if let [Some(data), Some(scales), _] = values.sizes {
                        out.push_str(",\"tessera:bytes\":");
                        out.push_str(itoa::Buffer::new().format(data + scales));
                    }
                }
                Some(Var::Checksum(n)) => {
                    let sha256 = &values.checksums[*n];
                    if !sha256.is_empty() {
                        out.push_str(",\"file:checksum\":\"1220");
                        out.push_str(sha256);
                        out.push('"');
                    }
                }
            }
        }
    }
}

/// One tile's own values.
#[derive(Debug, Default)]
struct Values {
    names: Names,
    footprint: String,
    sizes: [Option<u64>; 3],
    /// Each file's SHA-256 in hex, empty when unknown; written once, used twice for the
    /// `.npy` files (their checksums, and the text of the `SHA256` file hashed for its own).
    checksums: [String; 3],
}

impl Values {
    /// Buffers sized for the longest values, so that no item grows them.
    fn new() -> Values {
        let names = Names { key: String::with_capacity(32), name_at: 0, item_id: String::with_capacity(32) };
        let checksums = std::array::from_fn(|_| String::with_capacity(64));
        Values { names, footprint: String::with_capacity(192), sizes: [None; 3], checksums }
    }

    /// Refills the buffers with tile `id`'s values.
    fn fill(&mut self, catalog: &Catalog, id: TileId, tile: Tile) {
        let details = catalog.details(id).unwrap_or_default();
        self.names.fill(catalog.keys(), id);
        for (text, digest) in self.checksums.iter_mut().zip([details.hash, details.scales_hash, None]) {
            text.clear();
            if let Some(digest) = digest {
                hex::push_sha256(text, &digest);
            }
        }
        let checksums_size = checksums_file(self.names.name(), &mut self.checksums);
        self.footprint.clear();
        footprint(&mut Json(&mut self.footprint), tile);
        self.sizes = [details.file_size, details.scales_size, checksums_size];
    }
}

/// Lays out the item of a tile of `year` held by `holders`, with holes for the tile's values.
fn layout(t: &mut Template, catalog: &Catalog, year: u16, holders: &Holders) {
    let base = catalog.base();
    let year = itoa::Buffer::new().format(year).to_owned();
    t.s("{\"type\":\"Feature\",\"stac_version\":\"").s(STAC_VERSION).s("\",\"stac_extensions\":").s(EXTENSIONS);
    t.s(",\"id\":\"").var(Var::ItemId).s("\",\"collection\":\"geotessera-").s(&year).s("\",").var(Var::Footprint);
    // The title repeats the id: clients that show titles (STAC Browser, QGIS) then show the
    // whole id, where STAC Browser would cut an id's last `.05` off as a file extension.
    t.s(",\"properties\":{\"title\":\"").var(Var::ItemId);
    t.s("\",\"datetime\":\"").s(&year).s("-01-01T00:00:00Z\",\"start_datetime\":\"").s(&year);
    t.s("-01-01T00:00:00Z\",\"end_datetime\":\"").s(&year).s("-12-31T23:59:59Z\",\"year\":").s(&year);
    t.var(Var::Bytes).s(",\"grid:code\":\"TESSERA-");
    t.var(Var::Name).s("\",\"tessera:stores\":[");
    for (n, store) in holders.iter().enumerate() {
        t.s(comma(n)).s("\"").s(&catalog.stores()[store].name).s("\"");
    }
    t.s("],\"storage:schemes\":{");
    let referenced = std::iter::once(holders.home).chain(holders.iter().filter(|&s| s != holders.home));
    for (n, store) in referenced.enumerate() {
        t.s(comma(n)).s(&catalog.stores()[store].scheme);
    }
    let collection = format!("{base}/collections/geotessera-{year}");
    t.s("}},\"links\":[{\"rel\":\"self\",\"href\":\"").s(&collection).s("/items/").var(Var::ItemId);
    t.s("\",\"type\":\"application/geo+json\"},{\"rel\":\"parent\",\"href\":\"").s(&collection);
    t.s("\",\"type\":\"application/json\"},{\"rel\":\"collection\",\"href\":\"").s(&collection);
    t.s("\",\"type\":\"application/json\"},{\"rel\":\"root\",\"href\":\"").s(base);
    t.s("/\",\"type\":\"application/json\"}],\"assets\":{");
    let assets = [
        Asset { key: "embeddings", suffix: ".npy", media_type: NPY_TYPE, role: "data" },
        Asset { key: "scales", suffix: "_scales.npy", media_type: NPY_TYPE, role: "data" },
        Asset { key: "checksums", suffix: "", media_type: "text/plain", role: "metadata" },
    ];
    for (n, asset) in assets.iter().enumerate() {
        t.s(comma(n));
        layout_asset(t, catalog, holders, asset, n);
    }
    t.s("}}");
}

fn layout_asset(t: &mut Template, catalog: &Catalog, holders: &Holders, asset: &Asset, n: usize) {
    let stores = catalog.stores();
    let file = |t: &mut Template, store: usize| {
        t.s(&stores[store].href).s("/").var(Var::Key).s("/");
        if asset.suffix.is_empty() {
            t.s("SHA256");
        } else {
            t.var(Var::Name).s(asset.suffix);
        }
    };
    t.s("\"").s(asset.key).s("\":{\"href\":\"");
    file(t, holders.home);
    t.s("\",\"type\":\"").s(asset.media_type).s("\",\"roles\":[\"").s(asset.role).s("\"]");
    t.var(Var::Size(n)).var(Var::Checksum(n));
    let home = &stores[holders.home].name;
    t.s(",\"storage:refs\":[\"").s(home).s("\"],\"alternate:name\":\"").s(home).s("\",\"alternate\":{");
    for (i, store) in holders.iter().filter(|&s| s != holders.home).enumerate() {
        let name = &stores[store].name;
        t.s(comma(i)).s("\"").s(name).s("\":{\"href\":\"");
        file(t, store);
        t.s("\",\"storage:refs\":[\"").s(name).s("\"]}");
    }
    t.s("}}");
}

/// The strings of one tile, written into reused buffers.
#[derive(Debug, Default)]
struct Names {
    /// `2024/grid_0.85_49.95`: the folder; the year and the name are slices of it.
    key: String,
    /// Where the name starts in `key`.
    name_at: usize,
    /// `2024_grid_0.85_49.95`
    item_id: String,
}

impl Names {
    /// From precomputed coordinate strings, not the formatting machinery (this is per item);
    /// the item id is the key with its `/` made a `_`.
    fn fill(&mut self, keys: &KeyWriter, id: TileId) {
        let mut bytes = std::mem::take(&mut self.key).into_bytes();
        bytes.clear();
        keys.push(&mut bytes, id.0, KeyStyle::Key);
        self.key = String::from_utf8(bytes).unwrap_or_default();
        self.name_at = self.key.bytes().position(|b| b == b'/').map_or(0, |slash| slash + 1);
        self.item_id.clear();
        self.item_id.push_str(&self.key);
        if self.name_at > 0 {
            self.item_id.replace_range(self.name_at - 1..self.name_at, "_");
        }
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

/// The tile's `SHA256` file is `sha256sum` output for its two `.npy` files, sorted by name,
/// so its size and its own SHA-256 follow from the registry's hashes (`checksums`, in hex: the
/// `.npy` files' are read, the file's own written). `None` when either hash is unknown.
fn checksums_file(name: &str, checksums: &mut [String; 3]) -> Option<u64> {
    let [hash, scales_hash, own] = checksums;
    if hash.is_empty() || scales_hash.is_empty() {
        return None;
    }
    let mut sha256 = Sha256::new();
    let mut size = 0;
    for (hash, suffix) in [(&*hash, ".npy\n"), (&*scales_hash, "_scales.npy\n")] {
        for part in [hash, "  ", name, suffix] {
            sha256.update(part.as_bytes());
            size += part.len();
        }
    }
    hex::push_sha256(own, &sha256.finalize().into());
    Some(size as u64)
}

/// The tile's `geometry` and `bbox`: its centre +/- 0.05 degrees, from the grid lines' text.
fn footprint(json: &mut Json, tile: Tile) {
    let lines = GridLines::get();
    let (col, row) = (tile.cell.col() as usize, tile.cell.row() as usize);
    let (w, e) = (&*lines.meridians[col], &*lines.meridians[col + 1]);
    let (s, n) = (&*lines.parallels[row], &*lines.parallels[row + 1]);
    json.s("\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[");
    for (i, (x, y)) in [(w, s), (e, s), (e, n), (w, n), (w, s)].into_iter().enumerate() {
        json.s(comma(i)).s("[").s(x).s(",").s(y).s("]");
    }
    json.s("]]},\"bbox\":[").s(w).s(",").s(s).s(",").s(e).s(",").s(n).s("]");
}

/// Every grid line's coordinate as the shortest decimal (`-179.9`, `0.1`, `90`), written once
/// per process: a footprint is then ten copies, where formatting its coordinates took a twelfth
/// of the instructions of a search.
struct GridLines {
    /// West to east, from -180.
    meridians: Vec<Box<str>>,
    /// South to north, from -90.
    parallels: Vec<Box<str>>,
}

impl GridLines {
    fn get() -> &'static GridLines {
        static LINES: OnceLock<GridLines> = OnceLock::new();
        LINES.get_or_init(|| {
            let text = |centi: i32| {
                let mut out = String::new();
                Json(&mut out).centi(centi);
                out.into_boxed_str()
            };
            GridLines {
                meridians: (0..=COLS as i32).map(|col| text(-18000 + 10 * col)).collect(),
                parallels: (0..=ROWS as i32).map(|row| text(-9000 + 10 * row)).collect(),
            }
        })
    }
}

fn comma(n: usize) -> &'static str {
    if n == 0 { "" } else { "," }
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
