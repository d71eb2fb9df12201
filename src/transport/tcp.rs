//! Plain TCP listeners.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::session::{Session, SessionShared};
use crate::transport::PeerInfo;

/// Accepts connections forever, spreading sessions over the worker arbiters round-robin.
/// `limit` caps concurrent connections (`None`: unlimited); beyond it new connections are
/// closed at once.
pub async fn accept_loop(
    listener: TcpListener,
    name: Arc<str>,
    workers: Arc<[actix_rt::ArbiterHandle]>,
    shared: Arc<SessionShared>,
    limit: Option<Arc<Semaphore>>,
) {
    let mut next = 0usize;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match &limit {
            Some(sem) => match sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    shared.ops.metrics.limit_hit(crate::metrics::Limit::ListenerConnections);
                    tracing::warn!(listener = %name, %peer, "connection refused: listener is at max_connections");
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let worker = &workers[next % workers.len()];
        next = next.wrapping_add(1);
        let info = PeerInfo { addr: peer, listener: name.clone(), tls_subject: None };
        Session::start_on(worker, shared.clone(), reader, writer, info, permit);
    }
}

/// Binds a listener on the calling thread, so errors and the bound port are known at once.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
