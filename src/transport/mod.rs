//! Transports: accept connections and hand byte streams plus peer information to sessions.
//! Nothing here knows MQTT.
//!
//! - [`tcp`]: binding, and the accept loop every listener kind shares (connection limit,
//!   spreading over the worker arbiters).
//! - [`tls`]: the rustls acceptor of a `tls`/`wss` listener, reloadable at run time.
//! - [`ws`]: the WebSocket upgrade (path, subprotocol `mqtt`) and [`ws::WsByteStream`], which
//!   turns binary frames into a byte stream.
//! - [`listener`]: what each kind does between accept and session, with a handshake timeout.

pub mod listener;
pub mod tcp;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::ListenerPolicy;
use crate::config::MqttConfig;

/// What a transport knows about the client at the other end of a connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote address.
    pub addr: SocketAddr,
    /// Name of the listener that accepted the connection.
    pub listener: Arc<str>,
    /// Subject common name (CN) of the verified TLS client certificate, when there is one.
    pub tls_subject: Option<String>,
    /// The listener's own `max_packet_size_bytes`, overriding `mqtt.max_packet_size_bytes`.
    pub max_packet_size_bytes: Option<u32>,
    /// The listener's `use_identity_as_username`: [`PeerInfo::tls_subject`] replaces the
    /// user name of CONNECT (and its password is dropped).
    pub identity_as_username: bool,
    /// The listener's plugins and `[auth]` overrides.
    pub policy: Arc<ListenerPolicy>,
}

impl PeerInfo {
    /// Plain information for a connection accepted on `listener`.
    pub fn new(addr: SocketAddr, listener: Arc<str>) -> PeerInfo {
        PeerInfo {
            addr,
            listener,
            tls_subject: None,
            max_packet_size_bytes: None,
            identity_as_username: false,
            policy: Arc::default(),
        }
    }

    /// The largest packet accepted from this client, fixed header included.
    pub fn max_packet_size(&self, mqtt: &MqttConfig) -> u32 {
        self.max_packet_size_bytes.unwrap_or(mqtt.max_packet_size_bytes)
    }
}
