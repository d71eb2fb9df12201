//! The packet codec: fixed header, dispatch to the per-packet decoders and encoders.
//!
//! Decoding splits one whole packet off the read buffer and reads it through a bounds-checked
//! [`read::Reader`]; strings and payloads are slices of the split-off buffer. Encoding
//! describes each packet body once as writes into a [`write::Sink`]: a counting pass gives the
//! exact remaining length (and finds what cannot be encoded), then a writing pass appends to
//! the reserved output buffer.

mod connect;
mod control;
mod properties;
mod publish;
mod read;
mod reasons;
mod subscribe;
mod write;

#[cfg(test)]
mod tests;

use bytes::{Buf, BufMut, BytesMut};

use self::read::{decode_varint, Reader};
use self::write::{measure, put_varint, varint_len, Counter, Sink, Writer, MAX_VARINT};
use super::error::{DecodeError, EncodeError};
use super::packet::{Packet, Protocol, QoS};

pub(crate) const CONNECT: u8 = 1;
pub(crate) const CONNACK: u8 = 2;
pub(crate) const PUBLISH: u8 = 3;
pub(crate) const PUBACK: u8 = 4;
pub(crate) const PUBREC: u8 = 5;
pub(crate) const PUBREL: u8 = 6;
pub(crate) const PUBCOMP: u8 = 7;
pub(crate) const SUBSCRIBE: u8 = 8;
pub(crate) const SUBACK: u8 = 9;
pub(crate) const UNSUBSCRIBE: u8 = 10;
pub(crate) const UNSUBACK: u8 = 11;
pub(crate) const PINGREQ: u8 = 12;
pub(crate) const PINGRESP: u8 = 13;
pub(crate) const DISCONNECT: u8 = 14;
pub(crate) const AUTH: u8 = 15;

/// Decodes the packet at the front of `buf`.
///
/// - `Ok(None)`: `buf` does not hold a whole packet yet; nothing was consumed.
/// - `Ok(Some(packet))`: the packet's bytes were split off the front of `buf`.
/// - `Err(e)`: the bytes violate the specification; the connection should be closed (after a
///   CONNACK or DISCONNECT carrying [`DecodeError::reason_code`] where the version allows).
///   Errors found in the fixed header are reported before the rest of the packet arrives.
///
/// `protocol` is `None` until CONNECT has been received: then only CONNECT is accepted
/// [MQTT-3.1.0-1] and its own protocol name and level select the format (the caller keeps
/// [`Connect::protocol`](super::packet::Connect::protocol) and passes it from then on). With
/// `Some(_)`, a CONNECT is a protocol error [MQTT-3.1.0-2].
///
/// `max_packet_size` bounds the whole packet, fixed header included; a larger packet fails
/// with [`DecodeError::PacketTooLarge`] as soon as its Remaining Length is readable. Pass
/// `u32::MAX` for no limit beyond the protocol's own.
///
/// The decoder accepts packets of both directions (it does not know which side it runs on).
pub fn decode_packet(
    buf: &mut BytesMut,
    protocol: Option<Protocol>,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = first >> 4;
    let flags = first & 0x0F;
    check_packet_type(packet_type, protocol)?;
    check_flags(packet_type, flags, protocol)?;
    let Some((remaining, len_bytes)) = decode_varint(buf.get(1..).unwrap_or_default())? else {
        return Ok(None);
    };
    let header_len = 1 + len_bytes;
    let size = header_len + remaining as usize;
    if size > max_packet_size as usize {
        return Err(DecodeError::PacketTooLarge { size, max: max_packet_size });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let mut frame = buf.split_to(size).freeze();
    frame.advance(header_len);
    let mut r = Reader::new(frame);
    let packet = decode_body(packet_type, flags, protocol, &mut r)?;
    r.finish()?;
    Ok(Some(packet))
}

fn check_packet_type(packet_type: u8, protocol: Option<Protocol>) -> Result<(), DecodeError> {
    match (packet_type, protocol) {
        (0, _) => Err(DecodeError::ReservedPacketType(0)),
        (CONNECT, None) => Ok(()),
        (CONNECT, Some(_)) => Err(DecodeError::SecondConnect),
        (_, None) => Err(DecodeError::FirstPacketNotConnect),
        (AUTH, Some(p)) if !p.is_v5() => Err(DecodeError::ReservedPacketType(AUTH)),
        _ => Ok(()),
    }
}

/// The fixed header flags [MQTT-2.1.3-1], and the PUBLISH flag rules.
fn check_flags(packet_type: u8, flags: u8, protocol: Option<Protocol>) -> Result<(), DecodeError> {
    let expected = match packet_type {
        PUBLISH => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(DecodeError::PublishQos3); // [MQTT-3.3.1-4]
            }
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(DecodeError::DupWithQos0); // [MQTT-3.3.1-2]
            }
            return Ok(());
        }
        // MQTT 3.1 let a retransmitted PUBREL, SUBSCRIBE or UNSUBSCRIBE carry DUP.
        PUBREL | SUBSCRIBE | UNSUBSCRIBE if protocol == Some(Protocol::V3_1) && flags == 0b1010 => {
            return Ok(());
        }
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => 0b0010,
        _ => 0,
    };
    if flags != expected {
        return Err(DecodeError::InvalidHeaderFlags { packet_type, flags });
    }
    Ok(())
}

fn decode_body(
    packet_type: u8,
    flags: u8,
    protocol: Option<Protocol>,
    r: &mut Reader,
) -> Result<Packet, DecodeError> {
    if packet_type == CONNECT {
        return Ok(Packet::Connect(Box::new(connect::decode_connect(r)?)));
    }
    let Some(p) = protocol else {
        return Err(DecodeError::FirstPacketNotConnect);
    };
    Ok(match packet_type {
        CONNACK => Packet::ConnAck(connect::decode_connack(r, p)?),
        PUBLISH => Packet::Publish(publish::decode_publish(r, flags, p)?),
        PUBACK => Packet::PubAck(publish::decode_response(r, packet_type, p)?),
        PUBREC => Packet::PubRec(publish::decode_response(r, packet_type, p)?),
        PUBREL => Packet::PubRel(publish::decode_response(r, packet_type, p)?),
        PUBCOMP => Packet::PubComp(publish::decode_response(r, packet_type, p)?),
        SUBSCRIBE => Packet::Subscribe(subscribe::decode_subscribe(r, p)?),
        SUBACK => Packet::SubAck(subscribe::decode_suback(r, p)?),
        UNSUBSCRIBE => Packet::Unsubscribe(subscribe::decode_unsubscribe(r, p)?),
        UNSUBACK => Packet::UnsubAck(subscribe::decode_unsuback(r, p)?),
        PINGREQ => Packet::PingReq,
        PINGRESP => Packet::PingResp,
        DISCONNECT => Packet::Disconnect(control::decode_disconnect(r, p)?),
        AUTH => Packet::Auth(control::decode_auth(r)?),
        _ => return Err(DecodeError::ReservedPacketType(packet_type)),
    })
}

/// Reads a Packet Identifier, which must not be 0 [MQTT-2.2.1-3].
fn packet_id(r: &mut Reader) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::PacketIdZero),
        id => Ok(id),
    }
}

/// Appends `packet`, encoded for `protocol`, to `out` (reserving the space once).
///
/// A CONNECT is encoded for its own [`Connect::protocol`](super::packet::Connect::protocol).
/// MQTT 5 fields are left out for 3.x; MQTT 5 acknowledgements use their short forms when the
/// reason is `Success` and there are no properties. Nothing is appended on error.
pub fn encode_packet(packet: &Packet, protocol: Protocol, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut counter = Counter::default();
    write_body(packet, protocol, &mut counter);
    if let Some(e) = counter.error {
        return Err(e);
    }
    let remaining = counter.len;
    if remaining > MAX_VARINT as usize {
        return Err(EncodeError::PacketTooLarge(remaining));
    }
    out.reserve(1 + varint_len(remaining) + remaining);
    out.put_u8(first_byte(packet));
    put_varint(out, remaining);
    write_body(packet, protocol, &mut Writer::new(out));
    Ok(())
}

/// The number of bytes [`encode_packet`] appends for `packet` (fixed header included), to
/// compare with the peer's Maximum Packet Size before encoding. For a packet that
/// [`encode_packet`] refuses, the value is only an estimate.
pub fn encoded_len(packet: &Packet, protocol: Protocol) -> usize {
    let remaining = measure(|c| write_body(packet, protocol, c));
    1 + varint_len(remaining) + remaining
}

fn first_byte(packet: &Packet) -> u8 {
    let (packet_type, flags) = match packet {
        Packet::Connect(_) => (CONNECT, 0),
        Packet::ConnAck(_) => (CONNACK, 0),
        Packet::Publish(p) => {
            // DUP is only meaningful, and only allowed, with QoS > 0 [MQTT-3.3.1-2].
            let dup = p.dup && p.qos != QoS::AtMostOnce;
            (PUBLISH, u8::from(dup) << 3 | (p.qos as u8) << 1 | u8::from(p.retain))
        }
        Packet::PubAck(_) => (PUBACK, 0),
        Packet::PubRec(_) => (PUBREC, 0),
        Packet::PubRel(_) => (PUBREL, 0b0010),
        Packet::PubComp(_) => (PUBCOMP, 0),
        Packet::Subscribe(_) => (SUBSCRIBE, 0b0010),
        Packet::SubAck(_) => (SUBACK, 0),
        Packet::Unsubscribe(_) => (UNSUBSCRIBE, 0b0010),
        Packet::UnsubAck(_) => (UNSUBACK, 0),
        Packet::PingReq => (PINGREQ, 0),
        Packet::PingResp => (PINGRESP, 0),
        Packet::Disconnect(_) => (DISCONNECT, 0),
        Packet::Auth(_) => (AUTH, 0),
    };
    packet_type << 4 | flags
}

fn write_body<S: Sink>(packet: &Packet, protocol: Protocol, s: &mut S) {
    match packet {
        Packet::Connect(c) => connect::write_connect(c, s),
        Packet::ConnAck(c) => connect::write_connack(c, protocol, s),
        Packet::Publish(p) => publish::write_publish(p, protocol, s),
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            publish::write_response(r, protocol, s)
        }
        Packet::Subscribe(p) => subscribe::write_subscribe(p, protocol, s),
        Packet::SubAck(p) => subscribe::write_suback(p, protocol, s),
        Packet::Unsubscribe(p) => subscribe::write_unsubscribe(p, protocol, s),
        Packet::UnsubAck(p) => subscribe::write_unsuback(p, protocol, s),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => control::write_disconnect(d, protocol, s),
        Packet::Auth(a) => control::write_auth(a, protocol, s),
    }
}
