//! `tessera serve` as it is deployed: replicas behind a load balancer, restarts, a read-only
//! inventory, hostile query strings.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{demo, get, start, target_of};

/// Every file below `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let modified = entry.metadata().and_then(|m| m.modified()).expect("mtime");
                files.push((path.clone(), fs::read(&path).expect("readable"), modified));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn two_replicas_page_alike_and_a_restart_changes_nothing() {
    let (_temp, dir) = demo();
    let (mut a, b) = (start(&dir, None), start(&dir, None));
    let mut target = "/search?collections=geotessera-2024&bbox=-10,35,30,60&limit=7".to_owned();
    let mut seen = HashSet::new();
    let mut matched = None;
    for page in 0.. {
        // Alternate replicas; halfway, one restarts (a new process would read the same key).
        if page == 3 {
            drop(a);
            a = start(&dir, None);
        }
        let addr = if page % 2 == 0 { a.addr } else { b.addr };
        let reply = get(addr, &target);
        assert_eq!(reply.status, 200, "page {page}: {}", String::from_utf8_lossy(&reply.body));
        let body = reply.json();
        matched = matched.or(body["numberMatched"].as_u64());
        for feature in body["features"].as_array().expect("features") {
            let id = feature["id"].as_str().expect("an id").to_owned();
            assert!(seen.insert(id.clone()), "{id} twice");
        }
        let next = body["links"].as_array().expect("links").iter().find(|link| link["rel"] == "next");
        match next {
            Some(link) => target = target_of(link["href"].as_str().expect("href")),
            None => break,
        }
    }
    assert!(seen.len() > 20, "{} items", seen.len());
    assert_eq!(Some(seen.len() as u64), matched, "every item exactly once");
}

#[test]
fn a_read_only_inventory_is_served_and_nothing_is_written() {
    let (temp, dir) = demo();
    // Derived files gone: a writable server would rebuild and write them.
    for derived in ["registry.tbm", "registry.details", "stores/okavango.tbm", "stores/s3.tbm"] {
        let _ = fs::remove_file(dir.join(derived));
    }
    let before = snapshot(&dir);
    // A read-only bind mount where the machine allows one (root writes through permissions).
    let view = temp.path().join("read-only");
    fs::create_dir_all(&view).expect("mkdir");
    let bind = Command::new("mount").arg("--bind").arg(&dir).arg(&view).status().is_ok_and(|s| s.success())
        && Command::new("mount").args(["-o", "remount,ro,bind"]).arg(&view).status().is_ok_and(|s| s.success());
    struct Unmount(PathBuf, bool);
    impl Drop for Unmount {
        fn drop(&mut self) {
            if self.1 {
                let _ = Command::new("umount").arg(&self.0).status();
            }
        }
    }
    let _unmount = Unmount(view.clone(), bind);
    let served = if bind { view.clone() } else { dir.clone() };
    if bind {
        assert!(fs::write(view.join("probe"), b"x").is_err(), "the bind mount is read-only");
    } else {
        eprintln!("no read-only bind mount here: checking that nothing is written instead");
    }
    let server = start(&served, None);
    let landing = get(server.addr, "/");
    assert_eq!(landing.status, 200);
    let item = get(server.addr, "/collections/geotessera-2024/items/2024_grid_0.85_49.95");
    assert_eq!(item.status, 200, "{}", String::from_utf8_lossy(&item.body));
    assert!(item.json()["assets"]["embeddings"]["file:size"].as_u64() > Some(0), "details built in memory");
    assert_eq!(get(server.addr, "/search?bbox=0,45,10,55&limit=3").status, 200);
    assert_eq!(get(server.addr, "/coverage/s3/2024").status, 200);
    drop(server);
    assert_eq!(snapshot(&dir), before, "serve wrote nothing");
}

#[test]
fn query_values_that_are_not_utf8_are_refused() {
    let (_temp, dir) = demo();
    let server = start(&dir, None);
    for target in
        ["/search?ids=%ff%fe", "/collections/geotessera-2024/items?bbox=%c3", "/copylist/okavango/scaleway?year=%ff"]
    {
        let reply = get(server.addr, target);
        assert_eq!(reply.status, 400, "{target}: {}", String::from_utf8_lossy(&reply.body));
        assert!(reply.json()["description"].as_str().expect("a description").contains("not UTF-8"));
    }
}

#[test]
fn a_copy_list_is_streamed_and_capped() {
    use tessera_engine::inventory::Inventory;
    use tessera_engine::store::{Listing, Scope, Taken, journal::Position};
    let (_temp, dir) = demo();
    // scaleway emptied: it lacks every tile okavango holds, thousands of lines.
    let mut inventory = Inventory::open(&dir).expect("inventory");
    let none: &[tessera_engine::manifest::ManifestRow] = &[];
    inventory
        .replace(
            "scaleway",
            &Listing {
                rows: none,
                scope: &Scope::default(),
                started_after: Position::NONE,
                taken: Taken::ByTheScan(0),
                merge: false,
            },
        )
        .expect("emptied");
    let lacking = inventory.missing_count("okavango", "scaleway", &Default::default()).expect("count");
    assert!(lacking > 4000, "{lacking}");
    let limits = tessera_server::Limits { copylist_tiles: lacking, ..tessera_server::Limits::default() };
    let server = common::start_with(&dir, None, limits);
    let reply = get(server.addr, "/copylist/okavango/scaleway?format=rsync");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"), "streamed, not held whole");
    let keys = String::from_utf8(reply.body).expect("utf-8");
    assert_eq!(keys.lines().count() as u64, lacking);
    let mut ids: Vec<u32> = keys
        .lines()
        .map(|key| {
            tessera_engine::grid::DEFAULT_YEARS
                .id(tessera_engine::grid::Tile::parse_key(key).expect("a key"))
                .expect("an id")
                .0
        })
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "in id order, each once");
    ids.dedup();
    assert_eq!(ids.len() as u64, lacking);
    // One tile more than the cap: refused, saying how to narrow it.
    let capped = common::start_with(
        &dir,
        None,
        tessera_server::Limits { copylist_tiles: lacking - 1, ..tessera_server::Limits::default() },
    );
    let refused = get(capped.addr, "/copylist/okavango/scaleway");
    assert_eq!(refused.status, 400);
    assert!(refused.json()["description"].as_str().expect("description").contains("narrow it with year= and bbox="));
    assert_eq!(get(capped.addr, "/copylist/okavango/scaleway?year=2024").status, 200);
}

#[test]
fn metrics_are_openmetrics_that_the_reference_parser_reads() {
    let (_temp, dir) = demo();
    let server = start(&dir, None);
    for target in [
        "/search?bbox=0,45,10,55&limit=3",
        "/search?bbox=0,45,10,55&limit=3",
        "/search?bbox=0,45,10,55&limit=3",
        "/collections/geotessera-2024/items/nope",
    ] {
        get(server.addr, target);
    }
    let reply = get(server.addr, "/metrics");
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").is_some_and(|t| t.starts_with("application/openmetrics-text")));
    let text = String::from_utf8(reply.body).expect("utf-8");
    assert!(text.contains("tessera_http_requests_total{route=\"search\",status=\"200\"} 3"), "{text}");
    assert!(text.contains("tessera_http_requests_total{route=\"item\",status=\"404\"} 1"), "{text}");
    assert!(text.ends_with("# EOF\n"));
    // The Prometheus project's own parser (PyPI prometheus-client), where it is installed.
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        samples = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
        print(json.dumps(samples))";
    let parsed = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    if !parsed.status.success() && String::from_utf8_lossy(&parsed.stderr).contains("No module named") {
        assert!(std::env::var_os("TESSERA_REQUIRE_TOOLS").is_none(), "prometheus_client must be installed");
        eprintln!("skipped the reference parser: prometheus_client is not installed (scripts/test.sh installs it)");
        return;
    }
    assert!(parsed.status.success(), "the parser refused it: {}", String::from_utf8_lossy(&parsed.stderr));
    let samples: Vec<(String, serde_json::Value, f64)> = serde_json::from_slice(&parsed.stdout).expect("json");
    let find = |name: &str, label: (&str, &str)| {
        samples.iter().find(|(n, labels, _)| n == name && labels[label.0] == label.1).map(|(_, _, v)| *v)
    };
    assert_eq!(find("tessera_http_requests_total", ("route", "search")), Some(3.0));
    let okavango = tessera_engine::inventory::Inventory::open(&dir)
        .expect("inventory")
        .store("okavango")
        .expect("store")
        .tiles
        .cardinality();
    assert_eq!(find("tessera_tiles", ("store", "okavango")), Some(okavango as f64));
    assert!(find("tessera_http_request_duration_seconds_count", ("route", "search")) == Some(3.0));
    // The same search three times: searched twice (kept the second time), then answered from
    // the page kept.
    assert_eq!(find("tessera_page_cache_lookups_total", ("outcome", "miss")), Some(2.0));
    assert_eq!(find("tessera_page_cache_lookups_total", ("outcome", "hit")), Some(1.0));
}

/// The `hit` and `miss` counts of the page cache in `/metrics`.
fn page_lookups(addr: std::net::SocketAddr) -> (u64, u64) {
    let text = String::from_utf8(get(addr, "/metrics").body).expect("utf-8");
    let count = |outcome: &str| {
        let prefix = format!("tessera_page_cache_lookups_total{{outcome=\"{outcome}\"}} ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)?.parse().ok()).unwrap_or(0)
    };
    (count("hit"), count("miss"))
}

#[test]
fn a_search_asked_again_is_answered_with_its_first_bytes_unless_the_cache_is_off() {
    let (_temp, dir) = demo();
    let search = "/search?bbox=0,45,10,55&limit=5";
    let server = start(&dir, None);
    let first = get(server.addr, search);
    assert_eq!(first.status, 200);
    // Kept once asked twice (a query asked once is never kept), then answered from what is kept.
    let second = get(server.addr, search);
    assert_eq!(page_lookups(server.addr), (0, 2));
    let again = get(server.addr, search);
    assert_eq!(again.body, first.body);
    assert_eq!(second.body, first.body);
    assert_eq!(again.header("content-type"), Some("application/geo+json"));
    assert_eq!(page_lookups(server.addr), (1, 2));
    // A page kept still pages: its `next` link is followed like any other.
    let next = first.json()["links"].as_array().expect("links").iter().find(|l| l["rel"] == "next").cloned();
    let next = get(server.addr, &target_of(next.expect("a next link")["href"].as_str().expect("href")));
    assert_eq!(next.status, 200);
    assert_ne!(next.body, first.body);
    // Another query, and a bad one (never kept), are searched.
    get(server.addr, "/search?bbox=0,45,10,55&limit=6");
    assert_eq!(get(server.addr, "/search?bbox=0,45").status, 400);
    assert_eq!(get(server.addr, "/search?bbox=0,45").status, 400);
    assert_eq!(page_lookups(server.addr), (1, 6));

    let off = common::start_with(&dir, None, tessera_server::Limits { page_cache: 0, ..Default::default() });
    assert_eq!(get(off.addr, search).body, get(off.addr, search).body);
    assert_eq!(page_lookups(off.addr), (0, 2));
}

#[test]
fn under_a_base_path_every_link_and_redirect_keeps_the_prefix() {
    let (temp, dir) = demo();
    let web = temp.path().join("web");
    fs::create_dir_all(&web).expect("mkdir");
    fs::write(web.join("index.html"), "<!doctype html><title>the map</title>").expect("index.html");
    let mut options = common::options(&dir, Some(web));
    // Links derived from the address and the prefix, as when no --base-url is given.
    options.base_url = None;
    options.base_path = "geotessera/".to_owned();
    let server = common::start_options(options);
    let root = format!("http://{}/geotessera", server.addr);
    let landing = get(server.addr, "/geotessera/");
    assert_eq!(landing.status, 200, "{}", String::from_utf8_lossy(&landing.body));
    assert_eq!(landing.header("vary"), Some("Accept"));
    for link in landing.json()["links"].as_array().expect("links") {
        let href = link["href"].as_str().expect("an href");
        assert!(href.starts_with(&format!("{root}/")) || href == root, "{href} is outside the prefix");
    }
    // A search paged by its `next` links alone.
    let mut target = "/geotessera/search?collections=geotessera-2024&limit=50".to_owned();
    let mut pages = 0;
    loop {
        let reply = get(server.addr, &target);
        assert_eq!(reply.status, 200, "{target}: {}", String::from_utf8_lossy(&reply.body));
        pages += 1;
        let body = reply.json();
        let next = body["links"].as_array().expect("links").iter().find(|link| link["rel"] == "next").cloned();
        let Some(next) = next else { break };
        let href = next["href"].as_str().expect("href");
        target = href.strip_prefix(&format!("http://{}", server.addr)).expect("a link to this server").to_owned();
        assert!(target.starts_with("/geotessera/search?"), "{href}");
    }
    assert!(pages > 1, "one page only");
    // Outside the prefix: nothing; the prefix itself and the map's folder: redirects into it.
    for outside in ["/", "/search", "/healthz", "/geotessera-old/", "/map/"] {
        assert_eq!(get(server.addr, outside).status, 404, "{outside}");
    }
    let location = |target: &str, accept: &str| {
        let reply = common::request(server.addr, "GET", target, &[("Accept", accept)], b"");
        (reply.status, reply.header("location").map(str::to_owned))
    };
    assert_eq!(location("/geotessera", "*/*"), (301, Some("/geotessera/".to_owned())));
    assert_eq!(location("/geotessera/map", "*/*"), (301, Some("/geotessera/map/".to_owned())));
    // A browser asking for the root is sent to the map; a STAC client gets the landing page.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    assert_eq!(location("/geotessera/", browser), (303, Some("/geotessera/map/".to_owned())));
    assert_eq!(location("/geotessera/", "application/json"), (200, None));
    let map = common::request(server.addr, "GET", "/geotessera/map/", &[("Accept", browser)], b"");
    assert_eq!((map.status, String::from_utf8_lossy(&map.body).contains("the map")), (200, true));
    // Requests are counted by route, the prefix taken off.
    let metrics = String::from_utf8(get(server.addr, "/geotessera/metrics").body).expect("utf-8");
    assert!(
        metrics.lines().any(|l| l.starts_with("tessera_http_requests_total{") && l.contains("route=\"search\"")),
        "{metrics}"
    );
}

#[test]
fn a_large_page_is_streamed_item_for_item_as_small_pages_send_it() {
    let (_temp, dir) = demo();
    let server = start(&dir, None);
    let large = get(server.addr, "/search?limit=1000&fields=-properties.datetime");
    assert_eq!(large.status, 200);
    assert_eq!(large.header("transfer-encoding"), Some("chunked"), "a page of 1,000 items is streamed");
    let large = large.json();
    assert_eq!(large["numberReturned"], 1000);
    // The same items through pages of 100, each sent whole with its length.
    let mut target = "/search?limit=100&fields=-properties.datetime".to_owned();
    let mut small = Vec::new();
    while small.len() < 1000 {
        let reply = get(server.addr, &target);
        assert!(reply.header("content-length").is_some(), "a page of 100 is sent whole");
        let body = reply.json();
        small.extend(body["features"].as_array().expect("features").iter().cloned());
        let next = body["links"].as_array().expect("links").iter().find(|link| link["rel"] == "next").cloned();
        target = target_of(next.expect("a next page")["href"].as_str().expect("href"));
    }
    assert_eq!(large["features"].as_array().expect("features"), &small[..1000]);
    assert!(small.iter().all(|item| item["properties"].get("datetime").is_none()), "fields apply when streamed");
    // The streamed bytes are counted as they are sent.
    let metrics = String::from_utf8(get(server.addr, "/metrics").body).expect("utf-8");
    let sent: f64 = metrics
        .lines()
        .find(|line| line.starts_with("tessera_http_response_bytes_total{route=\"search\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .expect("bytes sent on search");
    let large_bytes = serde_json::to_vec(&large).expect("json").len() as f64;
    assert!(sent > large_bytes, "{sent} bytes counted, the large page alone is about {large_bytes}");
}

/// A request waiting its turn on the heavy pool is the server at work, not a quiet client: it
/// is answered however long it waits, past the idle limit too. Thirty-two costly geometries
/// (each refused once drawing it has cost tens of milliseconds) queue for one permit behind an
/// idle limit of 100 ms; before, those that waited longer were cut off with no answer.
#[test]
fn a_request_waiting_for_the_heavy_pool_is_answered_past_the_idle_limit() {
    let (_temp, dir) = demo();
    let limits = tessera_server::Limits { idle: Duration::from_millis(100), heavy: 1, ..Default::default() };
    let server = common::start_with(&dir, None, limits);
    let (addr, body) = (server.addr, tessera_fixtures::zig_zag_search(60_000));
    let answers: Vec<Option<u16>> = std::thread::scope(|scope| {
        let ask = || common::try_request(addr, "POST", "/search", &[], &body).map(|reply| reply.status);
        let asking: Vec<_> = (0..32).map(|_| scope.spawn(ask)).collect();
        asking.into_iter().map(|asked| asked.join().expect("a client")).collect()
    });
    assert!(answers.iter().all(|answer| *answer == Some(400)), "each refused with 400, none cut off: {answers:?}");
}

/// Thirty-two costly geometries for one permit, with a queue timeout of 100 ms: the first are
/// answered (400, each refused once drawing it has cost tens of milliseconds), the rest are
/// turned away as busy (503, `Retry-After`) instead of waiting on, and counted; none is cut off.
#[test]
fn a_request_that_waits_past_the_queue_timeout_is_answered_503() {
    let (_temp, dir) = demo();
    let limits = tessera_server::Limits { heavy: 1, queue_timeout: Duration::from_millis(100), ..Default::default() };
    let server = common::start_with(&dir, None, limits);
    let (addr, body) = (server.addr, tessera_fixtures::zig_zag_search(60_000));
    let answers: Vec<Option<common::Reply>> = std::thread::scope(|scope| {
        let ask = || common::try_request(addr, "POST", "/search", &[], &body);
        let asking: Vec<_> = (0..32).map(|_| scope.spawn(ask)).collect();
        asking.into_iter().map(|asked| asked.join().expect("a client")).collect()
    });
    let statuses: Vec<Option<u16>> = answers.iter().map(|a| a.as_ref().map(|reply| reply.status)).collect();
    assert!(statuses.iter().all(|s| matches!(s, Some(400 | 503))), "each answered 400 or 503: {statuses:?}");
    let busy: Vec<&common::Reply> = answers.iter().flatten().filter(|reply| reply.status == 503).collect();
    assert!(!busy.is_empty() && busy.len() < 32, "some waited too long, not all: {statuses:?}");
    for reply in &busy {
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert_eq!(reply.json()["code"], "ServiceUnavailable");
    }
    let metrics = String::from_utf8(get(addr, "/metrics").body).expect("utf-8");
    let counted = metrics
        .lines()
        .find(|line| line.starts_with("tessera_requests_shed_total{reason=\"queue_timeout\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok());
    assert_eq!(counted, Some(busy.len() as f64), "{metrics}");
}

/// With an admin listener, the public one answers only what a visitor may see: no metrics, no
/// copy lists (404), no storage paths in /coverage; the admin listener answers all of it.
#[test]
fn with_an_admin_listener_the_public_one_keeps_operator_data_to_it() {
    let (_temp, dir) = demo();
    let mut options = common::options(&dir, None);
    options.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = common::start_options(options);
    let (public, admin) = (server.addr, server.admin.expect("an admin listener"));
    for private in ["/metrics", "/copylist/okavango/scaleway?year=2024"] {
        assert_eq!(get(public, private).status, 404, "{private} on the public listener");
        assert_eq!(get(admin, private).status, 200, "{private} on the admin listener");
    }
    let storage = |addr| -> Vec<Option<String>> {
        let listing = get(addr, "/coverage").json();
        let stores = listing["stores"].as_array().expect("stores").clone();
        stores.iter().map(|store| store["storage"].as_str().map(str::to_owned)).collect()
    };
    assert!(storage(public).iter().all(Option::is_none), "no storage on the public listener");
    assert!(storage(admin).iter().all(Option::is_some), "storage on the admin listener");
    // Everything else is public: the API, coverage bitmaps, the map.
    assert_eq!(get(public, "/search?limit=1").status, 200);
    assert_eq!(get(public, "/coverage/okavango/2024").status, 200);
    // Without an admin listener, one listener answers everything, as before.
    let single = common::start(&dir, None);
    assert_eq!(get(single.addr, "/metrics").status, 200);
    assert!(storage(single.addr).iter().all(Option::is_some));
}
