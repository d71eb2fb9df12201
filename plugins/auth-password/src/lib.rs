//! Username/password authentication against argon2 PHC hashes.
//!
//! Users come from a password file in the `user:$argon2id$...` format written by
//! `aviary passwd` (handed to the plugin by the broker through `[plugin.files]`) and/or from
//! the `users` table of the plugin's configuration. Hashes are checked on the host.
//!
//! Brute-force protection: after `lockout_failures` wrong passwords for one user within
//! `lockout_secs`, that user is refused (0x8A Banned / 5) until the window passes — counted in
//! the plugin's key-value store, so every instance of the plugin sees it. Metrics:
//! `auth_ok`, `auth_failed`, `auth_locked`.

use std::collections::HashMap;

use aviary_plugin_sdk::{
    host, kv, metrics, plugin, serde::Deserialize, AuthDecision, ConnackReason, Connect, Grant, InitError,
    Plugin,
};

/// What to say about a user name that is not in the list.
#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Refuse the connection (0x86 / 4).
    #[default]
    Deny,
    /// Let the next plugin, then the broker's policy, decide.
    Next,
}

/// `[plugin.config]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// user name -> PHC hash.
    #[serde(default)]
    pub users: HashMap<String, String>,
    /// Users that skip every ACL check.
    #[serde(default)]
    pub superusers: Vec<String>,
    /// Unknown user names: "deny" (default) or "next".
    #[serde(default)]
    pub unknown_user: Unknown,
    /// Files the broker read for us: `passwords` holds the password file.
    #[serde(default)]
    pub files: HashMap<String, String>,
    /// Wrong passwords for one user that lock it out; 0 disables the lockout.
    #[serde(default = "default_failures")]
    pub lockout_failures: u32,
    /// How long failures count, and the lockout lasts, in seconds.
    #[serde(default = "default_lockout_secs")]
    pub lockout_secs: u32,
}

fn default_failures() -> u32 {
    10
}
fn default_lockout_secs() -> u32 {
    60
}

/// The plugin.
pub struct Passwords {
    users: HashMap<String, String>,
    superusers: Vec<String>,
    unknown: Unknown,
    lockout_failures: u32,
    lockout_ms: u32,
}

impl Passwords {
    fn failures_key(user: &str) -> String {
        format!("failures/{user}")
    }

    fn failures(&self, user: &str) -> u32 {
        kv::get(&Self::failures_key(user))
            .and_then(|v| v.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    }

    /// Counts a wrong password; the count expires `lockout_secs` after the last failure.
    fn record_failure(&self, user: &str) {
        if self.lockout_failures == 0 {
            return;
        }
        let n = self.failures(user).saturating_add(1);
        if let Err(e) = kv::set(&Self::failures_key(user), &n.to_le_bytes(), Some(self.lockout_ms)) {
            aviary_plugin_sdk::warn!("cannot count a failure for {user}: {e}");
        }
    }

    fn locked(&self, user: &str) -> bool {
        self.lockout_failures > 0 && self.failures(user) >= self.lockout_failures
    }
}

/// Parses `user:hash` lines; `#` starts a comment line.
pub fn parse_password_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash)) if !user.is_empty() && hash.starts_with('$') => {
                out.push((user.to_owned(), hash.to_owned()))
            }
            _ => return Err(format!("password file line {}: expected `user:$argon2...`", n + 1)),
        }
    }
    Ok(out)
}

#[plugin]
impl Plugin for Passwords {
    type Config = Config;

    fn init(config: Config) -> Result<Self, InitError> {
        let mut users = config.users;
        if let Some(text) = config.files.get("passwords") {
            users.extend(parse_password_file(text)?);
        }
        Ok(Passwords {
            users,
            superusers: config.superusers,
            unknown: config.unknown_user,
            lockout_failures: config.lockout_failures,
            lockout_ms: config.lockout_secs.saturating_mul(1000),
        })
    }

    fn authenticate(&self, req: &Connect) -> AuthDecision {
        let Some(user) = req.username() else { return AuthDecision::Next };
        let Some(hash) = self.users.get(user) else {
            return match self.unknown {
                Unknown::Deny => AuthDecision::deny(ConnackReason::BadUsernameOrPassword),
                Unknown::Next => AuthDecision::Next,
            };
        };
        if self.locked(user) {
            metrics::counter_add("auth_locked", 1);
            return AuthDecision::deny_with(ConnackReason::Banned, "too many wrong passwords; try later");
        }
        let password = req.password().unwrap_or_default();
        match host::verify_password(hash, password) {
            Ok(true) => {
                metrics::counter_add("auth_ok", 1);
                Grant::new()
                    .superuser(self.superusers.iter().any(|s| s == user))
                    .attribute("auth", "password")
                    .into()
            }
            Ok(false) => {
                metrics::counter_add("auth_failed", 1);
                self.record_failure(user);
                AuthDecision::deny(ConnackReason::BadUsernameOrPassword)
            }
            Err(e) => {
                aviary_plugin_sdk::warn!("unusable hash for user {user}: {e}");
                AuthDecision::deny(ConnackReason::NotAuthorized)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary_plugin_sdk::testing::{self, hash_password};
    use aviary_plugin_sdk::{serde_json::json, Client};

    fn connect(user: &str, pw: &[u8]) -> Connect {
        Connect::new(Client::new("c").with_username(user), Some(pw))
    }

    #[test]
    fn right_wrong_and_unknown() {
        let file = format!("# users\nann:{}\n", hash_password(b"secret"));
        let p: Passwords =
            testing::load(json!({"files": {"passwords": file}, "superusers": ["ann"]})).unwrap();
        match p.authenticate(&connect("ann", b"secret")) {
            AuthDecision::Allow(g) => assert!(g.superuser),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p.authenticate(&connect("ann", b"nope")),
            AuthDecision::deny(ConnackReason::BadUsernameOrPassword)
        );
        assert_eq!(
            p.authenticate(&connect("bob", b"x")),
            AuthDecision::deny(ConnackReason::BadUsernameOrPassword)
        );
        assert_eq!(p.authenticate(&Connect::new(Client::new("anon"), None)), AuthDecision::Next);
    }

    #[test]
    fn repeated_failures_lock_the_user_out() {
        testing::reset();
        let users = json!({"ann": hash_password(b"secret")});
        let p: Passwords = testing::load(json!({"users": users, "lockout_failures": 2})).unwrap();
        for _ in 0..2 {
            assert_eq!(
                p.authenticate(&connect("ann", b"nope")),
                AuthDecision::deny(ConnackReason::BadUsernameOrPassword)
            );
        }
        assert!(
            matches!(p.authenticate(&connect("ann", b"secret")), AuthDecision::Deny(r) if r.reason == ConnackReason::Banned)
        );
        assert_eq!((testing::counter("auth_failed"), testing::counter("auth_locked")), (2, 1));
    }

    #[test]
    fn bad_file_is_an_init_error() {
        let err = testing::load::<Passwords>(json!({"files": {"passwords": "nocolon"}})).err().unwrap();
        assert!(err.0.contains("line 1"), "{err}");
    }
}
