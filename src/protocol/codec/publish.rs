//! PUBLISH (section 3.3) and its acknowledgements PUBACK, PUBREC, PUBREL and PUBCOMP
//! (sections 3.4 to 3.7).

use super::properties;
use super::read::Reader;
use super::reasons;
use super::write::Sink;
use super::{packet_id, PUBLISH};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::packet::{Protocol, PubResponse, Publish, PublishProperties, QoS};
use crate::protocol::reason::ReasonCode;
use crate::protocol::sparse::Sparse;
use crate::protocol::topic::has_wildcards;

/// A topic name must not be empty [MQTT-4.7.3-1] (in MQTT 5 a PUBLISH may leave it empty when
/// it carries a Topic Alias) and must not contain wildcards [MQTT-3.3.2-2].
pub(super) fn check_topic_name(topic: &str, alias: bool) -> Result<(), DecodeError> {
    if topic.is_empty() && !alias {
        return Err(DecodeError::EmptyTopicName);
    }
    if has_wildcards(topic) {
        return Err(DecodeError::TopicNameWildcard);
    }
    Ok(())
}

pub(super) fn decode_publish(r: &mut Reader, flags: u8, protocol: Protocol) -> Result<Publish, DecodeError> {
    let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::PublishQos3)?;
    let topic = r.string()?;
    let packet_id = if qos == QoS::AtMostOnce { None } else { Some(packet_id(r)?) };
    let properties: Sparse<PublishProperties> = match protocol.is_v5() {
        true => properties::decode(r, PUBLISH)?,
        false => Sparse::default(),
    };
    check_topic_name(&topic, properties.topic_alias.is_some())?;
    Ok(Publish {
        dup: flags & 0b1000 != 0,
        qos,
        retain: flags & 0b0001 != 0,
        topic,
        packet_id,
        payload: r.rest(),
        properties,
    })
}

pub(super) fn write_publish<S: Sink>(p: &Publish, protocol: Protocol, s: &mut S) {
    s.string(&p.topic);
    if p.qos != QoS::AtMostOnce {
        match p.packet_id {
            Some(id) => s.u16(id),
            None => s.fail(EncodeError::MissingPacketId),
        }
    }
    if protocol.is_v5() {
        properties::encode(s, &p.properties);
    }
    s.raw(&p.payload);
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP (`packet_type` tells which). In MQTT 5 the reason code
/// and properties may be left out (remaining length 2: Success) and the property length too
/// (remaining length 3).
pub(super) fn decode_response(
    r: &mut Reader,
    packet_type: u8,
    protocol: Protocol,
) -> Result<PubResponse, DecodeError> {
    let id = packet_id(r)?;
    if !protocol.is_v5() || r.is_empty() {
        return Ok(PubResponse::success(id));
    }
    let reason = reasons::decode_v5(packet_type, r.u8()?)?;
    let properties = if r.is_empty() { Default::default() } else { properties::decode(r, packet_type)? };
    Ok(PubResponse { packet_id: id, reason, properties })
}

pub(super) fn write_response<S: Sink>(p: &PubResponse, protocol: Protocol, s: &mut S) {
    s.u16(p.packet_id);
    if !protocol.is_v5() {
        return;
    }
    let no_properties = properties::is_empty(&p.properties);
    if p.reason == ReasonCode::Success && no_properties {
        return;
    }
    s.u8(p.reason.code());
    if !no_properties {
        properties::encode(s, &p.properties);
    }
}
