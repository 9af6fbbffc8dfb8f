//! The engine behind a web handler: one inventory shared by every request thread, opened
//! again when a writer changes it, answering
//!
//! - `GET /missing/SOURCE/TARGET?year=2024&bbox=W,S,E,N`: how many tiles TARGET lacks, as JSON;
//! - `GET /coverage/STORE/YEAR`: the year's cells as a portable Roaring bitmap.
//!
//! Only `std` here, to show what the engine needs from a server: a shared, read-only handle
//! and a cheap "has it changed?" (a few `stat` calls). Any framework works the same way.
//!
//! ```sh
//! tessera init --small --demo demo
//! cargo run -p tessera-engine --example web_handler -- demo 127.0.0.1:8090 &
//! curl '127.0.0.1:8090/missing/okavango/scaleway?year=2024'
//! ```
//! A third argument serves that many requests, then exits (the examples' check uses it).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use tessera_engine::bitmap::encode_ranges;
use tessera_engine::{Bbox, Filter, Inventory};

/// The inventory every request reads, swapped whole when its files change.
struct Shared {
    dir: String,
    current: RwLock<Arc<Inventory>>,
}

impl Shared {
    /// The inventory as it is now: the open one, or a fresh one if a writer changed the files.
    /// A request holds its `Arc` to the end, so a swap never pulls the maps from under it.
    fn inventory(&self) -> tessera_engine::Result<Arc<Inventory>> {
        let open = self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if !open.changed() {
            return Ok(open);
        }
        let fresh = Arc::new(Inventory::open_read_only(&self.dir)?);
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

/// A response: status, content type, body.
type Response = (u16, &'static str, Vec<u8>);

fn handle(shared: &Shared, target: &str) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let answer = match parts.as_slice() {
        ["missing", source, target] => missing(shared, source, target, query),
        ["coverage", store, year] => coverage(shared, store, year),
        _ => return (404, "text/plain", b"try /missing/SOURCE/TARGET or /coverage/STORE/YEAR\n".to_vec()),
    };
    // Every engine error names the bad input (an unknown store, a box off the grid): a 400.
    answer.unwrap_or_else(|message| (400, "text/plain", format!("{message}\n").into_bytes()))
}

fn missing(shared: &Shared, source: &str, target: &str, query: &str) -> Result<Response, String> {
    let mut filter = Filter::default();
    for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        match key {
            "year" => filter.years.push(value.parse().map_err(|_| format!("`{value}` is not a year"))?),
            "bbox" => filter.bbox = Some(Bbox::parse(&value.replace("%2C", ",")).map_err(|err| err.to_string())?),
            _ => {}
        }
    }
    let inventory = shared.inventory().map_err(|err| err.to_string())?;
    let tiles = inventory.missing_count(source, target, &filter).map_err(|err| err.to_string())?;
    let body = format!("{{\"source\":\"{source}\",\"target\":\"{target}\",\"missing\":{tiles}}}\n");
    Ok((200, "application/json", body.into_bytes()))
}

fn coverage(shared: &Shared, store: &str, year: &str) -> Result<Response, String> {
    let year = year.parse().map_err(|_| format!("`{year}` is not a year"))?;
    let inventory = shared.inventory().map_err(|err| err.to_string())?;
    let cells = inventory.coverage(store, None, year).map_err(|err| err.to_string())?;
    Ok((200, "application/octet-stream", encode_ranges(&cells)))
}

fn serve(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    let (status, content_type, body) = match request_line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["GET", target, _version] => handle(shared, target),
        _ => (405, "text/plain", b"GET only\n".to_vec()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    )?;
    stream.write_all(&body)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, address, limit) = match args.as_slice() {
        [dir, address] => (dir, address, None),
        [dir, address, limit] => (dir, address, limit.parse::<usize>().ok()),
        _ => {
            eprintln!("usage: web_handler INVENTORY ADDRESS [REQUESTS]");
            return ExitCode::from(2);
        }
    };
    let opened = Inventory::open_read_only(dir).map(Arc::new);
    let (inventory, listener) = match (opened, TcpListener::bind(address)) {
        (Ok(inventory), Ok(listener)) => (inventory, listener),
        (Err(err), _) => return fail(&err),
        (_, Err(err)) => return fail(&err),
    };
    let shared = Arc::new(Shared { dir: dir.clone(), current: RwLock::new(inventory) });
    let mut threads = Vec::new();
    for stream in listener.incoming().take(limit.unwrap_or(usize::MAX)) {
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        threads.push(std::thread::spawn(move || serve(&shared, stream)));
    }
    threads.into_iter().for_each(|thread| drop(thread.join()));
    ExitCode::SUCCESS
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("web_handler: {err}");
    ExitCode::FAILURE
}
