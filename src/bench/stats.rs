//! What a benchmark subscriber observed, and the final report.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Bytes at the start of every benchmark payload: publisher id, sequence number, send time.
pub const HEADER_LEN: usize = 20;

/// Writes the header into the first [`HEADER_LEN`] bytes of a payload.
pub fn write_header(buf: &mut [u8], publisher: u32, seq: u64, sent_ns: u64) {
    buf[0..4].copy_from_slice(&publisher.to_be_bytes());
    buf[4..12].copy_from_slice(&seq.to_be_bytes());
    buf[12..20].copy_from_slice(&sent_ns.to_be_bytes());
}

/// Reads the header; `None` for payloads that are not from this benchmark.
pub fn read_header(buf: &[u8]) -> Option<(u32, u64, u64)> {
    let publisher = u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?);
    let seq = u64::from_be_bytes(buf.get(4..12)?.try_into().ok()?);
    let sent = u64::from_be_bytes(buf.get(12..20)?.try_into().ok()?);
    Some((publisher, seq, sent))
}

/// Per-subscriber tally: which sequence numbers arrived from which publisher.
pub struct Tally {
    seen: Vec<Vec<u64>>,
    max_seq: Vec<Option<u64>>,
    /// Distinct messages received.
    pub unique: u64,
    /// Messages received more than once.
    pub duplicated: u64,
    /// Messages that arrived after a later one from the same publisher.
    pub reordered: u64,
    /// Publish-to-delivery latency in microseconds.
    pub latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            seen: Vec::new(),
            max_seq: Vec::new(),
            unique: 0,
            duplicated: 0,
            reordered: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        }
    }
}

impl Tally {
    /// Records one received message.
    pub fn record(&mut self, publisher: u32, seq: u64, latency_us: u64) {
        let p = publisher as usize;
        if self.seen.len() <= p {
            self.seen.resize_with(p + 1, Vec::new);
            self.max_seq.resize(p + 1, None);
        }
        let bits = &mut self.seen[p];
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        if bits[word] & (1 << bit) != 0 {
            self.duplicated += 1;
            return;
        }
        bits[word] |= 1 << bit;
        self.unique += 1;
        match self.max_seq[p] {
            Some(m) if seq < m => self.reordered += 1,
            _ => self.max_seq[p] = Some(seq),
        }
        let _ = self.latency.record(latency_us.max(1));
    }

    /// Adds another subscriber's tally (counts and latencies).
    pub fn merge(&mut self, other: &Tally) {
        self.unique += other.unique;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        let _ = self.latency.add(&other.latency);
    }
}

/// The outcome of one benchmark run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// MQTT version used.
    pub protocol: String,
    /// Publish QoS.
    pub qos: u8,
    /// Subscription QoS.
    pub sub_qos: u8,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// Publishers.
    pub publishers: usize,
    /// Subscribers.
    pub subscribers: usize,
    /// Messages published.
    pub sent: u64,
    /// Deliveries expected (sent x subscribers reached).
    pub expected: u64,
    /// Distinct deliveries received.
    pub received: u64,
    /// Expected but never received.
    pub lost: u64,
    /// Received more than once.
    pub duplicated: u64,
    /// Received out of order.
    pub reordered: u64,
    /// Seconds from the first publish to the last delivery.
    pub elapsed_secs: f64,
    /// Deliveries per second.
    pub throughput_msgs_per_s: f64,
    /// Latency percentiles in microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Maximum.
    pub max_us: u64,
    /// `conn` scenario: connections held open.
    pub connections: usize,
    /// `conn` scenario: broker RSS growth per connection, in bytes.
    pub rss_per_connection_bytes: Option<u64>,
    /// Broker CPU seconds used during the run (when its PID was given).
    pub broker_cpu_secs: Option<f64>,
    /// Broker CPU microseconds per delivered message (when its PID was given).
    pub broker_cpu_us_per_msg: Option<f64>,
}

impl Report {
    /// Fills the latency fields from a histogram.
    pub fn set_latency(&mut self, h: &Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        self.p50_us = h.value_at_quantile(0.50);
        self.p90_us = h.value_at_quantile(0.90);
        self.p99_us = h.value_at_quantile(0.99);
        self.max_us = h.max();
    }

    /// One line of `key=value` pairs, stable for scripts.
    pub fn summary_line(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "scenario={} protocol={} qos={} sub_qos={} payload={} publishers={} subscribers={} \
             sent={} expected={} received={} lost={} duplicated={} reordered={} elapsed_s={:.3} \
             throughput_msgs_per_s={:.0} p50_us={} p90_us={} p99_us={} max_us={}",
            self.scenario,
            self.protocol,
            self.qos,
            self.sub_qos,
            self.payload_bytes,
            self.publishers,
            self.subscribers,
            self.sent,
            self.expected,
            self.received,
            self.lost,
            self.duplicated,
            self.reordered,
            self.elapsed_secs,
            self.throughput_msgs_per_s,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.max_us
        );
        if self.connections > 0 {
            let _ = write!(s, " connections={}", self.connections);
        }
        if let Some(r) = self.rss_per_connection_bytes {
            let _ = write!(s, " rss_per_connection_bytes={r}");
        }
        if let Some(c) = self.broker_cpu_secs {
            let _ = write!(s, " broker_cpu_s={c:.3}");
        }
        if let Some(c) = self.broker_cpu_us_per_msg {
            let _ = write!(s, " broker_cpu_us_per_msg={c:.3}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut b = [0u8; 32];
        write_header(&mut b, 7, 123_456, 99);
        assert_eq!(read_header(&b), Some((7, 123_456, 99)));
        assert_eq!(read_header(&b[..10]), None);
    }

    #[test]
    fn tally_counts_duplicates_and_reordering() {
        let mut t = Tally::default();
        for (p, s) in [(0, 0), (0, 1), (0, 1), (0, 3), (0, 2), (1, 0)] {
            t.record(p, s, 10);
        }
        assert_eq!((t.unique, t.duplicated, t.reordered), (5, 1, 1));
    }
}
