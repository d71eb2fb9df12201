//! Binding, and the accept loop every listener kind shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::session::SessionShared;
use crate::transport::listener::{self, ListenerSpec};
use crate::transport::PeerInfo;

/// Accepts connections forever, spreading them over the worker arbiters round-robin; each
/// connection's handshake ([`listener::serve`]) and session run on its worker. The listener's
/// `max_connections` caps concurrent connections; beyond it new connections are closed at once.
pub async fn accept_loop(
    listener: TcpListener,
    spec: Arc<ListenerSpec>,
    workers: Arc<[actix_rt::ArbiterHandle]>,
    shared: Arc<SessionShared>,
) {
    let mut next = 0usize;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(listener = %spec.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match &spec.limit {
            Some(sem) => match sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    shared.ops.metrics.limit_hit(crate::metrics::Limit::ListenerConnections);
                    tracing::warn!(listener = %spec.name, %peer, "connection refused: listener is at max_connections");
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        // Hand the worker a plain socket: it registers it with its own reactor, so readiness
        // events wake the session's thread directly. (A tokio stream stays registered with the
        // accepting thread's reactor: every read would then cost a wake-up of this thread and a
        // cross-thread hand-off to the worker.)
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(listener = %spec.name, %peer, error = %e, "cannot hand the connection to a worker");
                continue;
            }
        };
        let worker = &workers[next % workers.len()];
        next = next.wrapping_add(1);
        let mut info = PeerInfo::new(peer, spec.name.clone());
        info.max_packet_size_bytes = spec.max_packet_size_bytes;
        info.identity_as_username = spec.identity_as_username;
        info.policy = spec.policy.clone();
        worker.spawn(listener::serve(spec.clone(), shared.clone(), stream, info, permit));
    }
}

/// Binds a listener on the calling thread, so errors and the bound port are known at once.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
