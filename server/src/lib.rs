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
//! - Every request's work is bounded wherever it runs: the lists it may name, the heavy-work
//!   pool it waits for (with a deadline) and the CPU time it may spend there, a chunk at a time
//!   for a large page, stopping when its client goes ([`Limits`]). Behind a proxy, clients are
//!   told apart by what a trusted proxy says ([`Proxies`]); operator data may live on a listener
//!   of its own ([`Options::admin_listen`]); a stop lets answers finish for a grace, then cuts.
//!
//! ```no_run
//! # async fn run() -> Result<(), tessera_server::Error> {
//! let options = tessera_server::Options::new("inventory".into(), "127.0.0.1:8080".parse().unwrap());
//! let server = tessera_server::Server::bind(options).await?;
//! server.run(std::future::pending()).await
//! # }
//! ```

mod aggregate;
mod body;
mod budget;
mod catalog;
mod client;
mod collection;
mod collection_search;
mod conn;
mod coverage;
mod datetime;
mod error;
mod fields;
mod hex;
mod metrics;
mod pages;
mod pool;
pub mod publish;
mod query;
mod render;
mod routes;
mod search;
mod snapshot;
mod static_files;
mod token;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::budget::Budget;
pub use crate::catalog::CONFORMANCE;
use crate::client::PerClient;
pub use crate::client::{ClientHeader, Proxies};
pub use crate::error::{Error, Result};
use crate::pool::Pool;
use crate::snapshot::Snapshot;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub inventory: PathBuf,
    pub listen: SocketAddr,
    /// A second listener for the operator: `/metrics`, `/copylist` and the stores' storage
    /// details, which the public listener then no longer answers. `None`: one listener answers
    /// everything.
    pub admin_listen: Option<SocketAddr>,
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
    /// How clients are told apart behind proxies.
    pub proxies: Proxies,
    /// How long answers in flight may go on once the server is told to stop; then they are cut.
    pub shutdown_grace: Duration,
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
            admin_listen: None,
            base_url: None,
            web_dir: None,
            base_path: String::new(),
            reload_every: Duration::from_secs(1),
            limits: Limits::default(),
            proxies: Proxies::default(),
            shutdown_grace: Duration::from_secs(10),
            access_log: false,
            token_key: None,
        }
    }
}

/// Timeouts and limits, so that no client holds what the others need: a connection, a
/// worker, the memory of a half-sent request or of a response it does not read, the CPU.
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
    /// What one client may hold at once: connections when it connects directly, requests
    /// being answered when it comes through a trusted proxy. More are refused (a connection
    /// closed on arrival, a request answered 429).
    pub per_client: usize,
    /// Heavy requests (geometries, large pages, copy lists, coverage on a cache miss, files)
    /// run at once on the blocking pool; default one a core.
    pub heavy: usize,
    /// How long a heavy request may wait for its turn; past it the answer is 503 with
    /// `Retry-After`.
    pub queue_timeout: Duration,
    /// CPU time one request's work may take, over all its visits to the pool (a streamed page's
    /// chunks included); past it the work stops and the answer is 503, or the stream is cut.
    pub request_cpu: Duration,
    /// Tiles one `/copylist` may hold; a larger one is refused, to be narrowed by year and box.
    pub copylist_tiles: u64,
    /// Bytes of rendered search pages kept to answer the same request again (0: none).
    pub page_cache: u64,
}

impl Default for Limits {
    /// 10 s to send a head or a body, 30 s of a stalled response, 60 s idle, 1,024
    /// connections, 64 a client, a heavy request a core waiting at most 5 s for its turn and
    /// working at most 2 s of CPU, 500,000 tiles a copy list, 16 MiB of pages.
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            write_stall: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            connections: 1024,
            per_client: 64,
            heavy: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_timeout: Duration::from_secs(5),
            request_cpu: Duration::from_secs(2),
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
    /// Where heavy requests run.
    pool: Pool,
    metrics: metrics::Metrics,
    /// Counts the requests stopped for spending their CPU allowance (taken once from metrics).
    over_budget: prometheus_client::metrics::counter::Counter,
    /// Whether there is an admin listener, so that the public one keeps operator data to it.
    has_admin: bool,
    /// The places each client holds under its cap.
    clients: PerClient,
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

    /// A new request's allowance of CPU time.
    fn budget(&self) -> Budget {
        Budget::new(self.limits.request_cpu, self.over_budget.clone())
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
    admin: Option<TcpListener>,
    state: Arc<State>,
    options: Options,
}

impl Server {
    /// Opens the inventory and binds the sockets; the server answers once [`Server::run`] runs.
    pub async fn bind(options: Options) -> Result<Server> {
        let listener = listen(options.listen, options.limits.connections)?;
        let admin = options.admin_listen.map(|addr| listen(addr, ADMIN_BACKLOG)).transpose()?;
        let addr = local_addr(&listener)?;
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
        let metrics = metrics::Metrics::default();
        let pool = Pool::new(options.limits.heavy, options.limits.queue_timeout, metrics.queue_timeouts());
        let state = State {
            snapshot: RwLock::new(Arc::new(snapshot)),
            signer: signer(&options)?,
            web_dir: options.web_dir.clone(),
            base_path: options.base_path.clone(),
            limits: options.limits,
            pool,
            over_budget: metrics.over_budget(),
            metrics,
            has_admin: admin.is_some(),
            clients: PerClient::default(),
        };
        state.metrics.snapshot(&state.snapshot());
        options.base_url = Some(base);
        Ok(Server { listener, admin, state: Arc::new(state), options })
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_addr(&self.listener)
    }

    /// The address of the admin listener, when there is one.
    pub fn admin_addr(&self) -> Result<Option<SocketAddr>> {
        self.admin.as_ref().map(local_addr).transpose()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets the answers in flight
    /// finish for up to the shutdown grace, cuts what is left and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Server { listener, admin, state, options } = self;
        let reloader = tokio::spawn(reload_loop(state.clone(), options.clone()));
        let permits = Arc::new(Semaphore::new(options.limits.connections));
        let connections = conn::Connections::new(state.clone(), &options);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let (cut, cut_when_told) = tokio::sync::watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.map_err(|err| Error::Config(err.to_string()))?,
                () = &mut shutdown => break,
            };
            let (accepted, listener) = tokio::select! {
                accepted = listener.accept() => (accepted, Listener::Public),
                accepted = accept_on(admin.as_ref()) => (accepted, Listener::Admin),
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, most often: retrying at once would spin a core
                    // (and log) until a connection ends.
                    tracing::warn!("accepting a connection failed: {err}; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let serve = connections.serve(stream, peer, listener, graceful.watcher());
            let mut cut_when_told = cut_when_told.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = serve => {}
                    _ = cut_when_told.changed() => {}
                }
                drop(permit);
            });
        }
        reloader.abort();
        drop((listener, admin));
        let open = graceful.count();
        let grace = options.shutdown_grace;
        tracing::info!("stopping: {open} connections have {grace:?} to finish what they are answering");
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace) => {
                tracing::warn!("cut the connections still open after {grace:?}");
                let _ = cut.send(true);
            }
        }
        Ok(())
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Public,
    Admin,
}

/// Accepts on `listener`, or waits forever when there is none.
async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Connections the admin listener queues: an operator's tools, a scraper.
const ADMIN_BACKLOG: usize = 64;

fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener.local_addr().map_err(|source| Error::Io { action: "reading the address".into(), source })
}

/// A socket listening on `addr` whose queue of connections not yet accepted holds a burst as
/// large as the connections served (the kernel caps it at `net.core.somaxconn`). With the
/// usual 1,024, a burst of 1,400 clients arriving together had connections dropped, and a
/// health check waited a second for its retry.
fn listen(addr: SocketAddr, connections: usize) -> Result<TcpListener> {
    let listening = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(u32::try_from(connections.max(1024)).unwrap_or(u32::MAX))
    };
    listening().map_err(|source| Error::Io { action: format!("listening on {addr}"), source })
}

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
