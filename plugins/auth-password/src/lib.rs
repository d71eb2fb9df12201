//! Username/password authentication against argon2 PHC hashes.
//!
//! Users come from a password file in the `user:$argon2id$...` format written by
//! `aviary passwd` (handed to the plugin by the broker through `[plugin.files]`) and/or from
//! the `users` table of the plugin's configuration. Hashes are checked on the host.

use std::collections::HashMap;

use aviary_plugin_sdk::{
    host, plugin, serde::Deserialize, AuthDecision, ConnackReason, Connect, Grant, InitError, Plugin,
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
}

/// The plugin.
pub struct Passwords {
    users: HashMap<String, String>,
    superusers: Vec<String>,
    unknown: Unknown,
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
        Ok(Passwords { users, superusers: config.superusers, unknown: config.unknown_user })
    }

    fn authenticate(&self, req: &Connect) -> AuthDecision {
        let Some(user) = req.username() else { return AuthDecision::Next };
        let Some(hash) = self.users.get(user) else {
            return match self.unknown {
                Unknown::Deny => AuthDecision::deny(ConnackReason::BadUsernameOrPassword),
                Unknown::Next => AuthDecision::Next,
            };
        };
        let password = req.password().unwrap_or_default();
        match host::verify_password(hash, password) {
            Ok(true) => Grant::new()
                .superuser(self.superusers.iter().any(|s| s == user))
                .attribute("auth", "password")
                .into(),
            Ok(false) => AuthDecision::deny(ConnackReason::BadUsernameOrPassword),
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
    fn bad_file_is_an_init_error() {
        let err = testing::load::<Passwords>(json!({"files": {"passwords": "nocolon"}})).err().unwrap();
        assert!(err.0.contains("line 1"), "{err}");
    }
}
