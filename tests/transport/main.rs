//! Transports and command-line clients, end to end: TLS (with and without client
//! certificates), WebSocket and secure WebSocket listeners driven by `aviary pub` / `aviary sub`
//! processes, interop with Mosquitto in both directions, bad input on every listener kind,
//! certificate reload on SIGHUP, startup errors for bad certificate files.
//!
//! Certificates are generated in the test (rcgen). Every wait has a deadline and every child
//! process is killed when its test ends, pass or fail.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod certs;
mod cli;
mod interop;
mod pipeline;
mod procs;
mod reload;
mod startup;
mod tls_options;
mod walk;
mod web;
mod ws_frames;
