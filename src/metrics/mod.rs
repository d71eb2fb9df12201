//! The broker-wide metrics registry: plain atomic counters and gauges shared through an `Arc`,
//! so the hot path pays one relaxed atomic add per event. Rendered in the Prometheus text
//! format by [`render`] and read by the router for `$SYS`.

pub mod render;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::QoS;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [Counter; LATENCY_BUCKETS.len()],
    count: Counter,
    sum_micros: Counter,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].inc();
        }
        self.count.inc();
        self.sum_micros.add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }
    /// Cumulative counts per bucket, the total count and the sum in seconds.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut acc = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| {
                acc += c.get();
                (*b, acc)
            })
            .collect();
        (buckets, self.count.get(), self.sum_micros.get() as f64 / 1e6)
    }
}

/// Why a message (or one delivery of it) was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A subscriber's queue was full (`max_queued_messages` / `max_queued_bytes`).
    QueueFull,
    /// QoS 0 while the subscriber's socket was backed up.
    SlowConsumer,
    /// Larger than the subscriber's Maximum Packet Size.
    TooLarge,
    /// The message expired before it could be sent.
    Expired,
    /// The publisher exceeded its publish rate or bandwidth.
    RateLimited,
    /// The retained store is full.
    RetainedFull,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 6] = [
        DropReason::QueueFull,
        DropReason::SlowConsumer,
        DropReason::TooLarge,
        DropReason::Expired,
        DropReason::RateLimited,
        DropReason::RetainedFull,
    ];
    /// The Prometheus label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SlowConsumer => "slow_consumer",
            DropReason::TooLarge => "too_large",
            DropReason::Expired => "expired",
            DropReason::RateLimited => "rate_limited",
            DropReason::RetainedFull => "retained_full",
        }
    }
}

/// A configured limit that was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `limits.max_connections`.
    Connections,
    /// A listener's `max_connections`.
    ListenerConnections,
    /// `limits.max_publish_rate_per_sec`.
    PublishRate,
    /// `limits.max_publish_bytes_per_sec`.
    PublishBandwidth,
    /// `mqtt.max_subscriptions_per_client`.
    Subscriptions,
    /// `mqtt.receive_maximum` exceeded by a client.
    ReceiveMaximum,
    /// `mqtt.max_queued_messages` / `max_queued_bytes`.
    QueuedMessages,
    /// `limits.max_retained_messages`.
    RetainedMessages,
    /// `mqtt.max_packet_size_bytes` exceeded by a client.
    PacketSize,
}

impl Limit {
    /// Every limit, in label order.
    pub const ALL: [Limit; 9] = [
        Limit::Connections,
        Limit::ListenerConnections,
        Limit::PublishRate,
        Limit::PublishBandwidth,
        Limit::Subscriptions,
        Limit::ReceiveMaximum,
        Limit::QueuedMessages,
        Limit::RetainedMessages,
        Limit::PacketSize,
    ];
    /// The Prometheus label value.
    pub fn label(self) -> &'static str {
        match self {
            Limit::Connections => "max_connections",
            Limit::ListenerConnections => "listener_max_connections",
            Limit::PublishRate => "max_publish_rate_per_sec",
            Limit::PublishBandwidth => "max_publish_bytes_per_sec",
            Limit::Subscriptions => "max_subscriptions_per_client",
            Limit::ReceiveMaximum => "receive_maximum",
            Limit::QueuedMessages => "max_queued_messages",
            Limit::RetainedMessages => "max_retained_messages",
            Limit::PacketSize => "max_packet_size_bytes",
        }
    }
}

/// Every counter and gauge of one broker.
#[derive(Debug)]
pub struct Metrics {
    /// When the broker started.
    pub started: Instant,
    /// TCP connections accepted.
    pub connections_accepted: Counter,
    /// Clients that completed CONNECT (CONNACK success), ever.
    pub clients_connects: Counter,
    /// Clients connected now.
    pub clients_connected: Gauge,
    /// Highest number of clients connected at once.
    pub clients_maximum: AtomicI64,
    /// PUBLISH packets received, by QoS.
    pub messages_received: [Counter; 3],
    /// PUBLISH packets sent, by QoS.
    pub messages_sent: [Counter; 3],
    /// Bytes read from clients.
    pub bytes_received: Counter,
    /// Bytes written to clients.
    pub bytes_sent: Counter,
    /// Deliveries dropped in sessions, by [`DropReason`] (router drops come from its stats).
    dropped: [Counter; DropReason::ALL.len()],
    /// Limits hit, by [`Limit`].
    limit_hits: [Counter; Limit::ALL.len()],
    /// CONNECTs accepted by authentication.
    pub auth_success: Counter,
    /// CONNECTs refused by authentication.
    pub auth_failure: Counter,
    /// Store commits.
    pub persist_commits: Counter,
    /// Store commits that failed (disk full, I/O error).
    pub persist_failures: Counter,
    /// Changes written to the store.
    pub persist_ops: Counter,
    /// Time one store commit takes.
    pub persist_commit_latency: Histogram,
    /// Whether the store accepts writes (1) or the last commit failed (0).
    pub persist_healthy: Gauge,
    /// Durable mode: checkpoints of the write-ahead log into the store.
    pub persist_checkpoints: Counter,
    /// Durable mode: bytes in the write-ahead log now.
    pub persist_log_bytes: Gauge,
    /// Times backpressure paused reads broker-wide (see [`crate::flow`]).
    pub read_pauses: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            connections_accepted: Counter::default(),
            clients_connects: Counter::default(),
            clients_connected: Gauge::default(),
            clients_maximum: AtomicI64::new(0),
            messages_received: Default::default(),
            messages_sent: Default::default(),
            bytes_received: Counter::default(),
            bytes_sent: Counter::default(),
            dropped: Default::default(),
            limit_hits: Default::default(),
            auth_success: Counter::default(),
            auth_failure: Counter::default(),
            persist_commits: Counter::default(),
            persist_failures: Counter::default(),
            persist_ops: Counter::default(),
            persist_commit_latency: Histogram::default(),
            persist_healthy: Gauge(AtomicI64::new(1)),
            persist_checkpoints: Counter::default(),
            persist_log_bytes: Gauge::default(),
            read_pauses: Counter::default(),
        }
    }
}

impl Metrics {
    /// Counts a dropped delivery.
    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason as usize].inc();
    }
    /// Counts `n` deliveries dropped for `reason`.
    pub fn dropped_n(&self, reason: DropReason, n: u64) {
        self.dropped[reason as usize].add(n);
    }
    /// Deliveries dropped for `reason` in sessions.
    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].get()
    }
    /// Counts a limit hit.
    pub fn limit_hit(&self, limit: Limit) {
        self.limit_hits[limit as usize].inc();
    }
    /// Times `limit` was hit.
    pub fn limit_hits(&self, limit: Limit) -> u64 {
        self.limit_hits[limit as usize].get()
    }
    /// A PUBLISH arrived from a client.
    pub fn received(&self, qos: QoS) {
        self.messages_received[qos as usize].inc();
    }
    /// A PUBLISH went to a client.
    pub fn sent(&self, qos: QoS) {
        self.messages_sent[qos as usize].inc();
    }
    /// A client completed CONNECT.
    pub fn client_connected(&self) {
        self.clients_connects.inc();
        self.clients_connected.inc();
        self.clients_maximum.fetch_max(self.clients_connected.get(), Ordering::Relaxed);
    }
    /// Messages received over every QoS.
    pub fn messages_received_total(&self) -> u64 {
        self.messages_received.iter().map(Counter::get).sum()
    }
    /// Messages sent over every QoS.
    pub fn messages_sent_total(&self) -> u64 {
        self.messages_sent.iter().map(Counter::get).sum()
    }
    /// Seconds since start.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}
