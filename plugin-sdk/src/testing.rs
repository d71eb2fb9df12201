//! A mock host for unit tests of plugin logic, run natively with plain `cargo test`.
//!
//! In a native build every host call of [`crate::host`] lands here: passwords are checked with
//! the real argon2, the key-value store and the metrics live in memory, log lines are kept, and
//! JWT verification answers with whatever [`on_verify_jwt`] set. The state is per thread (each
//! test runs on its own thread), and [`reset`] clears it.
//!
//! ```ignore
//! let plugin = aviary_plugin_sdk::testing::load::<MyPlugin>(serde_json::json!({"users": {}})).unwrap();
//! let req = Connect::new(Client::new("c1").with_username("ann"), Some(b"secret"));
//! assert_eq!(plugin.authenticate(&req), AuthDecision::Next);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use crate::{ClientInfo, InitError, JwtError, Level, Plugin};

type JwtFn = Box<dyn Fn(&str, &str) -> Result<String, JwtError>>;

#[derive(Default)]
struct State {
    kv: HashMap<String, Vec<u8>>,
    counters: HashMap<String, u64>,
    gauges: HashMap<String, i64>,
    logs: Vec<(Level, String)>,
    jwt: Option<JwtFn>,
    client: Option<ClientInfo>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Builds a plugin the way the broker does: config (as JSON) -> `Config` -> `init`.
pub fn load<P: Plugin>(config: serde_json::Value) -> Result<P, InitError> {
    P::init(crate::plugin::parse_config(&config.to_string())?)
}

/// Clears the mock host's state on this thread.
pub fn reset() {
    with(|s| *s = State::default());
}

/// The lines logged so far on this thread.
pub fn logs() -> Vec<(Level, String)> {
    with(|s| s.logs.clone())
}

/// A counter's value.
pub fn counter(name: &str) -> u64 {
    with(|s| s.counters.get(name).copied().unwrap_or(0))
}

/// A gauge's value.
pub fn gauge(name: &str) -> Option<i64> {
    with(|s| s.gauges.get(name).copied())
}

/// Sets how `verify_jwt` answers (token, key set name) -> claims JSON.
pub fn on_verify_jwt(f: impl Fn(&str, &str) -> Result<String, JwtError> + 'static) {
    with(|s| s.jwt = Some(Box::new(f)));
}

/// Sets the client `aviary:plugin/context` answers with (what a lazily asked
/// [`crate::Client`] becomes); unset: a client with an empty id.
pub fn set_client(client: ClientInfo) {
    with(|s| s.client = Some(client));
}

/// Makes an argon2id PHC hash for tests (low cost parameters).
pub fn hash_password(password: &[u8]) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"aviary-test-salt").unwrap_or_else(|_| unreachable!("16 bytes"));
    let params = argon2::Params::new(1024, 1, 1, None).unwrap_or_default();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon.hash_password(password, &salt).map(|h| h.to_string()).unwrap_or_default()
}

/// The native stand-ins for the broker's imports, with the same signatures.
#[doc(hidden)]
pub mod mock {
    /// `aviary:plugin/crypto`.
    pub mod crypto {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};

        use crate::JwtError;

        /// Real argon2 verification.
        pub fn verify_password(phc: &str, password: &[u8]) -> Result<bool, String> {
            let hash = PasswordHash::new(phc).map_err(|e| e.to_string())?;
            Ok(argon2::Argon2::default().verify_password(password, &hash).is_ok())
        }

        /// Answers through [`super::super::on_verify_jwt`]; `UnknownKey` when unset.
        pub fn verify_jwt(token: &str, key_set: &str) -> Result<String, JwtError> {
            super::super::with(|s| match &s.jwt {
                Some(f) => f(token, key_set),
                None => Err(JwtError::UnknownKey),
            })
        }
    }

    /// `aviary:plugin/context`.
    pub mod context {
        use crate::{ClientInfo, Message, MessageProperties};

        /// The client set by [`super::super::set_client`].
        pub fn get_client() -> ClientInfo {
            super::super::with(|s| s.client.clone()).unwrap_or_else(|| ClientInfo::new(""))
        }

        /// The id of the client set by [`super::super::set_client`].
        pub fn get_client_id() -> String {
            get_client().client_id
        }

        /// The user name of the client set by [`super::super::set_client`].
        pub fn get_username() -> Option<String> {
            get_client().username
        }

        /// No properties.
        pub fn get_message_properties(_index: u32) -> MessageProperties {
            MessageProperties::default()
        }

        /// Nothing to hand over: native tests see `PublishDecision::Modify` itself.
        pub fn set_message(_index: u32, _msg: &Message) {}
    }

    /// `aviary:plugin/log`.
    pub mod log {
        use crate::Level;

        /// Keeps the line.
        pub fn log(level: Level, message: &str) {
            super::super::with(|s| s.logs.push((level, message.to_owned())));
        }
    }

    /// `aviary:plugin/kv` (no TTL, no limits).
    pub mod kv {
        use super::super::with;

        /// Get.
        pub fn get(key: &str) -> Option<Vec<u8>> {
            with(|s| s.kv.get(key).cloned())
        }
        /// Set.
        pub fn set(key: &str, value: &[u8], _ttl_ms: Option<u32>) -> Result<(), String> {
            with(|s| s.kv.insert(key.to_owned(), value.to_vec()));
            Ok(())
        }
        /// Delete.
        pub fn delete(key: &str) {
            with(|s| s.kv.remove(key));
        }
        /// Compare and swap.
        pub fn cas(key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, String> {
            with(|s| {
                if s.kv.get(key).map(Vec::as_slice) != expected {
                    return Ok(false);
                }
                s.kv.insert(key.to_owned(), value.to_vec());
                Ok(true)
            })
        }
    }

    /// `aviary:plugin/metrics`.
    pub mod metrics {
        use super::super::with;

        /// Counter.
        pub fn counter_add(name: &str, delta: u64) {
            with(|s| *s.counters.entry(name.to_owned()).or_default() += delta);
        }
        /// Gauge.
        pub fn gauge_set(name: &str, value: i64) {
            with(|s| s.gauges.insert(name.to_owned(), value));
        }
    }
}
