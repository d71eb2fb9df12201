//! The [`Plugin`] trait: one method per hook, each with a harmless default.

use serde::de::DeserializeOwned;

use crate::{
    AckReason, AuthDecision, AuthzDecision, Client, Connect, Message, MessageRef, SubDecision, Subscription,
};

/// The answer of `on_publish` / `on_deliver`.
#[derive(Debug, Clone, PartialEq)]
pub enum PublishDecision {
    /// Let the message through unchanged.
    Pass,
    /// Replace the message with this one (a valid topic name, a payload within the broker's
    /// `max_payload_bytes`, a QoS no higher than the original's).
    Modify(Message),
    /// Do not route or deliver it; MQTT 5 publishers get this reason in PUBACK / PUBREC.
    Drop(AckReason),
}

/// Why `init` failed; the broker refuses to start and prints this with the plugin's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError(pub String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InitError {}

impl From<String> for InitError {
    fn from(s: String) -> Self {
        InitError(s)
    }
}

impl From<&str> for InitError {
    fn from(s: &str) -> Self {
        InitError(s.to_owned())
    }
}

/// A broker plugin. Implement the hooks you need and mark the impl block with
/// [`#[plugin]`](crate::plugin); the others keep their defaults and are never called.
///
/// The value is built once per instance by [`Plugin::init`]. The broker keeps one instance per
/// thread and may throw an instance away at any time (after a failure, say), so hooks take
/// `&self`: anything that must outlive an instance goes through [`crate::kv`].
pub trait Plugin: Sized + 'static {
    /// The plugin's `[plugin.config]` table, deserialized from JSON.
    type Config: DeserializeOwned;

    /// Builds the plugin from its configuration. An error stops the broker's startup.
    fn init(config: Self::Config) -> Result<Self, InitError>;

    /// CONNECT (and each MQTT 5 AUTH step): allow with a grant, deny with a CONNACK reason,
    /// `Next` to let the next plugin (then the broker's built-in policy) decide, or — for
    /// enhanced authentication — `Challenge(data)` for one more round trip.
    fn authenticate(&self, _req: &Connect) -> AuthDecision {
        AuthDecision::Next
    }

    /// May `client` publish to `topic`? Called only when the grant's ACL did not decide.
    fn authorize_publish(&self, _client: &Client, _topic: &str, _qos: u8, _retain: bool) -> AuthzDecision {
        AuthzDecision::Next
    }

    /// One decision per requested subscription, in the same order.
    fn authorize_subscribe(&self, _client: &Client, subs: &[Subscription]) -> Vec<SubDecision> {
        vec![SubDecision::Next; subs.len()]
    }

    /// Every PUBLISH, before routing: pass it on, modify it, or drop it.
    fn on_publish(&self, _sender: &Client, _msg: Message) -> PublishDecision {
        PublishDecision::Pass
    }

    /// Once per subscriber, before delivery: pass, modify or drop.
    fn on_deliver(&self, _subscriber: &Client, _msg: Message) -> PublishDecision {
        PublishDecision::Pass
    }

    /// `on_publish` on a message not copied yet: write this one instead when most messages
    /// pass unchanged, and a message the hook only looks at costs no copy
    /// ([`MessageRef::into_message`] makes the owned message a `Modify` needs). The default
    /// makes the owned message and calls `on_publish`.
    fn on_publish_ref(&self, sender: &Client, msg: MessageRef<'_>) -> PublishDecision {
        self.on_publish(sender, msg.into_message())
    }

    /// `on_deliver` on a message not copied yet (see [`Plugin::on_publish_ref`]).
    fn on_deliver_ref(&self, subscriber: &Client, msg: MessageRef<'_>) -> PublishDecision {
        self.on_deliver(subscriber, msg.into_message())
    }

    /// Topic filters (`sensors/#`, `a/+/b`) limiting `on_publish` and `on_deliver` to the
    /// messages whose topic one of them matches; `None` (the default): every message. Asked
    /// once, after `init`. The broker tests the filters itself, so a message they leave out
    /// costs no call into the plugin at all.
    fn transform_topics(&self) -> Option<Vec<String>> {
        None
    }
}

/// Parses the JSON configuration the broker hands to `init`.
pub(crate) fn parse_config<C: DeserializeOwned>(json: &str) -> Result<C, InitError> {
    serde_json::from_str(json).map_err(|e| InitError(format!("invalid plugin configuration: {e}")))
}
