//! Codec tests: one file per packet family, violations named by the statement they break,
//! and property tests.

mod connect;
mod control;
mod fuzz_seeds;
mod header;
mod proptests;
mod publish;
mod strategies;
mod subscribe;
mod values;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::protocol::{decode_packet, encode_packet, encoded_len, DecodeError, Packet, Protocol};

pub(super) use Protocol::{V3_1, V3_1_1, V5};

/// Every protocol version.
pub(super) const ALL: [Protocol; 3] = [V3_1, V3_1_1, V5];

pub(super) fn s(v: &str) -> ByteString {
    ByteString::from(v)
}

pub(super) fn b(v: &'static [u8]) -> Bytes {
    Bytes::from_static(v)
}

/// The protocol argument to decode `packet` with: `None` for CONNECT.
fn decode_protocol(packet: &Packet, protocol: Protocol) -> Option<Protocol> {
    match packet {
        Packet::Connect(_) => None,
        _ => Some(protocol),
    }
}

/// Decodes `bytes`, which must hold exactly one packet.
pub(super) fn decode(bytes: &[u8], protocol: Option<Protocol>) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode_packet(&mut buf, protocol, u32::MAX)?;
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(packet.expect("a whole packet"))
}

/// Decodes `bytes` and returns the error.
pub(super) fn decode_err(bytes: &[u8], protocol: Option<Protocol>) -> DecodeError {
    match decode(bytes, protocol) {
        Err(e) => e,
        Ok(p) => panic!("decoded {p:?} from {bytes:02x?}"),
    }
}

/// Encodes `packet`, checking that `encoded_len` is exact.
pub(super) fn encode(packet: &Packet, protocol: Protocol) -> Vec<u8> {
    let mut out = BytesMut::from(&b"prefix"[..]);
    encode_packet(packet, protocol, &mut out).expect("encodable");
    assert_eq!(out.len() - 6, encoded_len(packet, protocol), "encoded_len of {packet:?}");
    assert_eq!(&out[..6], b"prefix");
    out.split_off(6).to_vec()
}

/// Every strict prefix of `bytes` decodes to `Ok(None)` and consumes nothing.
pub(super) fn assert_needs_more_at_every_split(bytes: &[u8], protocol: Option<Protocol>) {
    for n in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..n]);
        assert_eq!(decode_packet(&mut buf, protocol, u32::MAX), Ok(None), "prefix of {n} bytes");
        assert_eq!(buf.len(), n);
    }
}

/// Encodes `packet` for `protocol`, checks the bytes against `expected` (when given), checks
/// that every prefix is incomplete, and that decoding gives the packet back. Returns the bytes.
pub(super) fn round_trip(packet: &Packet, protocol: Protocol) -> Vec<u8> {
    let bytes = encode(packet, protocol);
    let p = decode_protocol(packet, protocol);
    assert_needs_more_at_every_split(&bytes, p);
    assert_eq!(&decode(&bytes, p).expect("decodes"), packet, "{bytes:02x?}");
    // Followed by more bytes, only the packet is consumed.
    let mut buf = BytesMut::from(&bytes[..]);
    buf.extend_from_slice(&[0xC0, 0x00]);
    assert_eq!(decode_packet(&mut buf, p, u32::MAX).expect("decodes").as_ref(), Some(packet));
    assert_eq!(&buf[..], &[0xC0, 0x00]);
    bytes
}

/// `round_trip`, and the bytes must be exactly `expected`.
pub(super) fn round_trip_exact(packet: &Packet, protocol: Protocol, expected: &[u8]) {
    assert_eq!(round_trip(packet, protocol), expected, "{packet:?} for {protocol:?}");
}

/// Builds a packet from a first byte and a body, computing the remaining length.
pub(super) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let byte = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(body);
    out
}
