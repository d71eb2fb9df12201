//! CONNECT (section 3.1) and CONNACK (section 3.2).

use super::properties;
use super::publish::check_topic_name;
use super::read::Reader;
use super::reasons;
use super::write::Sink;
use super::{CONNACK, CONNECT};
use crate::protocol::error::DecodeError;
use crate::protocol::packet::{ConnAck, Connect, LastWill, Protocol, QoS};
use crate::protocol::reason::ReasonCode;

const RESERVED: u8 = 0x01;
const CLEAN_START: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

/// The protocol a CONNECT's protocol name and level select, read before anything else so an
/// unsupported version is reported as such [MQTT-3.1.2-1] [MQTT-3.1.2-2].
fn read_protocol(r: &mut Reader) -> Result<Protocol, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    match (&name[..], level) {
        (b"MQTT", 4) => Ok(Protocol::V3_1_1),
        (b"MQTT", 5) => Ok(Protocol::V5),
        (b"MQIsdp", 3) => Ok(Protocol::V3_1),
        _ => Err(DecodeError::UnsupportedProtocolVersion(level)),
    }
}

pub(super) fn decode_connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let protocol = read_protocol(r)?;
    let v5 = protocol.is_v5();
    let flags = r.u8()?;
    if flags & RESERVED != 0 {
        return Err(DecodeError::ConnectReservedFlag); // [MQTT-3.1.2-3]
    }
    let will_flag = flags & WILL != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & WILL_RETAIN != 0;
    if !will_flag && will_qos != 0 {
        return Err(DecodeError::WillQosWithoutWill); // [MQTT-3.1.2-11]
    }
    if !will_flag && will_retain {
        return Err(DecodeError::WillRetainWithoutWill); // [MQTT-3.1.2-13]
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::WillQos3)?; // [MQTT-3.1.2-12]
    if !v5 && flags & PASSWORD != 0 && flags & USERNAME == 0 {
        return Err(DecodeError::PasswordWithoutUsername); // [MQTT-3.1.2-22] (3.1.1)
    }
    let keep_alive = r.u16()?;
    let properties = if v5 { properties::decode(r, CONNECT)? } else { Default::default() };
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = if v5 { properties::decode(r, CONNECT)? } else { Default::default() };
        let topic = r.string()?;
        check_topic_name(&topic, false)?;
        let payload = r.binary()?;
        Some(LastWill { topic, payload, qos: will_qos, retain: will_retain, properties })
    } else {
        None
    };
    let username = if flags & USERNAME != 0 { Some(r.string()?) } else { None };
    let password = if flags & PASSWORD != 0 { Some(r.binary()?) } else { None };
    Ok(Connect {
        protocol,
        clean_start: flags & CLEAN_START != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

pub(super) fn write_connect<S: Sink>(c: &Connect, s: &mut S) {
    let (name, level) = match c.protocol {
        Protocol::V3_1 => ("MQIsdp", 3),
        Protocol::V3_1_1 => ("MQTT", 4),
        Protocol::V5 => ("MQTT", 5),
    };
    let v5 = c.protocol.is_v5();
    s.string(name);
    s.u8(level);
    let mut flags = 0;
    if c.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(will) = &c.will {
        flags |= WILL | (will.qos as u8) << 3;
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if c.username.is_some() {
        flags |= USERNAME;
    }
    if c.password.is_some() {
        flags |= PASSWORD;
    }
    s.u8(flags);
    s.u16(c.keep_alive);
    if v5 {
        properties::encode(s, &c.properties);
    }
    s.string(&c.client_id);
    if let Some(will) = &c.will {
        if v5 {
            properties::encode(s, &will.properties);
        }
        s.string(&will.topic);
        s.binary(&will.payload);
    }
    if let Some(username) = &c.username {
        s.string(username);
    }
    if let Some(password) = &c.password {
        s.binary(password);
    }
}

pub(super) fn decode_connack(r: &mut Reader, protocol: Protocol) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    // In MQTT 3.1 this byte was reserved without a rule; 3.1.1 and 5 require bits 7-1 to be 0.
    if protocol != Protocol::V3_1 && flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags); // [MQTT-3.2.2-1]
    }
    let session_present = flags & 0x01 != 0;
    let code = r.u8()?;
    let reason = if protocol.is_v5() {
        reasons::decode_v5(CONNACK, code)?
    } else {
        ReasonCode::from_v3_connack_code(code)
            .ok_or(DecodeError::InvalidReasonCode { packet_type: CONNACK, code })?
    };
    if session_present && reason != ReasonCode::Success {
        return Err(DecodeError::SessionPresentWithError); // [MQTT-3.2.2-6]
    }
    let properties = if protocol.is_v5() { properties::decode(r, CONNACK)? } else { Default::default() };
    Ok(ConnAck { session_present, reason, properties })
}

pub(super) fn write_connack<S: Sink>(c: &ConnAck, protocol: Protocol, s: &mut S) {
    s.u8(u8::from(c.session_present));
    if protocol.is_v5() {
        s.u8(c.reason.code());
        properties::encode(s, &c.properties);
    } else {
        s.u8(c.reason.v3_connack_code());
    }
}
