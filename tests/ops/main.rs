//! Operations: metrics, `$SYS`, the admin API, limits, signals, reloads and persistence. Several tests
//! run the real `aviary` binary (`CARGO_BIN_EXE_aviary`) with a temporary configuration; the
//! disk-full test mounts a tmpfs and so needs root.

#[path = "../common/mod.rs"]
mod common;
mod util;

mod admin;
mod diskfull;
mod flow;
mod lifecycle;
mod limits;
mod observe;
mod persistence;
mod reload;

use common::TestBroker;

/// A broker with the HTTP listener on an ephemeral port and admin token `secret`, plus `extra`
/// TOML; returns it with the HTTP base URL.
pub fn broker_with_http(extra: &str) -> (TestBroker, String) {
    let toml = format!("[http]\nenabled = true\nbind = \"127.0.0.1:0\"\ntoken = \"secret\"\n{extra}");
    let b = TestBroker::with_toml(&toml);
    let url = format!("http://{}", b.handle.http_addr().expect("http listener"));
    (b, url)
}
