//! Per-hook counters of one plugin: calls, failures by kind and time spent in the plugin.
//! Relaxed atomics; the ones every call touches are split into cache-line-sized shards, one per
//! [`PluginSet`](super::PluginSet) (so per thread, up to [`SHARDS`] threads), so that session
//! threads calling the same plugin at once do not pass one cache line back and forth. Readers
//! (`/metrics`) add the shards up.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::bindings::aviary::plugin::types::Hooks;
use super::Hook;

impl Hook {
    /// Every hook, in [`Hook::index`] order.
    pub const ALL: [Hook; 5] = [
        Hook::Authenticate,
        Hook::AuthorizePublish,
        Hook::AuthorizeSubscribe,
        Hook::OnPublish,
        Hook::OnDeliver,
    ];

    /// The hook's WIT name, e.g. `authorize-publish`.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Authenticate => "authenticate",
            Hook::AuthorizePublish => "authorize-publish",
            Hook::AuthorizeSubscribe => "authorize-subscribe",
            Hook::OnPublish => "on-publish",
            Hook::OnDeliver => "on-deliver",
        }
    }

    /// Position in [`Hook::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The WIT flag of the hook.
    pub(crate) fn flag(self) -> Hooks {
        match self {
            Hook::Authenticate => Hooks::AUTHENTICATE,
            Hook::AuthorizePublish => Hooks::AUTHORIZE_PUBLISH,
            Hook::AuthorizeSubscribe => Hooks::AUTHORIZE_SUBSCRIBE,
            Hook::OnPublish => Hooks::ON_PUBLISH,
            Hook::OnDeliver => Hooks::ON_DELIVER,
        }
    }
}

/// Why a hook call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The call missed its deadline.
    Timeout,
    /// A trap, a host panic, or an instance that could not be created.
    Error,
    /// The plugin answered something the broker cannot use.
    InvalidAnswer,
    /// Not called: the circuit breaker is open.
    BreakerOpen,
}

impl FailureKind {
    /// Every kind, in [`FailureKind::index`] order.
    pub const ALL: [FailureKind; 4] =
        [FailureKind::Timeout, FailureKind::Error, FailureKind::InvalidAnswer, FailureKind::BreakerOpen];

    /// The metric label, e.g. `breaker_open`.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Error => "error",
            FailureKind::InvalidAnswer => "invalid_answer",
            FailureKind::BreakerOpen => "breaker_open",
        }
    }

    /// Position in [`FailureKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Shards of the per-call counters.
pub(crate) const SHARDS: usize = 8;

/// The shard for a new [`PluginSet`](super::PluginSet): the next one, round robin.
pub(crate) fn next_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
}

/// The per-call counters of one shard, alone in their cache line(s).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    calls: AtomicU64,
    timed: AtomicU64,
    nanos: AtomicU64,
}

/// Counters of one plugin for one hook.
#[derive(Debug, Default)]
pub struct HookStats {
    shards: [Shard; SHARDS],
    failures: [AtomicU64; FailureKind::ALL.len()],
}

impl HookStats {
    /// Counts a call (refused ones included) in `shard`.
    pub(crate) fn call(&self, shard: usize) {
        self.shards[shard % SHARDS].calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failure.
    pub(crate) fn failure(&self, kind: FailureKind) {
        self.failures[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Records the time of a call that reached the plugin, in `shard`.
    pub(crate) fn time(&self, shard: usize, d: Duration) {
        let s = &self.shards[shard % SHARDS];
        s.timed.fetch_add(1, Ordering::Relaxed);
        s.nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn sum(&self, f: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| f(s).load(Ordering::Relaxed)).fold(0, u64::saturating_add)
    }

    /// Calls made, including those refused by the open circuit breaker.
    pub fn calls(&self) -> u64 {
        self.sum(|s| &s.calls)
    }

    /// Failures of one kind.
    pub fn failures(&self, kind: FailureKind) -> u64 {
        self.failures[kind.index()].load(Ordering::Relaxed)
    }

    /// Calls that reached the plugin (every call but those the breaker refused) and the total
    /// time they took, instance creation included.
    pub fn latency(&self) -> (u64, Duration) {
        (self.sum(|s| &s.timed), Duration::from_nanos(self.sum(|s| &s.nanos)))
    }
}
