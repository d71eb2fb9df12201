//! Who may connect and what they may do: the decision chain.
//!
//! CONNECT: the authentication plugins are asked in order (on the plugin authentication
//! threads, never on a session thread); the first `allow` or `deny` wins, `next` passes on, and
//! when every plugin passes the built-in policy decides (`allow_anonymous`). An allow carries a
//! [`Grants`]: ACL rules, attributes, superuser, a session expiry cap. They are kept in the
//! session and evaluated natively on every PUBLISH and SUBSCRIBE.
//!
//! PUBLISH / SUBSCRIBE: superuser -> the grant's ACL rules -> the authorization plugins (in
//! order, first allow/deny wins) -> the static `[[auth.acl]]` rules -> `acl_default`.
//!
//! Per listener ([`listener`]): only the plugins the listener selects are asked, and its
//! `allow_anonymous` / `acl_default` replace those of `[auth]` for its clients.

pub mod acl;
pub mod listener;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::AuthConfig;
use crate::protocol::{Protocol, ReasonCode};
use acl::{AclDefault, AclRule, Action, Who};
pub use listener::{AuthOverrides, ListenerPolicy};

/// A client as hooks see it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Client identifier (the assigned one, if the broker assigned it).
    pub client_id: String,
    /// User name from CONNECT.
    pub username: Option<String>,
    /// Remote address.
    pub peer: SocketAddr,
    /// Listener name.
    pub listener: Arc<str>,
    /// Protocol version.
    pub protocol: Protocol,
    /// TLS client certificate subject.
    pub tls_subject: Option<String>,
    /// Attributes granted at authentication.
    pub attributes: Vec<(String, String)>,
}

impl Identity {
    /// The ACL view of this client.
    pub fn who(&self) -> Who<'_> {
        Who { username: self.username.as_deref(), client_id: &self.client_id }
    }
}

/// What a successful authentication granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// No ACL checks at all.
    pub superuser: bool,
    /// Rules evaluated before any plugin or static rule.
    pub acl: Vec<AclRule>,
    /// Attributes attached to the client.
    pub attributes: Vec<(String, String)>,
    /// Cap on the session expiry interval.
    pub session_expiry_cap: Option<u32>,
    /// User properties for CONNACK.
    pub connack_user_properties: Vec<(String, String)>,
}

/// A CONNECT to authenticate.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The client (attributes empty).
    pub identity: Identity,
    /// Password bytes.
    pub password: Option<Bytes>,
    /// Clean start / clean session.
    pub clean_start: bool,
    /// Keep alive requested.
    pub keep_alive_secs: u16,
    /// CONNECT user properties.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5 Authentication Method.
    pub auth_method: Option<String>,
    /// MQTT 5 Authentication Data.
    pub auth_data: Option<Bytes>,
}

/// What the authentication plugins answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// Let in with these grants.
    Allow(Grants),
    /// Refuse with this CONNACK reason and an optional reason string.
    Deny(ReasonCode, Option<String>),
    /// MQTT 5 enhanced authentication: send AUTH 0x18 with this Authentication Data, then
    /// ask again with the client's answer.
    Challenge(Bytes),
    /// No plugin decided.
    Next,
}

/// The broker's own policy, built once from `[auth]`.
#[derive(Debug, Clone)]
pub struct Policy {
    allow_anonymous: bool,
    rules: Vec<AclRule>,
    default: AclDefault,
}

impl Policy {
    /// Builds the policy.
    pub fn new(c: &AuthConfig) -> Self {
        Policy {
            allow_anonymous: c.allow_anonymous,
            rules: c.acl.iter().map(AclRule::from).collect(),
            default: c.acl_default,
        }
    }

    /// The final answer for a CONNECT, given what the plugins said and the listener's
    /// overrides.
    pub fn decide_connect(&self, req: &ConnectRequest, plugins: AuthAnswer, o: AuthOverrides) -> AuthAnswer {
        match plugins {
            AuthAnswer::Next if req.auth_method.is_some() => {
                // Nobody speaks the client's enhanced authentication method.
                AuthAnswer::Deny(ReasonCode::BadAuthenticationMethod, None)
            }
            AuthAnswer::Next => {
                match (&req.identity.username, o.allow_anonymous.unwrap_or(self.allow_anonymous)) {
                    (_, true) => AuthAnswer::Allow(Grants::default()),
                    (None, false) => AuthAnswer::Deny(ReasonCode::NotAuthorized, None),
                    (Some(_), false) => AuthAnswer::Deny(ReasonCode::BadUserNameOrPassword, None),
                }
            }
            decided => decided,
        }
    }

    /// May `who` do `action`? `plugins` asks the authorization plugins (called only when the
    /// grant's rules did not decide).
    pub fn authorize(
        &self,
        grants: &Grants,
        who: Who<'_>,
        action: Action<'_>,
        plugins: impl FnOnce() -> Option<bool>,
        o: AuthOverrides,
    ) -> bool {
        if grants.superuser {
            return true;
        }
        acl::evaluate(&grants.acl, who, action)
            .or_else(plugins)
            .or_else(|| acl::evaluate(&self.rules, who, action))
            .unwrap_or_else(|| self.default_allows(o))
    }

    /// The grant's and the static rules' verdict, without plugins: `None` when they leave it
    /// open (then plugins, then the default decide).
    pub fn rules_verdict(&self, grants: &Grants, who: Who<'_>, action: Action<'_>) -> Option<bool> {
        if grants.superuser {
            return Some(true);
        }
        acl::evaluate(&grants.acl, who, action)
    }

    /// After the plugins passed: the static rules, then the default.
    pub fn fallback(&self, who: Who<'_>, action: Action<'_>, o: AuthOverrides) -> bool {
        acl::evaluate(&self.rules, who, action).unwrap_or_else(|| self.default_allows(o))
    }

    /// `acl_default` (the listener's, else `[auth]`'s) is `allow`.
    fn default_allows(&self, o: AuthOverrides) -> bool {
        o.acl_default.unwrap_or(self.default) == AclDefault::Allow
    }
}
