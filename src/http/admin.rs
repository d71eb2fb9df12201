//! The admin API: every route needs `Authorization: Bearer <http.token>` (401 without it or
//! with a wrong one; 403 when no token is configured). JSON in, JSON out; no payloads.
//!
//! | method and path                      | what                                        |
//! |--------------------------------------|---------------------------------------------|
//! | `GET /api/v1/clients`                | connected clients                           |
//! | `GET /api/v1/sessions`               | every session, connected or not             |
//! | `GET /api/v1/clients/{id}`           | one session in detail (404 if unknown), with |
//! |                                      | a connected session's in-flight/queued counts |
//! | `DELETE /api/v1/clients/{id}`        | disconnect it (MQTT 5: 0x98)                |
//! | `GET /api/v1/subscriptions`          | every subscription                          |
//! | `GET /api/v1/retained`               | every retained message (topic, QoS, size)   |
//! | `DELETE /api/v1/retained/{topic...}` | delete a retained message                   |

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde::Serialize;

use super::HttpState;
use crate::router::admin::CountsSource;
use crate::router::messages::{AdminReply, AdminRequest, ToSession};

/// How long `GET /api/v1/clients/{id}` waits for a connected session's counts.
const INSPECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The `/api/v1` routes.
pub fn scope() -> Scope {
    web::scope("/api/v1")
        .route("/clients", web::get().to(clients))
        .route("/sessions", web::get().to(sessions))
        .route("/clients/{id}", web::get().to(client))
        .route("/clients/{id}", web::delete().to(kick))
        .route("/subscriptions", web::get().to(subscriptions))
        .route("/retained", web::get().to(retained))
        .route("/retained/{topic:.*}", web::delete().to(delete_retained))
}

/// Compares without leaking the position of the first difference through timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The refusal, unless the request carries the right bearer token.
fn refusal(req: &HttpRequest, state: &HttpState) -> Option<HttpResponse> {
    if state.token.is_empty() {
        return Some(HttpResponse::Forbidden().json(error("the admin API is disabled: set http.token")));
    }
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), state.token.as_bytes()) {
        None
    } else {
        Some(
            HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer"))
                .json(error("missing or wrong bearer token")),
        )
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

fn error(msg: &str) -> ErrorBody {
    ErrorBody { error: msg.to_owned() }
}

async fn answer(req: HttpRequest, state: web::Data<HttpState>, ask: AdminRequest) -> HttpResponse {
    if let Some(denied) = refusal(&req, &state) {
        return denied;
    }
    match state.ask(ask).await {
        None => HttpResponse::ServiceUnavailable().json(error("the broker is shutting down")),
        Some(AdminReply::Client(None)) | Some(AdminReply::Done(false)) => {
            HttpResponse::NotFound().json(error("not found"))
        }
        Some(AdminReply::Done(true)) => HttpResponse::NoContent().finish(),
        Some(reply) => HttpResponse::Ok().json(reply),
    }
}

async fn clients(req: HttpRequest, state: web::Data<HttpState>) -> HttpResponse {
    answer(req, state, AdminRequest::ListClients { connected_only: true }).await
}

async fn sessions(req: HttpRequest, state: web::Data<HttpState>) -> HttpResponse {
    answer(req, state, AdminRequest::ListClients { connected_only: false }).await
}

/// One session: the router's view, plus the connected session's own counts (asked at most
/// [`INSPECT_TIMEOUT`]; the router never waits for a session, this handler does).
async fn client(req: HttpRequest, state: web::Data<HttpState>, id: web::Path<String>) -> HttpResponse {
    if let Some(denied) = refusal(&req, &state) {
        return denied;
    }
    match state.ask(AdminRequest::Client(id.into_inner().into())).await {
        None => HttpResponse::ServiceUnavailable().json(error("the broker is shutting down")),
        Some(AdminReply::Client(Some(mut detail))) => {
            if let Some(session) = detail.inspect.take() {
                let (tx, rx) = tokio::sync::oneshot::channel();
                session.do_send(ToSession::Inspect(tx));
                match tokio::time::timeout(INSPECT_TIMEOUT, rx).await {
                    Ok(Ok(counts)) => {
                        detail.counts_from = CountsSource::Session;
                        detail.inflight_messages = counts.inflight_messages;
                        detail.summary.queued_messages = counts.queued_messages;
                        detail.session = Some(counts);
                    }
                    Ok(Err(_)) | Err(_) => detail.counts_from = CountsSource::Unavailable,
                }
            }
            HttpResponse::Ok().json(detail)
        }
        Some(_) => HttpResponse::NotFound().json(error("not found")),
    }
}

async fn kick(req: HttpRequest, state: web::Data<HttpState>, id: web::Path<String>) -> HttpResponse {
    answer(req, state, AdminRequest::Kick(id.into_inner().into())).await
}

async fn subscriptions(req: HttpRequest, state: web::Data<HttpState>) -> HttpResponse {
    answer(req, state, AdminRequest::Subscriptions).await
}

async fn retained(req: HttpRequest, state: web::Data<HttpState>) -> HttpResponse {
    answer(req, state, AdminRequest::Retained).await
}

async fn delete_retained(
    req: HttpRequest,
    state: web::Data<HttpState>,
    topic: web::Path<String>,
) -> HttpResponse {
    answer(req, state, AdminRequest::DeleteRetained(topic.into_inner().into())).await
}
