//! Packets from the client: one function per packet type.

use std::sync::Arc;

use actix::prelude::*;
use bytestring::ByteString;

use super::inflight::AckOutcome;
use super::{Phase, Session};
use crate::message::{Message, MessageProperties};
use crate::protocol::topic::{
    has_wildcards, parse_shared_subscription, validate_topic_filter, validate_topic_name,
};
use crate::protocol::*;
use crate::reload::PluginsNow;
use crate::router::messages::{self, SubscribeFilter};

impl Session {
    /// Hands a message to the router (counted for [`crate::flow`]).
    pub(super) fn route_now(&self, message: Arc<Message>) {
        self.shared.ops.backpressure.routing_sent();
        self.shared.router.do_send(messages::Publish(message));
    }

    pub(super) fn on_packet(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        if self.phase == Phase::AwaitingConnect {
            ctx.cancel_future(std::mem::take(&mut self.connect_timer));
            return match packet {
                Packet::Connect(c) => self.on_connect(c, ctx),
                // The decoder only lets CONNECT through first; anything else is a bug there.
                other => self.violation(ctx, ReasonCode::ProtocolError, other.name()),
            };
        }
        if self.authenticating() && !matches!(packet, Packet::Auth(_)) {
            // Only AUTH may come before CONNACK during enhanced authentication.
            return self.refuse(
                ReasonCode::ProtocolError,
                Some(format!("{} before CONNACK", packet.name())),
                ctx,
            );
        }
        if !matches!(packet, Packet::Publish(_)) {
            // Whatever this packet does (PUBREL, DISCONNECT...) follows the publishes before
            // it, and its answer their acknowledgements.
            if self.held.is_some() {
                self.release_held(ctx);
            }
            self.flush_acks(ctx);
        }
        match packet {
            Packet::Publish(p) => self.on_publish(p, ctx),
            Packet::PubAck(r) => self.on_ack(r.packet_id, |o, id| o.puback(id), ctx),
            Packet::PubRec(r) => self.on_pubrec(r, ctx),
            Packet::PubRel(r) => self.on_pubrel(r),
            Packet::PubComp(r) => self.on_ack(r.packet_id, |o, id| o.pubcomp(id), ctx),
            Packet::Subscribe(s) => self.on_subscribe(s, ctx),
            Packet::Unsubscribe(u) => self.on_unsubscribe(u),
            Packet::PingReq => self.send(&Packet::PingResp),
            Packet::Disconnect(d) => self.on_disconnect(d, ctx),
            // A step of enhanced authentication (see `policy`); re-authentication is refused.
            Packet::Auth(a) => self.on_auth(a, ctx),
            // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation (the decoder reports it).
            other => {
                let what = format!("{} is not sent by clients", other.name());
                self.violation(ctx, ReasonCode::ProtocolError, &what)
            }
        }
    }

    pub(super) fn on_decode_error(&mut self, e: DecodeError, ctx: &mut Context<Self>) {
        if let (DecodeError::UnsupportedProtocolVersion(_), Phase::AwaitingConnect) = (e, self.phase) {
            // [MQTT-3.1.2-2]: answer with return code 0x01 (3.1.1 form: the client's version
            // is not one we speak) and close.
            self.protocol = Protocol::V3_1_1;
            self.send(&Packet::ConnAck(ConnAck {
                session_present: false,
                reason: ReasonCode::UnsupportedProtocolVersion,
                properties: Default::default(),
            }));
            tracing::info!(peer = %self.peer_info.addr, "closing connection: {e}");
            return self.close(ctx, None, false);
        }
        if e.reason_code() == ReasonCode::PacketTooLarge {
            self.metrics().limit_hit(crate::metrics::Limit::PacketSize);
        }
        self.violation(ctx, e.reason_code(), &e.to_string());
    }

    fn on_publish(&mut self, mut p: Publish, ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        let mqtt = &shared.config.mqtt;
        if p.qos as u8 > mqtt.maximum_qos {
            return self.violation(ctx, ReasonCode::QoSNotSupported, "PUBLISH above the maximum QoS");
            // [MQTT-3.2.2-11]
        }
        if p.retain && !mqtt.retain_available {
            return self.violation(
                ctx,
                ReasonCode::RetainNotSupported,
                "retained PUBLISH while retain is unavailable",
            ); // [MQTT-3.2.2-14]
        }
        if !p.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]: only the server sends Subscription Identifiers.
            return self.violation(
                ctx,
                ReasonCode::ProtocolError,
                "PUBLISH from a client with a Subscription Identifier",
            );
        }
        if let Err((reason, what)) = self.resolve_topic_alias(&mut p) {
            return self.violation(ctx, reason, what);
        }
        if validate_topic_name(&p.topic).is_err() {
            return self.violation(ctx, ReasonCode::TopicNameInvalid, "invalid topic name");
        }
        let format_ok =
            p.properties.payload_format_indicator != Some(1) || std::str::from_utf8(&p.payload).is_ok();
        self.metrics().received(p.qos);
        let resent_qos2 =
            p.qos == QoS::ExactlyOnce && p.packet_id.is_some_and(|id| self.incoming_qos2.contains(&id));
        if !resent_qos2 {
            if let Some(reason) = self.over_rate(p.payload.len()) {
                return self.rate_limited(p.qos, p.packet_id, reason, ctx);
            }
        }
        // One look at the plugins in force for everything this PUBLISH goes through.
        let now = self.shared.plugins.load();
        let hold = self.holds_publish(&now, &p.topic);
        match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) if format_ok && hold => self.hold_publish(p, None, &now, ctx),
            (QoS::AtMostOnce, _) => {
                if format_ok {
                    self.route(p, &now);
                }
            }
            (QoS::AtLeastOnce, Some(id)) => {
                if !format_ok {
                    return self.ack_now(id, p.qos, ReasonCode::PayloadFormatInvalid, ctx);
                }
                match hold {
                    true => self.hold_publish(p, Some(id), &now, ctx),
                    false => self.route_acked(p, id, &now, ctx),
                }
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // Exactly once: the id stays known until PUBREL, so a resent PUBLISH with the
                // same id is acknowledged again but not routed twice [MQTT-4.3.3-9].
                if resent_qos2 {
                    if !self.ack_pending(id) {
                        self.ack_now(id, p.qos, ReasonCode::Success, ctx);
                    }
                    return;
                }
                if self.incoming_qos2.len() >= usize::from(mqtt.receive_maximum) {
                    self.metrics().limit_hit(crate::metrics::Limit::ReceiveMaximum);
                    return self.violation(
                        ctx,
                        ReasonCode::ReceiveMaximumExceeded,
                        "Receive Maximum exceeded",
                    );
                    // [MQTT-3.3.4-9]
                }
                if !format_ok {
                    return self.ack_now(id, p.qos, ReasonCode::PayloadFormatInvalid, ctx);
                }
                self.incoming_qos2.insert(id);
                match hold {
                    true => self.hold_publish(p, Some(id), &now, ctx),
                    false => self.route_acked(p, id, &now, ctx),
                }
            }
            (_, None) => self.violation(ctx, ReasonCode::ProtocolError, "PUBLISH without packet id"),
        }
    }

    /// A publish over the client's rate or bandwidth. QoS 0 is dropped. QoS 1/2 over the
    /// bandwidth is refused with 0x97 in PUBACK/PUBREC (MQTT 3.x: the connection closes);
    /// over the message rate the connection closes with DISCONNECT 0x96, the only packet that
    /// may carry that code.
    fn rate_limited(&mut self, qos: QoS, id: Option<u16>, reason: ReasonCode, ctx: &mut Context<Self>) {
        self.metrics().dropped(crate::metrics::DropReason::RateLimited);
        match id {
            Some(_) if qos != QoS::AtMostOnce && reason == ReasonCode::MessageRateTooHigh => {
                self.violation(ctx, reason, "publish rate limit exceeded")
            }
            Some(id) if qos != QoS::AtMostOnce => self.ack_now(id, qos, reason, ctx),
            _ => {}
        }
    }

    /// Routes a QoS 1/2 publish; its acknowledgement waits for the router or store if needed.
    fn route_acked(&mut self, p: Publish, id: u16, now: &PluginsNow, ctx: &mut Context<Self>) {
        let qos = p.qos;
        let verdict = self.admit_publish(self.message_of(p), now);
        let seq = self.ack_later(id, qos);
        self.settle_publish(verdict, Some((id, qos, seq)), ctx);
        match self.mid_burst {
            true => self.flush_acks(ctx),
            false => self.flush_acks_after_routing(ctx),
        }
    }

    /// Routes (or drops) an admitted publish and decides its acknowledgement (`ack`: packet
    /// id, QoS and the acknowledgement reserved by [`Session::ack_later`], for QoS 1/2), which
    /// waits for the router or store if needed; [`Session::flush_acks`] sends it.
    pub(super) fn settle_publish(
        &mut self,
        verdict: Result<Arc<Message>, ReasonCode>,
        ack: Option<(u16, QoS, u64)>,
        ctx: &mut Context<Self>,
    ) {
        let Some((id, qos, seq)) = ack else {
            if let Ok(message) = verdict {
                self.route_now(message);
            }
            return;
        };
        match verdict {
            Ok(message) if self.acks_wait(message.retain) => {
                let incoming_qos2 = (qos == QoS::ExactlyOnce).then_some(id);
                let reply = self.own_recipient(ctx);
                self.shared.router.do_send(messages::PublishAcked { message, incoming_qos2, seq, reply });
            }
            Ok(message) => {
                self.route_now(message);
                self.settle_ack(seq, ReasonCode::Success);
            }
            // Refused by authorization or a transform: MQTT 5 acknowledges with the reason (an
            // error PUBREC ends the QoS 2 flow); MQTT 3.x cannot say no, so the message is
            // acknowledged and dropped, as Mosquitto does.
            Err(reason) if self.protocol.is_v5() => self.settle_ack(seq, reason),
            Err(_) => self.settle_ack(seq, ReasonCode::Success),
        }
    }

    /// Maps topic aliases to topics (MQTT 5, [MQTT-3.3.2-7..12]).
    fn resolve_topic_alias(&mut self, p: &mut Publish) -> Result<(), (ReasonCode, &'static str)> {
        // Read before written: writing allocates the properties of a publish that has none.
        let Some(alias) = p.properties.topic_alias else {
            return Ok(());
        };
        p.properties.topic_alias = None;
        if alias == 0 || alias > self.shared.config.mqtt.topic_alias_maximum {
            return Err((ReasonCode::TopicAliasInvalid, "topic alias out of range"));
        }
        if p.topic.is_empty() {
            match self.aliases.as_ref().and_then(|a| a.inbound.get(&alias)) {
                Some(topic) => p.topic = topic.clone(),
                None => return Err((ReasonCode::ProtocolError, "unknown topic alias")),
            }
        } else {
            self.aliases.get_or_insert_with(Box::default).inbound.insert(alias, p.topic.clone());
        }
        Ok(())
    }

    /// Authorizes and transforms a validated QoS 0 publish (see `policy`), then hands it to
    /// the router.
    fn route(&mut self, p: Publish, now: &PluginsNow) {
        if let Ok(message) = self.admit_publish(self.message_of(p), now) {
            self.route_now(message);
        }
    }

    /// The version-neutral message of a PUBLISH.
    pub(super) fn message_of(&self, p: Publish) -> Message {
        let props = p.properties.into_inner();
        Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            publisher: Some(self.client_id.clone()),
            properties: MessageProperties {
                payload_format_indicator: props.payload_format_indicator,
                message_expiry_interval: props.message_expiry_interval,
                content_type: props.content_type,
                response_topic: props.response_topic,
                correlation_data: props.correlation_data,
                user_properties: props.user_properties,
            }
            .into(),
            received_at: super::codec::received_at(),
        }
    }

    fn on_ack(
        &mut self,
        id: u16,
        ack: impl FnOnce(&mut super::inflight::Outbound, u16) -> AckOutcome,
        ctx: &mut Context<Self>,
    ) {
        let seq = self.outbound.get(id).and_then(|d| d.store_seq);
        if ack(&mut self.outbound, id) == AckOutcome::Completed {
            self.store_complete(seq);
            self.drain_queue(ctx);
        }
    }

    fn on_pubrec(&mut self, r: PubResponse, ctx: &mut Context<Self>) {
        let seq = self.outbound.get(r.packet_id).and_then(|d| d.store_seq);
        match self.outbound.pubrec(r.packet_id, r.reason.is_error()) {
            AckOutcome::SendPubRel => self.send_pubrel(r.packet_id, ctx),
            AckOutcome::Completed => {
                self.store_complete(seq);
                self.drain_queue(ctx)
            }
            AckOutcome::Unknown => {
                let reason = ReasonCode::PacketIdentifierNotFound;
                self.send(&Packet::PubRel(PubResponse { reason, ..PubResponse::success(r.packet_id) }));
            }
        }
    }

    fn on_pubrel(&mut self, r: PubResponse) {
        let reason = if self.incoming_qos2.remove(&r.packet_id) {
            self.store_incoming_done(r.packet_id);
            ReasonCode::Success
        } else {
            ReasonCode::PacketIdentifierNotFound
        };
        self.send(&Packet::PubComp(PubResponse { reason, ..PubResponse::success(r.packet_id) }));
    }

    fn on_subscribe(&mut self, s: Subscribe, ctx: &mut Context<Self>) {
        let mut checked = Vec::with_capacity(s.filters.len());
        for (filter, options) in s.filters {
            match self.check_subscription(&filter, options, s.subscription_identifier) {
                Ok(f) => checked.push(Ok(f)),
                Err(Some(code)) => checked.push(Err(code)),
                Err(None) => {
                    // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
                    return self.violation(
                        ctx,
                        ReasonCode::ProtocolError,
                        "No Local on a shared subscription",
                    );
                }
            }
        }
        self.authorize_subscriptions(&mut checked);
        let mut accepted = Vec::with_capacity(checked.len());
        let mut codes = Vec::with_capacity(checked.len());
        for c in checked {
            match c {
                Ok(f) => {
                    codes.push(granted_code(f.options.qos));
                    self.subscriptions.insert(f.filter.clone());
                    accepted.push(f);
                }
                Err(code) => codes.push(code),
            }
        }
        if !accepted.is_empty() {
            let client_id = self.client_id.clone();
            self.shared.router.do_send(messages::Subscribe { client_id, filters: accepted });
        }
        // SUBACK leaves before the retained messages the router sends [MQTT-3.8.4-1].
        self.send(&Packet::SubAck(SubAck {
            packet_id: s.packet_id,
            properties: Default::default(),
            reason_codes: codes,
        }));
    }

    /// Validates one filter: `Err(Some(code))` refuses it in SUBACK, `Err(None)` is a
    /// protocol violation.
    fn check_subscription(
        &self,
        filter: &ByteString,
        mut options: SubscriptionOptions,
        subscription_id: Option<u32>,
    ) -> Result<SubscribeFilter, Option<ReasonCode>> {
        let mqtt = &self.shared.config.mqtt;
        let shared = parse_shared_subscription(filter).map_err(|_| Some(ReasonCode::TopicFilterInvalid))?;
        let (group, topic_filter) = match shared {
            Some(s) => {
                if !mqtt.shared_subscription_available {
                    return Err(Some(ReasonCode::SharedSubscriptionsNotSupported));
                }
                if options.no_local && self.protocol.is_v5() {
                    return Err(None);
                }
                (Some(ByteString::from(s.group)), ByteString::from(s.filter))
            }
            None => (None, filter.clone()),
        };
        validate_topic_filter(&topic_filter).map_err(|_| Some(ReasonCode::TopicFilterInvalid))?;
        if !mqtt.wildcard_subscription_available && has_wildcards(&topic_filter) {
            return Err(Some(ReasonCode::WildcardSubscriptionsNotSupported));
        }
        if subscription_id.is_some() && !mqtt.subscription_identifiers_available {
            return Err(Some(ReasonCode::SubscriptionIdentifiersNotSupported));
        }
        let limit = mqtt.max_subscriptions_per_client;
        if limit != 0 && self.subscriptions.len() >= limit && !self.subscriptions.contains(filter) {
            self.metrics().limit_hit(crate::metrics::Limit::Subscriptions);
            return Err(Some(ReasonCode::QuotaExceeded));
        }
        // Grant at most the broker's maximum QoS.
        options.qos = options.qos.min(QoS::from_u8(mqtt.maximum_qos).unwrap_or(QoS::ExactlyOnce));
        Ok(SubscribeFilter {
            filter: filter.clone(),
            share_group: group,
            topic_filter,
            options,
            subscription_id,
        })
    }

    fn on_unsubscribe(&mut self, u: Unsubscribe) {
        let codes = u
            .filters
            .iter()
            .map(|f| {
                if self.subscriptions.remove(f) {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                }
            })
            .collect();
        let client_id = self.client_id.clone();
        self.shared.router.do_send(messages::Unsubscribe { client_id, filters: u.filters });
        self.send(&Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            properties: Default::default(),
            reason_codes: codes,
        }));
    }

    fn on_disconnect(&mut self, d: Disconnect, ctx: &mut Context<Self>) {
        if let Some(expiry) = d.properties.session_expiry_interval {
            if self.connect_expiry_was_zero && expiry != 0 {
                // [MQTT-3.14.2-2]
                return self.violation(
                    ctx,
                    ReasonCode::ProtocolError,
                    "Session Expiry raised from 0 at DISCONNECT",
                );
            }
            self.session_expiry = expiry.min(self.shared.config.mqtt.session_expiry_max_secs);
        }
        // The will is kept only for 0x04 Disconnect with Will Message [MQTT-3.14.4-3].
        let keep_will = d.reason == ReasonCode::DisconnectWithWillMessage;
        self.close(ctx, None, keep_will);
    }
}

/// The SUBACK code granting a QoS.
fn granted_code(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}
