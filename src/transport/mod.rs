//! Transports: accept connections and hand byte streams plus peer information to sessions.
//! Nothing here knows MQTT.

pub mod tcp;

use std::net::SocketAddr;
use std::sync::Arc;

/// What a transport knows about the client at the other end of a connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote address.
    pub addr: SocketAddr,
    /// Name of the listener that accepted the connection.
    pub listener: Arc<str>,
    /// Subject of the verified TLS client certificate, when there is one.
    pub tls_subject: Option<String>,
}
