//! One connection, from its first byte to its last: who it comes from (its peer, the PROXY
//! header a balancer put first, or for each request the client a trusted proxy names), the
//! place its client holds under the per-client cap, how long it may wait on its client (a
//! socket whose reads may wait at most the idle time, unless the server is at work on one of
//! its requests, and whose writes may stall at most the write-stall time), and the service
//! that answers its requests, logs and counts them.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Sleep, sleep};

use crate::body::ReplyBody;
use crate::client::{Counted, Proxies, read_proxy_header};
use crate::error::Error;
use crate::{Limits, Listener, Options, State, metrics, routes};

/// What serving a connection needs, shared by all of them.
#[derive(Debug, Clone)]
pub struct Connections {
    state: Arc<State>,
    http: hyper::server::conn::http1::Builder,
    proxies: Arc<Proxies>,
    limits: Limits,
    access_log: bool,
}

impl Connections {
    pub fn new(state: Arc<State>, options: &Options) -> Connections {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(options.limits.header_read).keep_alive(true);
        // What a connection buffers, each way: a request head, or a response that the client
        // is slow to take. hyper's default (~400 KB) held 230 MB for 500 stalled readers.
        http.max_buf_size(CONNECTION_BUFFER_BYTES);
        Connections {
            state,
            http,
            proxies: Arc::new(options.proxies.clone()),
            limits: options.limits,
            access_log: options.access_log,
        }
    }

    /// Serves one accepted connection to its end; `watcher` lets the server wind it down.
    pub fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        listener: Listener,
        watcher: Watcher,
    ) -> impl Future<Output = ()> + Send + 'static {
        let connections = self.clone();
        async move {
            let mut stream = stream;
            let _ = stream.set_nodelay(true);
            limit_unsent(&stream);
            let Some(peer) = connections.peer(&mut stream, peer, listener).await else { return };
            let behind_proxy = listener == Listener::Public && connections.proxies.trusts(peer.ip());
            // A client that connects directly holds a place for its connection; a proxy's
            // connections carry many clients' requests, which hold one each.
            let place = if behind_proxy { None } else { connections.admit(peer.ip(), "connection") };
            if !behind_proxy && place.is_none() {
                tracing::debug!("{peer} holds {} connections already: closed", connections.limits.per_client);
                return;
            }
            let working = Working::default();
            let limits = connections.limits;
            let stream = Guarded::new(stream, limits.idle, limits.write_stall, working.clone());
            let http = connections.http.clone();
            let service = service_fn(move |request| {
                let at_work = working.begin();
                let connections = connections.clone();
                async move {
                    let _at_work = at_work;
                    Ok::<_, Infallible>(connections.answer(request, peer, listener, behind_proxy).await)
                }
            });
            if let Err(err) = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await {
                tracing::debug!("connection from {peer}: {err}");
            }
            drop(place);
        }
    }

    /// The peer a connection is from: the client its PROXY header names, when the public
    /// listener expects one; `None` when the header is missing, wrong or too slow (the
    /// connection is then closed).
    async fn peer(&self, stream: &mut TcpStream, peer: SocketAddr, listener: Listener) -> Option<SocketAddr> {
        if listener != Listener::Public || !self.proxies.proxy_protocol {
            return Some(peer);
        }
        match tokio::time::timeout(self.limits.header_read, read_proxy_header(stream)).await {
            Ok(Ok(client)) => Some(client.unwrap_or(peer)),
            Ok(Err(err)) => {
                tracing::debug!("connection from {peer} closed: {err}");
                None
            }
            Err(_) => {
                tracing::debug!("connection from {peer} closed: no PROXY header within {:?}", self.limits.header_read);
                None
            }
        }
    }

    /// A place for `client` under its cap, or `None` (counted) when it holds them all.
    fn admit(&self, client: IpAddr, unit: &'static str) -> Option<Counted> {
        let place = self.state.clients.admit(client, self.limits.per_client);
        if place.is_none() {
            self.state.metrics.client_cap_refusal(unit);
        }
        place
    }

    /// Answers one request, counted against its client's cap when it came through a proxy;
    /// logs and counts it.
    async fn answer(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        listener: Listener,
        behind_proxy: bool,
    ) -> Response<ReplyBody> {
        let client = if behind_proxy { self.proxies.forwarded_client(peer.ip(), request.headers()) } else { peer.ip() };
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let started = Instant::now();
        let place = if behind_proxy { self.admit(client, "request").map(Some).ok_or(()) } else { Ok(None) };
        let mut response = match place {
            Ok(place) => {
                let mut response = routes::handle(self.state.clone(), request, listener).await;
                if let Some(place) = place {
                    response.body_mut().hold(place);
                }
                response
            }
            Err(()) => {
                let refused = Error::ClientCap { cap: self.limits.per_client };
                routes::error_reply(&refused).into_response(method == hyper::Method::HEAD)
            }
        };
        let (took, status) = (started.elapsed(), response.status().as_u16());
        let bytes = hyper::body::Body::size_hint(response.body()).exact();
        let route = metrics::route_of(routes::below(&self.state.base_path, uri.path()).unwrap_or(""));
        self.state.metrics.request(route, status, took, bytes);
        response.body_mut().count_in(self.state.metrics.bytes_of(route));
        if self.access_log {
            let micros = took.as_micros();
            let via = if behind_proxy { format!(" (via {peer})") } else { String::new() };
            tracing::info!(target: "tessera::access", "{client}{via} {method} {uri} {status} {micros}us");
        }
        response
    }
}

/// A socket with two watchdogs. A read that waits longer than `idle` (a client that says
/// nothing, between requests or in the middle of one) and a write that makes no progress for
/// `write_stall` (a client that stops reading its response) fail with `TimedOut`, which ends
/// the connection and frees what it held. While the server is at work on one of the
/// connection's requests, the client owes nothing, and its silence is not idleness.
#[derive(Debug)]
pub struct Guarded<T> {
    io: T,
    idle: Duration,
    write_stall: Duration,
    working: Working,
    read_deadline: Deadline,
    write_deadline: Deadline,
}

impl<T> Guarded<T> {
    /// `io` watched; `working` is shared with the service that answers its requests.
    pub fn new(io: T, idle: Duration, write_stall: Duration, working: Working) -> Guarded<T> {
        Guarded {
            io,
            idle,
            write_stall,
            working,
            read_deadline: Deadline::default(),
            write_deadline: Deadline::default(),
        }
    }
}

/// A watchdog's timer, armed while the socket waits on the client. Its timer is made once per
/// connection and set again each time it is armed: a new one for every request was an
/// allocation and a timer taken down a request.
#[derive(Debug, Default)]
struct Deadline {
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Deadline {
    /// Polls the deadline, arming it for `limit` from now if it is not armed: a timeout error
    /// once it has passed.
    fn expired(&mut self, limit: Duration, cx: &mut Context<'_>, what: &str) -> Option<io::Error> {
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep(limit)));
        if !std::mem::replace(&mut self.armed, true) {
            timer.as_mut().reset(tokio::time::Instant::now() + limit);
        }
        timer
            .as_mut()
            .poll(cx)
            .is_ready()
            .then(|| io::Error::new(io::ErrorKind::TimedOut, format!("{what} for {limit:?}")))
    }

    /// Stops the clock: the client did its part.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

/// Whether the server is at work on a connection's requests: a request waiting its turn on
/// the heavy pool may wait longer than the idle limit, and must not be cut off as if its
/// client had gone quiet. (hyper reads the socket meanwhile, to see a client hang up.)
#[derive(Debug, Default, Clone)]
pub struct Working(Arc<AtomicUsize>);

/// One request being answered, until dropped.
#[derive(Debug)]
pub struct AtWork(Working);

impl Working {
    /// Marks a request as being answered until the returned guard is dropped.
    pub fn begin(&self) -> AtWork {
        self.0.fetch_add(1, Ordering::Relaxed);
        AtWork(self.clone())
    }

    fn is_working(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

impl Drop for AtWork {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> Guarded<T> {
    /// A write's outcome, watched: waiting longer than the stall limit is a timeout.
    fn watch_write(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Pending => match self.write_deadline.expired(self.write_stall, cx, "the client read nothing") {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
            ready => {
                // Progress: neither side has been waiting on the client.
                self.write_deadline.disarm();
                self.read_deadline.disarm();
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending if this.working.is_working() => {
                // The idle clock starts again once the answer is sent.
                this.read_deadline.disarm();
                Poll::Pending
            }
            Poll::Pending => match this.read_deadline.expired(this.idle, cx, "the client sent nothing") {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
            ready => {
                this.read_deadline.disarm();
                ready
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, bytes);
        self.watch_write(cx, polled)
    }

    /// Vectored writes pass through: hyper sends a response's head and body in one `writev`
    /// rather than copying the body into its buffer first (measured: 9% of a search's CPU).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_peer_times_out_and_a_stalled_write_too() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, Duration::from_millis(50), Duration::from_millis(50), Working::default());
        let mut buf = [0u8; 8];
        let err = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // The peer reads nothing: the 64-byte pipe fills and the write stalls.
        let err = guarded.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(theirs);
    }

    #[tokio::test]
    async fn a_silent_peer_is_not_idle_while_its_request_is_answered() {
        use tokio::io::AsyncReadExt;
        let (ours, theirs) = tokio::io::duplex(64);
        let working = Working::default();
        let mut guarded = Guarded::new(ours, Duration::from_millis(50), Duration::from_secs(1), working.clone());
        let mut buf = [0u8; 8];
        let at_work = working.begin();
        // Six times the idle limit.
        let waited = tokio::time::timeout(Duration::from_millis(300), guarded.read(&mut buf)).await;
        assert!(waited.is_err(), "no timeout while at work: {waited:?}");
        drop(at_work);
        let err = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "idle again once the work is done");
        drop(theirs);
    }
}
