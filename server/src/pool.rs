//! The heavy-work pool: where everything that may take more than a fraction of a millisecond
//! runs (geometries, searches with fields, large pages a chunk at a time, copy lists' ranges,
//! coverage on a cache miss, file reads), so that the async workers answer `/healthz` and
//! small requests under any load.
//!
//! - At most one piece of work a permit (one a core by default) runs at once, at a lower CPU
//!   priority than the workers.
//! - Waiting for a permit has a deadline: past it the request is answered 503 with
//!   `Retry-After`, and counted.
//! - Each piece of work carries its request's [`Budget`]: it stops once nobody waits for it or
//!   once the request has spent its CPU allowance, and its permit is freed then.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;

use crate::budget::{Budget, Visit};
use crate::error::{Error, Result};

/// Permits for heavy work, and how long a request may wait for one.
#[derive(Debug, Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// Counts the requests turned away for waiting too long.
    timed_out: Counter,
}

impl Pool {
    /// A pool of `permits` (at least one) whose requests wait at most `queue_timeout` for one.
    pub fn new(permits: usize, queue_timeout: Duration, timed_out: Counter) -> Pool {
        Pool { permits: Arc::new(Semaphore::new(permits.max(1))), queue_timeout, timed_out }
    }

    /// Runs `work` on the blocking pool once a permit is free, metered by `budget`.
    ///
    /// The permit goes with the work, not with the request: a client that hangs up drops the
    /// request, and the work runs on until its next [`Visit::check`], so the permit must be
    /// held until then or the pool is no longer bounded.
    pub async fn run<T: Send + 'static>(
        &self,
        budget: &Budget,
        work: impl FnOnce(&Visit) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let waited = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await;
        let permit = match waited {
            Ok(permit) => permit.map_err(|err| Error::Config(err.to_string()))?,
            Err(_) => {
                self.timed_out.inc();
                return Err(Error::Busy { waited: self.queue_timeout });
            }
        };
        let budget = budget.clone();
        let held = move || {
            let _permit = permit;
            yield_cpu_to_requests();
            let visit = budget.visit();
            visit.check()?;
            work(&visit)
        };
        tokio::task::spawn_blocking(held).await.map_err(|err| Error::Config(format!("a handler panicked: {err}")))?
    }

    /// Permits free now.
    #[cfg(test)]
    fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// How far below the async workers heavy work runs, in nice steps: under contention for the
/// cores a thread 10 steps down gets about a tenth of the share of one at the workers' level,
/// so the workers that answer `/healthz` and small requests preempt geometries and large pages.
const HEAVY_WORK_NICENESS: i32 = 10;

/// The lowest priority Linux has (the highest nice value).
#[cfg(target_os = "linux")]
const LOWEST_PRIORITY: i32 = 19;

/// Lowers the calling thread of the blocking pool [`HEAVY_WORK_NICENESS`] steps, once: an
/// unprivileged thread cannot raise its priority again, and the pool's other work (reloads,
/// change checks) can wait for requests too.
fn yield_cpu_to_requests() {
    #[cfg(target_os = "linux")]
    {
        std::thread_local! {
            static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if LOWERED.replace(true) {
            return;
        }
        // On Linux, process 0 is the calling thread alone: the async workers keep their priority.
        let result = rustix::process::getpriority_process(None).and_then(|current| {
            rustix::process::setpriority_process(None, (current + HEAVY_WORK_NICENESS).min(LOWEST_PRIORITY))
        });
        if let Err(err) = result {
            tracing::debug!("lowering a pool thread's priority: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn pool(permits: usize, queue_timeout: Duration) -> Pool {
        Pool::new(permits, queue_timeout, Counter::default())
    }

    fn budget() -> Budget {
        Budget::new(Duration::from_secs(60), Counter::default())
    }

    /// A request dropped while its work runs (the client hung up) holds its permit until the
    /// work's next check, and no longer: the work sees it was abandoned and stops.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_work_stops_at_its_next_check_and_frees_its_permit() {
        let pool = pool(1, Duration::from_secs(10));
        let (started, has_started) = mpsc::channel();
        let (stopped, has_stopped) = mpsc::channel();
        let request = tokio::spawn({
            let pool = pool.clone();
            async move {
                let budget = budget();
                let _waiter = budget.waiter();
                pool.run(&budget, move |visit| {
                    started.send(()).expect("the test waits");
                    let outcome = loop {
                        if let Err(err) = visit.check() {
                            break err;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    };
                    stopped.send(outcome.to_string()).expect("the test waits");
                    Ok(())
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || has_started.recv_timeout(Duration::from_secs(10)))
            .await
            .expect("joined")
            .expect("the work started");
        assert_eq!(pool.available(), 0, "the work holds the permit");
        request.abort();
        assert!(request.await.expect_err("aborted").is_cancelled());
        let why = tokio::task::spawn_blocking(move || has_stopped.recv_timeout(Duration::from_secs(10)))
            .await
            .expect("joined")
            .expect("the work stopped by itself");
        assert!(why.contains("nobody waits"), "{why}");
        let freed = tokio::time::timeout(Duration::from_secs(10), pool.permits.acquire()).await;
        assert!(freed.is_ok(), "the permit comes back when the work stops");
    }

    /// Waiting for a permit has a deadline: past it the request is refused as busy, and
    /// counted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_waits_past_the_queue_timeout_is_refused_as_busy() {
        let pool = pool(1, Duration::from_millis(100));
        let held = pool.permits.clone().acquire_owned().await.expect("a permit");
        let waited = std::time::Instant::now();
        let refused = pool.run(&budget(), |_| Ok(())).await;
        assert!(matches!(refused, Err(Error::Busy { .. })), "{refused:?}");
        assert!(waited.elapsed() < Duration::from_secs(5), "refused at the deadline: {:?}", waited.elapsed());
        assert_eq!(pool.timed_out.get(), 1);
        drop(held);
        assert!(pool.run(&budget(), |_| Ok(())).await.is_ok(), "served once a permit is free");
    }

    /// Heavy work yields the cores to the async workers: on Linux it runs at a lower priority,
    /// and the workers (the caller here) keep theirs.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heavy_work_runs_below_the_workers_priority() {
        let niceness = || rustix::process::getpriority_process(None).expect("getpriority");
        let worker = niceness();
        let on_the_pool = pool(1, Duration::from_secs(10)).run(&budget(), move |_| Ok(niceness())).await;
        assert_eq!(on_the_pool.expect("the work ran"), (worker + HEAVY_WORK_NICENESS).min(LOWEST_PRIORITY));
        assert_eq!(niceness(), worker, "the worker keeps its priority");
    }
}
