//! A real `tessera serve` on 127.0.0.1 over a fresh small demo inventory, and a tiny HTTP/1.1
//! client over `TcpStream`, so the tests see exactly the bytes a client sees.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_fixtures::{DEFAULT_SEED, DemoSize, DemoSpec, write_demo};
use tessera_server::{Limits, Options, Server};

/// Every link in golden files starts with this base URL, whatever port the test used.
pub const BASE: &str = "http://tessera.test";

/// A server running on its own runtime thread; stopped when dropped.
pub struct Running {
    pub addr: SocketAddr,
    /// The admin listener's address, when the options ask for one.
    pub admin: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A fresh small demo inventory in a temporary directory.
pub fn demo() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path().join("demo");
    write_demo(&dir, &DemoSpec { size: DemoSize::Small, seed: DEFAULT_SEED }).expect("the small demo is written");
    (temp, dir)
}

/// Starts a server on `inventory` with `web` as the map directory.
pub fn start(inventory: &Path, web: Option<PathBuf>) -> Running {
    start_with(inventory, web, Limits::default())
}

/// Starts a server on `inventory` with `limits`.
pub fn start_with(inventory: &Path, web: Option<PathBuf>, limits: Limits) -> Running {
    let mut options = options(inventory, web);
    options.limits = limits;
    start_options(options)
}

/// The options every test server starts from: port 0, links under [`BASE`], quick reloads.
pub fn options(inventory: &Path, web: Option<PathBuf>) -> Options {
    let mut options = Options::new(inventory.to_owned(), "127.0.0.1:0".parse().unwrap());
    options.base_url = Some(BASE.to_owned());
    options.web_dir = web;
    options.reload_every = Duration::from_millis(100);
    options
}

/// Starts a server with `options`.
pub fn start_options(options: Options) -> Running {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async move {
            let server = Server::bind(options).await.expect("the server binds");
            addr_tx.send((server.local_addr().unwrap(), server.admin_addr().unwrap())).unwrap();
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the server runs");
        });
    });
    let (addr, admin) = addr_rx.recv_timeout(Duration::from_secs(30)).expect("the server starts");
    Running { addr, admin, stop: Some(stop), thread: Some(thread) }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    try_request(addr, method, target, headers, body).expect("a whole response")
}

/// [`request`], or `None` when the connection fails or is cut off before a whole head.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: tessera.test\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let has_length = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    if (!body.is_empty() || method == "POST") && !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    raw.windows(4).any(|w| w == b"\r\n\r\n").then(|| parse(&raw))
}

pub fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, &[], b"")
}

pub fn post(addr: SocketAddr, target: &str, body: &serde_json::Value) -> Reply {
    request(addr, "POST", target, &[("Content-Type", "application/json")], body.to_string().as_bytes())
}

fn parse(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let body = &raw[split + 4..];
    let body = if headers.get("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        unchunk(body)
    } else {
        body.to_vec()
    };
    Reply { status, headers, body }
}

/// A chunked body's bytes: `SIZE-IN-HEX\r\nDATA\r\n` until a chunk of size 0.
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16).expect("a hex size");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

/// The path and query of a link href under [`BASE`].
pub fn target_of(href: &str) -> String {
    href.strip_prefix(BASE).unwrap_or_else(|| panic!("{href} is not under {BASE}")).to_owned()
}
