//! Broker-wide backpressure: when a session cannot keep up with the deliveries the router
//! hands it (its mailbox fills because its thread is busy, not because its client is slow),
//! every session stops reading from its socket until that mailbox drains, instead of the
//! router dropping messages it already acknowledged to their publishers.
//!
//! A client that does not read is a different case and is not handled here: its session keeps
//! emptying its mailbox into its own bounded queue (see `max_queued_messages`), so it never
//! makes the broker pause.
//!
//! The router owns the decision ([`crate::router::state::RouterState`] keeps the set of
//! congested sessions and re-checks it every turn); sessions only read the flag and tell the
//! router when their mailbox fell below the low mark.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Deliveries waiting in one session's mailbox that make the broker pause reading (at most;
/// see [`Backpressure::high_mark`]), until it is back under a quarter of that.
pub const HIGH_MARK: usize = 4096;

/// The pause flag shared by the router and every session.
#[derive(Debug, Default)]
pub struct Backpressure {
    paused: AtomicBool,
    resume: Arc<Notify>,
}

impl Backpressure {
    /// True while sessions should not read more from their sockets.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Stops reads (the router found a congested session).
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }

    /// Lets every paused reader go on.
    pub fn resume(&self) {
        if self.paused.swap(false, Ordering::AcqRel) {
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

    #[test]
    fn high_mark_stays_below_the_drop_limit() {
        assert_eq!(Backpressure::high_mark(1000), 500);
        assert_eq!(Backpressure::high_mark(100_000), HIGH_MARK);
        assert_eq!(Backpressure::high_mark(1), 1);
    }
}
