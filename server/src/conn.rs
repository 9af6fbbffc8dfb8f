//! What a connection may hold, and for how long: a socket whose reads may wait at most the
//! idle time (unless the server is at work on one of its requests) and whose writes may stall
//! at most the write-stall time, and a count of the connections each client address holds.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Sleep, sleep};

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
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> Guarded<T> {
    /// `io` watched; `working` is shared with the service that answers its requests.
    pub fn new(io: T, idle: Duration, write_stall: Duration, working: Working) -> Guarded<T> {
        Guarded { io, idle, write_stall, working, read_deadline: None, write_deadline: None }
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
            Poll::Pending => match expired(&mut self.write_deadline, self.write_stall, cx, "the client read nothing") {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
            ready => {
                // Progress: neither side has been waiting on the client.
                self.write_deadline = None;
                self.read_deadline = None;
                ready
            }
        }
    }
}

/// Polls `deadline` (started on first use): a timeout error once it has passed.
fn expired(
    deadline: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
    cx: &mut Context<'_>,
    what: &str,
) -> Option<io::Error> {
    let timer = deadline.get_or_insert_with(|| Box::pin(sleep(limit)));
    timer.as_mut().poll(cx).is_ready().then(|| io::Error::new(io::ErrorKind::TimedOut, format!("{what} for {limit:?}")))
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending if this.working.is_working() => {
                // The idle clock starts again once the answer is sent.
                this.read_deadline = None;
                Poll::Pending
            }
            Poll::Pending => match expired(&mut this.read_deadline, this.idle, cx, "the client sent nothing") {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
            ready => {
                this.read_deadline = None;
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

/// How many connections each client holds: an IPv4 address, or an IPv6 /64 (one host's share
/// of the address space, which it can spread its connections over at will).
#[derive(Debug, Default, Clone)]
pub struct PerClient(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted against its client's cap, until dropped.
#[derive(Debug)]
pub struct Counted {
    clients: PerClient,
    address: IpAddr,
}

impl PerClient {
    /// Counts a connection from `address`, or `None` when that address holds `cap` already.
    pub fn admit(&self, address: IpAddr, cap: usize) -> Option<Counted> {
        let address = client_of(address);
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(address).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Counted { clients: self.clone(), address })
    }
}

/// The client an address counts against: an IPv4 address (also when written as IPv6), or the
/// /64 an IPv6 address is in.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.clients.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_address_holds_at_most_its_cap() {
        let clients = PerClient::default();
        let address: IpAddr = "127.0.0.2".parse().unwrap();
        let held: Vec<Counted> = (0..3).filter_map(|_| clients.admit(address, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(clients.admit(address, 3).is_none());
        assert!(clients.admit("127.0.0.3".parse().unwrap(), 3).is_some(), "another address is counted apart");
        drop(held);
        assert!(clients.admit(address, 3).is_some());
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_its_address() {
        let clients = PerClient::default();
        let held: Vec<Counted> = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"]
            .iter()
            .filter_map(|address| clients.admit(address.parse().unwrap(), 2))
            .collect();
        assert_eq!(held.len(), 2);
        assert!(clients.admit("2001:db8:1:2:abcd::1".parse().unwrap(), 2).is_none(), "the same /64");
        assert!(clients.admit("2001:db8:1:3::1".parse().unwrap(), 2).is_some(), "another /64");
        let _v4 = clients.admit("192.0.2.7".parse().unwrap(), 1).unwrap();
        assert!(clients.admit("::ffff:192.0.2.7".parse().unwrap(), 1).is_none(), "the same client");
        drop(held);
        assert!(clients.admit("2001:db8:1:2::5".parse().unwrap(), 2).is_some());
    }

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
