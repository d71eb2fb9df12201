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
use tokio::sync::oneshot;

use crate::auth::ListenerPolicy;
use crate::config::{Config, RouterThread};
use crate::metrics::Metrics;
use crate::persistence::{self, StoreError, StoreHandle};
use crate::plugins::PluginHost;
use crate::protocol::ReasonCode;
use crate::reload::{plugins_for, LivePlugins, LivePolicy};
use crate::router::messages::{GetStats, RouterStats};
use crate::router::state::RouterOps;
use crate::router::{KickAll, Router};
use crate::session::SessionShared;
use crate::transport::listener::ListenerSpec;
use crate::transport::tcp;
use crate::transport::tls::{TlsAcceptor, TlsError};

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
    /// A TLS listener's certificate, key or CA file is missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store cannot be opened or read.
    #[error("cannot use the persistence store {path}")]
    Store {
        /// The store file.
        path: std::path::PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The HTTP listener could not bind.
    #[error("http listener cannot bind {addr}: {source}")]
    HttpBind {
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
    /// A listener selects a plugin that is not configured.
    #[error(transparent)]
    ListenerPlugin(#[from] crate::plugins::UnknownPlugin),
}

/// Entry point.
pub struct Broker;

/// A running broker.
pub struct BrokerHandle {
    addrs: Vec<(String, SocketAddr)>,
    http_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    /// What a reload swaps (see [`crate::reload`]), shared with the sessions and the HTTP
    /// listener; and the configuration in force.
    pub(crate) plugins: Arc<LivePlugins>,
    pub(crate) policy: Arc<LivePolicy>,
    pub(crate) running: std::sync::Mutex<Config>,
    router: Addr<Router>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    pub(crate) tls: Vec<TlsAcceptor>,
}

impl Broker {
    /// Binds every listener and starts the broker on a thread of its own.
    pub fn start(config: Config) -> Result<BrokerHandle, BrokerError> {
        let config = Arc::new(config);
        let masks = crate::plugins::listener_masks(&config.listeners, &config.plugins)?;
        let plugins = match config.plugins.is_empty() {
            true => None,
            false => Some(PluginHost::load(&config.plugins, &config.plugin_runtime, &config.base_dir)?),
        };
        let plugins = plugins.map(|h| plugins_for(h, masks)).transpose().map_err(BrokerError::Thread)?;
        let plugins = Arc::new(LivePlugins::new(plugins));
        let policy = Arc::new(LivePolicy::new(crate::auth::Policy::new(&config.auth)));
        let mut bound = Vec::new();
        for (i, l) in config.listeners.iter().enumerate() {
            let mut spec = ListenerSpec::from_config(l)?;
            spec.policy = Arc::new(ListenerPolicy::from_config(i, l));
            let listener = tcp::bind(l.bind).map_err(|source| BrokerError::Bind {
                name: l.name.clone(),
                addr: l.bind,
                source,
            })?;
            let addr = listener.local_addr().map_err(BrokerError::Thread)?;
            bound.push((Arc::new(spec), listener, addr));
        }
        let addrs = bound.iter().map(|(l, _, a)| (l.name.to_string(), *a)).collect();
        let tls = bound.iter().filter_map(|(l, _, _)| l.tls().cloned()).collect();
        let http = match config.http.enabled {
            false => None,
            true => {
                let addr = config.http.bind;
                let l = std::net::TcpListener::bind(addr)
                    .map_err(|source| BrokerError::HttpBind { addr, source })?;
                Some(l)
            }
        };
        let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
        let metrics = Arc::new(Metrics::default());
        let store = persistence::open(&config.persistence, metrics.clone())
            .map_err(|source| BrokerError::Store { path: config.persistence.path.clone(), source })?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let start = Startup {
            config: config.clone(),
            bound,
            http,
            metrics: metrics.clone(),
            store,
            plugins: plugins.clone(),
            policy: policy.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("aviary-broker".into())
            .spawn(move || run_system(start, ready_tx, stop_rx))
            .map_err(BrokerError::Thread)?;
        let router = ready_rx.recv().map_err(|_| BrokerError::Startup)?;
        Ok(BrokerHandle {
            addrs,
            http_addr,
            metrics,
            router,
            stop: Some(stop_tx),
            thread: Some(thread),
            tls,
            plugins,
            policy,
            running: std::sync::Mutex::new(Config::clone(&config)),
        })
    }
}

type Bound = Vec<(Arc<ListenerSpec>, std::net::TcpListener, SocketAddr)>;

/// Everything the broker thread starts from.
struct Startup {
    config: Arc<Config>,
    plugins: Arc<LivePlugins>,
    policy: Arc<LivePolicy>,
    bound: Bound,
    http: Option<std::net::TcpListener>,
    metrics: Arc<Metrics>,
    store: Option<persistence::OpenStore>,
}

fn run_system(start: Startup, ready: std::sync::mpsc::Sender<Addr<Router>>, stop: oneshot::Receiver<()>) {
    let Startup { config, bound, http, metrics, store, plugins, policy } = start;
    let (store, recovered, store_thread) = match store {
        Some(s) => (Some(s.handle), Some(s.recovered), Some(s.thread)),
        None => (None, None, None),
    };
    let system = actix_rt::System::new();
    system.block_on(async move {
        let router_arbiter =
            (config.workers.router_thread == RouterThread::Dedicated).then(actix_rt::Arbiter::new);
        let mqtt = Arc::new(config.mqtt.clone());
        let backpressure = Arc::new(crate::flow::Backpressure::with_metrics(metrics.clone()));
        let ops = RouterOps {
            backpressure: backpressure.clone(),
            metrics: metrics.clone(),
            sys_interval: Duration::from_secs(config.mqtt.sys_interval_secs),
            max_retained: config.limits.max_retained_messages,
            store: store.clone(),
            recovered,
        };
        let workers: Vec<actix_rt::Arbiter> =
            (0..config.worker_threads()).map(|_| actix_rt::Arbiter::new()).collect();
        let home = router_arbiter.as_ref().map_or_else(|| workers[0].handle(), |a| a.handle());
        let router = Router::start_in_arbiter(&home, move |_| Router::with_ops(mqtt, ops));
        let handles: Arc<[actix_rt::ArbiterHandle]> = workers.iter().map(|a| a.handle()).collect();
        let shared = Arc::new(SessionShared {
            config: config.clone(),
            router: router.clone(),
            next_connection_id: AtomicU64::new(1),
            ops: crate::session::ops::SharedOps {
                metrics: metrics.clone(),
                store: store.clone(),
                open_connections: Default::default(),
                backpressure,
            },
            plugins: plugins.clone(),
            policy,
        });
        let http = http.and_then(|l| {
            let state = crate::http::HttpState {
                router: router.clone(),
                metrics: metrics.clone(),
                store: store.clone(),
                token: config.http.token.as_str().into(),
                plugins,
            };
            crate::http::start(l, state)
        });
        let mut accept_loops = Vec::new();
        for (l, std_listener, addr) in bound {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(listener = %l.name, error = %e, "cannot register listener");
                    continue;
                }
            };
            tracing::info!(listener = %l.name, %addr, "listening ({})", l.describe());
            accept_loops.push(actix_rt::spawn(tcp::accept_loop(
                listener,
                l,
                handles.clone(),
                shared.clone(),
            )));
        }
        let _ = ready.send(router.clone());
        let _ = stop.await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(config.limits.shutdown_timeout_secs);
        tracing::info!("shutting down: no new connections; disconnecting clients");
        for a in accept_loops {
            a.abort();
        }
        if let Some(h) = http {
            h.stop(true).await;
        }
        drop(shared);
        shutdown(&router, store, deadline).await;
        for w in workers {
            w.stop();
        }
        if let Some(a) = router_arbiter {
            a.stop();
        }
    });
    if let Some(t) = store_thread {
        let _ = t.join();
    }
}

/// Kicks every client (MQTT 5: DISCONNECT 0x8B), waits until their sessions are handed over
/// to the router, then writes the store, all before `deadline`.
async fn shutdown(router: &Addr<Router>, store: Option<StoreHandle>, deadline: tokio::time::Instant) {
    router.do_send(KickAll(ReasonCode::ServerShuttingDown));
    while tokio::time::Instant::now() < deadline {
        match router.send(GetStats).await {
            Ok(s) if s.clients_connected > 0 => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => break,
        }
    }
    // Let the DISCONNECT packets reach the sockets before the threads stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Some(store) = store {
        let (tx, rx) = oneshot::channel();
        store.shutdown(Box::new(move |ok| {
            let _ = tx.send(ok);
        }));
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(true)) => tracing::info!("store written"),
            _ => tracing::error!("the store could not be written before the shutdown deadline"),
        }
    }
}

impl BrokerHandle {
    /// The plugins in force (counters, metrics), if any; a reload may replace them.
    pub fn plugins(&self) -> Option<Arc<PluginHost>> {
        self.plugins.host()
    }

    /// The address the first listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0].1
    }

    /// Every listener's name and bound address.
    pub fn addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    /// Reloads the certificates of every TLS listener from their files ([`Self::reload`]
    /// does, and the binary on SIGHUP when the configuration cannot be read). Connected
    /// clients stay connected; new handshakes use the new files. A listener whose files fail
    /// to load keeps its previous certificates; its error is returned.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let mut first_error = None;
        for t in &self.tls {
            if let Err(e) = t.reload() {
                tracing::error!(error = %e, "TLS reload failed; the previous certificates stay in use");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The HTTP listener's address, when enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The broker's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
