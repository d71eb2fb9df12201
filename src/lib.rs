//! Aviary: an MQTT 3.1 / 3.1.1 / 5.0 broker on actix actors.
//!
//! # Module map
//!
//! - [`protocol`]: the sans-IO codec. Bytes in, [`protocol::Packet`]s out and back, for every
//!   protocol version; strict validation whose errors name the specification statement and the
//!   reason code. Imports nothing else of the crate.
//! - [`config`]: the TOML configuration (serde), validated, with errors that name the file,
//!   key and line; `config/aviary.toml` is the commented reference.
//! - [`message`]: the version-neutral application message sessions hand to the router.
//! - [`session`]: one actor per connection. Decodes packets, runs the handshake, applies
//!   policy (validation, limits, authentication) and keeps the QoS state machines; writes are
//!   batched through an outbox.
//! - [`auth`]: the decision chain for CONNECT, PUBLISH and SUBSCRIBE: plugin answers, the
//!   grants they return (ACL rules evaluated natively), then the built-in policy.
//! - [`plugins`]: the sandboxed WebAssembly plugin host (wasmtime): loading, limits, host
//!   functions, per-thread instances and the authentication threads.
//! - [`router`]: the topic-router actor, one per broker (on the first worker thread, or on a
//!   thread of its own with `workers.router_thread = "dedicated"`): registry of
//!   sessions, topic tree with shared groups, retained messages, wills and session expiry.
//! - [`transport`]: listeners that turn accepted sockets into byte streams for sessions:
//!   plain TCP, TLS (rustls, reloadable), WebSocket and WebSocket over TLS. The TLS or
//!   WebSocket handshake runs on the worker that will host the session, under a timeout.
//! - [`bench`]: `aviary bench`, a load generator for any MQTT broker (throughput, latency,
//!   loss, memory per connection).
//! - [`metrics`]: the broker-wide counters and gauges (atomics behind an `Arc`), rendered in
//!   the Prometheus text format; the router publishes them as `$SYS/broker/...` too.
//! - [`persistence`]: sessions, queued and retained messages and wills in a redb file,
//!   written by a thread of its own (periodic, or durable: group commit to a write-ahead log,
//!   checkpointed into the store every second).
//! - [`http`]: the actix-web listener for `/metrics`, `/health`, `/ready` and the admin API.
//! - [`passwd`]: password files of argon2 PHC hashes (`aviary passwd`, the auth-password plugin).
//! - [`reload`]: what a reload (SIGHUP) swaps in a running broker: the `[auth]` policy and the
//!   plugin host, each behind an `ArcSwap`; the TLS certificates; and what needs a restart.
//! - [`broker`]: starts it all ([`broker::Broker::start`]) and stops it; used by the binary
//!   and by the integration tests.
//!
//! # The flow of one message
//!
//! ```text
//! socket -> transport -> Session (decode, validate, authorize) -> Router (match, retain)
//!        -> Session of each subscriber (QoS window, aliases, expiry, encode) -> socket
//! ```
//!
//! Sessions talk to the router with `do_send` over its ordered mailbox; the router delivers
//! with `do_send` under a per-session budget, so a slow subscriber never slows anyone else.

pub mod auth;
pub mod bench;
pub mod broker;
pub mod config;
pub mod flow;
pub mod http;
pub mod message;
pub mod metrics;
pub mod passwd;
pub mod persistence;
pub mod plugins;
pub mod protocol;
pub mod reload;
pub mod router;
pub mod session;
pub mod transport;

pub use broker::{Broker, BrokerHandle};
pub use config::Config;
