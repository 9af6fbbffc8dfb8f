//! The STAC API over real HTTP on 127.0.0.1: golden documents, search semantics, paging,
//! errors, coverage bitmaps, CORS, static files and hot reload.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{BASE, Running, get, post, request, target_of};
use serde_json::{Value, json};
use tessera_engine::bitmap::RoaringView;
use tessera_engine::grid::{Bbox, Tile};
use tessera_engine::inventory::{Filter, Inventory};

/// One server over one demo for the read-only tests of this file.
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

fn inventory() -> Inventory {
    Inventory::open(&shared().1).unwrap()
}

/// Compares `value` with `tests/golden/NAME.json` (paging tokens masked, since their key is
/// drawn at start-up); `TESSERA_UPDATE_GOLDEN=1` rewrites the file instead.
fn golden(name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    let masked = mask_tokens(&text);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.json"));
    if std::env::var_os("TESSERA_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &masked).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
    assert_eq!(masked, expected, "{name} differs from {}", path.display());
}

fn mask_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("token") {
        let (before, after) = rest.split_at(at + 5);
        out.push_str(before);
        let skip = after.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(0);
        let token_len = after[skip..].find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(after.len() - skip);
        if token_len == 57 {
            out.push_str(&after[..skip]);
            out.push_str("TOKEN");
            rest = &after[skip + token_len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn ids_of(page: &Value) -> Vec<String> {
    page["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

fn link<'v>(page: &'v Value, rel: &str) -> Option<&'v Value> {
    page["links"].as_array().unwrap().iter().find(|l| l["rel"] == rel)
}

#[test]
fn fixed_documents_match_their_golden_files() {
    let addr = addr();
    for (name, target) in [
        ("landing", "/"),
        ("conformance", "/conformance"),
        ("collection", "/collections/geotessera-2024"),
        ("item", "/collections/geotessera-2024/items/2024_grid_0.85_49.95"),
        ("search-page", "/search?bbox=0.75,49.85,1.05,50.05&datetime=2024-06-01T00:00:00Z&limit=2"),
    ] {
        let reply = get(addr, target);
        assert_eq!(reply.status, 200, "{target}");
        golden(name, &reply.json());
    }
    let collections = get(addr, "/collections").json();
    assert_eq!(collections["collections"].as_array().unwrap().len(), 9);
    assert_eq!(collections["links"][0]["href"], format!("{BASE}/collections"));
}

#[test]
fn errors_are_json_with_a_code_and_the_offending_value() {
    let addr = addr();
    let cases = [
        ("error-bad-bbox", get(addr, "/search?bbox=0,91,1,92"), 400),
        ("error-unknown-parameter", get(addr, "/search?bbox=0,0,1,1&colections=geotessera-2024"), 400),
        ("error-unknown-item", get(addr, "/collections/geotessera-2024/items/2024_grid_0.85_49.96"), 404),
        ("error-unknown-collection", get(addr, "/collections/geotessera-1999"), 404),
        ("error-method", request(addr, "DELETE", "/collections", &[], b""), 405),
        ("error-malformed-body", request(addr, "POST", "/search", &[], b"{\"bbox\": [0, 0,"), 400),
    ];
    for (name, reply, status) in cases {
        assert_eq!(reply.status, status, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.header("content-type"), Some("application/json"), "{name}");
        golden(name, &reply.json());
    }
    let method = request(addr, "PUT", "/search", &[], b"");
    assert_eq!(method.header("allow"), Some("GET, POST, OPTIONS"));
}

#[test]
fn bad_parameters_are_400_and_name_the_value() {
    let addr = addr();
    for (target, says) in [
        ("/search?limit=0", "limit `0`"),
        ("/search?limit=-1", "limit `-1`"),
        ("/search?limit=ten", "limit `ten`"),
        ("/search?bbox=[0,0,1,1]", "bbox `[0,0,1,1]`"),
        ("/search?bbox=0,0,1", "4 or 6 numbers"),
        ("/search?bbox=0,1,1,0", "south is greater than north"),
        ("/search?datetime=2024-01-01", "datetime `2024-01-01`"),
        ("/search?datetime=../..", "no end"),
        ("/search?datetime=2025-01-01T00:00:00Z/2024-01-01T00:00:00Z", "starts after it ends"),
        (
            "/search?bbox=0,0,1,1&intersects=%7B%22type%22%3A%22Point%22%2C%22coordinates%22%3A%5B0%2C0%5D%7D",
            "together",
        ),
        ("/search?sortby=id", "cannot sort by `id`"),
        ("/search?limit=1&limit=2", "twice"),
        ("/collections/geotessera-2024/items?ids=x", "unknown parameter `ids`"),
    ] {
        let reply = get(addr, target);
        assert_eq!(reply.status, 400, "{target}");
        let description = reply.json()["description"].as_str().unwrap().to_owned();
        assert!(description.contains(says), "{target}: {description}");
    }
    for (body, says) in [
        (json!({"bbox": "0,0,1,1"}), "must be an array of numbers"),
        (json!({"fields": null}), "fields"),
        (json!({"limit": 0}), "limit"),
        (json!({"query": {}}), "unknown member `query`"),
        (json!([1, 2]), "JSON object"),
    ] {
        let reply = post(addr, "/search", &body);
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.json()["description"].as_str().unwrap().contains(says), "{body}");
    }
}

#[test]
fn limit_is_clamped_not_rejected() {
    let addr = addr();
    for limit in [10_000, 100_000, 1_000_000] {
        let page = get(addr, &format!("/search?limit={limit}")).json();
        // The small demo has 5,127 tiles, under the 10,000 cap (a unit test covers the cap).
        assert_eq!(page["numberReturned"], 5127, "limit {limit}");
    }
    assert_eq!(get(addr, "/search").json()["numberReturned"], 10);
}

#[test]
fn bbox_search_matches_the_inventory_and_crosses_the_antimeridian() {
    let addr = addr();
    let inventory = inventory();
    let registry = inventory.registry().unwrap();
    for bbox in ["179.5,-18.5,-179.5,-16", "20,20,21,21", "-0.33,-0.41,0.27,0.18", "0.85,49.95,0.85,49.95"] {
        let page = get(addr, &format!("/search?bbox={bbox}&limit=10000")).json();
        let filter = Filter { years: vec![], bbox: Some(Bbox::parse(bbox).unwrap()) };
        let expected = inventory.count(registry, &filter).unwrap();
        assert_eq!(page["numberMatched"], expected, "{bbox}");
        assert_eq!(page["numberReturned"], expected, "{bbox}");
    }
    let across = get(addr, "/search?bbox=179.5,-18.5,-179.5,-16&limit=10000").json();
    let lons: Vec<f64> =
        across["features"].as_array().unwrap().iter().map(|f| f["bbox"][0].as_f64().unwrap()).collect();
    assert!(lons.iter().any(|&w| w >= 179.5) && lons.iter().any(|&w| w < -179.5), "both sides of 180: {lons:?}");
    assert!(lons.iter().all(|&w| !(-179.5..179.5).contains(&w)));
}

#[test]
fn a_polygon_selects_the_tiles_its_footprint_overlaps() {
    let addr = addr();
    let square = json!({"type": "Polygon", "coordinates": [[[20.0, 20.0], [21.0, 20.0], [21.0, 21.0], [20.0, 21.0], [20.0, 20.0]]]});
    let by_polygon = post(addr, "/search", &json!({"intersects": square, "limit": 10000})).json();
    let by_bbox = get(addr, "/search?bbox=20,20,21,21&limit=10000").json();
    assert_eq!(ids_of(&by_polygon), ids_of(&by_bbox));
    assert_eq!(by_polygon["numberMatched"], 900);
    // A triangle over the box: the diagonal's 10 cells plus the 45 below it, each year.
    let triangle =
        json!({"type": "Polygon", "coordinates": [[[20.0, 20.0], [21.0, 20.0], [21.0, 21.0], [20.0, 20.0]]]});
    let page =
        post(addr, "/search", &json!({"intersects": triangle, "collections": ["geotessera-2024"], "limit": 100}))
            .json();
    assert_eq!(page["numberMatched"], 55);
    let multi = json!({"type": "MultiPolygon", "coordinates": [triangle["coordinates"], [[[0.8, 49.9], [0.9, 49.9], [0.9, 50.0], [0.8, 50.0], [0.8, 49.9]]]]});
    let page =
        post(addr, "/search", &json!({"intersects": multi, "collections": "geotessera-2024", "limit": 100})).json();
    assert_eq!(page["numberMatched"], 56);
    assert!(ids_of(&page).contains(&"2024_grid_0.85_49.95".to_owned()));
}

#[test]
fn ids_are_anded_with_every_other_filter() {
    let addr = addr();
    let ids = "2024_grid_20.05_20.05,2024_grid_0.85_49.95,2023_grid_0.85_49.95,not_an_id";
    let all = get(addr, &format!("/search?ids={ids}")).json();
    assert_eq!(all["numberMatched"], 3);
    let in_box = get(addr, &format!("/search?ids={ids}&bbox=20,20,21,21")).json();
    assert_eq!(ids_of(&in_box), ["2024_grid_20.05_20.05"]);
    let in_year = get(addr, &format!("/search?ids={ids}&collections=geotessera-2023")).json();
    assert_eq!(ids_of(&in_year), ["2023_grid_0.85_49.95"]);
    let outside = post(addr, "/search", &json!({"ids": ["2024_grid_0.85_49.95"], "bbox": [100, 0, 101, 1]})).json();
    assert_eq!(outside["numberMatched"], 0);
}

#[test]
fn datetime_selects_years_and_a_year_outside_the_inventory_matches_nothing() {
    let addr = addr();
    let inventory = inventory();
    let per_year = inventory.year_counts(inventory.registry().unwrap());
    let count = |year: u16| per_year.iter().find(|(y, _)| *y == year).unwrap().1;
    let page = |query: &str| get(addr, &format!("/search?limit=1&datetime={query}")).json()["numberMatched"].clone();
    assert_eq!(page("2016-06-01T00:00:00Z"), 0);
    assert_eq!(page("2026-01-01T00:00:00Z/.."), 0);
    assert_eq!(page("2024-06-01T00:00:00Z"), count(2024));
    assert_eq!(page("../2017-12-31T23:59:59Z"), count(2017));
    // 23:30 at UTC-1 on New Year's Eve is already 2024 in UTC.
    assert_eq!(page("2023-12-31T23:30:00-01:00"), count(2024));
    assert_eq!(page("2023-12-31T23:30:00%2B01:00"), count(2023));
    let unknown = get(addr, "/search?collections=geotessera-1999,nothing").json();
    assert_eq!(unknown["numberMatched"], 0);
}

#[test]
fn paging_visits_every_item_once_forwards_and_backwards() {
    let addr = addr();
    for first in [
        "/search?bbox=19,19,22,22&datetime=2023-01-01T00:00:00Z/2024-12-31T23:59:59Z&limit=97&sortby=-properties.datetime",
        "/collections/geotessera-2024/items?limit=250",
    ] {
        let mut pages = vec![get(addr, first).json()];
        while let Some(next) = link(pages.last().unwrap(), "next") {
            assert_eq!(next["method"], "GET");
            pages.push(get(addr, &target_of(next["href"].as_str().unwrap())).json());
            assert!(pages.len() < 100, "paging does not end");
        }
        let forward: Vec<String> = pages.iter().flat_map(ids_of).collect();
        let matched = pages[0]["numberMatched"].as_u64().unwrap();
        assert_eq!(forward.len() as u64, matched, "{first}");
        assert_eq!(forward.iter().collect::<HashSet<_>>().len(), forward.len(), "{first}: an item came twice");
        assert!(link(&pages[0], "prev").is_none() && link(pages.last().unwrap(), "next").is_none());
        // And back from the last page with prev links, to the same pages in reverse.
        let mut back = vec![pages.last().unwrap().clone()];
        while let Some(prev) = link(back.last().unwrap(), "prev") {
            back.push(get(addr, &target_of(prev["href"].as_str().unwrap())).json());
            assert!(back.len() <= pages.len());
        }
        let backward: Vec<String> = back.iter().rev().flat_map(ids_of).collect();
        assert_eq!(backward, forward, "{first}");
    }
}

#[test]
fn post_paging_carries_the_body_and_the_token() {
    let addr = addr();
    let body = json!({"bbox": [20, 20, 21, 21], "collections": ["geotessera-2024"], "limit": 30});
    let mut page = post(addr, "/search", &body).json();
    let mut seen = ids_of(&page);
    while let Some(next) = link(&page, "next").cloned() {
        assert_eq!(next["method"], "POST");
        assert_eq!(next["body"]["bbox"], body["bbox"]);
        page = post(addr, "/search", &next["body"]).json();
        seen.extend(ids_of(&page));
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 100);
}

/// A body over 16 KB is parsed, searched and rendered on the pool: the same pages as a small one.
#[test]
fn a_large_post_body_pages_like_a_small_one() {
    let addr = addr();
    // The 1-degree square with its south edge drawn through 2,000 points: about 40 KB of JSON,
    // with numbers such as 20.826999999999998 that only a correctly rounded parse reads back
    // as they were sent.
    let mut ring: Vec<[f64; 2]> = (0..2000).map(|k| [20.0 + f64::from(k) / 2000.0, 20.0]).collect();
    ring.extend([[21.0, 20.0], [21.0, 21.0], [20.0, 21.0], [20.0, 20.0]]);
    let square = json!({"type": "Polygon", "coordinates": [ring]});
    let body = json!({"intersects": square, "collections": ["geotessera-2024"], "limit": 30});
    assert!(body.to_string().len() > 16 * 1024);
    let mut page = post(addr, "/search", &body).json();
    assert_eq!(page["numberMatched"], 100, "{page}");
    let mut seen = ids_of(&page);
    while let Some(next) = link(&page, "next").cloned() {
        // The client's numbers come back exactly as sent.
        assert!(next["body"]["intersects"] == square, "the geometry changed on its way back");
        page = post(addr, "/search", &next["body"]).json();
        seen.extend(ids_of(&page));
    }
    let by_bbox = get(addr, "/search?bbox=20,20,21,21&collections=geotessera-2024&limit=100").json();
    assert_eq!(seen, ids_of(&by_bbox));
}

#[test]
fn tampered_or_foreign_tokens_are_400() {
    let addr = addr();
    let page = get(addr, "/search?bbox=20,20,21,21&limit=5").json();
    let next = target_of(link(&page, "next").unwrap()["href"].as_str().unwrap());
    let token = next.split("token=").nth(1).unwrap().to_owned();
    let mut flipped = token.clone().into_bytes();
    flipped[3] = if flipped[3] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let tampered = get(addr, &format!("/search?bbox=20,20,21,21&limit=5&token={flipped}"));
    assert_eq!(tampered.status, 400);
    assert!(tampered.json()["description"].as_str().unwrap().contains("altered"));
    let foreign = get(addr, &format!("/search?bbox=20,20,21,22&limit=5&token={token}"));
    assert_eq!(foreign.status, 400);
    assert!(foreign.json()["description"].as_str().unwrap().contains("another search"));
    assert_eq!(
        get(addr, &format!("/search?bbox=20,20,21,21&limit=9&token={token}")).status,
        200,
        "the page size may change"
    );
}

#[test]
fn items_list_their_stores_and_hrefs() {
    let addr = addr();
    let inventory = inventory();
    let missing = inventory.missing("okavango", "scaleway", &Filter::default()).unwrap();
    let lacking = inventory.years().tile(tessera_engine::grid::TileId(missing[0].lo)).unwrap();
    let item_id = lacking.item_id().to_string();
    let item = get(addr, &format!("/collections/geotessera-{}/items/{item_id}", lacking.year)).json();
    let alternates = item["assets"]["embeddings"]["alternate"].as_object().unwrap();
    assert!(!alternates.contains_key("scaleway"), "scaleway lacks {item_id}");
    assert!(!item["properties"]["tessera:stores"].as_array().unwrap().contains(&json!("scaleway")));
    let href = item["assets"]["embeddings"]["href"].as_str().unwrap();
    assert!(href.ends_with(&format!("/{}/{}.npy", lacking.key(), lacking.cell.name())), "{href}");
    let tile = Tile::parse_item_id(&item_id).unwrap();
    assert_eq!(tile, lacking);
}

#[test]
fn coverage_bitmaps_are_the_stores_sets_with_etags_and_encodings() {
    let addr = addr();
    let inventory = inventory();
    let listing = get(addr, "/coverage").json();
    assert_eq!(listing["stores"][0]["name"], "okavango");
    let reply = get(addr, "/coverage/okavango/2024");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/octet-stream"));
    let view = RoaringView::open(reply.body.clone()).unwrap();
    let store = inventory.store("okavango").unwrap();
    let per_year = inventory.year_counts(&store.tiles);
    let expected = per_year.iter().find(|(y, _)| *y == 2024).unwrap().1;
    assert_eq!(view.cardinality(), expected);
    assert_eq!(listing["stores"][0]["years"]["2024"], expected);
    let cell = Tile::parse_item_id("2024_grid_0.85_49.95").unwrap().cell;
    assert!(view.contains(cell.index()));

    let etag = reply.header("etag").unwrap().to_owned();
    let again = request(addr, "GET", "/coverage/okavango/2024", &[("If-None-Match", &etag)], b"");
    assert_eq!((again.status, again.body.len()), (304, 0));
    let gzip = request(addr, "GET", "/coverage/okavango/2024", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gzip.body.as_slice()), &mut plain).unwrap();
    assert_eq!(plain, reply.body);
    let br = request(addr, "GET", "/coverage/okavango/2024", &[("Accept-Encoding", "gzip, br")], b"");
    assert_eq!(br.header("content-encoding"), Some("br"));

    let missing = get(addr, "/coverage/okavango/scaleway/2024");
    let view = RoaringView::open(missing.body.clone()).unwrap();
    let filter = Filter { years: vec![2024], bbox: None };
    assert_eq!(view.cardinality(), inventory.missing_count("okavango", "scaleway", &filter).unwrap());
    // The registry is a source: what should exist and a store lacks.
    for store in ["okavango", "scaleway"] {
        let lacking = RoaringView::open(get(addr, &format!("/coverage/registry/{store}/2024")).body).unwrap();
        assert_eq!(lacking.cardinality(), inventory.missing_count("registry", store, &filter).unwrap());
    }
    assert!(inventory.missing_count("registry", "scaleway", &filter).unwrap() > 0);
    assert_eq!(get(addr, "/coverage/nowhere/2024").status, 404);
    assert_eq!(get(addr, "/coverage/okavango/1999").status, 404);
    // A GET of a path no route has is 404 (not 405 naming GET as allowed); a method a route
    // does not take is 405.
    for path in ["/collections/geotessera-2024/nothing", "/collections/geotessera-2024/items/a/b", "/coverage/a/b/c/d"]
    {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
    assert_eq!(request(addr, "POST", "/copylist/okavango/scaleway", &[], b"").status, 405);
}

#[test]
fn cors_preflight_and_headers() {
    let addr = addr();
    let preflight =
        request(addr, "OPTIONS", "/search", &[("Origin", "http://x"), ("Access-Control-Request-Method", "POST")], b"");
    assert_eq!(preflight.status, 204);
    assert!(preflight.header("access-control-allow-methods").unwrap().contains("POST"));
    assert!(preflight.header("access-control-allow-headers").unwrap().contains("Content-Type"));
    assert_eq!(get(addr, "/").header("access-control-allow-origin"), Some("*"));
    let desc = get(addr, "/api");
    assert_eq!(desc.header("content-type"), Some("application/vnd.oai.openapi+json;version=3.0"));
    assert_eq!(desc.json()["servers"][0]["url"], BASE);
    // HEAD says what GET would send, length included.
    for path in ["/conformance", "/collections", "/coverage/okavango/2024"] {
        let (whole, head) = (get(addr, path), request(addr, "HEAD", path, &[], b""));
        assert_eq!(head.status, 200, "{path}");
        assert!(head.body.is_empty(), "{path}");
        let length = whole.body.len().to_string();
        assert_eq!(head.header("content-length"), Some(length.as_str()), "{path}");
        assert_eq!(head.header("content-type"), whole.header("content-type"), "{path}");
    }
}

#[test]
fn the_map_is_served_safely_or_explained() {
    let (_temp, dir) = common::demo();
    let not_built = common::start(&dir, None);
    let page = get(not_built.addr, "/map/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("build-web.sh"));
    drop(not_built);

    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<p>map</p>").unwrap();
    std::fs::write(web.path().join("app.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.join("secret.txt"), "no").unwrap();
    let running = common::start(&dir, Some(web.path().to_owned()));
    assert_eq!(get(running.addr, "/map/").body, b"<p>map</p>");
    assert_eq!(get(running.addr, "/map/app.wasm").header("content-type"), Some("application/wasm"));
    assert_eq!(get(running.addr, "/map").status, 301);
    for escape in ["/map/../secret.txt", "/map/%2e%2e/secret.txt", "/map/..%2fsecret.txt", "/map/.hidden"] {
        assert_eq!(get(running.addr, escape).status, 404, "{escape}");
    }
}

#[test]
fn a_recorded_tile_is_served_without_a_restart() {
    let (_temp, dir) = common::demo();
    let running = common::start(&dir, None);
    let mut inventory = Inventory::open(&dir).unwrap();
    let missing = inventory.missing("okavango", "scaleway", &Filter { years: vec![2024], bbox: None }).unwrap();
    let id = tessera_engine::grid::TileId(missing[0].lo);
    let tile = inventory.years().tile(id).unwrap();
    let target = format!("/collections/geotessera-2024/items/{}", tile.item_id());
    let stores = |addr| {
        let item = get(addr, &target).json();
        assert!(item["properties"]["tessera:stores"].is_array(), "not an item: {item}");
        item["properties"]["tessera:stores"].clone()
    };
    assert!(!stores(running.addr).as_array().unwrap().contains(&json!("scaleway")));
    // A search that finds the tile, asked twice: the second answer is the page kept.
    let search = format!("/search?ids={}", tile.item_id());
    let searched_stores = |addr| get(addr, &search).json()["features"][0]["properties"]["tessera:stores"].clone();
    assert!(!searched_stores(running.addr).as_array().unwrap().contains(&json!("scaleway")));
    assert!(!searched_stores(running.addr).as_array().unwrap().contains(&json!("scaleway")));
    let before = RoaringView::open(get(running.addr, "/coverage/scaleway/2024").body).unwrap().cardinality();

    let row = tessera_engine::manifest::ManifestRow { id, file_size: None, scales_size: None };
    inventory.record("scaleway", &[row], 1_000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stores(running.addr).as_array().unwrap().contains(&json!("scaleway")) {
        assert!(Instant::now() < deadline, "the record was not picked up within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = RoaringView::open(get(running.addr, "/coverage/scaleway/2024").body).unwrap().cardinality();
    assert_eq!(after, before + 1);
    // The page kept before the change went with its snapshot.
    assert!(searched_stores(running.addr).as_array().unwrap().contains(&json!("scaleway")));
}

#[test]
fn items_pages_sort_and_choose_fields_too() {
    let addr = addr();
    let page =
        get(addr, "/collections/geotessera-2024/items?bbox=20,20,21,21&fields=id,-assets&sortby=-datetime&limit=3")
            .json();
    let first = &page["features"][0];
    assert!(first.get("assets").is_none() && first["id"].as_str().unwrap().starts_with("2024_"), "{first}");
    assert_eq!(page["numberMatched"], 100);
    let across_years =
        get(addr, "/search?ids=2017_grid_0.85_49.95,2025_grid_0.85_49.95&sortby=-properties.datetime").json();
    assert_eq!(ids_of(&across_years), ["2025_grid_0.85_49.95", "2017_grid_0.85_49.95"]);
}

#[test]
fn an_oversized_body_is_413() {
    let addr = addr();
    // Announced but not sent: the server refuses it from the header alone.
    let reply =
        request(addr, "POST", "/search", &[("Content-Type", "application/json"), ("Content-Length", "2097152")], b"");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["code"], "PayloadTooLarge");
}

#[test]
fn the_copy_list_of_a_box_is_what_diff_emits() {
    let addr = addr();
    let inventory = inventory();
    let filter = Filter { years: vec![2024], bbox: Some(Bbox::parse("-10,35,30,60").unwrap()) };
    let missing = inventory.missing("okavango", "scaleway", &filter).unwrap();
    let expected: Vec<String> = missing
        .iter()
        .flat_map(|r| r.lo..=r.hi)
        .map(|id| inventory.years().tile(tessera_engine::grid::TileId(id)).unwrap().key().to_string())
        .collect();
    let reply = get(addr, "/copylist/okavango/scaleway?year=2024&bbox=-10,35,30,60");
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-disposition").unwrap().contains("okavango-to-scaleway"));
    let lines: Vec<String> = String::from_utf8(reply.body).unwrap().lines().map(str::to_owned).collect();
    assert!(!expected.is_empty());
    assert_eq!(lines, expected);
    // okavango and scaleway are directories: an rsync list, and s5cmd is refused.
    let rsync = get(addr, "/copylist/okavango/scaleway?year=2024&bbox=-10,35,30,60&format=rsync");
    assert_eq!(String::from_utf8(rsync.body).unwrap().lines().collect::<Vec<_>>(), expected);
    let cp = get(addr, "/copylist/okavango/scaleway?year=2024&bbox=-10,35,30,60&format=cp");
    let first = String::from_utf8(cp.body).unwrap().lines().next().unwrap().to_owned();
    assert!(first.starts_with("mkdir -p '/mnt/cephfs") && first.contains(&format!("'/{} ", expected[0])), "{first}");
    let refused = get(addr, "/copylist/okavango/scaleway?year=2024&format=s5cmd");
    assert_eq!(refused.status, 400);
    assert!(refused.json()["description"].as_str().unwrap().contains("tools that can: rsync, cp"));
    let s5cmd = get(addr, "/copylist/s3/okavango?format=s5cmd");
    let lines = String::from_utf8(s5cmd.body).unwrap();
    assert!(lines.starts_with("cp \"s3://tessera-embeddings/") && lines.lines().count() == 6, "{lines}");
    assert_eq!(get(addr, "/copylist/registry/okavango?format=s5cmd").status, 400);
    assert_eq!(get(addr, "/copylist/okavango/nowhere?year=2024").status, 404);
    assert_eq!(get(addr, "/copylist/okavango/scaleway?year=2024&bbox=0,91,1,92").status, 400);
}
