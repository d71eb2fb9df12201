//! Per-listener policy: which plugins run for the clients of a listener and how it overrides
//! `[auth]` (the `plugins`, `allow_anonymous` and `acl_default` keys of `[[listener]]`), like
//! Mosquitto's `per_listener_settings` for these three. Resolved once at startup and carried
//! by every connection of the listener ([`crate::transport::PeerInfo::policy`]), so the hooks
//! of a session test a bit per plugin and read two options, nothing more.

use super::acl::AclDefault;
use crate::config::ListenerConfig;
use crate::plugins::config::PluginConfig;
use crate::plugins::{PluginMask, UnknownPlugin};

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
    /// The plugins whose hooks run (in the global order of the `[[plugin]]` tables).
    pub plugins: PluginMask,
    /// Overrides of `[auth]`.
    pub auth: AuthOverrides,
}

impl ListenerPolicy {
    /// Resolves a listener's keys against the configured plugins.
    pub fn from_config(
        l: &ListenerConfig,
        plugins: &[PluginConfig],
    ) -> Result<ListenerPolicy, UnknownPlugin> {
        Ok(ListenerPolicy {
            plugins: PluginMask::resolve(&l.name, l.plugins.as_deref(), plugins)?,
            auth: AuthOverrides { allow_anonymous: l.allow_anonymous, acl_default: l.acl_default },
        })
    }
}
