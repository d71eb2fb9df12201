//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (sections 3.8 to 3.11).
//!
//! Topic filters are checked to be non-empty UTF-8 strings only; their wildcard syntax is the
//! session's to check, so it can answer with a SUBACK failure code instead of disconnecting.

use bytestring::ByteString;

use super::properties::{self, SubscribeProps, SubscribePropsRef, UserProps, UserPropsRef};
use super::read::Reader;
use super::reasons;
use super::write::Sink;
use super::{packet_id, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE};
use crate::protocol::error::DecodeError;
use crate::protocol::packet::{
    Protocol, QoS, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::protocol::reason::ReasonCode;

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;

fn topic_filter(r: &mut Reader) -> Result<ByteString, DecodeError> {
    let filter = r.string()?;
    if filter.is_empty() {
        return Err(DecodeError::EmptyTopicFilter); // [MQTT-4.7.3-1]
    }
    Ok(filter)
}

fn decode_options(byte: u8, filter: &str, protocol: Protocol) -> Result<SubscriptionOptions, DecodeError> {
    if !protocol.is_v5() {
        // [MQTT-3-8.3-4]: the upper six bits are reserved, and QoS 3 is not a QoS.
        let qos = QoS::from_u8(byte).ok_or(DecodeError::V3RequestedQosInvalid)?;
        return Ok(SubscriptionOptions { qos, ..Default::default() });
    }
    if byte & 0xC0 != 0 {
        return Err(DecodeError::SubscriptionOptionsReserved); // [MQTT-3.8.3-5]
    }
    let qos = QoS::from_u8(byte & 0b11).ok_or(DecodeError::SubscriptionQos3)?;
    let retain_handling = match (byte >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::RetainHandling3),
    };
    let no_local = byte & NO_LOCAL != 0;
    if no_local && filter.starts_with("$share/") {
        return Err(DecodeError::NoLocalOnSharedSubscription); // [MQTT-3.8.3-4]
    }
    Ok(SubscriptionOptions {
        qos,
        no_local,
        retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    })
}

fn encode_options(o: &SubscriptionOptions, protocol: Protocol) -> u8 {
    let mut byte = o.qos as u8;
    if protocol.is_v5() {
        if o.no_local {
            byte |= NO_LOCAL;
        }
        if o.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
        byte |= (o.retain_handling as u8) << 4;
    }
    byte
}

pub(super) fn decode_subscribe(r: &mut Reader, protocol: Protocol) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let props: SubscribeProps =
        if protocol.is_v5() { properties::decode(r, SUBSCRIBE)? } else { Default::default() };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = topic_filter(r)?;
        let options = decode_options(r.u8()?, &filter, protocol)?;
        filters.push((filter, options));
    }
    if filters.is_empty() {
        return Err(DecodeError::SubscribeWithoutFilters); // [MQTT-3.8.3-3]
    }
    Ok(Subscribe {
        packet_id,
        subscription_identifier: props.subscription_identifier,
        user_properties: props.user_properties,
        filters,
    })
}

pub(super) fn write_subscribe<S: Sink>(p: &Subscribe, protocol: Protocol, s: &mut S) {
    s.u16(p.packet_id);
    if protocol.is_v5() {
        let props = SubscribePropsRef {
            subscription_identifier: p.subscription_identifier,
            user_properties: &p.user_properties,
        };
        properties::encode(s, &props);
    }
    for (filter, options) in &p.filters {
        s.string(filter);
        s.u8(encode_options(options, protocol));
    }
}

fn decode_codes(
    r: &mut Reader,
    decode: impl Fn(u8) -> Result<ReasonCode, DecodeError>,
) -> Result<Vec<ReasonCode>, DecodeError> {
    let mut codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        codes.push(decode(r.u8()?)?);
    }
    Ok(codes)
}

pub(super) fn decode_suback(r: &mut Reader, protocol: Protocol) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !protocol.is_v5() {
        let reason_codes = decode_codes(r, reasons::decode_v3_suback)?;
        return Ok(SubAck { packet_id, properties: Default::default(), reason_codes });
    }
    let properties = properties::decode(r, SUBACK)?;
    let reason_codes = decode_codes(r, |c| reasons::decode_v5(SUBACK, c))?;
    Ok(SubAck { packet_id, properties, reason_codes })
}

pub(super) fn write_suback<S: Sink>(p: &SubAck, protocol: Protocol, s: &mut S) {
    s.u16(p.packet_id);
    if protocol.is_v5() {
        properties::encode(s, &p.properties);
        for code in &p.reason_codes {
            s.u8(code.code());
        }
    } else {
        for &code in &p.reason_codes {
            s.u8(reasons::encode_v3_suback(code));
        }
    }
}

pub(super) fn decode_unsubscribe(r: &mut Reader, protocol: Protocol) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let UserProps(user_properties) =
        if protocol.is_v5() { properties::decode(r, UNSUBSCRIBE)? } else { Default::default() };
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(topic_filter(r)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::UnsubscribeWithoutFilters); // [MQTT-3.10.3-2]
    }
    Ok(Unsubscribe { packet_id, user_properties, filters })
}

pub(super) fn write_unsubscribe<S: Sink>(p: &Unsubscribe, protocol: Protocol, s: &mut S) {
    s.u16(p.packet_id);
    if protocol.is_v5() {
        properties::encode(s, &UserPropsRef(&p.user_properties));
    }
    for filter in &p.filters {
        s.string(filter);
    }
}

/// In MQTT 3.x an UNSUBACK is only the packet identifier.
pub(super) fn decode_unsuback(r: &mut Reader, protocol: Protocol) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !protocol.is_v5() {
        return Ok(UnsubAck { packet_id, properties: Default::default(), reason_codes: Vec::new() });
    }
    let properties = properties::decode(r, UNSUBACK)?;
    let reason_codes = decode_codes(r, |c| reasons::decode_v5(UNSUBACK, c))?;
    Ok(UnsubAck { packet_id, properties, reason_codes })
}

pub(super) fn write_unsuback<S: Sink>(p: &UnsubAck, protocol: Protocol, s: &mut S) {
    s.u16(p.packet_id);
    if protocol.is_v5() {
        properties::encode(s, &p.properties);
        for code in &p.reason_codes {
            s.u8(code.code());
        }
    }
}
