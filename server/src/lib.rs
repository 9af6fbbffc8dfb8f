//! `tessera serve`: a STAC API 1.0 server over a tessera inventory, with coverage bitmaps for
//! the map and the map's own files.
//!
//! - Every tile the registry lists is an Item (`2024_grid_0.85_49.95`) in the collection of its
//!   year (`geotessera-2024`), with one asset per file, `file:size` and `file:checksum`, and an
//!   `alternate` href on every store that holds it.
//! - Search (`bbox`, `intersects`, `datetime`, `ids`, `collections`, `sortby`, `fields`, paging by
//!   signed tokens) is bitmap arithmetic over memory-mapped indexes: no database, no scan.
//! - The inventory is re-read when its files change (polled each second); requests keep the
//!   snapshot they started with, and the new one is swapped in whole.
//!
//! ```no_run
//! # async fn run() -> Result<(), tessera_server::Error> {
//! let options = tessera_server::Options::new("inventory".into(), "127.0.0.1:8080".parse().unwrap());
//! let server = tessera_server::Server::bind(options).await?;
//! server.run(std::future::pending()).await
//! # }
//! ```

mod catalog;
mod collection;
mod conn;
mod coverage;
mod datetime;
mod error;
mod geometry;
mod metrics;
mod pages;
mod query;
mod render;
mod routes;
mod search;
mod snapshot;
mod static_files;
mod token;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use crate::catalog::CONFORMANCE;
pub use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub inventory: PathBuf,
    pub listen: SocketAddr,
    /// The public URL of the API (`http://host:port` by default): every href starts with it.
    pub base_url: Option<String>,
    /// The built web app, served under `/map/`.
    pub web_dir: Option<PathBuf>,
    /// The path the API and map are served under behind a reverse proxy (`/geotessera`;
    /// empty: the root). Requests outside it are 404.
    pub base_path: String,
    /// How often the inventory's files are checked for changes.
    pub reload_every: Duration,
    /// Timeouts and connection limits.
    pub limits: Limits,
    /// Log one line per request (at `info`).
    pub access_log: bool,
    /// The key paging tokens are signed with. `None`: the inventory's secret
    /// (`secret.key`), or, without one, a random key (tokens then die with the process).
    pub token_key: Option<[u8; 32]>,
}

impl Options {
    pub fn new(inventory: PathBuf, listen: SocketAddr) -> Options {
        Options {
            inventory,
            listen,
            base_url: None,
            web_dir: None,
            base_path: String::new(),
            reload_every: Duration::from_secs(1),
            limits: Limits::default(),
            access_log: false,
            token_key: None,
        }
    }
}

/// Timeouts and limits, so that no client holds what the others need: a connection, a
/// worker, the memory of a half-sent request or of a response it does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Reading a request's head (from its first byte).
    pub header_read: Duration,
    /// Reading a request's body: a client that drips one is answered 408 and cut off.
    pub body_read: Duration,
    /// A response that the client does not take for this long ends the connection.
    pub write_stall: Duration,
    /// A connection that sends nothing for this long is closed; not while one of its requests
    /// is being answered (waiting for the heavy pool, say).
    pub idle: Duration,
    /// Connections served at once; more wait to be accepted.
    pub connections: usize,
    /// Connections one client address may hold at once; more are closed on arrival.
    pub per_client: usize,
    /// Heavy requests (geometries, large pages, copy lists, coverage on a cache miss, files)
    /// run at once on the blocking pool; default one a core.
    pub heavy: usize,
    /// Tiles one `/copylist` may hold; a larger one is refused, to be narrowed by year and box.
    pub copylist_tiles: u64,
    /// Bytes of rendered search pages kept to answer the same request again (0: none).
    pub page_cache: u64,
}

impl Default for Limits {
    /// 10 s to send a head or a body, 30 s of a stalled response, 60 s idle, 1,024
    /// connections, 64 a client address, a heavy request a core, 500,000 tiles a copy list,
    /// 16 MiB of pages.
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            write_stall: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            connections: 1024,
            per_client: 64,
            heavy: std::thread::available_parallelism().map_or(2, |n| n.get()),
            copylist_tiles: 500_000,
            page_cache: 16 << 20,
        }
    }
}

/// What every request shares.
#[derive(Debug)]
pub struct State {
    snapshot: RwLock<Arc<Snapshot>>,
    signer: token::Signer,
    web_dir: Option<PathBuf>,
    base_path: String,
    limits: Limits,
    /// Permits for heavy requests on the blocking pool.
    heavy: Arc<Semaphore>,
    metrics: metrics::Metrics,
}

impl State {
    /// The current snapshot. The lock is held only to clone an `Arc`, never during a request.
    fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(snapshot) => snapshot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn swap(&self, snapshot: Snapshot) {
        let mut slot = match self.snapshot.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(snapshot);
    }

    fn web_dir(&self) -> Option<&Path> {
        self.web_dir.as_deref()
    }
}

/// What opening the inventory had to do, one log line each; a missing registry says how to
/// get one, since the API serves no items without it.
fn log_notices(notices: &[tessera_engine::Notice]) {
    for notice in notices {
        match notice {
            tessera_engine::Notice::NoRegistry { path } => tracing::warn!(
                "there is no registry at {}: the API serves no items until one is imported with `tessera import FILE`",
                path.display()
            ),
            other => tracing::info!("{other}"),
        }
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    options: Options,
}

impl Server {
    /// Opens the inventory and binds the socket; the server answers once [`Server::run`] runs.
    pub async fn bind(options: Options) -> Result<Server> {
        let listener = listen(options.listen, options.limits.connections)
            .map_err(|source| Error::Io { action: format!("listening on {}", options.listen), source })?;
        let addr =
            listener.local_addr().map_err(|source| Error::Io { action: "reading the address".into(), source })?;
        let mut options = options;
        options.base_path = normal_base_path(&options.base_path)?;
        let base = options.base_url.clone().unwrap_or_else(|| format!("http://{addr}{}", options.base_path));
        let inventory = options.inventory.clone();
        let load_base = base.clone();
        let page_cache = options.limits.page_cache;
        let snapshot = tokio::task::spawn_blocking(move || Snapshot::load(&inventory, &load_base, page_cache))
            .await
            .map_err(|err| Error::Config(format!("loading the inventory panicked: {err}")))??;
        log_notices(&snapshot.notices);
        let state = State {
            snapshot: RwLock::new(Arc::new(snapshot)),
            signer: signer(&options)?,
            web_dir: options.web_dir.clone(),
            base_path: options.base_path.clone(),
            limits: options.limits,
            heavy: Arc::new(Semaphore::new(options.limits.heavy.max(1))),
            metrics: metrics::Metrics::default(),
        };
        state.metrics.snapshot(&state.snapshot());
        options.base_url = Some(base);
        Ok(Server { listener, state: Arc::new(state), options })
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Io { action: "reading the address".into(), source })
    }

    /// Serves until `shutdown` completes, then stops accepting and lets requests in flight
    /// finish (for up to 10 s).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Server { listener, state, options } = self;
        let reloader = tokio::spawn(reload_loop(state.clone(), options.clone()));
        let permits = Arc::new(Semaphore::new(options.limits.connections));
        let clients = conn::PerClient::default();
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(options.limits.header_read).keep_alive(true);
        // What a connection buffers, each way: a request head, or a response that the client
        // is slow to take. hyper's default (~400 KB) held 230 MB for 500 stalled readers.
        http.max_buf_size(CONNECTION_BUFFER_BYTES);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.map_err(|err| Error::Config(err.to_string()))?,
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors, most often: retrying at once would spin a core
                        // (and log) until a connection ends.
                        tracing::warn!("accepting a connection failed: {err}; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // A client at its cap is closed on arrival: one address cannot take every slot.
            let Some(counted) = clients.admit(peer.ip(), options.limits.per_client) else {
                tracing::debug!("{peer} holds {} connections already: closed", options.limits.per_client);
                continue;
            };
            let _ = stream.set_nodelay(true);
            limit_unsent(&stream);
            let working = conn::Working::default();
            let stream = conn::Guarded::new(stream, options.limits.idle, options.limits.write_stall, working.clone());
            let state = state.clone();
            let access_log = options.access_log;
            let service = service_fn(move |request| {
                let state = state.clone();
                let at_work = working.begin();
                async move {
                    let _at_work = at_work;
                    let (method, uri) = (request.method().clone(), request.uri().clone());
                    let started = std::time::Instant::now();
                    let mut response = routes::handle(state.clone(), request).await;
                    let (took, status) = (started.elapsed(), response.status().as_u16());
                    let bytes = hyper::body::Body::size_hint(response.body()).exact();
                    let route = metrics::route_of(routes::below(&state.base_path, uri.path()).unwrap_or(""));
                    state.metrics.request(route, status, took, bytes);
                    response.body_mut().count_in(state.metrics.bytes_of(route));
                    if access_log {
                        let micros = took.as_micros();
                        tracing::info!(target: "tessera::access", "{peer} {method} {uri} {status} {micros}us");
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!("connection from {peer}: {err}");
                }
                drop((permit, counted));
            });
        }
        reloader.abort();
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("stopped waiting for open connections after 10 s"),
        }
        Ok(())
    }
}

/// A socket listening on `addr` whose queue of connections not yet accepted holds a burst as
/// large as the connections served (the kernel caps it at `net.core.somaxconn`). With the
/// usual 1,024, a burst of 1,400 clients arriving together had connections dropped, and a
/// health check waited a second for its retry.
fn listen(addr: SocketAddr, connections: usize) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(connections.max(1024)).unwrap_or(u32::MAX))
}

/// Bytes a connection's socket may hold that the client has not yet been sent.
const UNSENT_BYTES: u32 = 128 * 1024;

/// Caps what the kernel queues for a client that does not read (`TCP_NOTSENT_LOWAT`): by
/// default a socket's send buffer grows to 4 MB, and 500 clients that never read pinned
/// enough kernel memory to put the host's TCP under memory pressure (packets dropped, 200 ms
/// retransmissions for every other client). What is in flight still grows with the window.
fn limit_unsent(stream: &tokio::net::TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(err) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_BYTES) {
        tracing::debug!("TCP_NOTSENT_LOWAT: {err}");
    }
}

/// A connection's read and write buffer limit: a request head larger is refused (431).
const CONNECTION_BUFFER_BYTES: usize = 32 * 1024;

/// `/geotessera` from `geotessera`, `/geotessera/` or `/geotessera`; empty for the root.
fn normal_base_path(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    if trimmed.chars().any(|c| c.is_whitespace() || c == '?' || c == '#' || c == '%') {
        return Err(Error::Config(format!("--base-path `{path}` must be a plain path such as /geotessera")));
    }
    Ok(if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") })
}

/// The token signer: the key given, else the inventory's secret (alike on every replica of
/// it, and across restarts), else a random one, with a warning.
fn signer(options: &Options) -> Result<token::Signer> {
    if let Some(key) = options.token_key {
        return Ok(token::Signer::new(key));
    }
    let why = match tessera_engine::inventory::read_secret(&options.inventory) {
        Ok(Some(key)) => return Ok(token::Signer::new(key)),
        Ok(None) => "it has no secret.key (any writer, e.g. `tessera import`, creates one)".to_owned(),
        Err(err) => format!("{err} (give this user read access to it)"),
    };
    tracing::warn!(
        "paging tokens are signed with a random key, so `next` links die with this process and differ between replicas: {why}; or pass --token-key-file (inventory {})",
        options.inventory.display()
    );
    token::Signer::random()
}

/// Re-reads the inventory whenever its files change, off the request path. A reload that
/// fails keeps the last good snapshot serving and is tried again after a pause that doubles
/// (up to a minute), not at every tick.
async fn reload_loop(state: Arc<State>, options: Options) {
    let base = options.base_url.clone().unwrap_or_default();
    let mut pause = options.reload_every;
    loop {
        tokio::time::sleep(pause).await;
        let dir = options.inventory.clone();
        let current = state.snapshot();
        let changed = tokio::task::spawn_blocking(move || current.changed()).await.unwrap_or(false);
        if !changed {
            continue;
        }
        let base = base.clone();
        let page_cache = options.limits.page_cache;
        let failed = match tokio::task::spawn_blocking(move || Snapshot::load(&dir, &base, page_cache)).await {
            Ok(Ok(snapshot)) => {
                log_notices(&snapshot.notices);
                tracing::info!("reloaded the inventory");
                state.metrics.snapshot(&snapshot);
                state.swap(snapshot);
                state.metrics.reload(true);
                false
            }
            Ok(Err(err)) => {
                tracing::warn!("the inventory changed but cannot be reloaded, still serving the last one: {err}");
                state.metrics.reload(false);
                true
            }
            Err(err) => {
                tracing::warn!("reloading panicked: {err}");
                state.metrics.reload(false);
                true
            }
        };
        pause = if failed { (pause * 2).min(MAX_RELOAD_PAUSE) } else { options.reload_every };
    }
}

/// The longest pause between attempts to reload an inventory that fails to load.
const MAX_RELOAD_PAUSE: Duration = Duration::from_secs(60);

/// Completes on SIGINT or SIGTERM: what `tessera serve` passes to [`Server::run`].
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
