//! What each listener kind does between `accept` and the session: nothing (tcp), a TLS
//! handshake (tls), a WebSocket upgrade (ws) or both (wss). Each connection is handled in a
//! task on the worker arbiter that will run its session, under the connect timeout, so a slow
//! or hostile handshake never holds up the accept loop. The first byte is peeked to name the
//! commonest mistake (TLS to a plain port, plain MQTT to a TLS port, ...) in the log.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::ListenerPolicy;
use crate::config::{ListenerConfig, ListenerKind};
use crate::session::{Session, SessionShared};
use crate::transport::tls::{TlsAcceptor, TlsError};
use crate::transport::ws::{self, WsError};
use crate::transport::PeerInfo;

/// The read half handed to a session.
pub type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
/// The write half handed to a session.
pub type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// First byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;
/// First byte of an MQTT CONNECT.
const MQTT_CONNECT: u8 = 0x10;

/// How a listener turns an accepted socket into a byte stream.
#[derive(Debug, Clone)]
pub enum Upgrade {
    /// Plain MQTT over TCP.
    Tcp,
    /// MQTT over TLS.
    Tls(TlsAcceptor),
    /// MQTT over WebSocket on a path.
    Ws(Arc<str>),
    /// MQTT over WebSocket over TLS on a path.
    Wss(Arc<str>, TlsAcceptor),
}

/// Why a connection never reached its session.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The client speaks something else than this listener.
    #[error("{0}")]
    WrongProtocol(&'static str),
    /// The TLS handshake failed (bad or missing client certificate, no common version, ...).
    #[error("TLS handshake failed: {}", crate::transport::tls::explain(.0))]
    Tls(io::Error),
    /// The WebSocket upgrade was refused or failed.
    #[error(transparent)]
    Ws(#[from] WsError),
    /// The socket failed or closed before the first byte.
    #[error("connection closed before the handshake: {0}")]
    Io(io::Error),
}

/// Everything the accept loop of one listener needs.
#[derive(Debug)]
pub struct ListenerSpec {
    /// Listener name, for logs and [`PeerInfo::listener`].
    pub name: Arc<str>,
    /// What to do after accept.
    pub upgrade: Upgrade,
    /// The listener's packet size override.
    pub max_packet_size_bytes: Option<u32>,
    /// The listener's `use_identity_as_username`.
    pub identity_as_username: bool,
    /// Connection slots (`max_connections`), if limited.
    pub limit: Option<Arc<Semaphore>>,
    /// The listener's position (which picks its plugins) and `[auth]` overrides; the broker
    /// sets it (the default: position 0, no overrides).
    pub policy: Arc<ListenerPolicy>,
}

impl ListenerSpec {
    /// Builds the spec of a configured listener; TLS files are read here.
    pub fn from_config(l: &ListenerConfig) -> Result<ListenerSpec, TlsError> {
        let path: Arc<str> = l.path.as_str().into();
        let upgrade = match l.kind {
            ListenerKind::Tcp => Upgrade::Tcp,
            ListenerKind::Tls => Upgrade::Tls(TlsAcceptor::from_listener(l)?),
            ListenerKind::Ws => Upgrade::Ws(path),
            ListenerKind::Wss => Upgrade::Wss(path, TlsAcceptor::from_listener(l)?),
        };
        Ok(ListenerSpec {
            name: l.name.as_str().into(),
            upgrade,
            max_packet_size_bytes: l.max_packet_size_bytes,
            identity_as_username: l.use_identity_as_username,
            limit: (l.max_connections > 0).then(|| Arc::new(Semaphore::new(l.max_connections))),
            policy: Arc::default(),
        })
    }

    /// The TLS acceptor of a tls or wss listener.
    pub fn tls(&self) -> Option<&TlsAcceptor> {
        match &self.upgrade {
            Upgrade::Tls(t) | Upgrade::Wss(_, t) => Some(t),
            Upgrade::Tcp | Upgrade::Ws(_) => None,
        }
    }

    /// What the listener speaks, for the startup log line.
    pub fn describe(&self) -> String {
        match &self.upgrade {
            Upgrade::Tcp => "mqtt over tcp".into(),
            Upgrade::Tls(_) => "mqtt over tls".into(),
            Upgrade::Ws(p) => format!("mqtt over websocket, path {p}"),
            Upgrade::Wss(p, _) => format!("mqtt over websocket over tls, path {p}"),
        }
    }
}

/// Runs the listener's handshake for one accepted connection on the current (worker) arbiter,
/// then starts its session there. Failures are logged with the listener and the peer.
pub async fn serve(
    spec: Arc<ListenerSpec>,
    shared: Arc<SessionShared>,
    stream: std::net::TcpStream,
    mut info: PeerInfo,
    permit: Option<OwnedSemaphorePermit>,
) {
    // Registered with this (the worker's) reactor, so its readiness wakes this thread only.
    let stream = match TcpStream::from_std(stream) {
        Ok(s) => s,
        Err(e) => {
            return tracing::warn!(listener = %spec.name, peer = %info.addr, error = %e, "cannot register the connection")
        }
    };
    let max_packet = info.max_packet_size(&shared.config.mqtt);
    let timeout = Duration::from_secs(u64::from(shared.config.mqtt.connect_timeout_secs).max(1));
    let result = tokio::time::timeout(timeout, upgrade(&spec.upgrade, stream, &mut info, max_packet)).await;
    match result {
        Ok(Ok((reader, writer))) => {
            Session::start_on(&actix_rt::Arbiter::current(), shared, reader, writer, info, permit);
        }
        Ok(Err(UpgradeError::Io(e))) => {
            tracing::debug!(listener = %spec.name, peer = %info.addr, error = %e, "connection closed before the handshake");
        }
        Ok(Err(e)) => {
            tracing::warn!(listener = %spec.name, peer = %info.addr, "connection refused: {e}");
        }
        Err(_) => {
            tracing::warn!(listener = %spec.name, peer = %info.addr, "connection refused: handshake not done within {}s", timeout.as_secs());
        }
    }
}

async fn upgrade(
    how: &Upgrade,
    stream: TcpStream,
    info: &mut PeerInfo,
    max_packet: u32,
) -> Result<(BoxRead, BoxWrite), UpgradeError> {
    let first = first_byte(&stream).await?;
    if let Some(mistake) = mistake(how, first) {
        return Err(UpgradeError::WrongProtocol(mistake));
    }
    Ok(match how {
        Upgrade::Tcp => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
        Upgrade::Tls(tls) => {
            let (tls, subject) = tls.accept(stream).await.map_err(UpgradeError::Tls)?;
            info.tls_subject = subject;
            let (r, w) = tokio::io::split(tls);
            (Box::new(r), Box::new(w))
        }
        Upgrade::Ws(path) => {
            let ws = ws::accept(stream, path, max_packet).await?;
            let (r, w) = tokio::io::split(ws);
            (Box::new(r), Box::new(w))
        }
        Upgrade::Wss(path, tls) => {
            let (tls, subject) = tls.accept(stream).await.map_err(UpgradeError::Tls)?;
            info.tls_subject = subject;
            let ws = ws::accept(tls, path, max_packet).await?;
            let (r, w) = tokio::io::split(ws);
            (Box::new(r), Box::new(w))
        }
    })
}

async fn first_byte(stream: &TcpStream) -> Result<u8, UpgradeError> {
    let mut b = [0u8; 1];
    match stream.peek(&mut b).await {
        Ok(0) => Err(UpgradeError::Io(io::ErrorKind::UnexpectedEof.into())),
        Ok(_) => Ok(b[0]),
        Err(e) => Err(UpgradeError::Io(e)),
    }
}

/// Names a client that speaks another protocol than the listener, from its first byte.
fn mistake(how: &Upgrade, first: u8) -> Option<&'static str> {
    let http = first.is_ascii_uppercase();
    match how {
        Upgrade::Tcp if first == TLS_HANDSHAKE => {
            Some("TLS handshake received on a plain MQTT listener (the client uses mqtts:// or TLS; give it the tls listener's port)")
        }
        Upgrade::Tcp if http => Some("HTTP request received on a plain MQTT listener (WebSocket clients need a ws listener)"),
        Upgrade::Tls(_) | Upgrade::Wss(..) if first == MQTT_CONNECT => {
            Some("plain MQTT received on a TLS listener (the client must use TLS: mqtts:// or wss://)")
        }
        Upgrade::Tls(_) | Upgrade::Wss(..) if http => {
            Some("plain HTTP received on a TLS listener (the client must use TLS: wss://)")
        }
        Upgrade::Tls(_) | Upgrade::Wss(..) if first != TLS_HANDSHAKE => {
            Some("data that is not a TLS handshake received on a TLS listener")
        }
        Upgrade::Ws(_) if first == TLS_HANDSHAKE => {
            Some("TLS handshake received on a plain WebSocket listener (the client uses wss://; give it the wss listener)")
        }
        Upgrade::Ws(_) if first == MQTT_CONNECT => {
            Some("plain MQTT received on a WebSocket listener (the client must use ws://host:port/path)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_are_named_from_the_first_byte() {
        assert!(mistake(&Upgrade::Tcp, TLS_HANDSHAKE).is_some_and(|m| m.contains("TLS handshake")));
        assert!(mistake(&Upgrade::Tcp, b'G').is_some_and(|m| m.contains("HTTP")));
        assert_eq!(mistake(&Upgrade::Tcp, MQTT_CONNECT), None);
        assert!(mistake(&Upgrade::Ws("/mqtt".into()), MQTT_CONNECT).is_some());
        assert_eq!(mistake(&Upgrade::Ws("/mqtt".into()), b'G'), None);
    }
}
