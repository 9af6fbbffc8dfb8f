//! `tessera serve` under hostile load, over loopback, on the full demo inventory (3.8M registry
//! tiles) with an empty mirror, while a normal client pages a search and a prober asks
//! `/healthz` every 50 ms. The attackers, each kind from its own loopback addresses:
//!
//! - geometries built to cost: a 60,000-position LineString zig-zagging pole to pole, one of
//!   150,000 positions, and a body over 1 MiB;
//! - four readers taking whole `/copylist`s of the empty mirror in parallel, a year each;
//! - 500 clients dripping a request body a byte a second, 500 asking for a 10,000-item page
//!   and never reading it, and 400 sending half a request head and nothing more; each
//!   reconnects when cut off.
//!
//! The server runs with the defaults but for shorter timeouts (5 s, so that clients are cut
//! off and come back within the run) and room for every hostile connection at once (the
//! default 1,024 would leave later clients waiting to be accepted, which shows nothing about
//! what a connection costs). It starts under a soft limit of 1,024 open files, as systemd
//! gives, and must raise it itself. The attackers' threads run at a lower CPU priority (nice
//! 10): on a network they are other machines; here they share two cores with the server, and
//! what is measured is how the server shares its own.
//!
//! What must hold: every normal request succeeds and pages the search whole; `/healthz`
//! answers with a p99 under 40 ms and never slower than 150 ms (here its p99 is 6-14 ms and its
//! slowest 9-30 ms: each limit is at least three times what this machine sees, since a fresh
//! CI machine once saw a 96 ms probe); the server's resident memory stays < 300 MB; the attackers are answered
//! as they deserve (400, 413, 408, cut off); and afterwards the server answers correctly.
//! Prints the figures the bench results report.

mod common;

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::get;
use tessera_fixtures::{many_positions_search, zig_zag_search};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream as AsyncStream};

/// How long the attack and the normal client run.
const LOAD: Duration = Duration::from_secs(20);
const TIMEOUT_SECONDS: &str = "5";
const NORMAL_SEARCH: &str = "/search?collections=geotessera-2024&bbox=5,45,7,47&limit=20";

#[test]
fn the_server_stays_bounded_and_correct_under_hostile_load() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("full");
    let init = Command::new(env!("CARGO_BIN_EXE_tessera")).args(["init", "--demo"]).arg(&dir).output().expect("init");
    assert!(init.status.success(), "init failed: {}", String::from_utf8_lossy(&init.stderr));
    let empty = temp.path().join("empty.txt");
    std::fs::write(&empty, "").expect("an empty listing");
    let emptied = common::run(&dir, &["scan", "s3", empty.to_str().expect("utf-8 path")], b"");
    assert!(emptied.status.success(), "{}", String::from_utf8_lossy(&emptied.stderr));

    let server = Server::start(&dir);
    let addr = server.addr;
    let expected = matched(addr);
    assert!(expected > 100, "the normal search pages: {expected} items");

    let until = Instant::now() + LOAD;
    let memory = Arc::new(Mutex::new(Memory::default()));
    let sampler = {
        let (memory, pid) = (memory.clone(), server.process.id());
        std::thread::spawn(move || sample_memory(pid, until + Duration::from_secs(1), &memory))
    };
    let load_started = Instant::now();
    let prober = std::thread::spawn(move || probe_health(addr, load_started, until));
    let normal = std::thread::spawn(move || page_normally(addr, until));
    let tally = Arc::new(Tally::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(lower_priority)
        .enable_all()
        .build()
        .expect("runtime");
    let attack = runtime.block_on(attack(addr, until, tally.clone()));

    let probes = prober.join().expect("prober");
    let normal = normal.join().expect("normal client");
    sampler.join().expect("sampler");
    let memory = memory.lock().expect("memory").clone();

    let p99 = percentile(&normal.latencies, 0.99);
    let slowest = probes.iter().max_by_key(|probe| probe.took).copied().unwrap_or_default();
    let worst_health = slowest.took;
    let health: Vec<Duration> = probes.iter().map(|probe| probe.took).collect();
    println!(
        "hostile load for {LOAD:?}: {} normal pages ({} searches whole), p50 {:?}, p99 {p99:?}; \
         {} health probes, p99 {:?}, max {worst_health:?} ({:.1} s into the load); server peak RSS {:.1} MB (anonymous {:.1} MB), \
         {} descriptors at most",
        normal.latencies.len(),
        normal.passes,
        percentile(&normal.latencies, 0.5),
        health.len(),
        percentile(&health, 0.99),
        slowest.at.as_secs_f64(),
        memory.peak_rss_kb as f64 / 1024.0,
        memory.peak_anon_kb as f64 / 1024.0,
        memory.peak_descriptors,
    );
    println!("{}", tally.report());
    println!("{attack}");

    assert!(
        normal.failures.is_empty(),
        "normal requests failed: {:?}",
        &normal.failures[..normal.failures.len().min(5)]
    );
    assert!(normal.passes >= 1, "the normal client paged the search whole at least once");
    for pass in &normal.item_counts {
        assert_eq!(*pass, expected, "each pass pages every item once");
    }
    assert!(health.len() > 100, "the prober ran: {} probes", health.len());
    let health_p99 = percentile(&health, 0.99);
    assert!(health_p99 < Duration::from_millis(40), "/healthz p99 {health_p99:?}");
    assert!(
        worst_health < Duration::from_millis(150),
        "/healthz took {worst_health:?}, {:?} into the load",
        slowest.at
    );
    assert!(memory.peak_rss_kb < 300 * 1024, "peak RSS {} kB", memory.peak_rss_kb);
    assert!(memory.peak_descriptors > 1100, "the attackers held their connections: {}", memory.peak_descriptors);
    tally.assert_answered_as_deserved();

    // Afterwards: correct, and the copy list is whole.
    assert_eq!(matched(addr), expected);
    let (status, body) = get(addr, "/copylist/okavango/s3?year=2017&format=s5cmd").expect("a copy list");
    assert_eq!(status, 200);
    let held = common::run(&dir, &["diff", "okavango", "s3", "--year", "2017", "--count"], b"");
    let lacking: usize = String::from_utf8_lossy(&held.stdout).trim().parse().expect("a count");
    let copies: Vec<&str> = std::str::from_utf8(&body).expect("utf-8").lines().collect();
    assert_eq!(copies.len(), lacking, "a line for each lacking tile");
    assert!(copies.iter().all(|line| line.starts_with("cp ") && line.contains("/2017/grid_")), "{:?}", &copies[..2]);
    drop(server);
}

/// Lowers the calling thread's CPU priority to nice 10 (on Linux, `setpriority` of process 0
/// applies to the calling thread only).
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: setpriority reads its three integer arguments and nothing else.
    let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) } != 0;
    assert!(!failed, "lowering an attacker thread's priority: {}", io::Error::last_os_error());
}

/// The server process, killed when dropped.
struct Server {
    process: Child,
    addr: SocketAddr,
}

impl Server {
    /// `tessera serve` under a soft limit of 1,024 open files (as systemd's default).
    fn start(dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let hard = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                let line = limits.lines().find(|line| line.starts_with("Max open files"))?.to_owned();
                line.split_whitespace().nth(4).map(str::to_owned)
            })
            .unwrap_or_else(|| "unlimited".into());
        let mut process = Command::new("prlimit")
            .arg(format!("--nofile=1024:{hard}"))
            .arg(env!("CARGO_BIN_EXE_tessera"))
            .arg("--inventory")
            .arg(dir)
            .args(["serve", "--listen", &addr.to_string()])
            .args(["--request-timeout", TIMEOUT_SECONDS, "--write-timeout", TIMEOUT_SECONDS])
            .args(["--idle-timeout", TIMEOUT_SECONDS, "--max-connections", "4096"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prlimit (util-linux) runs tessera serve");
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(process.try_wait().expect("wait").is_none(), "the server exited");
            assert!(started.elapsed() < Duration::from_secs(30), "no answer within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { process, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

// ----- the normal client, the prober and the memory sampler (threads, blocking I/O) -----

#[derive(Debug, Default)]
struct Normal {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    /// Items seen in each whole pass over the search's pages.
    item_counts: Vec<u64>,
    passes: usize,
}

/// Pages the normal search by its `next` links, over and over, until `until`.
fn page_normally(addr: SocketAddr, until: Instant) -> Normal {
    let mut normal = Normal::default();
    while Instant::now() < until {
        let mut seen = HashSet::new();
        let mut path = Some(NORMAL_SEARCH.to_owned());
        while let Some(page) = path.take() {
            let started = Instant::now();
            let reply = get(addr, &page);
            normal.latencies.push(started.elapsed());
            let page_json = match reply {
                Ok((200, body)) => serde_json::from_slice::<serde_json::Value>(&body).expect("a JSON page"),
                Ok((status, body)) => {
                    normal.failures.push(format!("{page}: {status} {}", String::from_utf8_lossy(&body)));
                    break;
                }
                Err(err) => {
                    normal.failures.push(format!("{page}: {err}"));
                    break;
                }
            };
            for item in page_json["features"].as_array().expect("features") {
                let id = item["id"].as_str().expect("an id").to_owned();
                assert!(seen.insert(id), "an item came twice while paging");
            }
            path = next_link(&page_json).map(|href| path_of(&href));
            if path.is_none() {
                normal.item_counts.push(seen.len() as u64);
                normal.passes += 1;
            }
        }
    }
    normal
}

/// How many items the normal search matches.
fn matched(addr: SocketAddr) -> u64 {
    let (status, body) = get(addr, NORMAL_SEARCH).expect("the search");
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    page["numberMatched"].as_u64().expect("numberMatched")
}

fn next_link(page: &serde_json::Value) -> Option<String> {
    let links = page["links"].as_array()?;
    let next = links.iter().find(|link| link["rel"] == "next")?;
    next["href"].as_str().map(str::to_owned)
}

/// `/search?...` from `http://127.0.0.1:PORT/search?...`.
fn path_of(href: &str) -> String {
    let after_scheme = href.split_once("://").map_or(href, |(_, rest)| rest);
    after_scheme.find('/').map_or("/".to_owned(), |slash| after_scheme[slash..].to_owned())
}

/// One `/healthz` asked: when, into the load, and how long its answer took.
#[derive(Debug, Default, Clone, Copy)]
struct Probe {
    at: Duration,
    took: Duration,
}

/// `/healthz` every 50 ms: how long each answer took (a failure as forever).
fn probe_health(addr: SocketAddr, load_started: Instant, until: Instant) -> Vec<Probe> {
    let mut probes = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let reply = get(addr, "/healthz");
        let at = started - load_started;
        probes.push(Probe { at, took: started.elapsed() });
        if !matches!(reply, Ok((200, _))) {
            eprintln!("/healthz failed: {reply:?}");
            probes.push(Probe { at, took: Duration::MAX });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    probes
}

#[derive(Debug, Default, Clone)]
struct Memory {
    peak_rss_kb: u64,
    peak_anon_kb: u64,
    peak_descriptors: usize,
}

/// Samples the server's resident memory and open descriptors every 20 ms; the kernel's
/// high-water mark (VmHWM) catches peaks between samples.
fn sample_memory(pid: u32, until: Instant, memory: &Mutex<Memory>) {
    while Instant::now() < until {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return };
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|line| line.starts_with(name)).unwrap_or_default();
            line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).unwrap_or(0)
        };
        let descriptors = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
        let mut memory = memory.lock().expect("memory");
        memory.peak_rss_kb = memory.peak_rss_kb.max(field("VmHWM:")).max(field("VmRSS:"));
        memory.peak_anon_kb = memory.peak_anon_kb.max(field("RssAnon:"));
        memory.peak_descriptors = memory.peak_descriptors.max(descriptors);
        drop(memory);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn percentile(latencies: &[Duration], at: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted.get(((sorted.len() as f64 * at) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

// ----- the attackers (tokio tasks) -----

/// What the attackers met.
#[derive(Debug, Default)]
struct Tally {
    geometry_refused: AtomicU64,
    geometry_other: AtomicU64,
    geometry_slowest_ms: AtomicU64,
    oversized_refused: AtomicU64,
    oversized_other: AtomicU64,
    copylists_whole: AtomicU64,
    copylist_bytes: AtomicU64,
    copylists_failed: AtomicU64,
    slow_bodies_timed_out: AtomicU64,
    slow_bodies_cut: AtomicU64,
    slow_reads: AtomicU64,
    half_open_cut: AtomicU64,
    refused_connects: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn report(&self) -> String {
        let get = Tally::get;
        format!(
            "attackers: geometries refused {} (other answers {}, slowest {} ms), oversized refused {} (other {}); \
             copy lists read whole {} ({:.0} MB, {} failed); slow bodies answered 408 {}, cut {}; \
             slow readers {}; half-open cut {}; connects refused {}",
            get(&self.geometry_refused),
            get(&self.geometry_other),
            get(&self.geometry_slowest_ms),
            get(&self.oversized_refused),
            get(&self.oversized_other),
            get(&self.copylists_whole),
            get(&self.copylist_bytes) as f64 / 1e6,
            get(&self.copylists_failed),
            get(&self.slow_bodies_timed_out),
            get(&self.slow_bodies_cut),
            get(&self.slow_reads),
            get(&self.half_open_cut),
            get(&self.refused_connects),
        )
    }

    fn assert_answered_as_deserved(&self) {
        let get = Tally::get;
        assert!(get(&self.geometry_refused) >= 3, "costly geometries were refused: {}", self.report());
        assert_eq!(get(&self.geometry_other), 0, "every costly geometry is a 400: {}", self.report());
        // Here the slowest is refused in 0.5-1.3 s: it may wait behind the others for a permit.
        assert!(get(&self.geometry_slowest_ms) < 4000, "a geometry is refused within 4 s: {}", self.report());
        assert!(get(&self.oversized_refused) >= 1, "{}", self.report());
        assert_eq!(get(&self.oversized_other), 0, "every oversized body is a 413: {}", self.report());
        assert!(get(&self.copylists_whole) >= 4, "copy lists were served whole: {}", self.report());
        assert_eq!(get(&self.copylists_failed), 0, "{}", self.report());
        let dripped = get(&self.slow_bodies_timed_out) + get(&self.slow_bodies_cut);
        assert!(dripped >= 500, "every dripping client was cut off within the run: {}", self.report());
        assert!(get(&self.half_open_cut) >= 400, "every half-open connection was closed: {}", self.report());
    }
}

async fn attack(addr: SocketAddr, until: Instant, tally: Arc<Tally>) -> String {
    let mut tasks = tokio::task::JoinSet::new();
    let geometry_source = Ipv4Addr::new(127, 0, 0, 2);
    tasks.spawn(geometries(addr, geometry_source, until, tally.clone()));
    for year in 2017..2021 {
        tasks.spawn(copylists(addr, Ipv4Addr::new(127, 0, 0, 3), year, until, tally.clone()));
    }
    // 50 clients an address: under the per-client cap, so the server holds them all.
    for client in 0..500u32 {
        tasks.spawn(slow_body(addr, spread(4, client), until, tally.clone()));
        tasks.spawn(slow_read(addr, spread(5, client), until, tally.clone()));
    }
    for client in 0..400u32 {
        tasks.spawn(half_open(addr, spread(6, client), until, tally.clone()));
    }
    let started = Instant::now();
    while tasks.join_next().await.transpose().expect("an attacker panicked").is_some() {}
    format!("attackers stopped {:?} after the load ended", started.elapsed().saturating_sub(LOAD))
}

/// The address of one of a kind's clients: 127.0.KIND.x, 50 clients to an address.
fn spread(kind: u8, client: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, kind, 1 + (client / 50) as u8)
}

async fn connect_from(source: Ipv4Addr, addr: SocketAddr, receive_buffer: Option<u32>) -> io::Result<AsyncStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(addr).await
}

/// Connects, or counts a refusal and backs off a second.
async fn connect_or_back_off(
    source: Ipv4Addr,
    addr: SocketAddr,
    buffer: Option<u32>,
    tally: &Tally,
) -> Option<AsyncStream> {
    match connect_from(source, addr, buffer).await {
        Ok(stream) => Some(stream),
        Err(_) => {
            Tally::add(&tally.refused_connects, 1);
            tokio::time::sleep(Duration::from_secs(1)).await;
            None
        }
    }
}

/// Reads a whole reply (the server closes after it), within `limit`.
async fn read_reply(stream: &mut AsyncStream, limit: Duration) -> io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut reply)).await.map_err(|_| io::Error::other("no reply"))??;
    Ok(reply)
}

fn status_of(reply: &[u8]) -> Option<u16> {
    std::str::from_utf8(reply.get(..12)?).ok()?.split_whitespace().nth(1)?.parse().ok()
}

/// The costly geometries, one after another, from one address; and an oversized body.
async fn geometries(addr: SocketAddr, source: Ipv4Addr, until: Instant, tally: Arc<Tally>) {
    let bodies = [zig_zag_search(60_000), many_positions_search(150_000)];
    assert!(bodies.iter().all(|body| body.len() < 1 << 20), "under the body limit: refused for their cost");
    while Instant::now() < until {
        for body in &bodies {
            let Some(mut stream) = connect_or_back_off(source, addr, None, &tally).await else { continue };
            let started = Instant::now();
            let head = format!(
                "POST /search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let sent = async {
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(body).await?;
                read_reply(&mut stream, Duration::from_secs(30)).await
            };
            let reply = sent.await.unwrap_or_default();
            let took = started.elapsed().as_millis() as u64;
            tally.geometry_slowest_ms.fetch_max(took, Ordering::Relaxed);
            let counter = if status_of(&reply) == Some(400) { &tally.geometry_refused } else { &tally.geometry_other };
            Tally::add(counter, 1);
        }
        // Over 1 MiB, announced: refused from the head, before the body is read.
        let Some(mut stream) = connect_or_back_off(source, addr, None, &tally).await else { continue };
        let head = format!(
            "POST /search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            (1 << 20) + 1
        );
        let reply = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&zig_zag_search(1000)).await?;
            read_reply(&mut stream, Duration::from_secs(30)).await
        };
        let counter = if status_of(&reply.await.unwrap_or_default()) == Some(413) {
            &tally.oversized_refused
        } else {
            &tally.oversized_other
        };
        Tally::add(counter, 1);
    }
}

/// Whole copy lists of one year of the empty mirror, one after another.
async fn copylists(addr: SocketAddr, source: Ipv4Addr, year: u16, until: Instant, tally: Arc<Tally>) {
    while Instant::now() < until {
        let Some(mut stream) = connect_or_back_off(source, addr, None, &tally).await else { continue };
        let request = format!(
            "GET /copylist/okavango/s3?year={year}&format=s5cmd HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        let reply = async {
            stream.write_all(request.as_bytes()).await?;
            tokio::time::timeout(Duration::from_secs(60), read_streamed(&mut stream)).await.map_err(io::Error::other)?
        };
        match reply.await {
            Ok((Some(200), bytes, true)) => {
                Tally::add(&tally.copylists_whole, 1);
                Tally::add(&tally.copylist_bytes, bytes);
            }
            _ => Tally::add(&tally.copylists_failed, 1),
        }
    }
}

/// Reads a long chunked reply through one small buffer (a reader that kept the 65 MB would
/// spend the test's CPU, and skew its timings, on copying): its status, its length, and
/// whether it ended with the last chunk.
async fn read_streamed(stream: &mut AsyncStream) -> io::Result<(Option<u16>, u64, bool)> {
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut status, mut total, mut tail) = (None, 0u64, Vec::new());
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok((status, total, tail.ends_with(b"0\r\n\r\n")));
        }
        if total == 0 {
            status = status_of(&buffer[..read]);
        }
        total += read as u64;
        tail.extend_from_slice(&buffer[..read]);
        tail.drain(..tail.len().saturating_sub(5));
    }
}

/// Announces a 100,000-byte body and sends a byte of it a second, until cut off.
async fn slow_body(addr: SocketAddr, source: Ipv4Addr, until: Instant, tally: Arc<Tally>) {
    while Instant::now() < until {
        let Some(stream) = connect_or_back_off(source, addr, None, &tally).await else { continue };
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        );
        let mut reply = Vec::new();
        let answered = tokio::select! {
            read = reader.read_to_end(&mut reply) => read.is_ok(),
            _ = drip(&mut writer, head.as_bytes()) => false,
        };
        let counter = if answered && status_of(&reply) == Some(408) {
            &tally.slow_bodies_timed_out
        } else {
            &tally.slow_bodies_cut
        };
        Tally::add(counter, 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sends `head`, then a byte a second until the connection fails.
async fn drip(writer: &mut tokio::net::tcp::OwnedWriteHalf, head: &[u8]) -> io::Result<()> {
    writer.write_all(head).await?;
    loop {
        writer.write_all(b" ").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Asks for a 10,000-item page through a small receive window and never reads it; lets go
/// after the server's write timeout has passed, and asks again.
async fn slow_read(addr: SocketAddr, source: Ipv4Addr, until: Instant, tally: Arc<Tally>) {
    while Instant::now() < until {
        let Some(mut stream) = connect_or_back_off(source, addr, Some(4096), &tally).await else { continue };
        let request = format!("GET /search?collections=geotessera-2024&limit=10000 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        if stream.write_all(request.as_bytes()).await.is_ok() {
            Tally::add(&tally.slow_reads, 1);
        }
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
}

/// Sends half a request head and nothing more, until the server closes the connection.
async fn half_open(addr: SocketAddr, source: Ipv4Addr, until: Instant, tally: Arc<Tally>) {
    while Instant::now() < until {
        let Some(mut stream) = connect_or_back_off(source, addr, None, &tally).await else { continue };
        if stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Waiting:").as_bytes()).await.is_err() {
            continue;
        }
        // Closed (or reset) by the server within the run's bounds, with nothing to say.
        let mut rest = Vec::new();
        if tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest)).await.is_ok() {
            Tally::add(&tally.half_open_cut, 1);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
