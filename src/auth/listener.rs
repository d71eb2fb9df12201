//! Per-listener policy: which plugins run for the clients of a listener and how it overrides
//! `[auth]` (the `plugins`, `allow_anonymous` and `acl_default` keys of `[[listener]]`), like
//! Mosquitto's `per_listener_settings` for these three. Carried by every connection of the
//! listener ([`crate::transport::PeerInfo::policy`]): the overrides themselves, and the
//! listener's position, which picks its [`crate::plugins::PluginMask`] in the plugins in force
//! (`crate::session::Plugins::masks`, resolved whenever a plugin host is built, so a reload
//! that reorders the plugins keeps each listener's selection). A hook call tests one bit per
//! plugin and reads two options, nothing more.

use super::acl::AclDefault;
use crate::config::ListenerConfig;

/// A listener's overrides of `[auth]`; `None` keeps the `[auth]` value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthOverrides {
    /// Overrides `auth.allow_anonymous`.
    pub allow_anonymous: Option<bool>,
    /// Overrides `auth.acl_default`.
    pub acl_default: Option<AclDefault>,
}

/// What applies to the clients of one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerPolicy {
    /// The listener's position in `[[listener]]` order.
    pub listener: usize,
    /// Overrides of `[auth]`.
    pub auth: AuthOverrides,
}

impl ListenerPolicy {
    /// The policy of the listener `l`, at position `index`.
    pub fn from_config(index: usize, l: &ListenerConfig) -> ListenerPolicy {
        ListenerPolicy {
            listener: index,
            auth: AuthOverrides { allow_anonymous: l.allow_anonymous, acl_default: l.acl_default },
        }
    }
}
