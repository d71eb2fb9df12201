//! Deliveries from the router to sessions: the per-session queue limits, gathering the
//! deliveries of one router turn into one mailbox message per session, and the congestion
//! tracking behind broker-wide backpressure ([`crate::flow`]).

use std::mem;
use std::sync::Arc;

use bytestring::ByteString;
use smallvec::smallvec;

use super::super::messages::Delivery;
use super::super::registry::Presence;
use super::{RouterState, SubEntry, PAUSED_CAP_FACTOR, QOS0_MAILBOX_CAP};
use crate::message::Message;
use crate::protocol::QoS;

impl RouterState {
    /// Hands a delivery to the client's session, or queues it for an absent client.
    pub(super) fn deliver(&mut self, client_id: &ByteString, mut delivery: Delivery) {
        let limit = self.config.max_queued_messages;
        let Some(entry) = self.clients.get_mut(client_id) else { return };
        if let Presence::Online { handle, .. } = &entry.presence {
            let cap = match (delivery.qos, limit) {
                (QoS::AtMostOnce, 0) => QOS0_MAILBOX_CAP,
                (_, 0) => usize::MAX,
                (_, n) => n,
            };
            let waiting = handle.pending() + entry.outgoing.len();
            // While reads are paused, what is already on its way (the router's mailbox, the
            // sessions' read buffers) may still arrive: allow it room rather than drop it.
            let cap = match self.backpressure.is_paused() {
                true => cap.saturating_mul(PAUSED_CAP_FACTOR),
                false => cap,
            };
            if waiting >= cap {
                self.stats.dropped_queue_full += 1;
                self.ops.metrics.limit_hit(crate::metrics::Limit::QueuedMessages);
                return;
            }
            if waiting + 1 >= self.flow_high && !self.congested.contains(client_id) {
                // This session's thread cannot keep up: pause reads broker-wide until it can,
                // rather than drop what publishers were already told is accepted.
                self.congested.push(client_id.clone());
                self.backpressure.pause();
            }
            // Gathered until the end of the router's turn, or until `finish_publish` finds
            // FLUSH_AT gathered: a delivery marked for the store reaches its session only after
            // the store heard of it (`finish_publish` sends the store op first).
            let stored = self.ops.store.is_some() && delivery.qos != QoS::AtMostOnce;
            if entry.outgoing.is_empty() {
                self.batched.push(client_id.clone());
            }
            self.batched_count += 1;
            if !stored {
                entry.outgoing.push(delivery);
                return;
            }
            self.ops.store_delivery(client_id, entry.persistent(), &mut delivery);
            entry.outgoing.push(delivery);
            return;
        }
        if delivery.qos == QoS::AtMostOnce && !self.config.queue_qos0_messages {
            return;
        }
        let bytes_limit = self.config.max_queued_bytes;
        let size = delivery.message.size();
        let full = (limit != 0 && entry.queued.len() + entry.stored.inflight.len() >= limit)
            || (bytes_limit != 0 && entry.queued_bytes + size > bytes_limit);
        if full {
            self.stats.dropped_queue_full += 1;
            self.ops.metrics.limit_hit(crate::metrics::Limit::QueuedMessages);
            return;
        }
        entry.queued_bytes += size;
        self.ops.store_delivery(client_id, entry.persistent(), &mut delivery);
        entry.queued.push_back(delivery);
    }

    /// The router took a publish from its mailbox (counted for [`crate::flow`]).
    pub fn publish_received(&self) {
        self.backpressure.routing_done();
    }

    /// True when deliveries wait for [`Self::flush_deliveries`].
    pub fn has_batched(&self) -> bool {
        !self.batched.is_empty()
    }

    /// Sends every session the deliveries gathered for it, one `Deliver` each. The actor
    /// calls it at the end of each turn of its mailbox, and before anything else that talks to
    /// sessions (so a control message never overtakes a delivery routed before it).
    pub fn flush_deliveries(&mut self) {
        self.batched_count = 0;
        for client_id in self.batched.drain(..) {
            let Some(entry) = self.clients.get_mut(&client_id) else { continue };
            let batch = mem::take(&mut entry.outgoing);
            if let Presence::Online { handle, .. } = &entry.presence {
                handle.send_deliveries(batch);
            }
        }
        self.recheck_congestion();
    }

    /// Drops sessions that drained (or left) from the congested set; reads resume when none
    /// is left. Runs every turn, and when a session reports progress while reads are paused.
    pub fn recheck_congestion(&mut self) {
        if self.congested.is_empty() {
            return;
        }
        let (clients, low) = (&self.clients, self.flow_low);
        self.congested
            .retain(|id| clients.get(id).and_then(|e| e.online()).is_some_and(|h| h.pending() > low));
        if self.congested.is_empty() {
            self.backpressure.resume();
        }
    }
}

/// Folds one matching subscription into the client's delivery: highest QoS, every
/// subscription identifier, retain as published if any subscription asks for it.
pub(super) fn merge_into(delivery: &mut Option<Delivery>, message: &Arc<Message>, sub: &SubEntry) {
    let qos = message.qos.min(sub.options.qos);
    let retain = sub.options.retain_as_published && message.retain;
    match delivery {
        None => {
            *delivery = Some(Delivery {
                message: message.clone(),
                qos,
                retain,
                subscription_ids: match sub.subscription_id {
                    Some(id) => smallvec![id],
                    None => smallvec![],
                },
                store_seq: None,
                transformed: false,
            });
        }
        Some(d) => {
            d.qos = d.qos.max(qos);
            d.retain |= retain;
            if let Some(id) = sub.subscription_id {
                d.subscription_ids.push(id);
            }
        }
    }
}
