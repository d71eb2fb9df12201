//! Conversions between the broker's types and the WIT types.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use super::bindings::aviary::plugin::types as wit;
use crate::auth::acl::AclRule;
use crate::auth::{ConnectRequest, Grants, Identity};
use crate::message::{Message, MessageProperties};
use crate::protocol::topic::validate_topic_name;
use crate::protocol::{Protocol, QoS, ReasonCode};

pub(crate) fn client(i: &Identity) -> wit::Client {
    wit::Client {
        client_id: i.client_id.clone(),
        username: i.username.clone(),
        peer: i.peer.to_string(),
        listener: i.listener.to_string(),
        protocol: match i.protocol {
            Protocol::V3_1 => wit::Protocol::Mqtt31,
            Protocol::V3_1_1 => wit::Protocol::Mqtt311,
            _ => wit::Protocol::Mqtt5,
        },
        tls_subject: i.tls_subject.clone(),
        attributes: i.attributes.clone(),
    }
}

pub(crate) fn connect(r: &ConnectRequest) -> wit::Connect {
    wit::Connect {
        client: client(&r.identity),
        password: r.password.as_ref().map(|p| p.to_vec()),
        clean_start: r.clean_start,
        keep_alive_secs: r.keep_alive_secs,
        user_properties: r.user_properties.clone(),
        auth_method: r.auth_method.clone(),
        auth_data: r.auth_data.as_ref().map(|d| d.to_vec()),
    }
}

pub(crate) fn grants(g: wit::Grant) -> Grants {
    Grants {
        superuser: g.superuser,
        acl: g
            .acl
            .into_iter()
            .map(|r| AclRule {
                allow: r.allow,
                publish: r.access.contains(wit::Access::PUBLISH),
                subscribe: r.access.contains(wit::Access::SUBSCRIBE),
                filter: r.topic_filter,
                user: None,
                client: None,
            })
            .collect(),
        attributes: g.attributes,
        session_expiry_cap: g.session_expiry_secs,
        connack_user_properties: g.connack_user_properties,
    }
}

pub(crate) fn connack_reason(r: wit::ConnackReason) -> ReasonCode {
    match r {
        wit::ConnackReason::NotAuthorized => ReasonCode::NotAuthorized,
        wit::ConnackReason::BadUsernameOrPassword => ReasonCode::BadUserNameOrPassword,
        wit::ConnackReason::Banned => ReasonCode::Banned,
        wit::ConnackReason::ServerUnavailable => ReasonCode::ServerUnavailable,
        wit::ConnackReason::QuotaExceeded => ReasonCode::QuotaExceeded,
    }
}

pub(crate) fn ack_reason(r: wit::AckReason) -> ReasonCode {
    match r {
        wit::AckReason::NotAuthorized => ReasonCode::NotAuthorized,
        wit::AckReason::TopicNameInvalid => ReasonCode::TopicNameInvalid,
        wit::AckReason::QuotaExceeded => ReasonCode::QuotaExceeded,
        wit::AckReason::PayloadFormatInvalid => ReasonCode::PayloadFormatInvalid,
        wit::AckReason::ImplementationSpecific => ReasonCode::ImplementationSpecificError,
    }
}

fn s(b: &Option<ByteString>) -> Option<String> {
    b.as_ref().map(|x| x.to_string())
}

pub(crate) fn message(m: &Message) -> wit::Message {
    let p = &m.properties;
    wit::Message {
        topic: m.topic.to_string(),
        payload: m.payload.to_vec(),
        qos: m.qos as u8,
        retain: m.retain,
        content_type: s(&p.content_type),
        response_topic: s(&p.response_topic),
        correlation_data: p.correlation_data.as_ref().map(|d| d.to_vec()),
        message_expiry_secs: p.message_expiry_interval,
        user_properties: p.user_properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// A message a plugin returned, checked: a valid topic name, a payload no larger than
/// `max_payload`, a QoS no higher than the original's.
pub(crate) fn modified(orig: &Message, m: wit::Message, max_payload: usize) -> Result<Arc<Message>, String> {
    validate_topic_name(&m.topic).map_err(|e| format!("invalid topic from plugin: {e}"))?;
    if m.payload.len() > max_payload {
        return Err(format!("payload of {} bytes exceeds max_payload_bytes", m.payload.len()));
    }
    let qos = QoS::from_u8(m.qos).filter(|q| *q <= orig.qos).ok_or("QoS raised or invalid")?;
    let utf8 = orig.properties.payload_format_indicator == Some(1);
    if utf8 && std::str::from_utf8(&m.payload).is_err() {
        return Err("payload no longer UTF-8 although the format indicator says so".into());
    }
    Ok(Arc::new(Message {
        topic: m.topic.into(),
        payload: Bytes::from(m.payload),
        qos,
        retain: m.retain,
        publisher: orig.publisher.clone(),
        properties: MessageProperties {
            payload_format_indicator: orig.properties.payload_format_indicator,
            message_expiry_interval: m.message_expiry_secs,
            content_type: m.content_type.map(Into::into),
            response_topic: m.response_topic.map(Into::into),
            correlation_data: m.correlation_data.map(Bytes::from),
            user_properties: m.user_properties.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        },
        received_at: orig.received_at.min(Instant::now()),
    }))
}
