//! An inventory as the API serves it, as plain data: the memory-mapped sets, the registry's
//! per-tile details, each store's links, and every document that does not depend on a request
//! (landing page, conformance, collections), rendered once when it is loaded. It knows nothing
//! of item rendering or caches: [`crate::snapshot`] pairs it with those, and a reload swaps the
//! pair whole; requests in flight keep the one they started with.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use serde_json::{Value, json};
use tessera_engine::bitmap::kernels;
use tessera_engine::bitmap::sink::FnSink;
use tessera_engine::details::{Details, TileDetails};
use tessera_engine::grid::{COLS, TileId, Year, YearRange};
use tessera_engine::inventory::{Inventory, Role};

use crate::error::{Error, Result};

pub use tessera_engine::stac::collection_id;

pub use tessera_engine::inventory::TileSet;

/// The STAC version of every document.
pub const STAC_VERSION: &str = "1.1.0";

/// The conformance classes the API passes `stac-api-validator` for, no more.
pub const CONFORMANCE: &[&str] = &[
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.1.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.1.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    // Filter: both encodings; every class below is compiled by `tessera_engine::query`.
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
    // The drafts' names of the two classes above, which clients and the validator still ask for.
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-operators",
    // Aggregation (total, per year, per store, per 1- and 10-degree cell), honouring filters.
    "https://api.stacspec.org/v0.3.0/aggregation",
    "https://api.stacspec.org/v0.3.0/aggregation#filter",
    // Collection search: bbox, datetime, limit (OGC simple query) and q (basic free text).
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/simple-query",
];

/// The link relation of a queryables document.
pub const QUERYABLES_REL: &str = "http://www.opengis.net/def/rel/ogc/1.0/queryables";

/// The year whose collection `id` names (`geotessera-2024`), read without formatting any: this
/// runs for every search that names collections.
pub fn year_of_collection(id: &str) -> Option<Year> {
    let digits = id.strip_prefix("geotessera-")?;
    let year: Year = digits.parse().ok()?;
    (itoa::Buffer::new().format(year) == digits).then_some(year)
}

/// One store as items link to it.
#[derive(Debug, Clone)]
pub struct StoreLinks {
    pub name: String,
    pub role: Role,
    /// The public base URL of tile folders, without a trailing `/`.
    pub href: String,
    /// The store's `storage:schemes` entry, rendered: `"name":{...}`.
    pub scheme: String,
}

/// What one year's collection summarises.
#[derive(Debug, Clone, Copy)]
pub struct YearSummary {
    pub year: Year,
    pub tiles: u64,
    /// West, south, east, north in hundredths of a degree.
    pub extent: [i32; 4],
}

/// A served snapshot of an inventory.
#[derive(Debug)]
pub struct Catalog {
    inventory: Inventory,
    details: Option<Details>,
    base: String,
    stores: Vec<StoreLinks>,
    primary: usize,
    summaries: Vec<YearSummary>,
    keys: tessera_engine::copylist::KeyWriter,
    pub landing: Bytes,
    pub conformance: Bytes,
    pub collections: Bytes,
    /// `/queryables`, and each collection's.
    pub queryables: Bytes,
    collection_queryables: HashMap<String, Bytes>,
    collection_docs: HashMap<String, Bytes>,
    /// What opening the inventory had to do (rebuilt indexes, built details), for the log.
    pub notices: Vec<tessera_engine::Notice>,
}

impl Catalog {
    /// `query` planned over this snapshot (its filter's sizes answered from the registry).
    pub fn plan(&self, query: &tessera_engine::query::Query) -> Result<tessera_engine::query::Plan<'_>> {
        Ok(query.plan(&self.inventory, self.details.as_ref())?)
    }

    /// Whether the inventory's files have changed since this snapshot was opened.
    pub fn changed(&self) -> bool {
        self.inventory.changed()
    }

    /// Opens `dir` and renders the fixed documents; `base` is the public URL of the API.
    pub fn load(dir: &Path, base: &str) -> Result<Catalog> {
        // A server only reads: derived files it finds stale are built in memory, so it runs on
        // a read-only mount and never races the inventory's writers.
        let inventory = Inventory::open_read_only(dir)?;
        let mut notices = inventory.notices().to_vec();
        let details = match inventory.registry() {
            Some(_) => {
                let (details, notice) = inventory.registry_details()?;
                notices.extend(notice);
                Some(details)
            }
            None => None,
        };
        let base = checked_url(base.trim_end_matches('/'), "--base-url")?;
        if inventory.stores().len() > 64 {
            return Err(Error::Config("tessera serve handles at most 64 stores".into()));
        }
        let stores = inventory
            .stores()
            .iter()
            .map(|store| {
                let href = checked_url(store.config.public_url.trim_end_matches('/'), &store.config.name)?;
                let scheme = render_scheme(&store.config.name, &href, &store.config.storage)?;
                Ok(StoreLinks { name: store.config.name.clone(), role: store.config.role, href, scheme })
            })
            .collect::<Result<Vec<_>>>()?;
        let primary = stores.iter().position(|s| s.role == Role::Primary).unwrap_or(0);
        let summaries = summarise(&inventory);
        let inventory_years = inventory.years();
        let mut catalog = Catalog {
            inventory,
            details,
            base,
            stores,
            primary,
            summaries,
            keys: tessera_engine::copylist::KeyWriter::new(inventory_years),
            landing: Bytes::new(),
            conformance: Bytes::new(),
            collections: Bytes::new(),
            queryables: Bytes::new(),
            collection_queryables: HashMap::new(),
            collection_docs: HashMap::new(),
            notices,
        };
        catalog.render_documents();
        Ok(catalog)
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub fn years(&self) -> YearRange {
        self.inventory.years()
    }

    pub fn registry(&self) -> Option<&TileSet> {
        self.inventory.registry()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn stores(&self) -> &[StoreLinks] {
        &self.stores
    }

    pub fn primary(&self) -> usize {
        self.primary
    }

    /// Tile keys and item ids from precomputed coordinate strings.
    pub fn keys(&self) -> &tessera_engine::copylist::KeyWriter {
        &self.keys
    }

    /// The rendered collection `id`, if it exists.
    pub fn collection(&self, id: &str) -> Option<&Bytes> {
        self.collection_docs.get(id)
    }

    /// The queryables of collection `id`, if it exists.
    pub fn collection_queryables(&self, id: &str) -> Option<&Bytes> {
        self.collection_queryables.get(id)
    }

    /// The year of a collection id that exists.
    pub fn collection_year(&self, id: &str) -> Option<Year> {
        let year = year_of_collection(id)?;
        self.summaries.iter().any(|s| s.year == year).then_some(year)
    }

    /// The registry's details of a tile it lists.
    pub fn details(&self, id: TileId) -> Option<TileDetails> {
        let position = self.registry()?.position(id.0)?;
        self.details.as_ref()?.get(position)
    }

    /// Whether store number `store` holds tile `id`, which the registry lists.
    pub fn holds(&self, store: usize, id: TileId) -> bool {
        self.inventory.stores()[store].holds_listed(id)
    }

    fn render_documents(&mut self) {
        let base = &self.base;
        let collections: Vec<Value> = self.summaries.iter().map(|s| self.collection_json(s)).collect();
        for (summary, doc) in self.summaries.iter().zip(&collections) {
            let id = collection_id(summary.year);
            let queryables = self.queryables_json(&format!("{base}/collections/{id}/queryables"));
            self.collection_queryables.insert(id.clone(), to_bytes(&queryables));
            self.collection_docs.insert(id, to_bytes(doc));
        }
        self.queryables = to_bytes(&self.queryables_json(&format!("{base}/queryables")));
        self.collections = to_bytes(&json!({
            "collections": collections,
            "links": [
                link("self", format!("{base}/collections"), "application/json", "Collections"),
                link("root", format!("{base}/"), "application/json", "Landing page"),
                link("parent", format!("{base}/"), "application/json", "Landing page"),
            ],
        }));
        self.conformance = to_bytes(&json!({ "conformsTo": CONFORMANCE }));
        self.landing = to_bytes(&self.landing_json());
    }

    fn landing_json(&self) -> Value {
        let base = &self.base;
        let mut links = vec![
            link("self", format!("{base}/"), "application/json", "This document"),
            link("root", format!("{base}/"), "application/json", "This document"),
            link("conformance", format!("{base}/conformance"), "application/json", "Conformance classes"),
            link("data", format!("{base}/collections"), "application/json", "Collections: one per year"),
            json!({"rel": "search", "href": format!("{base}/search"), "type": "application/geo+json", "method": "GET", "title": "Item search"}),
            json!({"rel": "search", "href": format!("{base}/search"), "type": "application/geo+json", "method": "POST", "title": "Item search"}),
            link(
                "service-desc",
                format!("{base}/api"),
                "application/vnd.oai.openapi+json;version=3.0",
                "OpenAPI 3.0 definition",
            ),
            link("service-doc", format!("{base}/api.html"), "text/html", "API documentation"),
            link(QUERYABLES_REL, format!("{base}/queryables"), "application/schema+json", "What a filter may ask"),
            link("aggregate", format!("{base}/aggregate"), "application/json", "Counts by year, store and cell"),
            link("aggregations", format!("{base}/aggregations"), "application/json", "The aggregations offered"),
        ];
        for summary in &self.summaries {
            let id = collection_id(summary.year);
            links.push(link(
                "child",
                format!("{base}/collections/{id}"),
                "application/json",
                &format!("Tiles of {}", summary.year),
            ));
        }
        json!({
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "tessera",
            "title": "GeoTessera embedding tiles",
            "description": "Every 0.1-degree tile of GeoTessera's 128-channel Sentinel-1/2 embeddings, with the stores that hold each one. Served by tessera from bitmap indexes.",
            "conformsTo": CONFORMANCE,
            "links": links,
        })
    }

    fn collection_json(&self, summary: &YearSummary) -> Value {
        let base = &self.base;
        let id = collection_id(summary.year);
        let [w, s, e, n] = summary.extent.map(|centi| f64::from(centi) / 100.0);
        let year = summary.year;
        json!({
            "type": "Collection",
            "stac_version": STAC_VERSION,
            "stac_extensions": [],
            "id": id,
            "title": format!("GeoTessera embeddings {year}"),
            "description": format!("128-channel embeddings of {year} Sentinel-1 and Sentinel-2 imagery, one item per 0.1-degree tile: {} tiles.", summary.tiles),
            "keywords": ["embeddings", "sentinel-1", "sentinel-2", "geotessera", "foundation model"],
            "license": "other",
            "providers": [
                {"name": "GeoTessera", "roles": ["producer", "processor", "licensor"]},
            ],
            "extent": {
                "spatial": {"bbox": [[w, s, e, n]]},
                "temporal": {"interval": [[format!("{year}-01-01T00:00:00Z"), format!("{year}-12-31T23:59:59Z")]]},
            },
            "summaries": {
                "tessera:stores": self.stores.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                "tessera:tiles": {"minimum": summary.tiles, "maximum": summary.tiles},
            },
            "item_assets": {
                "embeddings": {"title": "Embeddings (int8, 128 channels)", "type": NPY_TYPE, "roles": ["data"]},
                "scales": {"title": "Dequantisation scales (float32)", "type": NPY_TYPE, "roles": ["data"]},
                "checksums": {"title": "SHA-256 of both files", "type": "text/plain", "roles": ["metadata"]},
            },
            "links": [
                link("self", format!("{base}/collections/{id}"), "application/json", &format!("Tiles of {year}")),
                link("root", format!("{base}/"), "application/json", "Landing page"),
                link("parent", format!("{base}/"), "application/json", "Landing page"),
                link("items", format!("{base}/collections/{id}/items"), "application/geo+json", "Items"),
                link(QUERYABLES_REL, format!("{base}/collections/{id}/queryables"), "application/schema+json", "What a filter may ask"),
                link("aggregate", format!("{base}/collections/{id}/aggregate"), "application/json", "Counts by store and cell"),
            ],
        })
    }

    /// A queryables document (JSON Schema) with the `$id` `url`: the engine's queryables.
    /// Other properties are accepted and are null on every item (`additionalProperties`).
    fn queryables_json(&self, url: &str) -> Value {
        use tessera_engine::query::Queryable;
        let years = self.years();
        let properties: serde_json::Map<String, Value> = tessera_engine::query::queryables(&self.inventory)
            .into_iter()
            .map(|(name, description, kind)| {
                let mut schema = match kind {
                    Queryable::Text => json!({"type": "string"}),
                    Queryable::Integer if name == "year" => {
                        json!({"type": "integer", "minimum": years.first(), "maximum": years.last()})
                    }
                    Queryable::Integer => json!({"type": "integer", "minimum": 0}),
                    Queryable::Instant => json!({"type": "string", "format": "date-time"}),
                    Queryable::Geometry => json!({"$ref": "https://geojson.org/schema/Geometry.json"}),
                    Queryable::Stores(names) => json!({"type": "array", "items": {"type": "string", "enum": names}}),
                };
                schema["description"] = json!(description);
                (name.to_owned(), schema)
            })
            .collect();
        json!({
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": url,
            "type": "object",
            "title": "GeoTessera tiles",
            "description": "Properties a CQL2 filter may name. Store membership, places, years and ids are answered from bitmaps; other properties are null on every item.",
            "properties": properties,
            "additionalProperties": true,
        })
    }
}

/// The media type of the `.npy` assets.
pub const NPY_TYPE: &str = "application/x-npy";

fn link(rel: &str, href: String, media_type: &str, title: &str) -> Value {
    json!({"rel": rel, "href": href, "type": media_type, "title": title})
}

fn to_bytes(doc: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(doc).expect("a serde_json::Value serialises"))
}

/// URLs are written into JSON as they are, so they must need no escaping.
fn checked_url(url: &str, what: &str) -> Result<String> {
    if url.is_empty() || url.chars().any(|c| c == '"' || c == '\\' || c.is_control() || c == ' ') {
        return Err(Error::Config(format!(
            "the URL of {what}, `{url}`, must be non-empty, without spaces, quotes or backslashes"
        )));
    }
    Ok(url.to_owned())
}

/// A store's entry in `storage:schemes` (storage extension v2): S3 buckets as `aws-s3` or
/// `custom-s3`, anything else as the HTTPS server its public URL names.
fn render_scheme(name: &str, href: &str, storage: &str) -> Result<String> {
    let origin = href.find("://").map_or(href, |scheme_end| {
        let rest = &href[scheme_end + 3..];
        &href[..scheme_end + 3 + rest.find('/').unwrap_or(rest.len())]
    });
    let host = origin.split("://").nth(1).unwrap_or(origin);
    let scheme = match storage.strip_prefix("s3://") {
        Some(bucket_path) => {
            let bucket = bucket_path.split('/').next().unwrap_or_default();
            let region =
                host.split('.').skip_while(|part| *part != "s3").nth(1).filter(|_| host.ends_with(".amazonaws.com"));
            match region {
                Some(region) => {
                    json!({"type": "aws-s3", "platform": "https://{bucket}.s3.{region}.amazonaws.com", "bucket": bucket, "region": region, "title": name})
                }
                None => json!({"type": "custom-s3", "platform": origin, "bucket": bucket, "title": name}),
            }
        }
        None => json!({"type": "https", "platform": origin, "title": name}),
    };
    let key = serde_json::to_string(name).map_err(|err| Error::Config(err.to_string()))?;
    Ok(format!("{key}:{scheme}"))
}

/// Tiles and spatial extent per year of the registry, for the collections.
fn summarise(inventory: &Inventory) -> Vec<YearSummary> {
    let Some(registry) = inventory.registry() else { return Vec::new() };
    let years = inventory.years();
    let mut summaries = Vec::new();
    for year in years.iter() {
        let Ok(range) = years.year_ids(year) else { continue };
        let (mut rows, mut cols) = ((u32::MAX, 0), (u32::MAX, 0));
        let mut tiles = 0u64;
        let mut sink = FnSink(|lo: u32, hi: u32| {
            let (lo, hi) = ((lo - range.lo), (hi - range.lo));
            tiles += u64::from(hi - lo + 1);
            let (row_lo, row_hi) = (lo / COLS, hi / COLS);
            rows = (rows.0.min(row_lo), rows.1.max(row_hi));
            if row_lo == row_hi {
                cols = (cols.0.min(lo % COLS), cols.1.max(hi % COLS));
            } else {
                cols = (0, COLS - 1);
            }
        });
        kernels::and_ranges(registry, &[range], &mut sink);
        if tiles == 0 {
            continue;
        }
        let edge = |cell: u32, half: i32| cell as i32 * 10 - half;
        let extent = [edge(cols.0, 18000), edge(rows.0, 9000), edge(cols.1 + 1, 18000), edge(rows.1 + 1, 9000)];
        summaries.push(YearSummary { year, tiles, extent });
    }
    summaries
}
