//! `aviary pub` and `aviary sub`: command-line MQTT clients in the spirit of
//! `mosquitto_pub` / `mosquitto_sub`, built on Aviary's own codec.
//!
//! - [`url`]: `mqtt://`, `mqtts://`, `ws://`, `wss://` targets.
//! - [`net`]: TCP, TLS and WebSocket streams, TLS errors in words.
//! - [`client`]: CONNECT/CONNACK, send and receive with `-d` tracing, keep alive.
//! - [`publish`] and [`subscribe`]: the two commands; [`window`]: the in-flight window of `pub`.
//! - [`error`]: every failure and its exit code (docs/cli.md lists them).

pub mod client;
pub mod error;
pub mod net;
pub mod publish;
pub mod subscribe;
pub mod url;
pub mod window;

use std::path::PathBuf;
use std::time::Duration;

use aviary::protocol::{Connect, ConnectProperties, LastWill, Protocol, QoS};
use bytes::Bytes;
use clap::Args;

use error::CliError;
use net::TlsOptions;
use url::{Scheme, Target};

/// Options shared by `pub` and `sub`: where to connect, as whom, and how.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Broker URL: mqtt://host:port, mqtts://host:port, ws://host:port/path or
    /// wss://host:port/path (user:password@ allowed). Default: mqtt://localhost:1883.
    #[arg(long, value_name = "URL", conflicts_with_all = ["host", "port"])]
    pub url: Option<String>,
    /// Broker host (mqtt://, or mqtts:// when a TLS option is given).
    #[arg(short = 'h', long, value_name = "HOST")]
    pub host: Option<String>,
    /// Broker port (default 1883, or 8883 with TLS).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Client identifier (default: a random one).
    #[arg(short = 'i', long = "id", value_name = "ID")]
    pub client_id: Option<String>,
    /// User name.
    #[arg(short = 'u', long = "username", value_name = "USER")]
    pub username: Option<String>,
    /// Password.
    #[arg(short = 'P', long = "pw", visible_alias = "password", value_name = "PASSWORD")]
    pub password: Option<String>,
    /// MQTT version: 5 (mqttv5), 3.1.1 (mqttv311) or 3.1 (mqttv31).
    #[arg(short = 'V', long = "protocol-version", value_name = "VERSION", default_value = "5", value_parser = parse_version)]
    pub version: Protocol,
    /// Keep alive in seconds (0 disables it).
    #[arg(short = 'k', long, value_name = "SECS", default_value_t = 60)]
    pub keepalive: u16,
    /// Start with a clean session (the default).
    #[arg(long, overrides_with = "no_clean")]
    pub clean: bool,
    /// Resume the stored session, and keep this one after disconnecting (needs -i).
    #[arg(long, overrides_with = "clean")]
    pub no_clean: bool,
    /// MQTT 5 session expiry interval in seconds (default with --no-clean: never expires).
    #[arg(short = 'x', long, value_name = "SECS")]
    pub session_expiry: Option<u32>,
    /// Topic of the will message.
    #[arg(long, value_name = "TOPIC")]
    pub will_topic: Option<String>,
    /// Payload of the will message.
    #[arg(long, value_name = "TEXT", requires = "will_topic")]
    pub will_message: Option<String>,
    /// QoS of the will message.
    #[arg(long, value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    pub will_qos: QoS,
    /// Retain the will message.
    #[arg(long, requires = "will_topic")]
    pub will_retain: bool,
    /// Print every packet sent and received to stderr.
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// CA certificates (PEM) to verify the broker with, instead of the system's.
    #[arg(long = "ca-file", visible_alias = "cafile", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for brokers that require one.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Do not verify the broker's certificate (testing only: prints a warning).
    #[arg(long)]
    pub insecure: bool,
    /// Seconds allowed for connecting and for each acknowledgement.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

/// Parses `-V`.
pub fn parse_version(s: &str) -> Result<Protocol, String> {
    match s.to_ascii_lowercase().as_str() {
        "5" | "5.0" | "mqttv5" | "v5" => Ok(Protocol::V5),
        "3.1.1" | "311" | "mqttv311" | "v311" | "4" => Ok(Protocol::V3_1_1),
        "3.1" | "31" | "mqttv31" | "v31" | "3" => Ok(Protocol::V3_1),
        _ => Err(format!("`{s}` is not an MQTT version: use 5, 3.1.1 or 3.1 (or mqttv5, mqttv311, mqttv31)")),
    }
}

/// Parses a QoS level.
pub fn parse_qos(s: &str) -> Result<QoS, String> {
    s.parse::<u8>().ok().and_then(QoS::from_u8).ok_or_else(|| format!("`{s}` is not a QoS: use 0, 1 or 2"))
}

impl ConnectArgs {
    /// Where to connect.
    pub fn target(&self) -> Result<Target, CliError> {
        if let Some(url) = &self.url {
            return Target::parse(url);
        }
        let tls = self.ca_file.is_some() || self.cert.is_some() || self.insecure;
        let scheme = if tls { Scheme::Mqtts } else { Scheme::Mqtt };
        let port = self.port.unwrap_or(if tls { 8883 } else { 1883 });
        let host = self.host.clone().unwrap_or_else(|| "localhost".to_owned());
        Ok(Target { scheme, host, port, path: String::new(), username: None, password: None })
    }

    /// The TLS options.
    pub fn tls(&self) -> TlsOptions {
        TlsOptions {
            ca_file: self.ca_file.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            insecure: self.insecure,
        }
    }

    /// The time allowed for connecting and for each acknowledgement.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    /// The CONNECT packet; `prefix` names the command in generated client ids.
    pub fn connect_packet(&self, target: &Target, prefix: &str) -> Result<Connect, CliError> {
        let v5 = self.version.is_v5();
        let clean = !self.no_clean;
        let client_id = match &self.client_id {
            Some(id) => id.clone(),
            None if !clean => return Err(CliError::Usage("--no-clean needs a client id (-i)".into())),
            None => format!("aviary-{prefix}-{:08x}", fastrand::u32(..)),
        };
        if self.session_expiry.is_some() && !v5 {
            return Err(CliError::Usage("--session-expiry needs MQTT 5 (-V 5)".into()));
        }
        let mut properties = ConnectProperties::default();
        if v5 {
            properties.session_expiry_interval = match (self.session_expiry, clean) {
                (Some(s), _) => Some(s),
                (None, false) => Some(u32::MAX),
                (None, true) => None,
            };
        }
        let will = self.will_topic.as_ref().map(|topic| LastWill {
            topic: topic.as_str().into(),
            payload: Bytes::from(self.will_message.clone().unwrap_or_default()),
            qos: self.will_qos,
            retain: self.will_retain,
            properties: Default::default(),
        });
        let username = self.username.clone().or_else(|| target.username.clone());
        let password = self.password.clone().or_else(|| target.password.clone());
        if password.is_some() && username.is_none() && !v5 {
            return Err(CliError::Usage("a password needs a user name (-u) before MQTT 5".into()));
        }
        Ok(Connect {
            protocol: self.version,
            clean_start: clean,
            keep_alive: self.keepalive,
            client_id: client_id.into(),
            will,
            username: username.map(Into::into),
            password: password.map(Bytes::from),
            properties,
        })
    }
}

/// Runs a command future on a single-threaded runtime and returns the exit code, printing the
/// error (if any) to stderr.
pub fn run(f: impl std::future::Future<Output = Result<(), CliError>>) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aviary: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(f) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("aviary: {e}");
            e.exit_code()
        }
    }
}
