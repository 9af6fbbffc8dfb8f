//! Coverage bitmaps for the map: which cells of one year a store holds, or which cells a
//! target store lacks of what a source holds, as a portable Roaring bitmap of cell indexes
//! (`row * 3600 + col`, row 0 at the south pole), the format the engine's reader opens in the
//! browser. Each is computed once per snapshot, with its gzip and brotli forms and a strong
//! ETag, then served from memory.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::json;
use tessera_engine::bitmap::encode_ranges;
use tessera_engine::grid::{IdRange, Year};
use tessera_engine::storage::{CopyTool, Storage};
use xxhash_rust::xxh3::xxh3_64;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::routes::Audience;

/// One coverage bitmap in every encoding a client may ask for.
#[derive(Debug)]
pub struct Encoded {
    pub identity: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
    /// A strong ETag (quoted): a hash of the identity bytes.
    pub etag: String,
    /// Cells in the bitmap.
    pub cells: u64,
}

impl Encoded {
    fn new(bitmap: Vec<u8>, cells: u64) -> Encoded {
        let etag = format!("\"{:016x}\"", xxh3_64(&bitmap));
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = gzip.write_all(&bitmap).and_then(|()| gzip.finish()).unwrap_or_default();
        let mut brotli = Vec::new();
        let params = brotli::enc::BrotliEncoderParams { quality: 9, ..Default::default() };
        let _ = brotli::BrotliCompress(&mut bitmap.as_slice(), &mut brotli, &params);
        Encoded { identity: Bytes::from(bitmap), gzip: Bytes::from(gzip), brotli: Bytes::from(brotli), etag, cells }
    }
}

/// Encoded bitmaps by `source/target/year`, for one snapshot's life.
#[derive(Debug, Default)]
pub struct Cache(Mutex<HashMap<String, Arc<Encoded>>>);

impl Cache {
    fn get(&self, key: &str) -> Option<Arc<Encoded>> {
        self.entries().get(key).cloned()
    }

    fn insert(&self, key: String, encoded: Arc<Encoded>) {
        self.entries().insert(key, encoded);
    }

    /// A panic elsewhere cannot leave a half-made entry (entries go in whole), so a poisoned
    /// lock is still a good cache.
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Encoded>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `/coverage/{store}/{year}` or, with a target, `/coverage/{source}/{target}/{year}`.
pub fn bitmap(
    catalog: &Catalog,
    cache: &Cache,
    source: &str,
    target: Option<&str>,
    year: &str,
) -> Result<Arc<Encoded>> {
    let inventory = catalog.inventory();
    let year: Year = year.parse().map_err(|_| Error::NotFound(format!("`{year}` is not a year")))?;
    // The registry is a source like a store: `/coverage/registry/okavango/2024` is what the
    // primary lacks.
    let key = format!("{source}/{}/{year}", target.unwrap_or(""));
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    let cells = inventory.coverage(source, target, year).map_err(|err| Error::NotFound(err.to_string()))?;
    let count = cells.iter().map(|r| r.len()).sum();
    let encoded = Arc::new(Encoded::new(encode_ranges(&cells), count));
    cache.insert(key, encoded.clone());
    Ok(encoded)
}

/// `/coverage`: the stores, the years, and each store's tiles per year; for the operator, each
/// store's storage too (a local path, a bucket).
pub fn listing(catalog: &Catalog, audience: Audience) -> Bytes {
    let inventory = catalog.inventory();
    let base = catalog.base();
    let years: Vec<Year> = inventory.years().iter().collect();
    let stores: Vec<serde_json::Value> = inventory
        .stores()
        .iter()
        .map(|store| {
            let counts: serde_json::Map<String, serde_json::Value> = inventory
                .year_counts(&store.tiles)
                .into_iter()
                .map(|(year, count)| (year.to_string(), json!(count)))
                .collect();
            let mut listed = json!({"name": store.config.name, "role": store.config.role.as_str(), "years": counts});
            if audience == Audience::Operator {
                listed["storage"] = json!(store.config.storage);
            }
            listed
        })
        .collect();
    let registry: Option<serde_json::Map<String, serde_json::Value>> = inventory.registry().map(|registry| {
        inventory.year_counts(registry).into_iter().map(|(year, count)| (year.to_string(), json!(count))).collect()
    });
    let map = &inventory.config().map;
    let basemap = map.basemap_url.as_ref().map(|url| json!({"url": url, "attribution": map.basemap_attribution}));
    let doc = json!({
        "years": years,
        "basemap": basemap,
        "registry": registry.map(|years| json!({"years": years})),
        "stores": stores,
        "grid": {"cell_degrees": 0.1, "cols": 3600, "rows": 1800, "cell_index": "row * 3600 + col, row 0 from -90 to -89.9, col 0 from -180 to -179.9"},
        "links": [
            {"rel": "store-coverage", "href": format!("{base}/coverage/{{store}}/{{year}}"), "type": "application/octet-stream", "templated": true},
            {"rel": "missing-coverage", "href": format!("{base}/coverage/{{source}}/{{target}}/{{year}}"), "type": "application/octet-stream", "templated": true},
        ],
    });
    Bytes::from(serde_json::to_vec(&doc).expect("a serde_json::Value serialises"))
}

/// Tiles rendered into one chunk of a copy list's body: about 20 KB of s5cmd lines.
const TILES_PER_CHUNK: u32 = 128;

/// A copy list, rendered a chunk at a time as the client reads it: what it holds is the
/// missing id ranges (a few MB at most), never the text.
#[derive(Debug)]
pub struct CopyList {
    catalog: Arc<Catalog>,
    ranges: Vec<IdRange>,
    /// The next tile to render: an index into `ranges` and an id within it.
    at: (usize, u32),
    tool: Option<(CopyTool, Storage, Storage)>,
    /// The attachment's file name.
    pub file: String,
}

impl CopyList {
    /// The next chunk of lines, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        let writer = self.catalog.keys();
        let mut out = Vec::with_capacity(TILES_PER_CHUNK as usize * 160);
        let mut left = TILES_PER_CHUNK;
        while left > 0 {
            let (index, lo) = self.at;
            let Some(range) = self.ranges.get(index) else { break };
            let hi = range.hi.min(lo.saturating_add(left - 1));
            let part = [IdRange { lo, hi }];
            // Writing to a Vec cannot fail.
            let _ = match &self.tool {
                Some((tool, from, to)) => writer.write_for_tool(&part, *tool, from, to, &mut out),
                None => writer.write_lines(&part, tessera_engine::copylist::KeyStyle::Key, &mut out),
            };
            left -= hi - lo + 1;
            self.at = if hi == range.hi {
                (index + 1, self.ranges.get(index + 1).map_or(0, |next| next.lo))
            } else {
                (index, hi + 1)
            };
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

/// `/copylist/{source}/{target}?year=Y&bbox=W,S,E,N&format=keys|s5cmd|rsync|cp`: what `tessera
/// diff --emit-copylist` prints for the tiles `source` holds and `target` lacks in the year and
/// box. A tool that cannot copy between the two stores' storages is refused (400), as is a
/// list of more than `max_tiles` tiles (narrow it by year and box).
pub fn copylist(catalog: Arc<Catalog>, source: &str, target: &str, query: &str, max_tiles: u64) -> Result<CopyList> {
    let inventory = catalog.inventory();
    let mut filter = tessera_engine::inventory::Filter::default();
    let mut format = "keys".to_owned();
    for (name, value) in crate::query::pairs(query)? {
        match &*name {
            "year" => {
                filter.years.push(value.parse().map_err(|_| Error::bad(format!("year `{value}` is not a year")))?)
            }
            "bbox" if !value.is_empty() => {
                filter.bbox =
                    Some(tessera_engine::grid::Bbox::parse(&value).map_err(|err| Error::bad(err.to_string()))?)
            }
            "bbox" => {}
            "format" if ["keys", "s5cmd", "rsync", "cp"].contains(&&*value) => format = value.into_owned(),
            other => {
                return Err(Error::bad(format!(
                    "unknown parameter `{other}` (or value `{value}`); a copy list takes year, bbox and format=keys|s5cmd|rsync|cp"
                )));
            }
        }
    }
    let count = inventory.missing_count(source, target, &filter).map_err(|err| Error::NotFound(err.to_string()))?;
    if count > max_tiles {
        return Err(Error::bad(format!(
            "{target} lacks {count} tiles of {source} here; a copy list holds at most {max_tiles}: narrow it with year= and bbox=, or run `tessera diff {source} {target} --emit-copylist`"
        )));
    }
    let tool = match CopyTool::ALL.into_iter().find(|tool| tool.name() == format) {
        Some(tool) => {
            let storage = |name: &str| {
                let store =
                    inventory.store(name).map_err(|_| Error::bad(format!("`{name}` holds no files to copy")))?;
                store.config.storage().map_err(|err| Error::bad(err.to_string()))
            };
            let (from, to) = (storage(source)?, storage(target)?);
            tool.check(&from, &to).map_err(|err| Error::bad(err.to_string()))?;
            Some((tool, from, to))
        }
        None => None,
    };
    let ranges = inventory.missing(source, target, &filter).map_err(|err| Error::NotFound(err.to_string()))?;
    let at = (0, ranges.first().map_or(0, |range| range.lo));
    let file = format!("{source}-to-{target}.txt");
    Ok(CopyList { catalog, ranges, at, tool, file })
}
