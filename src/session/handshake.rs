//! CONNECT -> CONNACK: client id rules, authentication, limits, session resumption.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use tokio::sync::oneshot;

use super::{Phase, Session};
use crate::message::{Message, MessageProperties};
use crate::protocol::topic::validate_topic_name;
use crate::protocol::*;
use crate::router::messages::{self, ConnectReply, PendingWill, SessionHandle};
use crate::session::inflight::{Outbound, Stage};

/// The parameters of a connection, settled from CONNECT and the broker's limits.
pub(super) struct Settled {
    assigned_id: Option<ByteString>,
    keep_alive: u16,
    server_keep_alive: Option<u16>,
    session_expiry: u32,
}

impl Session {
    pub(super) fn on_connect(&mut self, mut connect: Box<Connect>, ctx: &mut Context<Self>) {
        self.protocol = connect.protocol;
        if self.peer_info.identity_as_username {
            // As Mosquitto's use_identity_as_username: the certificate names the user.
            connect.username = self.peer_info.tls_subject.as_deref().map(ByteString::from);
            connect.password = None;
        }
        let settled = match self.settle(&connect) {
            Ok(s) => s,
            Err(reason) => return self.refuse(reason, None, ctx),
        };
        if let Some(id) = &settled.assigned_id {
            self.client_id = id.clone();
        } else {
            self.client_id = connect.client_id.clone();
        }
        self.phase = Phase::Connecting;
        // Authentication (super::policy) calls `admit` with the grants, or refuses.
        self.authenticate(connect, settled, ctx);
    }

    /// Authenticated: apply the limits and register with the router.
    pub(super) fn admit(&mut self, connect: Box<Connect>, mut settled: Settled, ctx: &mut Context<Self>) {
        if let Some(cap) = self.grants().session_expiry_cap {
            settled.session_expiry = settled.session_expiry.min(cap);
        }
        let p = &connect.properties;
        let mqtt = &self.shared.config.mqtt;
        self.session_expiry = settled.session_expiry;
        self.connect_expiry_was_zero = settled.session_expiry == 0;
        self.client_max_packet = p.maximum_packet_size.unwrap_or(u32::MAX);
        self.client_alias_max = p.topic_alias_maximum.unwrap_or(0);
        let window = p.receive_maximum.unwrap_or(u16::MAX).min(mqtt.max_inflight_messages);
        self.outbound = Outbound::new(window, mqtt.max_queued_messages, mqtt.max_queued_bytes);
        if settled.keep_alive > 0 {
            let limit = Duration::from_millis(u64::from(settled.keep_alive) * 1500);
            let tick = Duration::from_millis((u64::from(settled.keep_alive) * 125).max(125));
            let mut seen = (self.packets_in, Instant::now());
            ctx.run_interval(tick, move |act, ctx| act.check_keep_alive(limit, &mut seen, ctx));
        }
        self.will = connect.will.as_ref().map(|w| self.will_message(w));

        let (tx, rx) = oneshot::channel();
        let handle = SessionHandle { to: self.own_recipient(ctx), pending: self.pending.clone() };
        self.phase = Phase::Connecting;
        let info = messages::ClientInfo {
            peer: Some(self.peer_info.addr),
            listener: Some(self.peer_info.listener.to_string()),
            protocol_level: match connect.protocol {
                Protocol::V3_1 => 3,
                Protocol::V3_1_1 => 4,
                Protocol::V5 => 5,
            },
            keep_alive_secs: settled.keep_alive,
            session_expiry_secs: settled.session_expiry,
            connected_at: crate::persistence::records::unix_ms().checked_div(1000),
        };
        self.shared.router.do_send(messages::Connect {
            client_id: self.client_id.clone(),
            clean_start: connect.clean_start,
            connection_id: self.connection_id,
            handle,
            info,
            reply: tx,
        });
        ctx.wait(rx.into_actor(self).map(move |reply, act, ctx| match reply {
            Ok(reply) => act.connected(reply, &connect, settled, ctx),
            // A newer connection with the same client id superseded this one.
            Err(_) => act.close(ctx, None, false),
        }));
    }

    /// Applies the client id rules, authentication and the broker's limits.
    fn settle(&self, c: &Connect) -> Result<Settled, ReasonCode> {
        let mqtt = &self.shared.config.mqtt;
        let mut assigned_id = None;
        if c.client_id.is_empty() {
            // [MQTT-3.1.3-8]: 3.1.1 rejects an empty id with Clean Session 0; 3.1 needs an id.
            if c.protocol == Protocol::V3_1 || (!c.clean_start && !c.protocol.is_v5()) {
                return Err(ReasonCode::ClientIdentifierNotValid);
            }
            // [MQTT-3.1.3-6]/[MQTT-3.2.2-16]: assign one (and tell MQTT 5 clients).
            assigned_id = Some(ByteString::from(format!("aviary-{:016x}", fastrand::u64(..))));
        }
        let id_limit = if c.protocol == Protocol::V3_1 { 23 } else { usize::from(mqtt.max_client_id_len) };
        if c.client_id.len() > id_limit {
            return Err(ReasonCode::ClientIdentifierNotValid);
        }
        if let Some(w) = &c.will {
            validate_topic_name(&w.topic).map_err(|_| ReasonCode::TopicNameInvalid)?;
            if w.qos as u8 > mqtt.maximum_qos {
                return Err(ReasonCode::QoSNotSupported); // [MQTT-3.2.2-12]
            }
            if w.retain && !mqtt.retain_available {
                return Err(ReasonCode::RetainNotSupported); // [MQTT-3.2.2-13]
            }
        }
        let (keep_alive, server_keep_alive) = match c.keep_alive {
            0 if c.protocol.is_v5() && mqtt.keep_alive_max_secs < u16::MAX => {
                (mqtt.keep_alive_max_secs, Some(mqtt.keep_alive_max_secs))
            }
            k if k > mqtt.keep_alive_max_secs => (mqtt.keep_alive_max_secs, Some(mqtt.keep_alive_max_secs)),
            k => (k, None),
        };
        let session_expiry = if c.protocol.is_v5() {
            c.properties.session_expiry_interval.unwrap_or(0).min(mqtt.session_expiry_max_secs)
        } else if c.clean_start {
            0
        } else {
            match mqtt.persistent_session_expiry_secs {
                0 => u32::MAX,
                n => n,
            }
        };
        Ok(Settled { assigned_id, keep_alive, server_keep_alive, session_expiry })
    }

    fn will_message(&self, w: &LastWill) -> PendingWill {
        let p = &w.properties;
        let message = Message {
            topic: w.topic.clone(),
            payload: w.payload.clone(),
            qos: w.qos,
            retain: w.retain,
            publisher: Some(self.client_id.clone()),
            properties: MessageProperties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                content_type: p.content_type.clone(),
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
            }
            .into(),
            received_at: Instant::now(),
        };
        PendingWill { message: Arc::new(message), delay_secs: p.will_delay_interval.unwrap_or(0) }
    }

    /// Answers a refused CONNECT and closes.
    pub(super) fn refuse(&mut self, reason: ReasonCode, message: Option<String>, ctx: &mut Context<Self>) {
        tracing::info!(peer = %self.peer_info.addr, reason = format_args!("0x{:02X}", reason.code()), "connection refused");
        let mut properties = ConnAckProperties::default();
        if self.protocol.is_v5() {
            properties.reason_string = message.map(Into::into);
        }
        self.send(&Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: properties.into(),
        }));
        self.close(ctx, None, false);
    }

    /// The router registered the session: send CONNACK and resume what was stored.
    fn connected(&mut self, reply: ConnectReply, c: &Connect, s: Settled, ctx: &mut Context<Self>) {
        self.phase = super::Phase::Connected;
        let mqtt = &self.shared.config.mqtt;
        let mut props = ConnAckProperties::default();
        if c.protocol.is_v5() {
            let requested = c.properties.session_expiry_interval.unwrap_or(0);
            if requested != s.session_expiry {
                props.session_expiry_interval = Some(s.session_expiry);
            }
            if mqtt.receive_maximum != u16::MAX {
                props.receive_maximum = Some(mqtt.receive_maximum);
            }
            if mqtt.maximum_qos < 2 {
                props.maximum_qos = QoS::from_u8(mqtt.maximum_qos);
            }
            props.retain_available = (!mqtt.retain_available).then_some(false);
            props.maximum_packet_size = Some(self.peer_info.max_packet_size(mqtt));
            props.assigned_client_identifier = s.assigned_id.clone();
            props.topic_alias_maximum = (mqtt.topic_alias_maximum > 0).then_some(mqtt.topic_alias_maximum);
            props.wildcard_subscription_available = (!mqtt.wildcard_subscription_available).then_some(false);
            props.subscription_identifiers_available =
                (!mqtt.subscription_identifiers_available).then_some(false);
            props.shared_subscription_available = (!mqtt.shared_subscription_available).then_some(false);
            props.server_keep_alive = s.server_keep_alive;
            props.authentication_method = c.properties.authentication_method.clone();
            props.user_properties = self
                .grants()
                .connack_user_properties
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect();
        }
        self.send(&Packet::ConnAck(ConnAck {
            session_present: reply.session_present,
            reason: ReasonCode::Success,
            properties: props.into(),
        }));
        tracing::info!(
            client_id = %self.client_id, peer = %self.peer_info.addr, listener = %self.peer_info.listener,
            protocol = ?c.protocol,
            clean_start = c.clean_start, session_present = reply.session_present, "client connected"
        );
        self.shared.ops.metrics.client_connected();
        self.store_will(true);
        let stored = reply.session;
        self.incoming_qos2.extend(stored.incoming_qos2);
        self.subscriptions.extend(stored.subscriptions);
        self.outbound.restore(stored.inflight, stored.queue);
        self.resend_inflight();
        self.drain_queue(ctx);
    }

    /// After resumption, in-flight messages go again in their original order
    /// ([MQTT-4.4.0-1]): PUBLISH with DUP, or PUBREL for released QoS 2 messages.
    fn resend_inflight(&mut self) {
        let resend: Vec<_> = self
            .outbound
            .inflight_in_order()
            .into_iter()
            .map(|(id, d, stage)| (id, d.clone(), stage))
            .collect();
        for (id, delivery, stage) in resend {
            match stage {
                Stage::Published => self.write_publish(&delivery, Some(id), true),
                Stage::Released => self.send(&Packet::PubRel(PubResponse::success(id))),
            }
        }
    }
}
