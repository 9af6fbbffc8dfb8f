//! The client behind a proxy: `--trust-proxy` (trusted and untrusted peers, spoofed headers,
//! IPv6 /64s) and the PROXY protocol (v1 and v2), seen through the per-client cap, over real
//! connections to 127.0.0.1.
//!
//! A request is held in flight by sending its head and only the first byte of its body: the
//! server is at work on it (reading the body) until the stream is dropped.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{demo, options, start_options};
use tessera_server::{ClientHeader, Limits, Proxies};

fn limits(per_client: usize) -> Limits {
    Limits { per_client, ..Limits::default() }
}

fn trusting(trusted: &str, header: ClientHeader) -> Proxies {
    Proxies { trusted: Proxies::parse_trusted(trusted).expect("ranges"), header, proxy_protocol: false }
}

/// A POST search from behind a proxy naming `client`, held in flight until dropped.
fn held_request(addr: SocketAddr, forwarded: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("a connection");
    let head = format!(
        "POST /search HTTP/1.1\r\nHost: t\r\n{forwarded}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).expect("a head");
    stream
}

/// The status of a GET with `headers`, on a fresh connection; `None` when it was cut off.
fn status(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Option<u16> {
    common::try_request(addr, "GET", target, headers, b"").map(|reply| reply.status)
}

/// Waits until `/metrics` counts `clients` clients holding places (the asker's own included).
fn wait_for_clients(addr: SocketAddr, clients: u64) {
    let started = Instant::now();
    loop {
        let metrics = common::get(addr, "/metrics");
        let now = sample(&metrics.body, "tessera_clients ");
        if now == clients as f64 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{now} clients, expected {clients}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sample(metrics: &[u8], name: &str) -> f64 {
    let text = String::from_utf8_lossy(metrics);
    let line = text.lines().find(|line| line.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
    line.rsplit(' ').next().and_then(|value| value.parse().ok()).expect("a number")
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_a_cap_of_its_own() {
    let (_temp, dir) = demo();
    let mut options = options(&dir, None);
    options.limits = limits(2);
    options.proxies = trusting("127.0.0.1", ClientHeader::XForwardedFor);
    let server = start_options(options);
    let addr = server.addr;
    // The proxy's own connections are not capped: it carries everyone's requests.
    let idle: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).expect("a connection")).collect();
    let held: Vec<TcpStream> = (0..2).map(|_| held_request(addr, "X-Forwarded-For: 203.0.113.1")).collect();
    wait_for_clients(addr, 2);
    let refused = common::request(addr, "GET", "/healthz", &[("X-Forwarded-For", "203.0.113.1")], b"");
    assert_eq!(refused.status, 429, "{}", String::from_utf8_lossy(&refused.body));
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["code"], "TooManyRequests");
    assert_eq!(status(addr, "/healthz", &[("X-Forwarded-For", "203.0.113.2")]), Some(200), "another client");
    // A client that names another in its own header is still itself: the proxy appended it.
    let spoofing = [("X-Forwarded-For", "203.0.113.2, 203.0.113.1")];
    assert_eq!(status(addr, "/healthz", &spoofing), Some(429));
    let metrics = common::get(addr, "/metrics");
    assert!(sample(&metrics.body, "tessera_client_cap_refusals_total{unit=\"request\"}") >= 2.0);
    drop(held);
    let started = Instant::now();
    while status(addr, "/healthz", &[("X-Forwarded-For", "203.0.113.1")]) != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(10), "the client's places came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(idle);
}

#[test]
fn a_header_from_a_peer_that_is_not_trusted_is_ignored() {
    let (_temp, dir) = demo();
    let mut options = options(&dir, None);
    options.limits = limits(2);
    options.proxies = trusting("10.0.0.0/8", ClientHeader::XForwardedFor);
    let server = start_options(options);
    let addr = server.addr;
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).expect("a connection")).collect();
    std::thread::sleep(Duration::from_millis(200));
    // 127.0.0.1 holds its two connections: a third is closed, whoever it says it speaks for.
    let spoofed = status(addr, "/healthz", &[("X-Forwarded-For", "198.51.100.9")]);
    assert_eq!(spoofed, None, "the third connection from 127.0.0.1 is closed on arrival");
    drop(idle);
    let started = Instant::now();
    while status(addr, "/healthz", &[]) != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(10), "the connections' places came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_ipv6_client_behind_the_proxy_is_counted_by_its_64() {
    let (_temp, dir) = demo();
    let mut options = options(&dir, None);
    options.limits = limits(1);
    options.proxies = trusting("127.0.0.0/8", ClientHeader::Forwarded);
    let server = start_options(options);
    let addr = server.addr;
    let held = held_request(addr, "Forwarded: for=\"[2001:db8:1:2::1]:4711\";proto=https");
    wait_for_clients(addr, 2);
    let same_64 = [("Forwarded", "for=\"[2001:db8:1:2:ffff::7]\"")];
    assert_eq!(status(addr, "/healthz", &same_64), Some(429), "the same /64");
    assert_eq!(status(addr, "/healthz", &[("Forwarded", "for=\"[2001:db8:1:3::1]\"")]), Some(200), "another /64");
    // Only the configured header is read: an X-Forwarded-For passes through as the client sent it.
    let other_header = [("X-Forwarded-For", "198.51.100.3"), ("Forwarded", "for=\"[2001:db8:1:2::9]\"")];
    assert_eq!(status(addr, "/healthz", &other_header), Some(429));
    drop(held);
}

/// The PROXY v2 header of a TCP connection from `client` (IPv4) to port 80.
fn proxy_v2(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend([0x21, 0x11, 0, 12]);
    header.extend(client);
    header.extend([127, 0, 0, 1]);
    header.extend(port.to_be_bytes());
    header.extend(80u16.to_be_bytes());
    header
}

/// Connects, sends `header` then a GET of `/healthz`: the status, or `None` when cut off.
fn through_proxy_protocol(addr: SocketAddr, header: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(header).ok()?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").ok()?;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let line = String::from_utf8_lossy(&reply).lines().next()?.to_owned();
    line.split(' ').nth(1)?.parse().ok()
}

#[test]
fn the_proxy_protocol_names_the_client_in_v1_and_v2() {
    let (_temp, dir) = demo();
    let mut options = options(&dir, None);
    options.limits = limits(1);
    options.proxies = Proxies { proxy_protocol: true, ..Proxies::default() };
    let server = start_options(options);
    let addr = server.addr;
    // 198.51.100.1 holds its one place with a connection that says nothing more.
    let mut held = TcpStream::connect(addr).expect("a connection");
    held.write_all(b"PROXY TCP4 198.51.100.1 127.0.0.1 40000 80\r\n").expect("a v1 header");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(through_proxy_protocol(addr, &proxy_v2([198, 51, 100, 1], 40001)), None, "the same client, in v2");
    assert_eq!(through_proxy_protocol(addr, &proxy_v2([198, 51, 100, 2], 40002)), Some(200), "another client");
    let v1 = b"PROXY TCP4 198.51.100.3 127.0.0.1 40003 80\r\n";
    assert_eq!(through_proxy_protocol(addr, v1), Some(200));
    let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    local.extend([0x20, 0x00, 0, 0]);
    assert_eq!(through_proxy_protocol(addr, &local), Some(200), "the balancer's own health check");
    assert_eq!(through_proxy_protocol(addr, b""), None, "a connection without a header is closed");
    drop(held);
}
