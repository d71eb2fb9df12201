//! `aviary bench`: a load generator for any MQTT broker.
//!
//! Scenarios: `fanin` (P publishers on distinct topics -> 1 wildcard subscriber), `fanout`
//! (1 publisher -> S subscribers), `p2p` (P publisher/subscriber pairs), `latency` (1 -> 1 at a
//! fixed rate), `many` (N pairs at a low rate each) and `conn` (C idle connections; broker RSS
//! per connection). Every payload carries publisher id, sequence number and send time, so the
//! report counts lost, duplicated and reordered messages and measures latency. Every run is
//! bounded by a duration and stops by itself.

pub mod client;
mod proc_stats;
mod run;
pub mod stats;

use std::net::SocketAddr;

pub use run::run;
pub use stats::Report;

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// P publishers on distinct topics -> 1 wildcard subscriber.
    Fanin,
    /// 1 publisher -> S subscribers of one topic.
    Fanout,
    /// P publisher/subscriber pairs.
    P2p,
    /// 1 publisher -> 1 subscriber at a fixed rate (default 1000 msg/s).
    Latency,
    /// N publisher/subscriber pairs at a low rate each (default 1 msg/s).
    Many,
    /// C idle connections with keep alive; reports broker RSS per connection (needs --pid).
    Conn,
}

/// Options of `aviary bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scenario to run.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub broker: SocketAddr,
    /// Publishers (fanin, p2p, many: the number of pairs). Default: 4 (many: 1000).
    #[arg(short = 'P', long)]
    pub publishers: Option<usize>,
    /// Subscribers (fanout).
    #[arg(short = 'S', long, default_value_t = 4)]
    pub subscribers: usize,
    /// QoS of publishes.
    #[arg(short, long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// QoS of subscriptions (default: same as --qos).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub sub_qos: Option<u8>,
    /// Payload size in bytes (at least 20: the benchmark header).
    #[arg(short = 's', long, default_value_t = 64)]
    pub payload: usize,
    /// Seconds to publish for.
    #[arg(short, long, default_value_t = 5.0)]
    pub duration: f64,
    /// Stop each publisher after this many messages.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Messages per second per publisher; 0 = as fast as the broker takes them.
    /// Default: 0 (latency: 1000, many: 1).
    #[arg(short, long)]
    pub rate: Option<u64>,
    /// Unacknowledged QoS 1/2 publishes per publisher.
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,
    /// MQTT version: 3.1.1 or 5.
    #[arg(short = 'V', long, default_value = "3.1.1", value_parser = ["3.1.1", "5"])]
    pub mqtt_version: String,
    /// Connections to hold open (conn).
    #[arg(short = 'C', long, default_value_t = 1000)]
    pub connections: usize,
    /// Broker process id: reports its CPU per message, and RSS per connection (conn).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Print the final report as JSON instead of key=value.
    #[arg(long)]
    pub json: bool,
    /// Subscribers keep a persistent session (MQTT 3.1.1 clean session 0; MQTT 5 session
    /// expiry 300 s), so the broker must keep what it queues for them (and store it, with
    /// persistence on).
    #[arg(long)]
    pub persistent: bool,
    /// Generator threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A connection failed.
    #[error("{what}: {source}")]
    Client {
        /// Which connection.
        what: String,
        /// Why.
        source: client::ClientError,
    },
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// The runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}
