//! What one request's work may cost, and whether anybody still waits for it.
//!
//! A [`Budget`] goes with a request's work wherever it runs: the search and the first page on
//! the pool, then each chunk of a streamed page. Its work is metered in CPU time of the thread
//! doing it (not wall time, so waiting for a core or a permit costs nothing), summed over every
//! visit to the pool; and it is abandoned when whatever waits for the answer is dropped: the
//! request's future when its client hangs up, a streamed body when the connection ends, every
//! one of them when the server stops. Work asks [`Visit::check`] as it goes and stops at the
//! first refusal, so abandoned work ends within one step and frees its permit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::error::{Error, Result};

/// One request's allowance of CPU time, shared by its visits to the pool.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    limit: Duration,
    spent_nanos: AtomicU64,
    /// Waiters alive: the request's future, then the body that streams its page.
    waiters: AtomicUsize,
    /// Set when the last waiter goes.
    abandoned: AtomicBool,
    /// Counts the requests stopped for spending their whole allowance.
    exceeded: Counter,
}

impl Budget {
    /// An allowance of `limit` of CPU time; `exceeded` counts the requests that spend it.
    pub fn new(limit: Duration, exceeded: Counter) -> Budget {
        let shared = Shared {
            limit,
            spent_nanos: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            abandoned: AtomicBool::new(false),
            exceeded,
        };
        Budget(Arc::new(shared))
    }

    /// A guard held by what waits for the answer: the work is abandoned when the last one is
    /// dropped (a request's future hands over to the body that streams its page, and both
    /// wait for a while).
    pub fn waiter(&self) -> Waiter {
        self.0.waiters.fetch_add(1, Ordering::Relaxed);
        Waiter(self.clone())
    }

    /// Starts metering the calling thread's work, until the visit is dropped.
    pub fn visit(&self) -> Visit<'_> {
        Visit { metered: Some((self, thread_cpu_time())) }
    }

    /// CPU time spent in visits that have ended.
    pub fn spent(&self) -> Duration {
        Duration::from_nanos(self.0.spent_nanos.load(Ordering::Relaxed))
    }

    fn is_abandoned(&self) -> bool {
        self.0.abandoned.load(Ordering::Acquire)
    }
}

/// Waits for a budget's work: the last one dropped abandons it.
#[derive(Debug)]
pub struct Waiter(Budget);

impl Drop for Waiter {
    fn drop(&mut self) {
        let shared = &(self.0).0;
        if shared.waiters.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.abandoned.store(true, Ordering::Release);
        }
    }
}

/// One stretch of a request's work on one thread, metered from its start to its drop; or the
/// small work an async worker does inline, bounded by what it is (a page of at most a hundred
/// items over a box), which is not metered: reading a thread's CPU clock is a system call, and
/// three of them took 8% of the server's time on small searches.
#[derive(Debug)]
pub struct Visit<'b> {
    /// The budget, and the thread's CPU time when the visit started.
    metered: Option<(&'b Budget, Duration)>,
}

impl Visit<'_> {
    /// A visit that is not metered, for work bounded by what it is.
    pub fn inline() -> Visit<'static> {
        Visit { metered: None }
    }

    /// The budget this visit spends, if it is metered.
    pub fn budget(&self) -> Option<&Budget> {
        self.metered.map(|(budget, _)| budget)
    }

    /// Whether the work may go on: an error once nobody waits for it or once the request has
    /// spent its allowance. Reads the thread's CPU clock (a system call of well under a
    /// microsecond): call it every few items, not every byte.
    pub fn check(&self) -> Result<()> {
        let Some((budget, started)) = self.metered else { return Ok(()) };
        if budget.is_abandoned() {
            return Err(Error::Abandoned);
        }
        let limit = budget.0.limit;
        if budget.spent() + thread_cpu_time().saturating_sub(started) > limit {
            budget.0.exceeded.inc();
            return Err(Error::TooCostly { limit });
        }
        Ok(())
    }

    /// A `keep_going` for the engine's walks, which ask between Roaring keys (a few
    /// microseconds each): [`Visit::check`] every [`KEYS_PER_CHECK`] keys, its error kept in
    /// `stopped` when it says stop. Reading the clock at every key took 6% of an aggregation.
    pub fn keep_going<'a>(&'a self, stopped: &'a mut Option<Error>) -> impl FnMut() -> bool + 'a {
        let mut keys = 0u32;
        move || {
            keys = keys.wrapping_add(1);
            if !keys.is_multiple_of(KEYS_PER_CHECK) {
                return true;
            }
            self.check().map_err(|err| *stopped = Some(err)).is_ok()
        }
    }
}

/// Keys an engine walk visits between two budget checks.
pub const KEYS_PER_CHECK: u32 = 16;

impl Drop for Visit<'_> {
    fn drop(&mut self) {
        if let Some((budget, started)) = self.metered {
            let took = thread_cpu_time().saturating_sub(started);
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            budget.0.spent_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }
}

/// The CPU time the calling thread has used so far.
fn thread_cpu_time() -> Duration {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "freebsd"))]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "freebsd")))]
    {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(for_at_least: Duration) {
        let started = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() - started < for_at_least {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn work_past_its_cpu_allowance_is_refused_and_counted() {
        let exceeded = Counter::default();
        let budget = Budget::new(Duration::from_millis(20), exceeded.clone());
        {
            let visit = budget.visit();
            spin(Duration::from_millis(12));
            assert!(visit.check().is_ok(), "12 ms of 20");
        }
        assert!(budget.spent() >= Duration::from_millis(12), "a visit's time is kept: {:?}", budget.spent());
        // A second visit (the next chunk of a page) adds to the first.
        let visit = budget.visit();
        spin(Duration::from_millis(12));
        assert!(matches!(visit.check(), Err(Error::TooCostly { .. })), "24 ms of 20 over two visits");
        assert_eq!(exceeded.get(), 1);
    }

    #[test]
    fn work_nobody_waits_for_is_refused_at_its_next_check() {
        let budget = Budget::new(Duration::from_secs(10), Counter::default());
        let request = budget.waiter();
        let visit = budget.visit();
        assert!(visit.check().is_ok());
        // The request hands its page over to a streamed body, then ends.
        let body = budget.waiter();
        drop(request);
        assert!(visit.check().is_ok(), "the body still waits");
        drop(body);
        assert!(matches!(visit.check(), Err(Error::Abandoned)));
    }

    #[test]
    fn waiting_for_a_core_costs_nothing() {
        let budget = Budget::new(Duration::from_millis(5), Counter::default());
        let visit = budget.visit();
        std::thread::sleep(Duration::from_millis(20));
        assert!(visit.check().is_ok(), "20 ms asleep is not 20 ms of work");
    }
}
