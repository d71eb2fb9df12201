//! Feeds arbitrary bytes to the MQTT decoder: `cargo fuzz run decode` (see the README's Tests
//! section for the flags this machine needs).
//!
//! The first input byte selects the protocol (before CONNECT, 3.1.1 or 5.0) and the packet
//! size limit; the rest is the byte stream. Every packet decoded must re-encode (a packet the
//! decoder accepts is one the encoder can write), `encoded_len` must be exact, the re-encoded
//! bytes must decode to the same packet, and encoding that packet again must give the same
//! bytes (the encoding is canonical).

#![no_main]

use aviary::protocol::{decode_packet, encode_packet, encoded_len, Packet, Protocol};
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
        if let Err(e) = encode_packet(&packet, used, &mut out) {
            panic!("decoded {packet:?} does not encode for {used:?}: {e}");
        }
        assert_eq!(out.len(), encoded_len(&packet, used), "encoded_len of {packet:?}");
        let bytes = out.clone().freeze();
        let again = if matches!(packet, Packet::Connect(_)) { None } else { Some(used) };
        assert_eq!(decode_packet(&mut out, again, u32::MAX), Ok(Some(packet.clone())), "{bytes:02x?}");
        assert!(out.is_empty());
        encode_packet(&packet, used, &mut out).expect("encodes again");
        assert_eq!(out.freeze(), bytes, "encoding of {packet:?} is not stable");
        protocol = Some(used);
    }
});
