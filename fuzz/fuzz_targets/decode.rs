//! Feeds arbitrary bytes to the MQTT decoder: `cargo +nightly fuzz run decode`.
//!
//! The first input byte selects the protocol (before CONNECT, 3.1.1 or 5.0) and the packet
//! size limit; the rest is the byte stream. Every packet decoded must re-encode to bytes that
//! decode to the same packet.

#![no_main]

use aviary::protocol::{decode_packet, encode_packet, Packet, Protocol};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let mut protocol = match selector % 3 {
        0 => None,
        1 => Some(Protocol::V3_1_1),
        _ => Some(Protocol::V5),
    };
    let max_packet_size = if selector & 0x80 != 0 { 256 } else { u32::MAX };
    let mut buf = BytesMut::from(stream);
    while let Ok(Some(packet)) = decode_packet(&mut buf, protocol, max_packet_size) {
        let used = match &packet {
            Packet::Connect(c) => c.protocol,
            _ => protocol.unwrap_or(Protocol::V5),
        };
        let mut out = BytesMut::new();
        if encode_packet(&packet, used, &mut out).is_ok() {
            let again = if matches!(packet, Packet::Connect(_)) { None } else { Some(used) };
            assert_eq!(decode_packet(&mut out, again, u32::MAX), Ok(Some(packet)));
            assert!(out.is_empty());
        }
        protocol = Some(used);
    }
});
