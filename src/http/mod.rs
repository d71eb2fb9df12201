//! The HTTP listener (actix-web): `/metrics` in the Prometheus text format, `/health`
//! (liveness), `/ready` (readiness) and the admin API under `/api/v1` ([`admin`]).
//!
//! Handlers are thin: they ask the router (an [`AdminRequest`] or `GetStats`) and render the
//! answer. The listener is bound by [`crate::broker::Broker::start`] on the caller's thread, so
//! a bad address fails at once and port 0 resolves to a real port.

pub mod admin;

use std::sync::Arc;

use actix::Addr;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::metrics::{render, Metrics};
use crate::persistence::StoreHandle;
use crate::reload::LivePlugins;
use crate::router::messages::{AdminRequest, GetStats};
use crate::router::Router;

/// What every handler can reach.
#[derive(Clone)]
pub struct HttpState {
    /// The router.
    pub router: Addr<Router>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The store, when persistence is on.
    pub store: Option<StoreHandle>,
    /// Admin bearer token; empty disables the admin API.
    pub token: Arc<str>,
    /// The plugins in force (their counters and metrics go into `/metrics`).
    pub plugins: Arc<LivePlugins>,
}

impl HttpState {
    /// Asks the router; `None` when it is gone (shutting down).
    pub async fn ask(&self, req: AdminRequest) -> Option<crate::router::messages::AdminReply> {
        self.router.send(req).await.ok()
    }
}

async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    match state.router.send(GetStats).await {
        Ok(stats) => {
            let mut body = render::render(&state.metrics, &stats);
            if let Some(host) = state.plugins.host() {
                body.push_str(&render::render_plugins(&host));
            }
            HttpResponse::Ok().content_type(render::CONTENT_TYPE).body(body)
        }
        Err(_) => HttpResponse::ServiceUnavailable().body("router unavailable\n"),
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok\n")
}

async fn ready(state: web::Data<HttpState>) -> HttpResponse {
    let router_ok = state.router.send(GetStats).await.is_ok();
    let store_ok = state.store.as_ref().is_none_or(StoreHandle::healthy);
    match (router_ok, store_ok) {
        (true, true) => HttpResponse::Ok().body("ready\n"),
        (false, _) => HttpResponse::ServiceUnavailable().body("router unavailable\n"),
        (true, false) => HttpResponse::ServiceUnavailable().body("store not writable\n"),
    }
}

/// Starts serving on `listener` (logging the outcome); `None` if it could not start.
pub fn start(listener: std::net::TcpListener, state: HttpState) -> Option<actix_web::dev::ServerHandle> {
    let addr = listener.local_addr().ok();
    match serve(listener, state) {
        Ok(h) => {
            tracing::info!(addr = ?addr, "listening (http: /metrics, /health, /ready, /api/v1)");
            Some(h)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the http listener");
            None
        }
    }
}

/// Starts serving on `listener` inside the current actix system; returns the handle that
/// stops it.
pub fn serve(
    listener: std::net::TcpListener,
    state: HttpState,
) -> std::io::Result<actix_web::dev::ServerHandle> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .service(admin::scope())
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
}
