//! Per-hook counters of one plugin: calls, failures by kind and time spent in the plugin.
//! Plain relaxed atomics, so a call pays a few uncontended adds; read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
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

/// Counters of one plugin for one hook.
#[derive(Debug, Default)]
pub struct HookStats {
    calls: AtomicU64,
    failures: [AtomicU64; FailureKind::ALL.len()],
    timed: AtomicU64,
    nanos: AtomicU64,
}

impl HookStats {
    /// Counts a call (refused ones included).
    pub(crate) fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failure.
    pub(crate) fn failure(&self, kind: FailureKind) {
        self.failures[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Records the time of a call that reached the plugin.
    pub(crate) fn time(&self, d: Duration) {
        self.timed.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Calls made, including those refused by the open circuit breaker.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Failures of one kind.
    pub fn failures(&self, kind: FailureKind) -> u64 {
        self.failures[kind.index()].load(Ordering::Relaxed)
    }

    /// Calls that reached the plugin (every call but those the breaker refused) and the total
    /// time they took, instance creation included.
    pub fn latency(&self) -> (u64, Duration) {
        (self.timed.load(Ordering::Relaxed), Duration::from_nanos(self.nanos.load(Ordering::Relaxed)))
    }
}
