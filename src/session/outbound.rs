//! Deliveries to the client: QoS window, topic aliases, message expiry, the client's Maximum
//! Packet Size, and the slow-consumer policy for QoS 0.

use std::time::Instant;

use actix::prelude::*;
use bytestring::ByteString;

use super::{Phase, Session};
use crate::protocol::*;
use crate::router::messages::Delivery;

/// QoS 0 deliveries are dropped (and counted) while this many bytes wait for the socket.
const QOS0_BACKLOG_LIMIT: usize = 4 * 1024 * 1024;

impl Session {
    /// A delivery from the router.
    pub(super) fn deliver(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        if self.phase != Phase::Connected {
            // Closing: keep QoS 1/2 for the stored session; QoS 0 follows the offline rule.
            if delivery.qos != QoS::AtMostOnce || self.shared.config.mqtt.queue_qos0_messages {
                self.outbound.enqueue(delivery);
                self.note_dropped();
            }
            return;
        }
        if delivery.qos == QoS::AtMostOnce {
            if self.out.backlog() > QOS0_BACKLOG_LIMIT {
                self.dropped += 1;
                self.metrics().dropped(crate::metrics::DropReason::SlowConsumer);
                return;
            }
            return self.write_publish(&delivery, None, false);
        }
        if let Some(id) = self.outbound.submit(delivery.clone()) {
            self.send_new(&delivery, id, ctx);
        }
        self.note_dropped();
    }

    /// Sends queued messages while the in-flight window has room.
    pub(super) fn drain_queue(&mut self, ctx: &mut Context<Self>) {
        while let Some((delivery, id)) = self.outbound.next_ready() {
            match id {
                Some(id) => self.send_new(&delivery, id, ctx),
                None => self.write_publish(&delivery, None, false),
            }
        }
    }

    /// Encodes one PUBLISH, unless the message expired or is too large for the client; a
    /// skipped QoS 1/2 message gives its packet id back.
    pub(super) fn write_publish(&mut self, d: &Delivery, packet_id: Option<u16>, dup: bool) {
        // The `on-deliver` plugins may modify or drop it (see `policy`).
        let Ok(changed) = self.on_deliver_hook(d) else {
            if let Some(id) = packet_id {
                self.outbound.abandon(id);
            }
            // Dropped for good: a stored delivery is done.
            self.store_complete(d.store_seq);
            return;
        };
        let d = changed.as_ref().unwrap_or(d);
        let m = &d.message;
        // Reading the clock costs more than the rest of this check: only when there is an expiry.
        let expiry = match m.properties.message_expiry_interval {
            None => Ok(None),
            Some(_) => m.remaining_expiry(Instant::now()),
        };
        let Ok(expiry) = expiry else {
            // Expired while queued: not delivered [MQTT-3.3.2-5].
            if let Some(id) = packet_id {
                self.outbound.abandon(id);
            }
            self.metrics().dropped(crate::metrics::DropReason::Expired);
            self.store_complete(d.store_seq);
            return;
        };
        let mut publish = Publish {
            dup,
            qos: d.qos,
            retain: d.retain,
            topic: m.topic.clone(),
            packet_id,
            payload: m.payload.clone(),
            properties: Default::default(),
        };
        if self.protocol.is_v5() {
            let p = &m.properties;
            publish.properties = PublishProperties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: expiry,
                topic_alias: None,
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
                subscription_identifiers: d.subscription_ids.to_vec(),
                content_type: p.content_type.clone(),
            }
            .into();
            self.apply_topic_alias(&mut publish);
        }
        let packet = Packet::Publish(publish);
        if encoded_len(&packet, self.protocol) > self.client_max_packet as usize {
            // [MQTT-3.1.2-25]: discard what the client would not accept.
            self.dropped += 1;
            if let Some(id) = packet_id {
                self.outbound.abandon(id);
            }
            self.metrics().dropped(crate::metrics::DropReason::TooLarge);
            self.store_complete(d.store_seq);
            return;
        }
        self.metrics().sent(d.qos);
        self.send(&packet);
    }

    /// Uses (or assigns) a topic alias when the client accepts them.
    fn apply_topic_alias(&mut self, p: &mut Publish) {
        if self.client_alias_max == 0 {
            return;
        }
        let aliases = &mut self.aliases.get_or_insert_with(Box::default).outbound;
        if let Some(&alias) = aliases.get(&p.topic) {
            p.properties.topic_alias = Some(alias);
            p.topic = ByteString::new();
            return;
        }
        let next = aliases.len() + 1;
        if next <= usize::from(self.client_alias_max) {
            let alias = next as u16;
            aliases.insert(p.topic.clone(), alias);
            // First use: the topic and the alias travel together.
            p.properties.topic_alias = Some(alias);
        }
    }
}
