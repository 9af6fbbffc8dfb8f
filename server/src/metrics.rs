//! `/metrics`: what a server has answered and what it serves, in the OpenMetrics text format
//! (which Prometheus scrapes), kept and written by `prometheus-client`.
//!
//! - `tessera_http_requests_total{route, status}` and `tessera_http_request_duration_seconds
//!   {route}` (a histogram), `tessera_http_response_bytes_total{route}`;
//! - `tessera_requests_shed_total{reason}`: requests turned away or stopped to keep the server
//!   bounded: `queue_timeout` (no heavy-work permit in time, 503) and `cpu_budget` (past the
//!   CPU allowance, 503 or a cut stream);
//! - `tessera_client_cap_refusals_total{unit}`: connections closed on arrival and requests
//!   answered 429 because their client held its cap, and `tessera_clients`: clients holding
//!   connections or requests now (a client is an address, never a label: the set would grow
//!   with every visitor);
//! - `tessera_reloads_total{outcome}`: inventory reloads that took and that failed;
//! - `tessera_page_cache_lookups_total{outcome}`: GET searches answered from a page kept
//!   (`hit`) and searched afresh (`miss`), and `tessera_page_cache_bytes`: the bytes kept;
//! - `tessera_tiles{store}`: tiles per store (and `registry`) in the snapshot served, and
//!   `tessera_snapshot_loaded_seconds`: when that snapshot was loaded (Unix time).
//!
//! Routes are named by pattern (`search`, `item`, `coverage`, ...), never by the path a client
//! sent, so a client cannot grow the label sets.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::catalog::Catalog;

/// The content type `/metrics` is served with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Unit {
    unit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Store {
    store: String,
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    durations: Family<Route, Histogram>,
    bytes: Family<Route, Counter>,
    reloads: Family<Outcome, Counter>,
    shed: Family<Reason, Counter>,
    refusals: Family<Unit, Counter>,
    clients: Gauge,
    /// Page cache hits and misses, taken from their family once: they are counted on the
    /// path of a hit, which should cost little more than the copy it answers with.
    page_hits: Counter,
    page_misses: Counter,
    page_bytes: Gauge,
    tiles: Family<Store, Gauge>,
    loaded: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Request, Counter>::default();
        // 50 us to 10 s, by factors of about 3.
        let durations = Family::<Route, Histogram>::new_with_constructor(|| {
            Histogram::new([0.00005, 0.0002, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
        });
        let bytes = Family::<Route, Counter>::default();
        let reloads = Family::<Outcome, Counter>::default();
        let shed = Family::<Reason, Counter>::default();
        let refusals = Family::<Unit, Counter>::default();
        let clients = Gauge::default();
        let page_lookups = Family::<Outcome, Counter>::default();
        let page_bytes = Gauge::default();
        let tiles = Family::<Store, Gauge>::default();
        let loaded = Gauge::<f64, AtomicU64>::default();
        registry.register("tessera_http_requests", "Requests answered, by route and status", requests.clone());
        registry.register("tessera_http_request_duration_seconds", "Time to answer, by route", durations.clone());
        registry.register("tessera_http_response_bytes", "Response body bytes sent, by route", bytes.clone());
        registry.register("tessera_reloads", "Inventory reloads, by outcome", reloads.clone());
        registry.register(
            "tessera_requests_shed",
            "Requests turned away or stopped to keep the server bounded, by reason",
            shed.clone(),
        );
        registry.register(
            "tessera_client_cap_refusals",
            "Connections closed and requests refused (429) because their client held its cap",
            refusals.clone(),
        );
        registry.register("tessera_clients", "Clients holding connections or requests now", clients.clone());
        registry.register(
            "tessera_page_cache_lookups",
            "GET searches answered from a page kept (hit) or searched (miss)",
            page_lookups.clone(),
        );
        registry.register("tessera_page_cache_bytes", "Bytes of rendered pages kept", page_bytes.clone());
        let page_hits = page_lookups.get_or_create(&Outcome { outcome: "hit" }).clone();
        let page_misses = page_lookups.get_or_create(&Outcome { outcome: "miss" }).clone();
        registry.register("tessera_tiles", "Tiles per store (and the registry) in the snapshot served", tiles.clone());
        registry.register(
            "tessera_snapshot_loaded_seconds",
            "When the served snapshot was loaded, Unix time",
            loaded.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            bytes,
            reloads,
            shed,
            refusals,
            clients,
            page_hits,
            page_misses,
            page_bytes,
            tiles,
            loaded,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &'static str, status: u16, took: Duration, bytes: Option<u64>) {
        self.requests.get_or_create(&Request { route, status }).inc();
        self.durations.get_or_create(&Route { route }).observe(took.as_secs_f64());
        if let Some(bytes) = bytes {
            self.bytes.get_or_create(&Route { route }).inc_by(bytes);
        }
    }

    /// The counter of body bytes sent on `route`, for a body counted as it is streamed.
    pub fn bytes_of(&self, route: &'static str) -> Counter {
        self.bytes.get_or_create(&Route { route }).clone()
    }

    /// The counter of requests that waited too long for the heavy-work pool.
    pub fn queue_timeouts(&self) -> Counter {
        self.shed.get_or_create(&Reason { reason: "queue_timeout" }).clone()
    }

    /// The counter of requests stopped for spending their CPU allowance.
    pub fn over_budget(&self) -> Counter {
        self.shed.get_or_create(&Reason { reason: "cpu_budget" }).clone()
    }

    /// Counts a connection (`unit` "connection") or request ("request") refused for its
    /// client's cap.
    pub fn client_cap_refusal(&self, unit: &'static str) {
        self.refusals.get_or_create(&Unit { unit }).inc();
    }

    /// Counts a reload that took (`true`) or failed.
    pub fn reload(&self, took: bool) {
        self.reloads.get_or_create(&Outcome { outcome: if took { "loaded" } else { "failed" } }).inc();
    }

    /// Counts a GET search answered from a kept page (`true`) or searched.
    pub fn page_lookup(&self, hit: bool) {
        if hit {
            self.page_hits.inc()
        } else {
            self.page_misses.inc()
        };
    }

    /// Sets the gauges of a snapshot just loaded.
    pub fn snapshot(&self, catalog: &Catalog) {
        let inventory = catalog.inventory();
        if let Some(registry) = inventory.registry() {
            self.tiles.get_or_create(&Store { store: "registry".into() }).set(registry.cardinality() as i64);
        }
        for store in inventory.stores() {
            self.tiles.get_or_create(&Store { store: store.config.name.clone() }).set(store.tiles.cardinality() as i64);
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64());
        self.loaded.set(now);
    }

    /// The metrics in the OpenMetrics text format, with `page_bytes` of pages kept and
    /// `clients` holding places now.
    pub fn render(&self, page_bytes: u64, clients: usize) -> String {
        self.page_bytes.set(i64::try_from(page_bytes).unwrap_or(i64::MAX));
        self.clients.set(i64::try_from(clients).unwrap_or(i64::MAX));
        let mut text = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The route a path belongs to, as a label.
pub fn route_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        [""] => "landing",
        ["conformance"] => "conformance",
        ["api" | "api.html"] => "api",
        ["healthz"] => "healthz",
        ["metrics"] => "metrics",
        ["collections"] => "collections",
        ["collections", _] => "collection",
        ["collections", _, "items"] => "items",
        ["collections", _, "items", _] => "item",
        ["search"] => "search",
        ["aggregate"] | ["collections", _, "aggregate"] => "aggregate",
        ["aggregations"] | ["collections", _, "aggregations"] => "aggregations",
        ["queryables"] | ["collections", _, "queryables"] => "queryables",
        ["coverage", ..] => "coverage",
        ["copylist", ..] => "copylist",
        ["map", ..] => "map",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn each_extension_endpoint_has_its_own_route_label() {
        assert_eq!(route_of("/aggregate"), "aggregate");
        assert_eq!(route_of("/collections/geotessera-2024/aggregate"), "aggregate");
        assert_eq!(route_of("/aggregations"), "aggregations");
        assert_eq!(route_of("/collections/geotessera-2024/queryables"), "queryables");
        assert_eq!(route_of("/collections/geotessera-2024/items"), "items");
        assert_eq!(route_of("/no/such/route"), "other");
    }
}
