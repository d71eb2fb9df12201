//! Integration tests: the real broker on an ephemeral port, real clients on real sockets.
//! One binary, one module per area; each test starts its own broker.

#[path = "../common/mod.rs"]
mod common;

mod connect;
mod malformed;
mod pubsub;
mod retain;
mod session;
mod shared;
mod v5;
mod will;
