//! JWT authentication: the client sends a JSON Web Token in the password field.
//!
//! The broker verifies the signature and the `exp`, `nbf`, `iss` and `aud` claims natively
//! with the keys of `[plugin.config.jwt.<key_set>]`; this plugin maps the claims to the
//! connection: the user name (`username_claim`, `sub` by default), ACL rules
//! (`acl_claim`: `{"publish": [...], "subscribe": [...]}`), superuser, and a session expiry cap
//! at the token's expiry.

use std::collections::HashMap;

use aviary_plugin_sdk::serde_json::Value;
use aviary_plugin_sdk::{
    host, plugin, serde::Deserialize, Access, AuthDecision, ConnackReason, Connect, Grant, InitError,
    JwtError, Plugin,
};

fn default_key_set() -> String {
    "default".into()
}
fn default_username_claim() -> String {
    "sub".into()
}
fn default_acl_claim() -> String {
    "acl".into()
}

/// `[plugin.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which `[plugin.config.jwt.<name>]` key set verifies tokens.
    #[serde(default = "default_key_set")]
    pub key_set: String,
    /// Claim holding the user name.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Claim holding the ACL: `{"publish": [filters], "subscribe": [filters]}`.
    #[serde(default = "default_acl_claim")]
    pub acl_claim: String,
    /// Claim that, when `true`, makes the client a superuser (unset: never).
    #[serde(default)]
    pub superuser_claim: Option<String>,
    /// A client that sends a user name must send the token's user name.
    #[serde(default = "yes")]
    pub require_username_match: bool,
    /// The key sets, read by the broker (not by this plugin).
    #[serde(default)]
    pub jwt: HashMap<String, Value>,
}

fn yes() -> bool {
    true
}

/// The plugin.
pub struct Jwt(Config);

fn refuse(why: &str) -> AuthDecision {
    AuthDecision::deny_with(ConnackReason::BadUsernameOrPassword, why)
}

impl Jwt {
    fn grant(&self, claims: &Value, user: &str) -> Grant {
        let mut grant = Grant::new().attribute("auth", "jwt").attribute("sub", user);
        if let Some(acl) = claims.get(&self.0.acl_claim) {
            for (key, access) in [("publish", Access::PUBLISH), ("subscribe", Access::SUBSCRIBE)] {
                let filters = acl.get(key).and_then(Value::as_array).into_iter().flatten();
                for f in filters.filter_map(Value::as_str) {
                    grant = grant.allow(access, f);
                }
            }
            // An ACL claim is the whole truth: nothing else for this client.
            grant = grant.deny(Access::PUBLISH | Access::SUBSCRIBE, "#");
        }
        if let Some(claim) = &self.0.superuser_claim {
            grant = grant.superuser(claims.get(claim) == Some(&Value::Bool(true)));
        }
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            grant = grant.session_expiry_secs(u32::try_from(exp.saturating_sub(now)).unwrap_or(u32::MAX));
        }
        grant
    }
}

#[plugin]
impl Plugin for Jwt {
    type Config = Config;

    fn init(config: Config) -> Result<Self, InitError> {
        if !config.jwt.contains_key(&config.key_set) {
            return Err(format!("no [plugin.config.jwt.{}] key set", config.key_set).into());
        }
        Ok(Jwt(config))
    }

    fn authenticate(&self, req: &Connect) -> AuthDecision {
        let Some(password) = req.password() else { return AuthDecision::Next };
        let Ok(token) = std::str::from_utf8(password) else { return refuse("token is not text") };
        let claims: Value = match host::verify_jwt(token, &self.0.key_set) {
            Ok(c) => c,
            Err(JwtError::Expired) => return refuse("token expired"),
            Err(JwtError::NotYetValid) => return refuse("token not yet valid"),
            Err(JwtError::Malformed) => return AuthDecision::Next,
            Err(e) => {
                aviary_plugin_sdk::info!("token refused for client {}: {e:?}", req.client_id());
                return refuse("token refused");
            }
        };
        let Some(user) = claims.get(&self.0.username_claim).and_then(Value::as_str) else {
            return refuse("token has no user name");
        };
        if self.0.require_username_match && req.username().is_some_and(|u| u != user) {
            return refuse("user name does not match the token");
        }
        self.grant(&claims, user).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aviary_plugin_sdk::serde_json::json;
    use aviary_plugin_sdk::testing;
    use aviary_plugin_sdk::Client;

    fn plugin() -> Jwt {
        testing::load(json!({"jwt": {"default": {"algorithms": ["HS256"], "secret": "s"}}})).unwrap()
    }

    #[test]
    fn claims_become_a_grant() {
        testing::on_verify_jwt(|token, _| match token {
            "good" => Ok(r#"{"sub":"ann","acl":{"publish":["d/ann/#"]}}"#.into()),
            "old" => Err(JwtError::Expired),
            _ => Err(JwtError::BadSignature),
        });
        let p = plugin();
        let req = |pw: &[u8]| Connect::new(Client::new("c"), Some(pw));
        match p.authenticate(&req(b"good")) {
            AuthDecision::Allow(g) => {
                assert_eq!(g.acl[0].topic_filter, "d/ann/#");
                assert!(!g.acl.last().unwrap().allow);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.authenticate(&req(b"old")), refuse("token expired"));
        assert_eq!(p.authenticate(&req(b"forged")), refuse("token refused"));
    }

    #[test]
    fn a_missing_key_set_stops_init() {
        assert!(testing::load::<Jwt>(json!({})).is_err());
    }
}
