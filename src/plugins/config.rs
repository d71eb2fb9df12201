//! `[[plugin]]` and `[plugin_runtime]`: which plugins to load and how tightly to hold them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// What a failing plugin (trap, panic, deadline, memory) means for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Fail closed: authentication and authorization deny, transforms drop the message.
    Deny,
    /// Same as `deny` (the transform spelling).
    Drop,
    /// Fail open: authentication and authorization ask the next plugin, transforms pass the
    /// message on unchanged.
    Next,
    /// Same as `next` (the transform spelling).
    Pass,
}

impl OnFailure {
    /// True for `deny` / `drop`.
    pub fn is_closed(self) -> bool {
        matches!(self, OnFailure::Deny | OnFailure::Drop)
    }
}

/// Host capabilities a plugin may import (logging is always granted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `aviary:plugin/crypto`: verify-password, verify-jwt.
    Crypto,
    /// `aviary:plugin/kv`.
    Kv,
    /// `aviary:plugin/metrics`.
    Metrics,
}

impl Capability {
    /// The WIT interface name (without version).
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Crypto => "aviary:plugin/crypto",
            Capability::Kv => "aviary:plugin/kv",
            Capability::Metrics => "aviary:plugin/metrics",
        }
    }
}

fn all_capabilities() -> Vec<Capability> {
    vec![Capability::Crypto, Capability::Kv, Capability::Metrics]
}

/// Per-plugin sandbox limits (`limits = { ... }`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Linear memory per instance, in MiB (1..=256).
    pub memory_mib: u32,
    /// Deadline of `init`, in milliseconds.
    pub init_ms: u64,
    /// Deadline of `authenticate` (host argon2 included), in milliseconds.
    pub authenticate_ms: u64,
    /// Deadline of `authorize-publish` / `authorize-subscribe`, in milliseconds.
    pub authorize_ms: u64,
    /// Deadline of `on-publish` / `on-deliver`, in milliseconds.
    pub transform_ms: u64,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits { memory_mib: 16, init_ms: 2000, authenticate_ms: 250, authorize_ms: 5, transform_ms: 5 }
    }
}

/// One `[[plugin]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Used in logs and metrics.
    pub name: String,
    /// The component (`.wasm`), relative to the configuration file.
    pub path: PathBuf,
    /// Expected SHA-256 of the file, in hex; loading fails on a mismatch.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Host capabilities granted (default: all of crypto, kv, metrics).
    #[serde(default = "all_capabilities")]
    pub grants: Vec<Capability>,
    /// Failure policy; default `deny` for authentication/authorization and `drop` for
    /// transforms.
    #[serde(default)]
    pub on_failure: Option<OnFailure>,
    /// Sandbox limits.
    #[serde(default)]
    pub limits: PluginLimits,
    /// Files the broker reads at startup for the plugin (name -> path relative to the
    /// configuration file); handed to `init` under `files.<name>` as text.
    #[serde(default)]
    pub files: BTreeMap<String, PathBuf>,
    /// The plugin's own table, handed to `init` as JSON.
    #[serde(default)]
    pub config: toml::Table,
}

/// The `[plugin_runtime]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginRuntimeConfig {
    /// Epoch tick for deadlines, in milliseconds.
    pub epoch_tick_ms: u64,
    /// Threads that run `authenticate`, off the session threads.
    pub auth_threads: usize,
    /// CONNECTs waiting for an authentication thread; beyond it CONNACK says Server unavailable.
    pub auth_queue: usize,
    /// Largest `.wasm` file accepted, in bytes.
    pub max_wasm_bytes: usize,
    /// Payloads larger than this skip `on-publish` / `on-deliver`, and a modified payload may
    /// not grow beyond it.
    pub max_payload_bytes: usize,
    /// Failures within `breaker_window_secs` that open a plugin's circuit breaker.
    pub breaker_failures: u32,
    /// The window for `breaker_failures`.
    pub breaker_window_secs: u64,
    /// First open period of the breaker, in milliseconds; doubles up to `breaker_max_open_secs`.
    pub breaker_open_ms: u64,
    /// Longest open period, in seconds.
    pub breaker_max_open_secs: u64,
    /// Log lines per second a plugin may write; more are dropped and counted.
    pub log_lines_per_sec: u32,
    /// Keys in a plugin's key-value store.
    pub kv_max_keys: usize,
    /// Bytes of one value.
    pub kv_max_value_bytes: usize,
    /// Bytes of all keys and values of one plugin.
    pub kv_max_bytes: usize,
}

impl Default for PluginRuntimeConfig {
    fn default() -> Self {
        PluginRuntimeConfig {
            epoch_tick_ms: 1,
            auth_threads: 2,
            auth_queue: 1024,
            max_wasm_bytes: 16 << 20,
            max_payload_bytes: 1 << 20,
            breaker_failures: 5,
            breaker_window_secs: 10,
            breaker_open_ms: 1000,
            breaker_max_open_secs: 60,
            log_lines_per_sec: 100,
            kv_max_keys: 10_000,
            kv_max_value_bytes: 64 << 10,
            kv_max_bytes: 16 << 20,
        }
    }
}

/// Checks what serde cannot; returns the dotted key and the problem.
pub(crate) fn validate(plugins: &[PluginConfig], rt: &PluginRuntimeConfig) -> Result<(), (String, String)> {
    let bad = |key: &str, problem: String| Err((key.to_owned(), problem));
    let mut names = std::collections::HashSet::new();
    for p in plugins {
        if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad("plugin.name", format!("`{}` must be letters, digits, `-` or `_`", p.name));
        }
        if !names.insert(p.name.as_str()) {
            return bad("plugin.name", format!("`{}` is used by two plugins", p.name));
        }
        if let Some(h) = &p.sha256 {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad("plugin.sha256", format!("plugin `{}`: expected 64 hex digits", p.name));
            }
        }
        let l = &p.limits;
        if !(1..=256).contains(&l.memory_mib) {
            return bad("limits.memory_mib", format!("plugin `{}`: must be between 1 and 256", p.name));
        }
        if [l.init_ms, l.authenticate_ms, l.authorize_ms, l.transform_ms].contains(&0) {
            return bad("plugin.limits", format!("plugin `{}`: deadlines must be at least 1 ms", p.name));
        }
        if p.files.contains_key("") || (!p.files.is_empty() && p.config.contains_key("files")) {
            return bad(
                "plugin.files",
                format!("plugin `{}`: `files` names clash with `config.files`", p.name),
            );
        }
    }
    if rt.epoch_tick_ms == 0 {
        return bad("plugin_runtime.epoch_tick_ms", "must be at least 1".into());
    }
    if rt.auth_threads == 0 || rt.auth_queue == 0 {
        return bad("plugin_runtime.auth_threads", "threads and queue must be at least 1".into());
    }
    if rt.breaker_failures == 0 {
        return bad("plugin_runtime.breaker_failures", "must be at least 1".into());
    }
    Ok(())
}
