//! PUBLISH packets held for the `on-publish` plugins, so that a burst of them costs one call
//! into each plugin instead of one per message (a call's fixed cost is about that of routing
//! a message).
//!
//! A publish is held when an `on-publish` plugin applies to this client, and while any is
//! held, so order is kept: the router gets the messages, and the client its
//! acknowledgements, in the order the packets came. Authorization runs at once; its verdict
//! waits with the message. The held publishes go, through one `transform_batch`, at the end
//! of the burst ([`super::codec::Inbound::Drained`]), before any other packet of the client is
//! handled, when [`TRANSFORM_BATCH`] are held, and when the connection closes.

use std::sync::Arc;

use actix::prelude::*;

use super::{Phase, Session};
use crate::message::Message;
use crate::plugins::{self, Hook, Transformed, TRANSFORM_BATCH};
use crate::protocol::{Publish, QoS, ReasonCode};
use crate::reload::PluginsNow;

/// One held publish.
pub(super) struct Held {
    /// Taken when the batch goes to the plugins.
    message: Option<Arc<Message>>,
    /// QoS 1/2: the packet id, its QoS and the acknowledgement reserved for it.
    ack: Option<(u16, QoS, u64)>,
    /// Refused by authorization already.
    refused: Option<ReasonCode>,
}

/// The publishes held, in arrival order.
pub(super) type HeldPublishes = Vec<Held>;

impl Session {
    /// Must this validated publish to `topic` wait for the plugins' batch? Yes while others
    /// wait, and when an `on-publish` plugin of this client's listener is for that topic (a
    /// message no plugin transforms is not held).
    pub(super) fn holds_publish(&self, now: &PluginsNow, topic: &str) -> bool {
        self.held.is_some()
            || self
                .transforms(now, Hook::OnPublish)
                .is_some_and(|(host, mask, _)| host.transforms_in(Hook::OnPublish, mask, topic))
    }

    /// Holds a validated publish (`id`: its packet id at QoS 1/2); authorization is decided
    /// now, the plugins later.
    pub(super) fn hold_publish(
        &mut self,
        p: Publish,
        id: Option<u16>,
        now: &PluginsNow,
        ctx: &mut Context<Self>,
    ) {
        let message = Arc::new(self.message_of(p));
        let refused = (!self.may_publish_now(now, &message.topic, message.qos, message.retain)).then(|| {
            tracing::debug!(client_id = %self.client_id, topic = %message.topic, "publish not authorized");
            ReasonCode::NotAuthorized
        });
        let ack = id.map(|id| (id, message.qos, self.ack_later(id, message.qos)));
        let held = self.held.get_or_insert_with(|| Box::new(Vec::with_capacity(TRANSFORM_BATCH)));
        held.push(Held { message: Some(message), ack, refused });
        if held.len() >= TRANSFORM_BATCH {
            self.release_held(ctx);
        }
    }

    /// Runs the plugins over the held publishes and routes and acknowledges them in order.
    pub(super) fn release_held(&mut self, ctx: &mut Context<Self>) {
        let Some(mut held) = self.held.take() else { return };
        let batch: Vec<Arc<Message>> =
            held.iter_mut().filter(|h| h.refused.is_none()).filter_map(|h| h.message.take()).collect();
        let now = self.shared.plugins.load();
        let results = match self.transforms(&now, Hook::OnPublish) {
            Some((host, mask, identity)) if !batch.is_empty() => {
                plugins::with_local(host, |set| set.transform_batch(identity, batch, false, mask))
            }
            _ => batch.into_iter().map(Transformed::Pass).collect(),
        };
        let mut results = results.into_iter();
        let mut held = held.into_iter();
        while let Some(h) = held.next() {
            if self.phase != Phase::Connected {
                // A refusal closed the connection: what came after it is not handled, as
                // without batching, and its QoS 2 ids are forgotten (the client resends
                // those messages on its next connection).
                for rest in std::iter::once(h).chain(held.by_ref()) {
                    if let Some((id, QoS::ExactlyOnce, _)) = rest.ack {
                        self.incoming_qos2.remove(&id);
                    }
                }
                break;
            }
            let verdict = match h.refused {
                Some(reason) => Err(reason),
                None => match results.next() {
                    Some(Transformed::Pass(m)) => Ok(m),
                    Some(Transformed::Drop(reason)) => Err(reason),
                    None => Err(ReasonCode::ImplementationSpecificError),
                },
            };
            self.settle_publish(verdict, h.ack, ctx);
        }
        self.flush_acks(ctx);
    }
}
