//! `tessera serve` keeps every request's work bounded, wherever it runs, and stops when told,
//! over loopback on the small demo inventory:
//!
//! - requests built to cost (a `fields` list of 3,000 paths in a GET, of 40,000 in a POST, two
//!   of each) and 100 streamed pages of up to 10,000 items abandoned after their first byte,
//!   while a prober on another loopback address asks `/healthz` every 50 ms: every probe is
//!   answered within 1 s, every costly request ends within its limits, and the server's CPU is
//!   back to idle within 2 s of the last client leaving;
//! - a request past its CPU allowance is answered 503, or its streamed page is cut;
//! - SIGTERM in the middle of 8 long requests: the server stops accepting, lets a page that can
//!   finish finish, and exits 0 within its grace plus 1 s; a second signal ends it at once.

mod common;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::http::{get, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// How long a costly request may take to end: the queue timeout (5 s) and the CPU allowance
/// (2 s) by default, and room for a loaded machine.
const COSTLY_ENDS_WITHIN: Duration = Duration::from_secs(10);
/// How long a health probe may take while the server is under this load.
const PROBE_WITHIN: Duration = Duration::from_secs(1);
/// How long the prober asks at least.
const PROBING_AT_LEAST: Duration = Duration::from_secs(3);

#[test]
fn costly_requests_end_within_their_limits_and_the_server_idles_after() {
    let (_temp, dir) = common::demo();
    let server = Server::start(&dir, &[]);
    let addr = server.addr;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let started = Instant::now();
    let (costly, probes) = runtime.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let prober = tokio::spawn(probe_health(addr, Ipv4Addr::new(127, 0, 0, 2), stop.clone()));
        let mut attackers = tokio::task::JoinSet::new();
        for _ in 0..2 {
            attackers.spawn(costly_request(addr, many_fields_get()));
            attackers.spawn(costly_request(addr, many_fields_post()));
        }
        for client in 0..100u8 {
            attackers.spawn(abandon_after_first_byte(addr, Ipv4Addr::new(127, 0, 1, client % 4 + 1)));
        }
        let costly = attackers.join_all().await;
        // The prober asks for a while whatever the attack takes (it ends in a blink once refused).
        tokio::time::sleep_until((started + PROBING_AT_LEAST).into()).await;
        stop.store(true, Ordering::Relaxed);
        let probes = prober.await.expect("the prober");
        (costly, probes)
    });
    let last_client_left = Instant::now();
    // The CPU the server spends in the second that starts 2 s after the last client left.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_time(server.process.id());
    std::thread::sleep(Duration::from_secs(1));
    let idle_cpu = cpu_time(server.process.id()) - before;

    let slowest_probe = probes.iter().max().copied().unwrap_or(Duration::MAX);
    let slowest_costly = costly.iter().map(|outcome| outcome.took).max().unwrap_or_default();
    println!(
        "{} costly requests and abandoned pages in {:.1} s, the slowest ended in {:?}; {} probes, the slowest {:?}; \
         server CPU 2-3 s after the last client left: {idle_cpu:?}",
        costly.len(),
        (last_client_left - started).as_secs_f64(),
        slowest_costly,
        probes.len(),
        slowest_probe,
    );
    for outcome in &costly {
        assert!(outcome.took < COSTLY_ENDS_WITHIN, "{} took {:?}", outcome.what, outcome.took);
        assert!(
            matches!(outcome.status, None | Some(400 | 413 | 503 | 200)),
            "{} was answered {:?}",
            outcome.what,
            outcome.status
        );
    }
    let fields_refused = costly.iter().filter(|o| o.what.starts_with("fields") && o.status == Some(400)).count();
    assert_eq!(fields_refused, 4, "every fields list past the limit is a 400: {costly:?}");
    assert!(probes.len() >= 20, "the prober ran: {} probes", probes.len());
    assert!(slowest_probe < PROBE_WITHIN, "a /healthz probe took {slowest_probe:?}");
    assert!(idle_cpu < Duration::from_millis(100), "the server still works for nobody: {idle_cpu:?} of CPU in 1 s");
    // And it still answers correctly.
    let (status, body) = get(addr, "/search?limit=2&fields=id").expect("a search");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn a_request_past_its_cpu_allowance_is_answered_503_or_cut() {
    let (_temp, dir) = common::demo();
    // A millisecond: a hundred items with fields take several.
    let tight = Server::start(&dir, &["--max-request-cpu", "0.001"]);
    let (status, body) = get(tight.addr, "/search?limit=100&fields=properties.datetime").expect("an answer");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("CPU time") && text.contains("ServiceUnavailable"), "{text}");
    assert!(metric(tight.addr, "tessera_requests_shed_total{reason=\"cpu_budget\"}") >= 1.0);
    // Twenty milliseconds: a large page's search fits, its thousands of items do not. Its head
    // is sent before its items, so it can only be cut.
    let streamed = Server::start(&dir, &["--max-request-cpu", "0.02"]);
    let cut = get(streamed.addr, "/search?limit=10000&fields=properties.datetime");
    match cut {
        Ok((200, body)) => panic!("the page was sent whole ({} bytes)", body.len()),
        Ok((status, body)) => assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body)),
        Err(err) => assert!(err.to_string().contains("cut"), "{err}"),
    }
    let (status, _) = get(streamed.addr, "/search?limit=10").expect("a small search still answers");
    assert_eq!(status, 200);
}

#[test]
fn sigterm_lets_answers_finish_within_the_grace_then_exits_0() {
    let (_temp, dir) = common::demo();
    let grace = Duration::from_secs(2);
    let mut server = Server::start(&dir, &["--shutdown-grace", "2"]);
    let addr = server.addr;
    // Eight long requests: pages read a kilobyte every 100 ms, which would take minutes.
    let slow: Vec<TcpStream> = (0..8).map(|_| start_slow_reader(addr)).collect();
    let fast = std::thread::spawn(move || get(addr, "/search?limit=10000"));
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(TcpStream::connect(addr).is_err(), "no new connection is accepted once told to stop");
    let status = server.wait_for_exit(grace + Duration::from_secs(5));
    let took = signalled.elapsed();
    println!("exited {status:?} {took:?} after SIGTERM (grace {grace:?})");
    assert!(status.success(), "exit status {status:?}");
    assert!(took < grace + Duration::from_secs(1), "exited {took:?} after SIGTERM");
    assert!(took >= grace - Duration::from_millis(300), "the slow readers were given the grace: {took:?}");
    let (status, page) = fast.join().expect("the fast reader").expect("a whole page");
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_slice(&page).expect("the page finished within the grace");
    assert!(page["features"].as_array().is_some_and(|items| items.len() > 1000));
    drop(slow);
}

#[test]
fn a_second_signal_exits_at_once() {
    let (_temp, dir) = common::demo();
    let mut server = Server::start(&dir, &["--shutdown-grace", "60"]);
    let slow: Vec<TcpStream> = (0..8).map(|_| start_slow_reader(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.process.try_wait().expect("wait").is_none(), "still in its grace");
    let again = Instant::now();
    server.signal(libc::SIGINT);
    let status = server.wait_for_exit(Duration::from_secs(5));
    let took = again.elapsed();
    println!("exited {status:?} {took:?} after the second signal");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(status.code(), Some(128 + libc::SIGINT), "{status:?}");
    drop(slow);
}

// ----- the server -----

/// `tessera serve` on the small demo, killed when dropped.
struct Server {
    process: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let process = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("--inventory")
            .arg(dir)
            .args(["serve", "--listen", &addr.to_string()])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tessera serve runs");
        let mut server = Server { process, addr };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(server.process.try_wait().expect("wait").is_none(), "the server exited");
            assert!(started.elapsed() < Duration::from_secs(30), "no answer within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    #[allow(unsafe_code)]
    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.process.id()).expect("a pid");
        // SAFETY: kill reads its two integer arguments and nothing else.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signalling the server");
    }

    fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.process.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < within, "still running {within:?} after the signal");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The CPU time (user and system) process `pid` has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's /proc/PID/stat");
    // The command name, in parentheses, may hold spaces: fields are counted after it.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    #[allow(unsafe_code)]
    // SAFETY: sysconf reads its integer argument and nothing else.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// The value of one sample of `/metrics`.
fn metric(addr: SocketAddr, sample: &str) -> f64 {
    let (status, body) = get(addr, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("utf-8");
    let line = text.lines().find(|line| line.starts_with(sample)).unwrap_or_else(|| panic!("no {sample} in {text}"));
    line.rsplit(' ').next().and_then(|value| value.parse().ok()).expect("a number")
}

// ----- the clients -----

/// A costly request and how it ended: its status, or `None` when the connection was cut.
#[derive(Debug)]
struct Outcome {
    what: &'static str,
    status: Option<u16>,
    took: Duration,
}

/// `GET /search` with 1,500 paths to include and 1,500 to exclude (a 17 KB URL, under the
/// head limit), a thousand items a page.
fn many_fields_get() -> (&'static str, Vec<u8>) {
    let paths: Vec<String> = (0..1500).map(|n| format!("a{n}")).chain((0..1500).map(|n| format!("-b{n}"))).collect();
    let request =
        format!("GET /search?limit=1000&fields={} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", paths.join(","));
    ("fields in a GET", request.into_bytes())
}

/// `POST /search` with 20,000 paths to include and 20,000 to exclude (0.4 MB, under the body
/// limit).
fn many_fields_post() -> (&'static str, Vec<u8>) {
    let include: Vec<String> = (0..20_000).map(|n| format!("a{n}")).collect();
    let exclude: Vec<String> = (0..20_000).map(|n| format!("b{n}")).collect();
    let body = serde_json::json!({"limit": 100, "fields": {"include": include, "exclude": exclude}}).to_string();
    let head = format!(
        "POST /search HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    ("fields in a POST", [head.into_bytes(), body.into_bytes()].concat())
}

/// Sends `request` and reads its answer to the end (or until it is cut).
async fn costly_request(addr: SocketAddr, (what, request): (&'static str, Vec<u8>)) -> Outcome {
    let started = Instant::now();
    let answer = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(&request).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        io::Result::Ok(reply)
    };
    let status = match tokio::time::timeout(COSTLY_ENDS_WITHIN * 2, answer).await {
        Ok(Ok(reply)) => status_of(&reply),
        Ok(Err(_)) | Err(_) => None,
    };
    Outcome { what, status, took: started.elapsed() }
}

/// Asks for a page of up to 10,000 items from `source`, and hangs up after its first byte.
async fn abandon_after_first_byte(addr: SocketAddr, source: Ipv4Addr) -> Outcome {
    let started = Instant::now();
    let first = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let mut stream = socket.connect(addr).await?;
        stream.write_all(b"GET /search?limit=10000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        io::Result::Ok(())
    };
    let ended = tokio::time::timeout(COSTLY_ENDS_WITHIN * 2, first).await;
    let status = matches!(ended, Ok(Ok(()))).then_some(200);
    Outcome { what: "a page abandoned after its first byte", status, took: started.elapsed() }
}

/// `/healthz` from `source` every 50 ms until `stop`: how long each took (a failure as
/// `Duration::MAX`).
async fn probe_health(addr: SocketAddr, source: Ipv4Addr, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut probes = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let probe = async {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            let mut stream = socket.connect(addr).await?;
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await?;
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await?;
            io::Result::Ok(reply)
        };
        let answered = tokio::time::timeout(Duration::from_secs(10), probe).await;
        let ok = matches!(&answered, Ok(Ok(reply)) if status_of(reply) == Some(200));
        probes.push(if ok { started.elapsed() } else { Duration::MAX });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    probes
}

/// Starts reading a large page a kilobyte every 100 ms, on a thread of its own.
fn start_slow_reader(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("a connection");
    stream.write_all(b"GET /search?limit=10000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("a request");
    let mut reader = stream.try_clone().expect("a second handle");
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while matches!(reader.read(&mut buffer), Ok(n) if n > 0) {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    stream
}
