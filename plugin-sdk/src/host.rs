//! Services the broker provides to plugins. In a wasm build they call the broker; in a native
//! build (`cargo test`) they go to the mock host in [`crate::testing`].

use serde::de::DeserializeOwned;

use crate::{ClientInfo, JwtError, Level, Message, MessageProperties};

#[cfg(target_arch = "wasm32")]
use crate::bindings::aviary::plugin as raw;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::mock as raw;

/// The client of the running hook call (in a native build: the mock host's, see
/// [`crate::testing::set_client`]).
pub(crate) fn call_client() -> ClientInfo {
    raw::context::get_client()
}

/// The client id of the running hook call's client.
pub(crate) fn call_client_id() -> String {
    raw::context::get_client_id()
}

/// The user name of the running hook call's client.
pub(crate) fn call_username() -> Option<String> {
    raw::context::get_username()
}

/// The MQTT 5 properties of message `index` of the running transform batch (in a native
/// build: none).
pub(crate) fn call_message_properties(index: u32) -> MessageProperties {
    raw::context::get_message_properties(index)
}

/// Hands the broker the message that replaces message `index` of the running transform batch
/// when the plugin answers `modify` for it.
pub(crate) fn set_message(index: u32, m: &Message) {
    raw::context::set_message(index, m)
}

/// Checks `password` against an argon2 PHC string (`$argon2id$v=19$...`), natively on the
/// host. `Err` when the hash is malformed.
pub fn verify_password(phc_hash: &str, password: &[u8]) -> Result<bool, String> {
    raw::crypto::verify_password(phc_hash, password)
}

/// Verifies a JWT's signature and its `exp`, `nbf`, `iss` and `aud` claims with the key set
/// named `key_set` in the plugin's `[plugin.config.jwt]` table, and returns the claims.
pub fn verify_jwt<C: DeserializeOwned>(token: &str, key_set: &str) -> Result<C, JwtError> {
    let json = raw::crypto::verify_jwt(token, key_set)?;
    serde_json::from_str(&json).map_err(|e| JwtError::InvalidClaims(e.to_string()))
}

/// Writes a line to the broker's log, tagged with the plugin's name. Prefer the macros
/// ([`crate::info!`], ...).
pub fn log(level: Level, message: &str) {
    raw::log::log(level, message);
}

/// A key-value store private to this plugin and shared by all its instances (limits: 10,000
/// keys, 64 KiB per value, 16 MiB in all).
pub mod kv {
    use super::raw;

    /// The value under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        raw::kv::get(key)
    }

    /// Stores `value`, expiring after `ttl_ms` if given. `Err` when over a limit.
    pub fn set(key: &str, value: &[u8], ttl_ms: Option<u32>) -> Result<(), String> {
        raw::kv::set(key, value, ttl_ms)
    }

    /// Removes `key`.
    pub fn delete(key: &str) {
        raw::kv::delete(key)
    }

    /// Stores `value` only if the current value is `expected` (`None`: absent); returns
    /// whether it did.
    pub fn cas(key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, String> {
        raw::kv::cas(key, expected, value)
    }
}

/// Metrics the broker exports as `plugin_<plugin>_<name>`.
pub mod metrics {
    use super::raw;

    /// Adds to a counter.
    pub fn counter_add(name: &str, delta: u64) {
        raw::metrics::counter_add(name, delta)
    }

    /// Sets a gauge.
    pub fn gauge_set(name: &str, value: i64) {
        raw::metrics::gauge_set(name, value)
    }
}

/// Logs at `error` level: `error!("bad {}", x)`.
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::host::log($crate::Level::Error, &format!($($t)*)) }; }
/// Logs at `warn` level.
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::host::log($crate::Level::Warn, &format!($($t)*)) }; }
/// Logs at `info` level.
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::host::log($crate::Level::Info, &format!($($t)*)) }; }
/// Logs at `debug` level.
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::host::log($crate::Level::Debug, &format!($($t)*)) }; }
