//! A loopback HTTP proxy in front of the S3 server that misbehaves on purpose: it answers a
//! share of the requests `503 SlowDown`, as S3 does when a prefix is over its request rate,
//! never answers chosen ones, as a stuck connection does, and fails every ranged read of
//! chosen objects, as a failing storage node would. Everything else is forwarded.
//!
//! Each forwarded request goes upstream on a connection of its own and comes back with
//! `Connection: close`, so the proxy needs no HTTP framing beyond the request's head and
//! `Content-Length`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// What the proxy does wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every n-th request is answered 503 SlowDown (0: none).
    pub throttle_every: usize,
    /// These requests (counting from 1) are read and never answered.
    pub hang: Vec<usize>,
    /// Every GET with a `Range` header of a path containing this is answered 500.
    pub fail_ranges_of: Option<String>,
    /// The first ranged GET of a path containing this string runs the hook once it has been
    /// read, before it is answered: a writer replacing the object while a reader is between
    /// its ranges.
    pub on_first_read: Option<(String, Hook)>,
}

/// Something done in the middle of a request.
#[derive(Clone)]
pub struct Hook(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicUsize,
    pub throttled: AtomicUsize,
    pub hung: AtomicUsize,
    /// GETs of an object without a `Range` header: reads of a whole object at once.
    pub whole_gets: AtomicUsize,
    /// GETs of an object, ranged or not: every read of object bytes.
    pub object_gets: AtomicUsize,
    /// HEADs of an object.
    pub heads: AtomicUsize,
    /// Times the `on_first_read` hook ran.
    pub replaced: AtomicUsize,
}

/// The proxy; it stops when dropped.
pub struct FaultyProxy {
    /// `http://127.0.0.1:PORT`, for `S3_ENDPOINT_URL`.
    pub endpoint: String,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FaultyProxy {
    /// Starts the proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Faults) -> FaultyProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("addr").port();
        let (counts, stop) = (Arc::new(Counts::default()), Arc::new(AtomicBool::new(false)));
        let (thread_counts, thread_stop) = (counts.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if thread_stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (upstream, faults, counts, stop) =
                    (upstream.clone(), faults.clone(), thread_counts.clone(), thread_stop.clone());
                std::thread::spawn(move || serve(client, &upstream, &faults, &counts, &stop));
            }
        });
        FaultyProxy { endpoint: format!("http://127.0.0.1:{port}"), counts, stop, port }
    }

    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::Relaxed)
    }

    pub fn throttled(&self) -> usize {
        self.counts.throttled.load(Ordering::Relaxed)
    }

    pub fn hung(&self) -> usize {
        self.counts.hung.load(Ordering::Relaxed)
    }

    pub fn whole_gets(&self) -> usize {
        self.counts.whole_gets.load(Ordering::Relaxed)
    }

    pub fn object_gets(&self) -> usize {
        self.counts.object_gets.load(Ordering::Relaxed)
    }

    pub fn heads(&self) -> usize {
        self.counts.heads.load(Ordering::Relaxed)
    }

    pub fn replaced(&self) -> usize {
        self.counts.replaced.load(Ordering::Relaxed)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

/// Serves one client connection, request after request.
fn serve(client: TcpStream, upstream: &str, faults: &Faults, counts: &Counts, stop: &AtomicBool) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
    let mut reader = BufReader::new(client.try_clone().expect("clone the socket"));
    let mut client = client;
    while let Some(request) = read_request(&mut reader) {
        let n = counts.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if faults.hang.contains(&n) {
            counts.hung.fetch_add(1, Ordering::Relaxed);
            // Hold the connection, answering nothing, until the client gives up on it.
            let mut sink = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) && matches!(reader.read(&mut sink), Ok(read) if read > 0) {}
            return;
        }
        let head = String::from_utf8_lossy(&request);
        let request_line = head.lines().next().unwrap_or_default();
        let ranged = head.lines().any(|line| name_is(line, "range"));
        // A GET of the bucket itself (`/bucket?list-type=2...`) is a listing, not a read.
        let object_get = request_line.starts_with("GET ") && !request_line.contains("list-type=");
        if object_get && !ranged {
            counts.whole_gets.fetch_add(1, Ordering::Relaxed);
        }
        if object_get {
            counts.object_gets.fetch_add(1, Ordering::Relaxed);
        }
        if request_line.starts_with("HEAD ") {
            counts.heads.fetch_add(1, Ordering::Relaxed);
        }
        let failed = ranged && faults.fail_ranges_of.as_ref().is_some_and(|path| request_line.contains(path.as_str()));
        let throttled = faults.throttle_every > 0 && n.is_multiple_of(faults.throttle_every);
        let error = if failed {
            Some(("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again."))
        } else if throttled {
            counts.throttled.fetch_add(1, Ordering::Relaxed);
            Some(("503 Slow Down", "SlowDown", "Please reduce your request rate."))
        } else {
            None
        };
        if let Some((status, code, message)) = error {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
            );
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if client.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let answer = forward(&request, upstream)
            .unwrap_or_else(|_| b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec());
        if let Some((path, hook)) = &faults.on_first_read
            && ranged
            && request_line.contains(path.as_str())
            && counts.replaced.compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            (hook.0)();
        }
        let _ = client.write_all(&answer);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
}

/// One request's head and body, or `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
        if name_is(&line, "connection") {
            continue; // Replaced below: upstream closes after answering.
        }
        if line == "\r\n" {
            request.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        request.extend_from_slice(line.as_bytes());
    }
    let start = request.len();
    request.resize(start + length, 0);
    reader.read_exact(&mut request[start..]).ok()?;
    Some(request)
}

fn name_is(line: &str, name: &str) -> bool {
    line.split_once(':').is_some_and(|(found, _)| found.trim().eq_ignore_ascii_case(name))
}

/// Sends `request` upstream and returns its answer, marked `Connection: close`.
fn forward(request: &[u8], upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(Duration::from_secs(120)))?;
    // The answer is read to the end of the connection: the server is asked to close it (a
    // server that keeps it open would hold every answer until its keep-alive runs out).
    server.write_all(&closing(request))?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    Ok(closing(&answer))
}

/// An HTTP message with its `Connection` header replaced by `Connection: close`.
fn closing(message: &[u8]) -> Vec<u8> {
    let head_end = message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message.len(), |at| at + 2);
    let head = String::from_utf8_lossy(&message[..head_end]);
    let mut rewritten: String = head.split_inclusive("\r\n").filter(|line| !name_is(line, "connection")).collect();
    rewritten.push_str("Connection: close\r\n");
    let mut out = rewritten.into_bytes();
    out.extend_from_slice(&message[head_end..]);
    out
}
