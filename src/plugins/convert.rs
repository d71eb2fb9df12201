//! Conversions between the broker's types and the WIT types.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::bindings::aviary::plugin::types as wit;
use crate::auth::acl::AclRule;
use crate::auth::{ConnectRequest, Grants, Identity};
use crate::message::{Message, MessageProperties};
use crate::protocol::topic::validate_topic_name;
use crate::protocol::{Protocol, QoS, ReasonCode};

fn protocol(p: Protocol) -> wit::Protocol {
    match p {
        Protocol::V3_1 => wit::Protocol::Mqtt31,
        Protocol::V3_1_1 => wit::Protocol::Mqtt311,
        _ => wit::Protocol::Mqtt5,
    }
}

/// `addr.to_string()`, without the formatting machinery in the usual (IPv4) case: plugins
/// that look at their client ask for it on every call.
fn peer_text(addr: SocketAddr) -> String {
    let SocketAddr::V4(a) = addr else { return addr.to_string() };
    let mut text = String::with_capacity(21);
    let mut digits = itoa::Buffer::new();
    for (k, octet) in a.ip().octets().into_iter().enumerate() {
        if k > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text.push(':');
    text.push_str(digits.format(a.port()));
    text
}

/// The client of a hook call, as `aviary:plugin/context.get-client` answers.
pub(crate) fn client(i: &Identity) -> wit::ClientResult {
    wit::ClientResult {
        client_id: i.client_id.clone(),
        username: i.username.clone(),
        peer: peer_text(i.peer),
        listener: i.listener.to_string(),
        protocol: protocol(i.protocol),
        tls_subject: i.tls_subject.clone(),
        attributes: i.attributes.clone(),
    }
}

/// What `aviary:plugin/context.get-client` answers outside a hook call.
pub(crate) fn no_client() -> wit::ClientResult {
    wit::ClientResult {
        client_id: String::new(),
        username: None,
        peer: String::new(),
        listener: String::new(),
        protocol: wit::Protocol::Mqtt5,
        tls_subject: None,
        attributes: Vec::new(),
    }
}

/// What [`connect`] borrows from besides the request: the formatted peer address and the
/// string pairs as the WIT lists take them.
pub(crate) struct ConnectParts<'a> {
    peer: String,
    attributes: Vec<(&'a str, &'a str)>,
    user_properties: Vec<(&'a str, &'a str)>,
}

/// Pairs of borrowed strings, as the WIT `properties` parameters take them.
fn pairs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub(crate) fn connect_parts(r: &ConnectRequest) -> ConnectParts<'_> {
    ConnectParts {
        peer: peer_text(r.identity.peer),
        attributes: pairs(&r.identity.attributes),
        user_properties: pairs(&r.user_properties),
    }
}

pub(crate) fn connect<'a>(r: &'a ConnectRequest, parts: &'a ConnectParts<'a>) -> wit::Connect<'a> {
    let i = &r.identity;
    wit::Connect {
        client: wit::ClientParam {
            client_id: &i.client_id,
            username: i.username.as_deref(),
            peer: &parts.peer,
            listener: &i.listener,
            protocol: protocol(i.protocol),
            tls_subject: i.tls_subject.as_deref(),
            attributes: &parts.attributes,
        },
        password: r.password.as_deref(),
        clean_start: r.clean_start,
        keep_alive_secs: r.keep_alive_secs,
        user_properties: &parts.user_properties,
        auth_method: r.auth_method.as_deref(),
        auth_data: r.auth_data.as_deref(),
    }
}

pub(crate) fn grants(g: wit::Grant) -> Grants {
    Grants {
        superuser: g.superuser,
        acl: g
            .acl
            .into_iter()
            .map(|r| {
                let (publish, subscribe) =
                    (r.access.contains(wit::Access::PUBLISH), r.access.contains(wit::Access::SUBSCRIBE));
                AclRule::new(r.allow, publish, subscribe, r.topic_filter, None, None)
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

/// Does the message carry any MQTT 5 property a plugin sees (`has-properties`)?
pub(crate) fn has_properties(m: &Message) -> bool {
    let p = &m.properties;
    p.content_type.is_some()
        || p.response_topic.is_some()
        || p.correlation_data.is_some()
        || p.message_expiry_interval.is_some()
        || !p.user_properties.is_empty()
}

/// The MQTT 5 properties of a transform call's message, as
/// `aviary:plugin/context.get-message-properties` answers (all absent without a message).
pub(crate) fn properties(m: Option<&Message>) -> wit::MessageProperties {
    let Some(m) = m else {
        return wit::MessageProperties {
            content_type: None,
            response_topic: None,
            correlation_data: None,
            message_expiry_secs: None,
            user_properties: Vec::new(),
        };
    };
    let p = &m.properties;
    wit::MessageProperties {
        content_type: p.content_type.as_ref().map(ToString::to_string),
        response_topic: p.response_topic.as_ref().map(ToString::to_string),
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
        }
        .into(),
        received_at: orig.received_at.min(Instant::now()),
    }))
}

#[cfg(test)]
mod tests {
    use super::peer_text;

    #[test]
    fn peers_read_as_display_writes_them() {
        for a in ["127.0.0.1:1", "0.0.0.0:0", "255.255.255.255:65535", "10.20.3.4:1883", "[::1]:8883"] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            assert_eq!(peer_text(addr), addr.to_string());
        }
    }
}
