//! Broker-wide backpressure: when a session cannot keep up with the deliveries the router
//! hands it (its mailbox fills because its thread is busy, not because its client is slow),
//! or when publishes wait for the router faster than it routes them, every session stops
//! reading from its socket until that drains, instead of the router dropping messages it
//! already acknowledged to their publishers or its mailbox growing without bound.
//!
//! A client that does not read is a different case and is not handled here: its session keeps
//! emptying its mailbox into its own bounded queue (see `max_queued_messages`), so it never
//! makes the broker pause.
//!
//! The router owns the decision ([`crate::router::state::RouterState`] keeps the set of
//! congested sessions and re-checks it every turn); sessions only read the flag and tell the
//! router when their mailbox fell below the low mark.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Deliveries waiting in one session's mailbox that make the broker pause reading (at most;
/// see [`Backpressure::high_mark`]), until it is back under a quarter of that.
pub const HIGH_MARK: usize = 4096;

/// Publishes sent to the router and not yet routed that make the broker pause reading,
/// until they are down to half of that.
pub const ROUTING_HIGH: usize = 4096;

/// The pause state shared by the router and every session.
#[derive(Debug, Default)]
pub struct Backpressure {
    /// Set by the router while some session's mailbox is congested.
    congested: AtomicBool,
    /// Publishes in the router's mailbox.
    routing: AtomicUsize,
    /// Set when `routing` reached [`ROUTING_HIGH`], cleared when it is back to half of it.
    routing_full: AtomicBool,
    /// Serialises the changes of `routing_full` (rare: only at the marks), each of which
    /// re-reads `routing` under it, so the flag never sticks while the mailbox is empty.
    routing_edge: std::sync::Mutex<()>,
    resume: Arc<Notify>,
    /// Counts the pauses, when set.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Backpressure {
    /// Counts each pause in `metrics` (`aviary_backpressure_pauses_total`).
    pub fn with_metrics(metrics: Arc<crate::metrics::Metrics>) -> Self {
        Backpressure { metrics: Some(metrics), ..Backpressure::default() }
    }

    fn count_pause(&self) {
        if let Some(m) = &self.metrics {
            m.read_pauses.inc();
        }
    }

    /// True while sessions should not read more from their sockets.
    pub fn is_paused(&self) -> bool {
        self.congested.load(Ordering::Acquire) || self.routing_full.load(Ordering::Acquire)
    }

    /// Stops reads (the router found a congested session).
    pub fn pause(&self) {
        if !self.congested.swap(true, Ordering::AcqRel) {
            self.count_pause();
        }
    }

    /// No session is congested any more.
    pub fn resume(&self) {
        if self.congested.swap(false, Ordering::AcqRel) {
            self.wake();
        }
    }

    /// A session sent the router a publish.
    pub fn routing_sent(&self) {
        let now = self.routing.fetch_add(1, Ordering::AcqRel) + 1;
        if now >= ROUTING_HIGH && !self.routing_full.load(Ordering::Acquire) {
            let _edge = self.routing_edge.lock().unwrap_or_else(|e| e.into_inner());
            if self.routing.load(Ordering::Acquire) >= ROUTING_HIGH
                && !self.routing_full.swap(true, Ordering::AcqRel)
            {
                self.count_pause();
            }
        }
    }

    /// The router took a publish from its mailbox.
    pub fn routing_done(&self) {
        let now = self.routing.fetch_sub(1, Ordering::AcqRel) - 1;
        if now <= ROUTING_HIGH / 2 && self.routing_full.load(Ordering::Acquire) {
            let _edge = self.routing_edge.lock().unwrap_or_else(|e| e.into_inner());
            if self.routing.load(Ordering::Acquire) <= ROUTING_HIGH / 2
                && self.routing_full.swap(false, Ordering::AcqRel)
            {
                self.wake();
            }
        }
    }

    fn wake(&self) {
        if !self.is_paused() {
            self.resume.notify_waiters();
        }
    }

    /// A future that completes at the next [`Self::resume`]. Register it (`enable`) before
    /// checking [`Self::is_paused`] again, so a resume in between is not missed.
    pub fn resumed(&self) -> tokio::sync::futures::OwnedNotified {
        self.resume.clone().notified_owned()
    }

    /// The high mark for a mailbox whose drop limit is `cap` deliveries: half of it at most, so
    /// the pause comes before any drop.
    pub fn high_mark(cap: usize) -> usize {
        HIGH_MARK.min(cap / 2).max(1)
    }

    /// Below this many waiting deliveries a congested session no longer holds the pause.
    pub fn low_mark(high: usize) -> usize {
        high / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resume_wakes_a_registered_waiter() {
        let bp = Backpressure::default();
        bp.pause();
        let mut waiter = Box::pin(bp.resumed());
        waiter.as_mut().enable();
        assert!(bp.is_paused());
        bp.resume();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.expect("woken");
        assert!(!bp.is_paused());
    }

    #[tokio::test]
    async fn a_full_router_mailbox_pauses_until_half_of_it_is_routed() {
        let bp = Backpressure::default();
        for _ in 0..ROUTING_HIGH {
            bp.routing_sent();
        }
        assert!(bp.is_paused());
        let mut waiter = Box::pin(bp.resumed());
        waiter.as_mut().enable();
        for _ in 0..ROUTING_HIGH / 2 - 1 {
            bp.routing_done();
        }
        assert!(bp.is_paused(), "still above half");
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(waiter.as_mut(), &mut cx).is_pending());
        bp.routing_done();
        assert!(!bp.is_paused());
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.expect("woken");
    }

    #[test]
    fn high_mark_stays_below_the_drop_limit() {
        assert_eq!(Backpressure::high_mark(1000), 500);
        assert_eq!(Backpressure::high_mark(100_000), HIGH_MARK);
        assert_eq!(Backpressure::high_mark(1), 1);
    }
}
