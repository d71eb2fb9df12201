//! Starting and stopping a broker: used by `main` and by every integration test.
//!
//! [`Broker::start`] binds the listeners on the calling thread (so a bad address fails at
//! once and port 0 resolves to a real port), then runs an actix system on a thread of its own:
//! the router on its own arbiter, sessions spread over one worker arbiter per core.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{oneshot, Semaphore};

use crate::config::{Config, ListenerKind};
use crate::plugins::{AuthPool, Hook, PluginHost};
use crate::protocol::ReasonCode;
use crate::router::messages::{GetStats, RouterStats};
use crate::router::{KickAll, Router};
use crate::session::{Plugins, SessionShared};
use crate::transport::tcp;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A listener could not bind.
    #[error("listener `{name}` cannot bind {addr}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The broker thread could not start.
    #[error("cannot start the broker thread: {0}")]
    Thread(std::io::Error),
    /// The broker thread failed while starting.
    #[error("broker failed to start")]
    Startup,
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
}

/// Entry point.
pub struct Broker;

/// A running broker.
pub struct BrokerHandle {
    addrs: Vec<(String, SocketAddr)>,
    plugins: Option<Arc<PluginHost>>,
    router: Addr<Router>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Broker {
    /// Binds every listener and starts the broker on a thread of its own.
    pub fn start(config: Config) -> Result<BrokerHandle, BrokerError> {
        let config = Arc::new(config);
        let plugins = match config.plugins.is_empty() {
            true => None,
            false => Some(PluginHost::load(&config.plugins, &config.plugin_runtime, &config.base_dir)?),
        };
        let host = plugins.clone();
        let plugins = plugins.map(session_plugins).transpose().map_err(BrokerError::Thread)?;
        let mut bound = Vec::new();
        for l in &config.listeners {
            let listener = tcp::bind(l.bind).map_err(|source| BrokerError::Bind {
                name: l.name.clone(),
                addr: l.bind,
                source,
            })?;
            let addr = listener.local_addr().map_err(BrokerError::Thread)?;
            bound.push((l.clone(), listener, addr));
        }
        let addrs = bound.iter().map(|(l, _, a)| (l.name.clone(), *a)).collect();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("aviary-broker".into())
            .spawn(move || run_system(config, plugins, bound, ready_tx, stop_rx))
            .map_err(BrokerError::Thread)?;
        let router = ready_rx.recv().map_err(|_| BrokerError::Startup)?;
        Ok(BrokerHandle { addrs, plugins: host, router, stop: Some(stop_tx), thread: Some(thread) })
    }
}

type Bound = Vec<(crate::config::ListenerConfig, std::net::TcpListener, SocketAddr)>;

fn run_system(
    config: Arc<Config>,
    plugins: Option<Plugins>,
    bound: Bound,
    ready: std::sync::mpsc::Sender<Addr<Router>>,
    stop: oneshot::Receiver<()>,
) {
    let system = actix_rt::System::new();
    system.block_on(async move {
        let router_arbiter = actix_rt::Arbiter::new();
        let mqtt = Arc::new(config.mqtt.clone());
        let router = Router::start_in_arbiter(&router_arbiter.handle(), move |_| Router::new(mqtt));
        let workers: Vec<actix_rt::Arbiter> =
            (0..config.worker_threads()).map(|_| actix_rt::Arbiter::new()).collect();
        let handles: Arc<[actix_rt::ArbiterHandle]> = workers.iter().map(|a| a.handle()).collect();
        let shared = Arc::new(SessionShared {
            config: config.clone(),
            router: router.clone(),
            next_connection_id: AtomicU64::new(1),
            plugins,
            policy: crate::auth::Policy::new(&config.auth),
        });
        for (l, std_listener, addr) in bound {
            let ListenerKind::Tcp = l.kind;
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(listener = %l.name, error = %e, "cannot register listener");
                    continue;
                }
            };
            let limit = (l.max_connections > 0).then(|| Arc::new(Semaphore::new(l.max_connections)));
            tracing::info!(listener = %l.name, %addr, "listening (mqtt over tcp)");
            let name: Arc<str> = l.name.into();
            actix_rt::spawn(tcp::accept_loop(listener, name, handles.clone(), shared.clone(), limit));
        }
        let _ = ready.send(router.clone());
        let _ = stop.await;
        tracing::info!("shutting down: disconnecting clients");
        router.do_send(KickAll(ReasonCode::ServerShuttingDown));
        // Let the DISCONNECT packets reach the sockets before the threads stop.
        let _ = router.send(GetStats).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for w in workers {
            w.stop();
        }
        router_arbiter.stop();
    });
}

/// The session's view of the plugins: the host, plus authentication threads when a plugin
/// authenticates.
fn session_plugins(host: Arc<PluginHost>) -> std::io::Result<Plugins> {
    let auth = match host.has(Hook::Authenticate) {
        true => Some(AuthPool::start(host.clone())?),
        false => None,
    };
    Ok(Plugins { host, auth })
}

impl BrokerHandle {
    /// The loaded plugins (counters, metrics), if any.
    pub fn plugins(&self) -> Option<&Arc<PluginHost>> {
        self.plugins.as_ref()
    }

    /// The address the first listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0].1
    }

    /// Every listener's name and bound address.
    pub fn addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    /// The router's counters.
    pub async fn stats(&self) -> Option<RouterStats> {
        self.router.send(GetStats).await.ok()
    }

    /// Stops the broker: MQTT 5 clients get DISCONNECT 0x8B, then the threads end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
