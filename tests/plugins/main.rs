//! Plugin tests: the real broker loads the real `.wasm` files built from `plugins/` and the
//! hostile fixture in `tests/plugins/fixtures/`. The first test to need them builds them all
//! with `cargo build --release --target wasm32-wasip2` (the target must be installed:
//! `rustup target add wasm32-wasip2`, which `scripts/test` does).

#[path = "../common/mod.rs"]
mod common;
/// The real `aviary` binary with a temporary configuration (shared with the operations tests).
#[path = "../ops/util.rs"]
#[allow(dead_code)]
mod ops_util;

mod support;

mod acl;
mod auth_jwt;
mod auth_password;
mod enhanced_auth;
mod hostile;
mod listeners;
mod loading;
mod metrics;
mod passwd;
mod reload;
mod transform;
