//! The Filter and Aggregation extensions over HTTP: random CQL2 expressions answered by the
//! server (compiled to bitmaps) against the same expressions evaluated item by item by the
//! `cql2` crate over the items the server renders; queryables; errors; aggregations.

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use common::{BASE, Running, get, post};
use serde_json::{Value, json};
use tessera_engine::inventory::Inventory;

fn shared() -> &'static (tempfile::TempDir, std::path::PathBuf, Running) {
    static SHARED: OnceLock<(tempfile::TempDir, std::path::PathBuf, Running)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (temp, dir) = common::demo();
        let running = common::start(&dir, None);
        (temp, dir, running)
    })
}

fn addr() -> std::net::SocketAddr {
    shared().2.addr
}

/// Every item of the small demo (about 5,000), as the server renders them.
fn every_item() -> &'static Vec<Value> {
    static ITEMS: OnceLock<Vec<Value>> = OnceLock::new();
    ITEMS.get_or_init(|| {
        let page = post(addr(), "/search", &json!({"limit": 10000})).json();
        assert!(page["links"].as_array().unwrap().iter().all(|link| link["rel"] != "next"), "one page holds all");
        page["features"].as_array().unwrap().clone()
    })
}

fn ids_of(page: &Value) -> BTreeSet<String> {
    let features = page["features"].as_array().unwrap_or_else(|| panic!("not a page: {page}"));
    features.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

/// A small seeded generator (xorshift), so a failure names an expression that repeats.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Random CQL2-JSON over store membership, places, years, ids and sizes.
struct Expressions {
    stores: Vec<String>,
    ids: Vec<String>,
    sizes: Vec<u64>,
}

impl Expressions {
    fn any(&self, rng: &mut Rng, depth: usize) -> Value {
        match (depth, rng.below(if depth == 0 { 6 } else { 9 })) {
            (_, 0) => self.stores(rng),
            (_, 1) => self.place(rng),
            (_, 2) => self.years(rng),
            (_, 3) => self.ids(rng),
            (_, 4) => self.size(rng),
            (_, 5) => self.stores(rng),
            (_, 6) => json!({"op": "not", "args": [self.any(rng, depth - 1)]}),
            (_, n) => {
                let op = if n == 7 { "and" } else { "or" };
                let args: Vec<Value> = (0..2 + rng.below(2)).map(|_| self.any(rng, depth - 1)).collect();
                json!({"op": op, "args": args})
            }
        }
    }

    fn stores(&self, rng: &mut Rng) -> Value {
        let op = rng.pick(&["a_contains", "a_overlaps", "a_containedby", "a_equals"]);
        let mut names: Vec<&String> = self.stores.iter().filter(|_| rng.below(2) == 0).collect();
        if names.is_empty() {
            names.push(rng.pick(&self.stores));
        }
        json!({"op": op, "args": [{"property": "tessera:stores"}, names]})
    }

    /// Boxes and polygons whose edges are off the grid lines, where a footprint touching an
    /// edge (which geometry libraries count as intersecting) cannot happen.
    fn place(&self, rng: &mut Rng) -> Value {
        let centres = [(20.5, 20.5), (0.85, 49.95), (178.0, -17.0), (18.4, -33.9), (139.7, 35.7)];
        let (x, y) = *rng.pick(&centres);
        let half = [0.23, 0.47, 1.13][rng.below(3)];
        let (w, s, e, n) = (x - half, y - half * 0.7, x + half * 0.9, y + half);
        if rng.below(2) == 0 {
            json!({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [w, s, e, n]}]})
        } else {
            let triangle = json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, s]]]});
            json!({"op": "s_intersects", "args": [{"property": "geometry"}, triangle]})
        }
    }

    fn years(&self, rng: &mut Rng) -> Value {
        let year = 2017 + rng.below(9) as i64;
        match rng.below(5) {
            0 => json!({"op": "=", "args": [{"property": "year"}, year]}),
            1 => json!({"op": rng.pick(&["<", ">="]), "args": [{"property": "year"}, year]}),
            2 => json!({"op": "=", "args": [{"property": "collection"}, format!("geotessera-{year}")]}),
            3 => {
                json!({"op": "t_intersects", "args": [{"property": "datetime"}, {"interval": [format!("{year}-01-01T00:00:00Z"), format!("{}-06-30T00:00:00Z", year + 1)]}]})
            }
            _ => {
                json!({"op": ">", "args": [{"property": "datetime"}, {"timestamp": format!("{year}-03-01T00:00:00Z")}]})
            }
        }
    }

    fn ids(&self, rng: &mut Rng) -> Value {
        let some: Vec<&String> = (0..1 + rng.below(40)).map(|_| rng.pick(&self.ids)).collect();
        match rng.below(4) {
            0 => json!({"op": "in", "args": [{"property": "id"}, some]}),
            1 => json!({"op": "=", "args": [{"property": "id"}, some[0]]}),
            2 => json!({"op": "like", "args": [{"property": "id"}, format!("{}%", &some[0][..6])]}),
            _ => {
                let cell = some[0].split_once('_').unwrap().1;
                json!({"op": "=", "args": [{"property": "grid:code"}, format!("TESSERA-{cell}")]})
            }
        }
    }

    fn size(&self, rng: &mut Rng) -> Value {
        let threshold = *rng.pick(&self.sizes);
        json!({"op": rng.pick(&["<", ">=", "<>"]), "args": [{"property": "tessera:bytes"}, threshold]})
    }
}

#[test]
fn random_filters_select_exactly_what_the_cql2_crate_selects_item_by_item() {
    let items = every_item();
    let inventory = Inventory::open(&shared().1).unwrap();
    let expressions = Expressions {
        stores: inventory.stores().iter().map(|s| s.config.name.clone()).collect(),
        ids: items.iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect(),
        sizes: items.iter().filter_map(|item| item["properties"]["tessera:bytes"].as_u64()).collect(),
    };
    assert!(!expressions.sizes.is_empty(), "items carry tessera:bytes");
    let mut rng = Rng(0x5EED_CAFE);
    let mut nonempty = 0;
    for round in 0..48 {
        let filter = expressions.any(&mut rng, 3);
        let expr: cql2::Expr = serde_json::from_value(filter.clone()).unwrap();
        let expected: BTreeSet<String> = items
            .iter()
            .filter(|item| expr.clone().reduce(Some(item)).is_ok_and(cql2::Expr::is_true))
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
        // Both encodings: half as CQL2-JSON in a POST, half as CQL2-text in a GET.
        let page = if round % 2 == 0 {
            post(addr(), "/search", &json!({"filter": filter, "limit": 10000})).json()
        } else {
            let text = expr.to_text().unwrap();
            let query = format!("/search?limit=10000&filter-lang=cql2-text&filter={}", encode(&text));
            get(addr(), &query).json()
        };
        assert_eq!(ids_of(&page), expected, "round {round}: {}", expr.to_text().unwrap());
        assert_eq!(page["numberMatched"], expected.len(), "round {round}");
        nonempty += usize::from(!expected.is_empty() && expected.len() < items.len());
    }
    assert!(nonempty > 20, "most expressions select some items but not all ({nonempty} of 48)");
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The store holding the fewest tiles: the one with gaps to page through.
fn sparsest(inventory: &Inventory) -> String {
    let store = inventory.stores().iter().min_by_key(|store| store.tiles.cardinality()).unwrap();
    store.config.name.clone()
}

#[test]
fn a_gap_pages_exactly_like_the_diff() {
    let inventory = Inventory::open(&shared().1).unwrap();
    let (primary, mirror) = (&inventory.stores()[0].config.name, &sparsest(&inventory));
    let filter = Value::String(format!(
        "NOT a_contains(tessera:stores, ('{mirror}')) AND a_contains(tessera:stores, ('{primary}')) AND year = 2024"
    ));
    let mut seen = BTreeSet::new();
    let mut body = json!({"filter": filter, "filter-lang": "cql2-text", "limit": 2});
    let mut pages = 0;
    loop {
        let page = post(addr(), "/search", &body).json();
        for id in ids_of(&page) {
            assert!(seen.insert(id), "no item twice");
        }
        pages += 1;
        match page["links"].as_array().unwrap().iter().find(|link| link["rel"] == "next") {
            Some(next) => body = next["body"].clone(),
            None => break,
        }
    }
    let filter = tessera_engine::inventory::Filter { years: vec![2024], bbox: None };
    let missing = inventory.missing(primary, mirror, &filter).unwrap();
    let in_registry: u64 =
        missing.iter().flat_map(|r| r.lo..=r.hi).filter(|&id| inventory.registry().unwrap().contains(id)).count()
            as u64;
    assert_eq!(seen.len() as u64, in_registry);
    assert!(pages > 1 && in_registry > 2, "the gap takes several pages ({in_registry} tiles)");
}

#[test]
fn bad_filters_are_400_with_the_reason() {
    for (query, says) in [
        ("filter=year%20%3D", "not valid CQL2-text"),
        ("filter=tessera%3Astore%20IS%20NULL", "did you mean `tessera:stores`"),
        ("filter=a_contains(tessera%3Astores%2C%20('nowhere'))", "`nowhere` is not a store"),
        ("filter=tessera%3Abytes%20%3E%20'big'", "type mismatch"),
        ("filter=s_within(geometry%2C%20BBOX(0%2C0%2C1%2C1))", "s_within"),
        ("filter=year%20%3D%202024&filter-lang=cql3", "filter-lang `cql3`"),
        ("filter=year%20%3D%202024&filter-crs=EPSG%3A3857", "filter-crs"),
        // Found by fixtures/tests/filter_input.rs: a 500 before.
        ("filter=s_intersects(geometry%2C%20BBOX(1170%2C-20%2C-170%2C-10))", "longitudes must lie in"),
    ] {
        let reply = get(addr(), &format!("/search?{query}"));
        assert_eq!(reply.status, 400, "{query}: {}", String::from_utf8_lossy(&reply.body));
        let description = reply.json()["description"].as_str().unwrap().to_owned();
        assert!(description.contains(says), "{query}: {description}");
    }
    // A property no item has (another collection's vocabulary) is null: 200 and no match.
    let page = get(addr(), "/search?filter=eo%3Acloud_cover%20%3C%2010").json();
    assert_eq!(page["numberMatched"], 0);
    let page = get(addr(), "/search?filter=eo%3Acloud_cover%20IS%20NULL&limit=1").json();
    assert_eq!(page["numberMatched"], every_item().len());
}

#[test]
fn hostile_filters_are_refused_quickly() {
    let deep = "(".repeat(5000) + "year = 2024" + &")".repeat(5000);
    // A million bytes of text, and a ring of 100,001 vertices: each under the body limit.
    let long = format!("year = 2024{}", " OR year = 2024".repeat(66_666));
    let corners = [[20, 20], [21, 20], [21, 21], [20, 21]];
    let ring: Vec<Value> = (0..100_001).map(|i| json!(corners[i % 4])).collect();
    let polygon =
        json!({"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [ring]}]});
    let mut nested = json!({"op": "=", "args": [{"property": "year"}, 2024]});
    for _ in 0..200 {
        nested = json!({"op": "not", "args": [nested]});
    }
    for (what, body) in [
        ("deep text", json!({"filter": deep, "filter-lang": "cql2-text"})),
        ("1 MiB of text", json!({"filter": long, "filter-lang": "cql2-text"})),
        ("a polygon of 100k vertices", json!({"filter": polygon})),
        ("200 nested nots", json!({"filter": nested})),
    ] {
        let started = std::time::Instant::now();
        let reply = post(addr(), "/search", &body);
        let took = started.elapsed();
        assert!((400..500).contains(&reply.status), "{what}: {}", reply.status);
        assert!(took < std::time::Duration::from_secs(1), "{what} took {took:?}");
    }
}

#[test]
fn queryables_list_the_stores_and_the_landing_page_links_them() {
    let landing = get(addr(), "/").json();
    let rel = "http://www.opengis.net/def/rel/ogc/1.0/queryables";
    let link = landing["links"].as_array().unwrap().iter().find(|l| l["rel"] == rel).expect("a queryables link");
    assert_eq!(link["href"], format!("{BASE}/queryables"));
    let reply = get(addr(), "/queryables");
    assert_eq!(reply.header("content-type"), Some("application/schema+json"));
    let schema = reply.json();
    assert_eq!(schema["$id"], format!("{BASE}/queryables"));
    let stores = &schema["properties"]["tessera:stores"]["items"]["enum"];
    let inventory = Inventory::open(&shared().1).unwrap();
    assert_eq!(stores.as_array().unwrap().len(), inventory.stores().len());
    for name in ["datetime", "year", "geometry", "id", "grid:code", "tessera:bytes"] {
        assert!(schema["properties"][name].is_object(), "{name}");
    }
    let collection = get(addr(), "/collections/geotessera-2024/queryables").json();
    assert_eq!(collection["$id"], format!("{BASE}/collections/geotessera-2024/queryables"));
    assert_eq!(get(addr(), "/collections/geotessera-1999/queryables").status, 404);
}

#[test]
fn aggregations_count_what_a_search_matches() {
    let inventory = Inventory::open(&shared().1).unwrap();
    let mirror = sparsest(&inventory);
    let filter = format!("NOT a_contains(tessera:stores, ('{mirror}'))");
    let search = post(addr(), "/search", &json!({"filter": filter, "filter-lang": "cql2-text", "limit": 10000})).json();
    let body = json!({
        "filter": filter,
        "filter-lang": "cql2-text",
        "aggregations": ["total_count", "datetime_frequency", "tessera:stores_frequency", "grid_code_1deg_frequency"],
    });
    let answer = post(addr(), "/aggregate", &body).json();
    let by_name =
        |name: &str| answer["aggregations"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap().clone();
    assert_eq!(by_name("total_count")["value"], search["numberMatched"]);
    let features = search["features"].as_array().unwrap();
    let sum = |aggregation: &Value| -> u64 {
        aggregation["buckets"].as_array().unwrap().iter().map(|b| b["frequency"].as_u64().unwrap()).sum()
    };
    assert_eq!(sum(&by_name("datetime_frequency")), features.len() as u64);
    assert_eq!(sum(&by_name("grid_code_1deg_frequency")), features.len() as u64);
    // Each cell's bucket key is a bbox holding as many of the matches, at both sizes.
    let grids = post(
        addr(),
        "/aggregate",
        &json!({
            "filter": filter,
            "filter-lang": "cql2-text",
            "aggregations": ["grid_code_1deg_frequency", "grid_code_10deg_frequency"],
        }),
    )
    .json();
    for (at, degrees) in [(0, 1.0), (1, 10.0)] {
        assert_eq!(
            buckets_of(&grids["aggregations"][at]),
            cells_of(features.iter(), degrees),
            "{degrees}-degree cells"
        );
    }
    let held: u64 = features
        .iter()
        .filter(|f| {
            f["properties"]["tessera:stores"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == inventory.stores()[0].config.name.as_str())
        })
        .count() as u64;
    let stores = by_name("tessera:stores_frequency");
    let first =
        stores["buckets"].as_array().unwrap().iter().find(|b| b["key"] == inventory.stores()[0].config.name.as_str());
    assert_eq!(first.map_or(0, |b| b["frequency"].as_u64().unwrap()), held);
    let reply = get(addr(), "/aggregate?aggregations=nothing");
    assert_eq!(reply.status, 400);
    let offered = get(addr(), "/aggregations").json();
    assert!(offered["aggregations"].as_array().unwrap().len() >= 5);
}

#[test]
fn collection_search_finds_years_by_time_box_and_text_a_page_at_a_time() {
    let ids = |doc: &Value| -> Vec<String> {
        doc["collections"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    let every = ids(&get(addr(), "/collections").json());
    assert_eq!(every.len(), 9);
    assert_eq!(ids(&get(addr(), "/collections?datetime=2020-02-01T00:00:00Z").json()), ["geotessera-2020"]);
    // A year is found for a box exactly when a search of that year in the box finds tiles.
    let mut found_fewer = false;
    let boxes = ["20,20,21,21", "-150,-40,-149,-39", "0.5,49.5,1.5,50.5", "-10,-10,10,10", "100,-10,140,10"];
    for bbox in boxes {
        let expected: Vec<String> = every
            .iter()
            .filter(|id| {
                let search = get(addr(), &format!("/search?collections={id}&bbox={bbox}&limit=1")).json();
                search["numberMatched"].as_u64().unwrap() > 0
            })
            .cloned()
            .collect();
        let found = ids(&get(addr(), &format!("/collections?bbox={bbox}")).json());
        assert_eq!(found, expected, "bbox {bbox}");
        found_fewer |= found.len() < every.len();
    }
    assert!(found_fewer, "a box leaves some years out: the box is not ignored");
    assert_eq!(ids(&get(addr(), "/collections?q=2021,%20NO-SUCH-WORD").json()), ["geotessera-2021"]);
    assert!(ids(&get(addr(), "/collections?q=no-such-word").json()).is_empty());
    // Pages of 4 by `next` links: every year once, in order.
    let mut paged = Vec::new();
    let mut target = "/collections?q=Embeddings&limit=4".to_owned();
    loop {
        let page = get(addr(), &target).json();
        assert_eq!(page["numberMatched"], 9);
        assert_eq!(page["numberReturned"].as_u64().unwrap() as usize, ids(&page).len());
        paged.extend(ids(&page));
        match page["links"].as_array().unwrap().iter().find(|link| link["rel"] == "next") {
            Some(next) => target = next["href"].as_str().unwrap().strip_prefix(BASE).unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, every);
    for bad in ["/collections?limit=0", "/collections?sortby=id", "/collections?datetime=yesterday"] {
        assert_eq!(get(addr(), bad).status, 400, "{bad}");
    }
}

#[test]
fn grid_aggregations_of_whole_years_count_every_tile_in_its_cell() {
    // Every tile of a year, and of every year: keys whose listed tiles all match.
    for (query, year) in [("&filter=year%20%3D%202024", Some(2024)), ("", None)] {
        let target =
            format!("/aggregate?aggregations=total_count,grid_code_1deg_frequency,grid_code_10deg_frequency{query}");
        let answer = get(addr(), &target).json();
        let items = every_item().iter().filter(|item| year.is_none_or(|year| item["properties"]["year"] == year));
        assert_eq!(answer["aggregations"][0]["value"], items.clone().count(), "{target}");
        for (at, degrees) in [(1, 1.0), (2, 10.0)] {
            assert_eq!(
                buckets_of(&answer["aggregations"][at]),
                cells_of(items.clone(), degrees),
                "{target}, {degrees}"
            );
        }
    }
}

/// An aggregation's buckets, key to frequency.
fn buckets_of(aggregation: &Value) -> std::collections::BTreeMap<String, u64> {
    let buckets = aggregation["buckets"].as_array().unwrap();
    buckets.iter().map(|b| (b["key"].as_str().unwrap().to_owned(), b["frequency"].as_u64().unwrap())).collect()
}

/// The items per coarse cell of `degrees`, keyed as the grid aggregations key them.
fn cells_of<'a>(items: impl Iterator<Item = &'a Value>, degrees: f64) -> std::collections::BTreeMap<String, u64> {
    let mut cells = std::collections::BTreeMap::new();
    for item in items {
        let [west, south] = [0, 1].map(|i| item["bbox"][i].as_f64().unwrap());
        let cell = |corner: f64, origin: f64| ((corner + origin + 1e-9) / degrees).floor() * degrees - origin;
        let (west, south) = (cell(west, 180.0), cell(south, 90.0));
        *cells.entry(format!("{west},{south},{},{}", west + degrees, south + degrees)).or_insert(0) += 1;
    }
    cells
}
