//! Property tests: round trips of arbitrary valid packets, and decoding arbitrary or mutated
//! bytes never panics (and whatever decodes re-encodes to the same packet).

use bytes::BytesMut;
use proptest::prelude::*;

use super::strategies::{packet, protocol};
use super::*;

/// Decodes everything in `bytes`; never panics, always makes progress. Returns each packet
/// with the protocol it was decoded with.
fn decode_all(bytes: &[u8], mut protocol: Option<Protocol>, max: u32) -> Vec<(Packet, Protocol)> {
    let mut buf = BytesMut::from(bytes);
    let mut packets = Vec::new();
    loop {
        let before = buf.len();
        match decode_packet(&mut buf, protocol, max) {
            Ok(Some(p)) => {
                assert!(buf.len() < before, "a decoded packet consumes bytes");
                let used = match &p {
                    Packet::Connect(c) => c.protocol,
                    _ => protocol.expect("only CONNECT decodes without a protocol"),
                };
                protocol = Some(used);
                packets.push((p, used));
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumes nothing");
                return packets;
            }
            Err(e) => {
                // Every error maps to a failure reason code.
                assert!(e.reason_code().is_error());
                let _ = e.to_string();
                return packets;
            }
        }
    }
}

/// Whatever decodes re-encodes to bytes that decode to the same packet.
fn assert_reencodes(packet: &Packet, protocol: Protocol) {
    let bytes = encode(packet, protocol);
    let p = if matches!(packet, Packet::Connect(_)) { None } else { Some(protocol) };
    assert_eq!(&decode(&bytes, p).expect("re-encoded packet decodes"), packet);
}

fn any_protocol_or_none() -> impl Strategy<Value = Option<Protocol>> {
    prop_oneof![Just(None), protocol().prop_map(Some)]
}

proptest! {
    // At least 512 cases; PROPTEST_CASES raises it.
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(512), ..ProptestConfig::default() })]

    #[test]
    fn round_trip_v3_1(p in packet(V3_1)) {
        round_trip(&p, V3_1);
    }

    #[test]
    fn round_trip_v3_1_1(p in packet(V3_1_1)) {
        round_trip(&p, V3_1_1);
    }

    #[test]
    fn round_trip_v5(p in packet(V5)) {
        round_trip(&p, V5);
    }

    #[test]
    fn a_stream_of_packets_decodes_in_order(
        (protocol, packets) in protocol().prop_flat_map(|p| (Just(p), prop::collection::vec(packet(p), 0..5))),
    ) {
        let packets: Vec<(Packet, Protocol)> = packets
            .into_iter()
            .filter(|p| !matches!(p, Packet::Connect(_)))
            .map(|p| (p, protocol))
            .collect();
        let mut bytes = Vec::new();
        for (p, _) in &packets {
            bytes.extend(encode(p, protocol));
        }
        prop_assert_eq!(decode_all(&bytes, Some(protocol), u32::MAX), packets);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        protocol in any_protocol_or_none(),
        max in prop_oneof![Just(u32::MAX), 0..512u32],
    ) {
        for (p, used) in decode_all(&bytes, protocol, max) {
            assert_reencodes(&p, used);
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(
        first in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        protocol in protocol(),
    ) {
        let bytes = frame(first, &body);
        let p = if first >> 4 == 1 { None } else { Some(protocol) };
        for (packet, used) in decode_all(&bytes, p, u32::MAX) {
            assert_reencodes(&packet, used);
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        (protocol, packet) in protocol().prop_flat_map(|p| (Just(p), packet(p))),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&packet, protocol);
        for (i, v) in edits {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        let p = if bytes[0] >> 4 == 1 { None } else { Some(protocol) };
        for (decoded, used) in decode_all(&bytes, p, u32::MAX) {
            assert_reencodes(&decoded, used);
        }
        let cut = cut.index(bytes.len());
        let mut buf = BytesMut::from(&bytes[..cut]);
        let _ = decode_packet(&mut buf, p, u32::MAX);
    }

    #[test]
    fn prefixes_need_more(
        (protocol, packet) in protocol().prop_flat_map(|p| (Just(p), packet(p))),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&packet, protocol);
        let cut = cut.index(bytes.len());
        let p = if matches!(packet, Packet::Connect(_)) { None } else { Some(protocol) };
        let mut buf = BytesMut::from(&bytes[..cut]);
        prop_assert_eq!(decode_packet(&mut buf, p, u32::MAX), Ok(None));
        prop_assert_eq!(buf.len(), cut);
    }

    #[test]
    fn encoded_len_is_exact(
        (protocol, packet) in protocol().prop_flat_map(|p| (Just(p), packet(p))),
    ) {
        let mut out = BytesMut::new();
        encode_packet(&packet, protocol, &mut out).unwrap();
        prop_assert_eq!(out.len(), encoded_len(&packet, protocol));
    }
}
