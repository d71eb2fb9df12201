//! The circuit breaker: a plugin that keeps failing is not called for a while.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BreakerConfig {
    pub(crate) failures: u32,
    pub(crate) window: Duration,
    pub(crate) open: Duration,
    pub(crate) max_open: Duration,
}

struct State {
    recent: VecDeque<Instant>,
    next_open: Duration,
}

/// Closed (calls go through) until `failures` failures within `window`; then open for
/// `open`, doubling at each reopening up to `max_open`; a success resets the doubling.
pub(crate) struct Breaker {
    cfg: BreakerConfig,
    origin: Instant,
    /// Milliseconds since `origin` until which calls are refused.
    open_until: AtomicU64,
    state: Mutex<State>,
}

impl Breaker {
    pub(crate) fn new(cfg: BreakerConfig) -> Self {
        Breaker {
            cfg,
            origin: Instant::now(),
            open_until: AtomicU64::new(0),
            state: Mutex::new(State { recent: VecDeque::new(), next_open: cfg.open }),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// May the plugin be called now?
    pub(crate) fn allows(&self) -> bool {
        // Closed (the usual case) costs no clock read.
        let until = self.open_until.load(Ordering::Relaxed);
        until == 0 || self.now_ms() >= until
    }

    /// Records a failure; returns the open period if this failure opened the breaker.
    pub(crate) fn failure(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut s = self.state.lock().ok()?;
        s.recent.push_back(now);
        while s.recent.front().is_some_and(|t| now.duration_since(*t) > self.cfg.window) {
            s.recent.pop_front();
        }
        if s.recent.len() < self.cfg.failures as usize {
            return None;
        }
        s.recent.clear();
        let period = s.next_open;
        s.next_open = (period * 2).min(self.cfg.max_open);
        let until = self.now_ms().saturating_add(u64::try_from(period.as_millis()).unwrap_or(u64::MAX));
        self.open_until.store(until, Ordering::Relaxed);
        Some(period)
    }

    /// Records a success.
    pub(crate) fn success(&self) {
        if self.open_until.load(Ordering::Relaxed) != 0 {
            if let Ok(mut s) = self.state.lock() {
                s.next_open = self.cfg.open;
            }
            self.open_until.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_backs_off() {
        let b = Breaker::new(BreakerConfig {
            failures: 3,
            window: Duration::from_secs(10),
            open: Duration::from_millis(20),
            max_open: Duration::from_millis(30),
        });
        assert_eq!(b.failure(), None);
        assert_eq!(b.failure(), None);
        assert_eq!(b.failure(), Some(Duration::from_millis(20)));
        assert!(!b.allows());
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.allows());
        b.failure();
        b.failure();
        assert_eq!(b.failure(), Some(Duration::from_millis(30)), "doubled, capped");
        b.success();
        assert!(b.allows());
    }
}
