//! # aviary-plugin-sdk
//!
//! Write sandboxed WebAssembly plugins for the Aviary MQTT broker in plain Rust.
//!
//! A plugin is a `cdylib` crate built with `cargo build --release --target wasm32-wasip2`. It
//! implements [`Plugin`] (every hook has a default: `next` for the security hooks, `pass` for
//! the transforms), marks the impl block with [`plugin`], and is done: the attribute emits the
//! component-model glue and tells the broker which hooks the plugin implements, so the broker
//! never calls the others.
//!
//! ```ignore
//! use aviary_plugin_sdk::{plugin, AuthDecision, Connect, InitError, Plugin};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { user: String }
//!
//! struct OnlyOne(Config);
//!
//! #[plugin]
//! impl Plugin for OnlyOne {
//!     type Config = Config;
//!     fn init(config: Config) -> Result<Self, InitError> { Ok(OnlyOne(config)) }
//!     fn authenticate(&self, req: &Connect) -> AuthDecision {
//!         match req.username() {
//!             Some(u) if u == self.0.user => AuthDecision::allow(),
//!             _ => AuthDecision::Next,
//!         }
//!     }
//! }
//! ```
//!
//! The contract with the broker is the WIT package `aviary:plugin@0.3.0` in `wit/`; the
//! broker is generated from the same file. Host services are in [`host`], [`kv`], [`metrics`]
//! and the logging macros ([`info!`], ...). [`testing`] is a mock host: plugin logic runs
//! natively under `cargo test`.

mod builders;
mod client;
pub mod host;
mod message_ref;
mod plugin;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod topic;

#[doc(hidden)]
pub mod __private;

#[cfg(any(test, all(target_arch = "wasm32", feature = "small-alloc")))]
mod small_alloc;
#[cfg(all(target_arch = "wasm32", feature = "small-alloc"))]
#[global_allocator]
static ALLOC: small_alloc::SmallAlloc = small_alloc::SmallAlloc::new();

/// The raw bindings generated from `wit/plugin.wit` (normally not needed directly).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "aviary_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use aviary_plugin_sdk_macros::plugin;
pub use bindings::aviary::plugin::crypto::JwtError;
pub use bindings::aviary::plugin::log::Level;
/// What the broker knows about a client (in [`Connect`], and behind every [`Client`]).
pub use bindings::aviary::plugin::types::Client as ClientInfo;
pub use bindings::aviary::plugin::types::{
    Access, AckReason, AclRule, AuthDecision, AuthzDecision, ConnackReason, Connect, Grant, Hooks, Message,
    MessageProperties, PluginInfo, Properties, Protocol, Refusal, SubDecision, Subscription,
};
pub use client::Client;
pub use host::{kv, metrics};
pub use message_ref::MessageRef;
pub use plugin::PublishDecision;
pub use plugin::{InitError, Plugin};
/// Re-exported for `#[derive(Deserialize)]` on plugin configs.
pub use serde;
/// Re-exported for plugins that read JSON (JWT claims, payloads).
pub use serde_json;
