//! Broker configuration: TOML read through serde into [`Config`], then validated.
//!
//! Every option has a default, so an empty file (or no file at all) is a working broker on
//! `127.0.0.1:1883` that allows anonymous clients. Unknown keys are rejected. Errors name the
//! file, the key and, where it can be found, the line. The commented reference file
//! `config/aviary.toml` is embedded as [`DEFAULT_CONFIG_TOML`]; a test checks that it parses to
//! exactly [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod listener;
mod ops;
pub use listener::TlsVersion;
pub use ops::{HttpConfig, LimitsConfig, PersistenceConfig, PersistenceMode};

/// The fully commented reference configuration (`config/aviary.toml`).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../config/aviary.toml");

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, a key is unknown or a value has the wrong type.
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or `<string>`.
        origin: String,
        /// toml's message, which names the line, the column and the key.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{origin}{line}: `{key}` {problem}", line = .line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The file, or `<string>`.
        origin: String,
        /// The line where the key is set, when it could be found.
        line: Option<usize>,
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// The whole broker configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Network listeners. Defaults to one plain-TCP listener on 127.0.0.1:1883.
    #[serde(rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// Who may connect.
    pub auth: AuthConfig,
    /// Protocol limits and features.
    pub mqtt: MqttConfig,
    /// Threads.
    pub workers: WorkersConfig,
    /// Logging.
    pub log: LogConfig,
    /// HTTP listener: metrics, health and the admin API.
    pub http: HttpConfig,
    /// Broker-wide limits.
    pub limits: LimitsConfig,
    /// Persistence of sessions, queued and retained messages, wills.
    pub persistence: PersistenceConfig,
    /// WebAssembly plugins, in chain order (`[[plugin]]` tables).
    #[serde(rename = "plugin")]
    pub plugins: Vec<crate::plugins::config::PluginConfig>,
    /// The plugin sandbox (`[plugin_runtime]`).
    pub plugin_runtime: crate::plugins::config::PluginRuntimeConfig,
    /// Directory of the configuration file: relative plugin paths start here.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listeners: vec![ListenerConfig::default()],
            auth: AuthConfig::default(),
            mqtt: MqttConfig::default(),
            workers: WorkersConfig::default(),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            limits: LimitsConfig::default(),
            persistence: PersistenceConfig::default(),
            plugins: Vec::new(),
            plugin_runtime: Default::default(),
            base_dir: PathBuf::new(),
        }
    }
}

/// The transport a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// Plain TCP.
    Tcp,
    /// MQTT over TLS.
    Tls,
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
}

/// One `[[listener]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    /// Name used in logs.
    pub name: String,
    /// Transport.
    pub kind: ListenerKind,
    /// Address and port to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Connections accepted at once on this listener; 0 means unlimited.
    pub max_connections: usize,
    /// Overrides `mqtt.max_packet_size_bytes` for clients of this listener.
    pub max_packet_size_bytes: Option<u32>,
    /// PEM certificate chain (tls, wss).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the certificate (tls, wss).
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle that client certificates are verified against (tls, wss).
    pub ca_file: Option<PathBuf>,
    /// Refuse TLS clients without a certificate signed by `ca_file`.
    pub require_client_cert: bool,
    /// Use the client certificate's subject CN as the user name.
    pub use_identity_as_username: bool,
    /// TLS versions accepted (tls, wss); both 1.2 and 1.3 when unset.
    pub tls_versions: Option<Vec<TlsVersion>>,
    /// ALPN protocols the server negotiates (tls, wss); none when unset.
    pub alpn_protocols: Option<Vec<String>>,
    /// PEM certificate revocation lists checked for client certificates (tls, wss; needs
    /// `ca_file`).
    pub crl_file: Option<PathBuf>,
    /// HTTP path of the WebSocket endpoint (ws, wss).
    pub path: String,
    /// The `[[plugin]]`s (by name) whose hooks run for clients of this listener; all when
    /// unset, none when empty.
    pub plugins: Option<Vec<String>>,
    /// Overrides `auth.allow_anonymous` for clients of this listener.
    pub allow_anonymous: Option<bool>,
    /// Overrides `auth.acl_default` for clients of this listener.
    pub acl_default: Option<crate::auth::acl::AclDefault>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            name: "default".into(),
            kind: ListenerKind::Tcp,
            bind: SocketAddr::from(([127, 0, 0, 1], 1883)),
            max_connections: 0,
            max_packet_size_bytes: None,
            cert_file: None,
            key_file: None,
            ca_file: None,
            require_client_cert: false,
            use_identity_as_username: false,
            tls_versions: None,
            alpn_protocols: None,
            crl_file: None,
            path: "/mqtt".into(),
            plugins: None,
            allow_anonymous: None,
            acl_default: None,
        }
    }
}

/// The `[auth]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accept clients that send no user name.
    pub allow_anonymous: bool,
    /// Static ACL rules (`[[auth.acl]]`), tried in order after the plugins.
    pub acl: Vec<crate::auth::acl::StaticRule>,
    /// What happens to a PUBLISH or SUBSCRIBE no rule and no plugin decided.
    pub acl_default: crate::auth::acl::AclDefault,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { allow_anonymous: true, acl: Vec::new(), acl_default: Default::default() }
    }
}

/// The `[mqtt]` table: protocol limits and the features the broker advertises.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Largest packet accepted from a client, fixed header included (advertised in CONNACK).
    pub max_packet_size_bytes: u32,
    /// Longest keep alive granted; longer (or zero, for MQTT 5) requests get this as Server Keep Alive.
    pub keep_alive_max_secs: u16,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout_secs: u16,
    /// Receive Maximum advertised: QoS 1/2 publishes a client may have unacknowledged with us.
    pub receive_maximum: u16,
    /// Outgoing QoS 1/2 messages in flight per client (also capped by the client's Receive Maximum).
    pub max_inflight_messages: u16,
    /// Topic Alias Maximum advertised for client-to-broker aliases; 0 disables them.
    pub topic_alias_maximum: u16,
    /// Messages queued per client (offline, or beyond the in-flight window); 0 means unlimited.
    pub max_queued_messages: usize,
    /// Payload bytes queued per client; 0 means unlimited.
    pub max_queued_bytes: usize,
    /// Queue QoS 0 messages for offline persistent sessions too.
    pub queue_qos0_messages: bool,
    /// Highest QoS accepted and granted.
    pub maximum_qos: u8,
    /// Retained messages supported.
    pub retain_available: bool,
    /// Wildcard subscriptions supported.
    pub wildcard_subscription_available: bool,
    /// Shared subscriptions supported.
    pub shared_subscription_available: bool,
    /// Subscription identifiers supported.
    pub subscription_identifiers_available: bool,
    /// Longest session expiry granted to MQTT 5 clients, in seconds.
    pub session_expiry_max_secs: u32,
    /// Seconds an MQTT 3.x persistent session lives after disconnect; 0 means forever.
    pub persistent_session_expiry_secs: u32,
    /// Longest client identifier accepted, in bytes.
    pub max_client_id_len: u16,
    /// Subscriptions per client; 0 means unlimited.
    pub max_subscriptions_per_client: usize,
    /// Seconds between `$SYS/broker/...` updates; 0 disables them.
    pub sys_interval_secs: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            max_packet_size_bytes: 16 * 1024 * 1024,
            keep_alive_max_secs: 65535,
            connect_timeout_secs: 10,
            receive_maximum: 65535,
            max_inflight_messages: 1000,
            topic_alias_maximum: 1024,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            queue_qos0_messages: false,
            maximum_qos: 2,
            retain_available: true,
            wildcard_subscription_available: true,
            shared_subscription_available: true,
            subscription_identifiers_available: true,
            session_expiry_max_secs: u32::MAX,
            persistent_session_expiry_secs: 0,
            max_client_id_len: 65535,
            max_subscriptions_per_client: 0,
            sys_interval_secs: 10,
        }
    }
}

/// Where the topic router runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RouterThread {
    /// On a thread of its own (best when cores are plentiful).
    Dedicated,
    /// On the first session worker thread: messages between sessions on that thread and the
    /// router need no cross-thread wake-up (fewer context switches on small machines).
    #[default]
    Shared,
}

/// The `[workers]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Session worker threads; 0 means one per core but one (at least one).
    pub threads: usize,
    /// Where the topic router runs: `shared` or `dedicated`.
    pub router_thread: RouterThread,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[log]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `aviary=debug`; `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
    }
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config = Config::from_toml_str(&text, &path.display().to_string())?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate().map_err(|(key, problem)| ConfigError::Invalid {
            origin: origin.to_owned(),
            line: line_of_key(text, &key),
            key,
            problem,
        })?;
        Ok(config)
    }

    /// Checks values serde cannot: returns the dotted key and the problem.
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, problem: &str| Err((key.to_owned(), problem.to_owned()));
        let m = &self.mqtt;
        if m.maximum_qos > 2 {
            return bad("mqtt.maximum_qos", "must be 0, 1 or 2");
        }
        if m.max_packet_size_bytes < 64 || m.max_packet_size_bytes > 268_435_460 {
            return bad("mqtt.max_packet_size_bytes", "must be between 64 and 268435460");
        }
        if m.receive_maximum == 0 {
            return bad("mqtt.receive_maximum", "must be at least 1");
        }
        if m.max_inflight_messages == 0 {
            return bad("mqtt.max_inflight_messages", "must be at least 1");
        }
        if m.max_client_id_len < 23 {
            return bad("mqtt.max_client_id_len", "must be at least 23 (the MQTT minimum)");
        }
        let mut names = std::collections::HashSet::new();
        for l in &self.listeners {
            if !names.insert(l.name.as_str()) {
                return bad("listener.name", &format!("`{}` is used by two listeners", l.name));
            }
            listener::validate(l, &self.plugins)?;
        }
        if self.listeners.is_empty() {
            return bad("listener", "at least one listener is needed");
        }
        self.validate_ops()?;
        crate::auth::acl::validate_static(&self.auth.acl)?;
        crate::plugins::config::validate(&self.plugins, &self.plugin_runtime)
    }

    /// The number of session worker threads to start.
    pub fn worker_threads(&self) -> usize {
        match self.workers.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
            n => n,
        }
    }
}

/// Finds the 1-based line where the last segment of a dotted key is assigned.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let key = dotted.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_file_is_the_default() {
        let parsed = Config::from_toml_str(DEFAULT_CONFIG_TOML, "aviary.toml").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn plugin_example_parses() {
        let text = include_str!("../config/plugins-example.toml");
        let c = Config::from_toml_str(text, "plugins-example.toml").unwrap();
        let names: Vec<_> = c.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["passwords", "jwt", "acl", "enrich"]);
        assert_eq!(c.auth.acl.len(), 1);
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml_str("", "x").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::from_toml_str("[mqtt]\nmax_inflight = 3\n", "a.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a.toml"), "{msg}");
        assert!(msg.contains("max_inflight"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn invalid_value_is_named_with_its_line() {
        let err = Config::from_toml_str("\n[mqtt]\nmaximum_qos = 3\n", "b.toml").unwrap_err();
        assert_eq!(err.to_string(), "b.toml, line 3: `mqtt.maximum_qos` must be 0, 1 or 2");
    }

    #[test]
    fn wrong_type_is_reported() {
        let err = Config::from_toml_str("[auth]\nallow_anonymous = \"yes\"\n", "c.toml").unwrap_err();
        assert!(err.to_string().contains("allow_anonymous"), "{err}");
    }
}
