//! The operations tables of the configuration: `[http]`, `[limits]` and `[persistence]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The `[http]` table: the HTTP listener for `/metrics`, `/health`, `/ready` and the admin API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Start the HTTP listener.
    pub enabled: bool,
    /// Address and port to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Bearer token for the admin API (`/api/...`); empty disables the admin API.
    pub token: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { enabled: false, bind: SocketAddr::from(([127, 0, 0, 1], 9883)), token: String::new() }
    }
}

/// The `[limits]` table: broker-wide limits and lifecycle bounds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections accepted at once over all listeners; 0 means unlimited.
    pub max_connections: usize,
    /// PUBLISH packets one client may send per second (burst: one second's worth); 0 means
    /// unlimited.
    pub max_publish_rate_per_sec: u32,
    /// Payload bytes one client may publish per second (burst: one second's worth); 0 means
    /// unlimited.
    pub max_publish_bytes_per_sec: u64,
    /// Retained messages kept at once; 0 means unlimited.
    pub max_retained_messages: usize,
    /// Seconds a graceful shutdown may take before the process exits anyway.
    pub shutdown_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 0,
            max_publish_rate_per_sec: 0,
            max_publish_bytes_per_sec: 0,
            max_retained_messages: 0,
            shutdown_timeout_secs: 10,
        }
    }
}

/// How the broker keeps its state on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PersistenceMode {
    /// Memory only: a restart starts empty.
    #[default]
    Off,
    /// Changes are written every `snapshot_interval_secs` (and at shutdown).
    Periodic,
    /// QoS 1/2 publishes are acknowledged only once on disk (group commit).
    Durable,
}

/// The `[persistence]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersistenceConfig {
    /// `off`, `periodic` or `durable`.
    pub mode: PersistenceMode,
    /// The store file (a redb database), created when missing.
    pub path: PathBuf,
    /// Periodic mode: seconds between writes.
    pub snapshot_interval_secs: u64,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        PersistenceConfig {
            mode: PersistenceMode::Off,
            path: PathBuf::from("aviary.redb"),
            snapshot_interval_secs: 30,
        }
    }
}

impl super::Config {
    /// Checks the operations tables: returns the dotted key and the problem.
    pub(super) fn validate_ops(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, problem: &str| Err((key.to_owned(), problem.to_owned()));
        if self.persistence.mode == PersistenceMode::Periodic && self.persistence.snapshot_interval_secs == 0
        {
            return bad("persistence.snapshot_interval_secs", "must be at least 1 in periodic mode");
        }
        if self.persistence.mode != PersistenceMode::Off && self.persistence.path.as_os_str().is_empty() {
            return bad("persistence.path", "must name a file when persistence is on");
        }
        if self.limits.shutdown_timeout_secs == 0 {
            return bad("limits.shutdown_timeout_secs", "must be at least 1");
        }
        Ok(())
    }
}
