//! The fixed header: packet types, flags, remaining length and size limits.

use bytes::BytesMut;

use super::*;
use crate::protocol::ReasonCode;

#[test]
fn empty_buffer_needs_more() {
    let mut buf = BytesMut::new();
    for p in [None, Some(V3_1), Some(V3_1_1), Some(V5)] {
        assert_eq!(decode_packet(&mut buf, p, u32::MAX), Ok(None));
    }
}

#[test]
fn reserved_packet_type_0_is_malformed() {
    for p in ALL {
        let e = decode_err(&[0x00, 0x00], Some(p));
        assert_eq!(e, DecodeError::ReservedPacketType(0));
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn auth_is_reserved_in_v3() {
    for p in [V3_1, V3_1_1] {
        assert_eq!(decode_err(&[0xF0, 0x00], Some(p)), DecodeError::ReservedPacketType(15));
    }
    assert_eq!(decode(&[0xF0, 0x00], Some(V5)), Ok(Packet::Auth(Default::default())));
}

// [MQTT-3.1.0-1]
#[test]
fn first_packet_must_be_connect() {
    for packet_type in 2..=15u8 {
        let mut buf = BytesMut::from(&[packet_type << 4][..]);
        let e = decode_packet(&mut buf, None, u32::MAX).unwrap_err();
        assert_eq!(e, DecodeError::FirstPacketNotConnect, "type {packet_type}");
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        assert_eq!(e.spec_ref(), Some("MQTT-3.1.0-1"));
    }
}

// [MQTT-3.1.0-2]
#[test]
fn second_connect_is_a_protocol_error() {
    for p in ALL {
        let e = decode_err(&[0x10], Some(p));
        assert_eq!(e, DecodeError::SecondConnect);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}

// [MQTT-2.1.3-1]
#[test]
fn reserved_flags_must_match() {
    for p in ALL {
        for packet_type in 1..=15u8 {
            if packet_type == 3 || (packet_type == 15 && !p.is_v5()) {
                continue;
            }
            let expected = if matches!(packet_type, 6 | 8 | 10) { 0b0010 } else { 0 };
            let protocol = if packet_type == 1 { None } else { Some(p) };
            for flags in 0..16u8 {
                if flags == expected || (p == V3_1 && expected == 0b0010 && flags == 0b1010) {
                    continue;
                }
                let mut buf = BytesMut::from(&[packet_type << 4 | flags][..]);
                let e = decode_packet(&mut buf, protocol, u32::MAX).unwrap_err();
                assert_eq!(e, DecodeError::InvalidHeaderFlags { packet_type, flags });
                assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
                assert!(e.to_string().starts_with("[MQTT-2.1.3-1]"), "{e}");
            }
        }
    }
}

#[test]
fn mqtt_3_1_tolerates_dup_on_pubrel_subscribe_unsubscribe() {
    let pubrel = [0x6A, 0x02, 0x00, 0x01];
    assert!(decode(&pubrel, Some(V3_1)).is_ok());
    assert_eq!(
        decode_err(&pubrel, Some(V3_1_1)),
        DecodeError::InvalidHeaderFlags { packet_type: 6, flags: 0b1010 }
    );
}

// [MQTT-3.3.1-4]
#[test]
fn publish_qos_3_is_malformed() {
    for p in ALL {
        for flags in [0b0110, 0b0111, 0b1110, 0b1111] {
            let mut buf = BytesMut::from(&[0x30 | flags][..]);
            let e = decode_packet(&mut buf, Some(p), u32::MAX).unwrap_err();
            assert_eq!(e, DecodeError::PublishQos3);
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
    }
}

// [MQTT-3.3.1-2]
#[test]
fn dup_with_qos_0_is_malformed() {
    for p in ALL {
        let e = decode_err(&[0x38, 0x03, 0x00, 0x01, b'a'], Some(p));
        assert_eq!(e, DecodeError::DupWithQos0);
        assert_eq!(e.spec_ref(), Some("MQTT-3.3.1-2"));
    }
}

#[test]
fn remaining_length_longer_than_four_bytes_is_malformed() {
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    assert_eq!(decode_packet(&mut buf, Some(V5), u32::MAX), Err(DecodeError::VarIntTooLong));
    // Reported as soon as the fourth byte shows a continuation bit.
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x80, 0x80, 0x80][..]);
    assert_eq!(decode_packet(&mut buf, Some(V5), u32::MAX), Err(DecodeError::VarIntTooLong));
}

// [MQTT-1.5.5-1]
#[test]
fn remaining_length_not_minimal_is_malformed() {
    let e = decode_err(&[0xC0, 0x80, 0x00], Some(V3_1_1));
    assert_eq!(e, DecodeError::VarIntNotMinimal);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn packet_too_large_is_reported_from_the_fixed_header() {
    // A PUBLISH announcing 16,383 bytes: only the fixed header is buffered.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0x7F][..]);
    let e = decode_packet(&mut buf, Some(V5), 1000).unwrap_err();
    assert_eq!(e, DecodeError::PacketTooLarge { size: 16_386, max: 1000 });
    assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    // Also before CONNECT.
    let mut buf = BytesMut::from(&[0x10, 0xFF, 0x7F][..]);
    assert_eq!(
        decode_packet(&mut buf, None, 1000),
        Err(DecodeError::PacketTooLarge { size: 16_386, max: 1000 })
    );
}

#[test]
fn packet_size_limit_includes_the_fixed_header() {
    let publish = frame(0x30, b"\x00\x01ahello");
    let size = publish.len() as u32;
    let mut buf = BytesMut::from(&publish[..]);
    assert!(decode_packet(&mut buf, Some(V3_1_1), size).unwrap().is_some());
    let mut buf = BytesMut::from(&publish[..]);
    assert_eq!(
        decode_packet(&mut buf, Some(V3_1_1), size - 1),
        Err(DecodeError::PacketTooLarge { size: publish.len(), max: size - 1 })
    );
}

#[test]
fn trailing_bytes_are_malformed() {
    for p in ALL {
        assert_eq!(decode_err(&[0xC0, 0x01, 0x00], Some(p)), DecodeError::TrailingBytes);
        assert_eq!(decode_err(&[0xD0, 0x01, 0x00], Some(p)), DecodeError::TrailingBytes);
    }
}

#[test]
fn two_packets_in_one_buffer_decode_one_at_a_time() {
    let mut buf = BytesMut::from(&[0xC0, 0x00, 0xD0, 0x00, 0xC0][..]);
    assert_eq!(decode_packet(&mut buf, Some(V5), u32::MAX), Ok(Some(Packet::PingReq)));
    assert_eq!(decode_packet(&mut buf, Some(V5), u32::MAX), Ok(Some(Packet::PingResp)));
    assert_eq!(decode_packet(&mut buf, Some(V5), u32::MAX), Ok(None));
    assert_eq!(&buf[..], &[0xC0]);
}

#[test]
fn error_messages_name_their_statement() {
    let all = [
        DecodeError::InvalidUtf8,
        DecodeError::NullCharacter,
        DecodeError::PublishQos3,
        DecodeError::PacketIdZero,
        DecodeError::InvalidReasonCode { packet_type: 4, code: 0x05 },
        DecodeError::UnsupportedProtocolVersion(6),
    ];
    for e in all {
        let id = e.spec_ref().expect("has a statement");
        assert!(e.to_string().contains(&format!("[{id}]")), "{e}");
    }
    assert_eq!(
        DecodeError::InvalidReasonCode { packet_type: 4, code: 0x05 }.to_string(),
        "[MQTT-3.4.2-1] reason code 0x05 is not valid in PUBACK"
    );
    assert_eq!(DecodeError::TopicNameWildcard.reason_code(), ReasonCode::TopicNameInvalid);
    assert_eq!(DecodeError::ZeroTopicAlias.reason_code(), ReasonCode::TopicAliasInvalid);
    assert_eq!(
        DecodeError::UnsupportedProtocolVersion(6).reason_code(),
        ReasonCode::UnsupportedProtocolVersion
    );
    assert_eq!(DecodeError::DuplicateProperty(0x11).reason_code(), ReasonCode::ProtocolError);
    assert_eq!(DecodeError::Truncated.spec_ref(), None);
}
