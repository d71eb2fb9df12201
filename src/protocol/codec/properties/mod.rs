//! MQTT 5 properties (section 2.2.2): identifiers, reading a property section into a packet's
//! property struct, and writing it back.
//!
//! Each property struct says which identifiers it accepts ([`DecodeProps::apply`]); an
//! identifier it does not list is rejected as not allowed in that packet, and one that may
//! appear once is rejected the second time.

mod ack;
mod connect;
mod publish;
mod subscribe;

pub(super) use subscribe::{SubscribeProps, SubscribePropsRef, UserProps, UserPropsRef};

use bytes::Bytes;
use bytestring::ByteString;

use super::read::Reader;
use super::write::{measure, Sink};
use crate::protocol::error::DecodeError;
use crate::protocol::packet::UserProperty;
use crate::protocol::sparse::{Empty, Sparse};

pub(super) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
pub(super) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
pub(super) const CONTENT_TYPE: u8 = 0x03;
pub(super) const RESPONSE_TOPIC: u8 = 0x08;
pub(super) const CORRELATION_DATA: u8 = 0x09;
pub(super) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
pub(super) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
pub(super) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
pub(super) const SERVER_KEEP_ALIVE: u8 = 0x13;
pub(super) const AUTHENTICATION_METHOD: u8 = 0x15;
pub(super) const AUTHENTICATION_DATA: u8 = 0x16;
pub(super) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
pub(super) const WILL_DELAY_INTERVAL: u8 = 0x18;
pub(super) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
pub(super) const RESPONSE_INFORMATION: u8 = 0x1A;
pub(super) const SERVER_REFERENCE: u8 = 0x1C;
pub(super) const REASON_STRING: u8 = 0x1F;
pub(super) const RECEIVE_MAXIMUM: u8 = 0x21;
pub(super) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
pub(super) const TOPIC_ALIAS: u8 = 0x23;
pub(super) const MAXIMUM_QOS: u8 = 0x24;
pub(super) const RETAIN_AVAILABLE: u8 = 0x25;
pub(super) const USER_PROPERTY: u8 = 0x26;
pub(super) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
pub(super) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
pub(super) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
pub(super) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// A decoded property value; its variant follows from the identifier (table 2-4).
pub(super) enum Value {
    Byte(u8),
    U16(u16),
    U32(u32),
    VarInt(u32),
    Str(ByteString),
    Bin(Bytes),
    Pair(ByteString, ByteString),
}

fn read_value(id: u8, r: &mut Reader) -> Result<Value, DecodeError> {
    Ok(match id {
        PAYLOAD_FORMAT_INDICATOR
        | REQUEST_PROBLEM_INFORMATION
        | REQUEST_RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => Value::Byte(r.u8()?),
        SERVER_KEEP_ALIVE | RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | TOPIC_ALIAS => Value::U16(r.u16()?),
        MESSAGE_EXPIRY_INTERVAL | SESSION_EXPIRY_INTERVAL | WILL_DELAY_INTERVAL | MAXIMUM_PACKET_SIZE => {
            Value::U32(r.u32()?)
        }
        SUBSCRIPTION_IDENTIFIER => Value::VarInt(r.varint()?),
        CONTENT_TYPE
        | RESPONSE_TOPIC
        | ASSIGNED_CLIENT_IDENTIFIER
        | AUTHENTICATION_METHOD
        | RESPONSE_INFORMATION
        | SERVER_REFERENCE
        | REASON_STRING => Value::Str(r.string()?),
        CORRELATION_DATA | AUTHENTICATION_DATA => Value::Bin(r.binary()?),
        USER_PROPERTY => {
            let (k, v) = r.string_pair()?;
            Value::Pair(k, v)
        }
        _ => return Err(DecodeError::UnknownProperty(id)),
    })
}

/// A property struct filled in from a property section.
pub(super) trait DecodeProps: Default {
    /// Takes one property, or rejects it.
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError>;

    /// Checks rules between properties once all are read.
    fn validate(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// A property struct written as a property section.
pub(super) trait WriteProps {
    /// Writes every property (without the Property Length).
    fn write<S: Sink>(&self, s: &mut S);
}

/// Properties kept off the packet while there are none: the first property read allocates.
impl<P: DecodeProps + Empty> DecodeProps for Sparse<P> {
    fn apply(&mut self, id: u8, value: Value, packet_type: u8) -> Result<(), DecodeError> {
        (**self).apply(id, value, packet_type)
    }

    fn validate(&self) -> Result<(), DecodeError> {
        (**self).validate()
    }
}

impl<P: WriteProps + Empty> WriteProps for Sparse<P> {
    fn write<S: Sink>(&self, s: &mut S) {
        (**self).write(s);
    }
}

/// Reads a Property Length and the properties it covers.
pub(super) fn decode<P: DecodeProps>(r: &mut Reader, packet_type: u8) -> Result<P, DecodeError> {
    let len = r.varint()? as usize;
    if len == 0 {
        return Ok(P::default());
    }
    if len > r.remaining() {
        return Err(DecodeError::PropertiesOverrun);
    }
    let mut section = Reader::new(r.take(len)?);
    let mut props = P::default();
    while !section.is_empty() {
        let id = section.varint()?;
        let id = u8::try_from(id).map_err(|_| DecodeError::UnknownProperty(u8::MAX))?;
        let value = read_value(id, &mut section)?;
        props.apply(id, value, packet_type)?;
    }
    props.validate()?;
    Ok(props)
}

/// Writes a Property Length and the properties.
pub(super) fn encode<S: Sink, P: WriteProps>(s: &mut S, props: &P) {
    let len = measure(|c| props.write(c));
    s.varint(u32::try_from(len).unwrap_or(u32::MAX));
    props.write(s);
}

/// True when the property section would be empty.
pub(super) fn is_empty<P: WriteProps>(props: &P) -> bool {
    measure(|c| props.write(c)) == 0
}

// ----- decoding helpers -----

/// Stores a property that may appear once.
pub(super) fn once<T>(slot: &mut Option<T>, value: T, id: u8) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *slot = Some(value);
    Ok(())
}

/// A byte property that must be 0 or 1.
pub(super) fn boolean(value: u8, id: u8) -> Result<bool, DecodeError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::InvalidPropertyValue { id }),
    }
}

/// A property that must not be 0.
pub(super) fn non_zero<T: Default + PartialEq>(value: T, err: DecodeError) -> Result<T, DecodeError> {
    if value == T::default() {
        Err(err)
    } else {
        Ok(value)
    }
}

/// Authentication Data is only allowed with an Authentication Method (section 3.1.2.11.10).
pub(super) fn check_auth(method: &Option<ByteString>, data: &Option<Bytes>) -> Result<(), DecodeError> {
    if data.is_some() && method.is_none() {
        return Err(DecodeError::AuthDataWithoutMethod);
    }
    Ok(())
}

/// A Response Topic must not contain wildcards [MQTT-3.3.2-14].
pub(super) fn check_response_topic(topic: &Option<ByteString>) -> Result<(), DecodeError> {
    match topic {
        Some(t) if crate::protocol::topic::has_wildcards(t) => Err(DecodeError::ResponseTopicWildcard),
        _ => Ok(()),
    }
}

// ----- encoding helpers -----

pub(super) fn put_u8<S: Sink>(s: &mut S, id: u8, v: Option<u8>) {
    if let Some(v) = v {
        s.u8(id);
        s.u8(v);
    }
}

pub(super) fn put_bool<S: Sink>(s: &mut S, id: u8, v: Option<bool>) {
    put_u8(s, id, v.map(u8::from));
}

pub(super) fn put_u16<S: Sink>(s: &mut S, id: u8, v: Option<u16>) {
    if let Some(v) = v {
        s.u8(id);
        s.u16(v);
    }
}

pub(super) fn put_u32<S: Sink>(s: &mut S, id: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.u8(id);
        s.u32(v);
    }
}

pub(super) fn put_varint<S: Sink>(s: &mut S, id: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.u8(id);
        s.varint(v);
    }
}

pub(super) fn put_str<S: Sink>(s: &mut S, id: u8, v: &Option<ByteString>) {
    if let Some(v) = v {
        s.u8(id);
        s.string(v);
    }
}

pub(super) fn put_bin<S: Sink>(s: &mut S, id: u8, v: &Option<Bytes>) {
    if let Some(v) = v {
        s.u8(id);
        s.binary(v);
    }
}

pub(super) fn put_users<S: Sink>(s: &mut S, users: &[UserProperty]) {
    for (k, v) in users {
        s.u8(USER_PROPERTY);
        s.string(k);
        s.string(v);
    }
}
