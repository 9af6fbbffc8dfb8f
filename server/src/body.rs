//! Response bodies: bytes in hand, or text rendered as the client takes it, so that what a
//! response holds is a chunk, never its whole text.
//!
//! - A copy list is rendered on the async worker, a fixed 128 tiles (about 20 KB, tens of
//!   microseconds) a poll, yielding to the scheduler before each.
//! - A large page of items is rendered on the heavy-work pool, a chunk (about 64 KB) a visit,
//!   each visit under a permit and the request's budget. When the client goes, the body is
//!   dropped: the visit under way stops at its next check and no other starts. A visit that
//!   cannot start (no permit within the queue timeout) or a request past its CPU allowance ends
//!   the body with an error, and the connection is cut (its head has been sent).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;

use crate::budget::{Budget, Waiter};
use crate::client::Counted;
use crate::collection::ItemCollection;
use crate::coverage::CopyList;
use crate::error::{Error, Result};
use crate::pool::Pool;

/// A response body.
#[derive(Debug)]
pub struct ReplyBody {
    kind: Kind,
    /// Counts the bytes of a streamed body as they are sent (a body in hand is counted whole
    /// when answered).
    counter: Option<Counter>,
    /// The client's place under its cap, held until the body is sent or dropped.
    _place: Option<Counted>,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    CopyList { list: Box<CopyList>, yielded: bool },
    Items(ItemStream),
}

/// What a reply streams, before it becomes a body.
#[derive(Debug)]
pub enum Streamed {
    CopyList(Box<CopyList>),
    /// A page rendered on `pool`, under `budget`, for `waiter`: taken while the request that
    /// made the page still waits, so the work is never abandoned in between.
    Items {
        collection: Box<ItemCollection>,
        pool: Pool,
        budget: Budget,
        waiter: Waiter,
    },
}

impl ReplyBody {
    pub fn full(bytes: Bytes) -> ReplyBody {
        ReplyBody { kind: Kind::Full(Some(bytes)), counter: None, _place: None }
    }

    pub fn streamed(streamed: Streamed) -> ReplyBody {
        let kind = match streamed {
            Streamed::CopyList(list) => Kind::CopyList { list, yielded: false },
            Streamed::Items { collection, pool, budget, waiter } => {
                Kind::Items(ItemStream { state: ItemState::Waiting(collection), pool, budget, _waiter: waiter })
            }
        };
        ReplyBody { kind, counter: None, _place: None }
    }

    /// Holds the client's place under its cap for as long as the body is being sent.
    pub fn hold(&mut self, place: Counted) {
        self._place = Some(place);
    }

    /// Counts the bytes of a streamed body in `counter` as they are sent.
    pub fn count_in(&mut self, counter: Counter) {
        if !matches!(self.kind, Kind::Full(_)) {
            self.counter = Some(counter);
        }
    }
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>>>> {
        let this = &mut *self;
        let chunk = match &mut this.kind {
            Kind::Full(bytes) => Ok(bytes.take().filter(|bytes| !bytes.is_empty())),
            Kind::CopyList { list, yielded } => {
                // hyper writes as long as the socket takes bytes (16 rounds a turn), and a client
                // on a fast link always takes them: four readers of copy lists kept every async
                // worker busy for milliseconds a turn, and `/healthz` waited behind them (19 ms
                // p99 for small searches under the hostile-load test; 9 ms with the yield).
                if !std::mem::replace(yielded, true) {
                    context.waker().wake_by_ref();
                    return Poll::Pending;
                }
                *yielded = false;
                Ok(list.next_chunk())
            }
            Kind::Items(stream) => match stream.poll_chunk(context) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(chunk) => chunk,
            },
        };
        if let (Ok(Some(chunk)), Some(counter)) = (&chunk, &this.counter) {
            counter.inc_by(chunk.len() as u64);
        }
        Poll::Ready(chunk.transpose().map(|chunk| chunk.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::CopyList { .. } | Kind::Items(_) => SizeHint::default(),
        }
    }
}

/// A page of items rendered on the pool a chunk at a time, one chunk ahead of none: the next
/// visit starts when the client has taken the last chunk.
struct ItemStream {
    state: ItemState,
    pool: Pool,
    budget: Budget,
    /// Abandons the visit under way when the body is dropped.
    _waiter: Waiter,
}

/// A chunk rendered on the pool, with the collection to render the next from.
type Rendering = Pin<Box<dyn Future<Output = Result<(Box<ItemCollection>, Option<Bytes>)>> + Send>>;

enum ItemState {
    Waiting(Box<ItemCollection>),
    Rendering(Rendering),
    Ended,
}

impl std::fmt::Debug for ItemStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            ItemState::Waiting(_) => "waiting",
            ItemState::Rendering(_) => "rendering",
            ItemState::Ended => "ended",
        };
        f.debug_struct("ItemStream").field("state", &state).finish_non_exhaustive()
    }
}

impl ItemStream {
    /// The next chunk: `Ok(None)` at the end, an error when the page cannot go on.
    fn poll_chunk(&mut self, context: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        loop {
            match std::mem::replace(&mut self.state, ItemState::Ended) {
                ItemState::Waiting(mut collection) => {
                    let (pool, budget) = (self.pool.clone(), self.budget.clone());
                    self.state = ItemState::Rendering(Box::pin(async move {
                        pool.run(&budget, move |visit| {
                            let chunk = collection.next_chunk(visit)?;
                            Ok((collection, chunk))
                        })
                        .await
                    }));
                }
                ItemState::Rendering(mut rendering) => {
                    return match rendering.as_mut().poll(context) {
                        Poll::Pending => {
                            self.state = ItemState::Rendering(rendering);
                            Poll::Pending
                        }
                        Poll::Ready(Ok((collection, Some(chunk)))) => {
                            self.state = ItemState::Waiting(collection);
                            Poll::Ready(Ok(Some(chunk)))
                        }
                        Poll::Ready(Ok((_, None))) => Poll::Ready(Ok(None)),
                        Poll::Ready(Err(err)) => {
                            tracing::debug!("a streamed page was cut: {err}");
                            Poll::Ready(Err(err))
                        }
                    };
                }
                ItemState::Ended => return Poll::Ready(Ok(None)),
            }
        }
    }
}
